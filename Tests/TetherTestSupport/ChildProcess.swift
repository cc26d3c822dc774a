import Foundation
import NIOConcurrencyHelpers
import Testing

/// A `tether` subcommand (or another program the tests need, such as the Python
/// webhook receiver) run as a real process, with its stdout read line by line.
/// Stopped by PID when the test is done with it.
public final class ChildProcess: Sendable {
    private let process: Process
    private let lines = NIOLockedValueBox<[String]>([])
    private let partial = NIOLockedValueBox<String>("")
    /// The reader has seen the end of the output.
    private let drained = NIOLockedValueBox(false)

    /// The `tether` executable built next to this test bundle.
    public static let tetherBinary: URL = {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tether")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/tether")
    }()

    /// `capturesStandardError`: stderr joins `output` (logs, startup errors), instead of
    /// going to the test's own stderr.
    public init(
        _ arguments: [String], executable: URL = ChildProcess.tetherBinary, currentDirectory: URL? = nil, capturesStandardError: Bool = false,
        environment: [String: String] = [:]
    ) throws {
        process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = capturesStandardError ? output : FileHandle.standardError
        let lines = self.lines
        let partial = self.partial
        let drained = self.drained
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                // End of output: a last line without its newline counts too.
                let rest = partial.withLockedValue { buffer -> String in
                    defer { buffer = "" }
                    return buffer
                }
                if !rest.isEmpty { lines.withLockedValue { $0.append(rest) } }
                drained.withLockedValue { $0 = true }
                return
            }
            let text = String(decoding: data, as: UTF8.self)
            let complete = partial.withLockedValue { buffer -> [String] in
                buffer += text
                var parts = buffer.components(separatedBy: "\n")
                buffer = parts.removeLast()
                return parts
            }
            lines.withLockedValue { $0 += complete }
        }
        try process.run()
    }

    /// A harness that forgets to stop its process (a thrown error, a failed start) must
    /// not leave it running past the test.
    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    public var pid: Int32 { process.processIdentifier }
    public var output: [String] { lines.withLockedValue { $0 } }

    /// The JSON objects printed so far.
    public var jsonLines: [[String: Any]] {
        output.compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    public var eventTypes: [String] { jsonLines.compactMap { $0["type"] as? String } }

    public func waitForLine(
        timeout: Duration = .seconds(15), sourceLocation: SourceLocation = #_sourceLocation,
        where predicate: (String) -> Bool
    ) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = output.first(where: predicate) { return line }
            if !process.isRunning, let line = output.first(where: predicate) { return line }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("no matching line within \(timeout); output: \(output)", sourceLocation: sourceLocation)
        throw CancellationError()
    }

    /// `tether serve`'s base URL, from its start-up banner (a text line or, with
    /// `--log-format json`, an object whose message holds it).
    public func waitForServeAddress(timeout: Duration = .seconds(15), sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let line = try await waitForLine(timeout: timeout, sourceLocation: sourceLocation) { $0.contains("tether serve listening on") }
        return try #require(Self.serveAddress(in: line), "no address in the banner: \(line)", sourceLocation: sourceLocation)
    }

    public static func serveAddress(in line: String) -> String? {
        line.firstMatch(of: /listening on (http:\/\/[^\s"]+)/).map { String($0.1) }
    }

    public func waitForEvent(_ type: String, count: Int = 1, timeout: Duration = .seconds(15), sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if eventTypes.filter({ $0 == type }).count >= count { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("no \(type) event within \(timeout); events: \(eventTypes)", sourceLocation: sourceLocation)
        throw CancellationError()
    }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit (killing it after `timeout`) and returns its status.
    public func waitForExit(timeout: Duration = .seconds(10)) async -> Int32 {
        let deadline = ContinuousClock.now + timeout
        // Polls the exit, bounded by `timeout`; a cancelled test stops polling at once.
        while process.isRunning, ContinuousClock.now < deadline {
            do { try await Task.sleep(for: .milliseconds(10)) } catch { break }
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        await waitForOutputEnd()
        return process.terminationStatus
    }

    /// The exit can be seen before the reader has taken the last output from the pipe:
    /// a test reading `output` right after must find all of it. Bounded, in case
    /// something the process started still holds the pipe open.
    private func waitForOutputEnd() async {
        let deadline = ContinuousClock.now + .seconds(5)
        while !drained.withLockedValue({ $0 }), ContinuousClock.now < deadline {
            do { try await Task.sleep(for: .milliseconds(10)) } catch { break }
        }
    }

    /// Stops the process by PID if it still runs.
    public func stop() async {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        await waitForOutputEnd()
    }
}
