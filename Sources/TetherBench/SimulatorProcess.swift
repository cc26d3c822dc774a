import Foundation

/// `tether sfu` as a child process of the benchmark, started from this same binary,
/// stopped by PID.
final class SimulatorProcess: @unchecked Sendable {
    private var process: Process?
    let port: Int

    static let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()

    init(port: Int) { self.port = port }

    var url: String { "ws://127.0.0.1:\(port)/ws" }
    var admin: String { "http://127.0.0.1:\(port)/admin" }
    var pid: Int32? { process?.processIdentifier }

    /// Starts (or starts again, on the same port) and waits until it listens.
    func start() async throws {
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = ["sfu", "--port", String(port), "--fast-reconnect-deadline", "30"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(10)
        var seen = Data()
        while ContinuousClock.now < deadline {
            seen.append(output.fileHandleForReading.availableData)
            if String(decoding: seen, as: UTF8.self).contains("listening on") { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw BenchError("tether sfu did not start on port \(port)")
    }

    /// `kill -9`: every connection ends at once, as in an SFU crash.
    func crash() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
