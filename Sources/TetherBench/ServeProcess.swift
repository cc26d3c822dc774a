import Foundation

/// `tether serve` as a child process of the benchmark, started from this same binary
/// (a fleet instance), stopped or killed by PID.
final class ServeProcess: @unchecked Sendable {
    let process: Process
    /// `http://127.0.0.1:PORT`, from its "listening on" line.
    let base: String

    private init(process: Process, base: String) {
        self.process = process
        self.base = base
    }

    /// Starts `tether serve` with `arguments` (after `serve --port 0`) and waits until it
    /// listens. Its output is read all along, so a chatty child never blocks on a full pipe.
    static func start(_ arguments: [String], environment: [String: String] = [:]) async throws -> ServeProcess {
        let process = Process()
        process.executableURL = SimulatorProcess.executable
        process.arguments = ["serve", "--port", "0"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let seen = Lines()
        output.fileHandleForReading.readabilityHandler = { handle in seen.append(handle.availableData) }
        try process.run()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            // The banner, as a text line or a JSON object's message.
            if let line = seen.first(containing: "tether serve listening on"),
                let address = line.firstMatch(of: /listening on (http:\/\/[^\s"]+)/)?.1 {
                return ServeProcess(process: process, base: String(address))
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.terminate()
        throw BenchError("tether serve did not start: \(seen.tail)")
    }

    /// `kill -9`: the instance vanishes with its sockets, as a lost machine would.
    func crash() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Kept bounded: only the last lines matter (the address, an error).
    private final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var text = ""

        func append(_ data: Data) {
            lock.withLock {
                text += String(decoding: data, as: UTF8.self)
                if text.count > 64_000 { text = String(text.suffix(32_000)) }
            }
        }

        func first(containing needle: String) -> String? {
            lock.withLock { text.split(separator: "\n").first { $0.contains(needle) }.map(String.init) }
        }

        var tail: String { lock.withLock { String(text.suffix(2000)) } }
    }
}
