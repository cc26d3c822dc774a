import Foundation

/// The `wrk` load generator as a child process. The api scenario and the machine
/// floor's trivial route both load through here, so their runs cannot drift apart.
enum Wrk {
    static let path = "/usr/bin/wrk"

    static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: path) }

    /// The GET load of the api scenario and of the floor: identical by construction.
    static func getArguments(url: String, connections: Int, duration: Int) -> [String] {
        ["-t2", "-c\(connections)", "-d\(duration)s", "--latency", url]
    }

    /// Runs wrk to the end and reads its report.
    ///
    /// Waits for the exit without blocking a thread: a cooperative thread parked in
    /// `waitUntilExit` is one fewer for the Hummingbird server under test (on two
    /// cores, half of them). Killed if it outlives its `duration` by 30 s.
    static func run(_ arguments: [String], duration: Int) async throws -> WrkResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        // wrk's report is about a kilobyte, well inside a pipe's buffer, so reading it
        // after the exit cannot stall wrk.
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let (exited, exit) = AsyncStream.makeStream(of: Void.self)
        process.terminationHandler = { _ in exit.finish() }
        try process.run()
        let pid = process.processIdentifier
        let watchdog = Task {
            try await Task.sleep(for: .seconds(duration + 30))
            kill(pid, SIGKILL)
        }
        for await _ in exited {}
        watchdog.cancel()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard let result = WrkResult(report: output) else {
            throw BenchError("wrk \(arguments.joined(separator: " ")) printed no result: \(output.suffix(400))")
        }
        return result
    }
}
