import Foundation
import Logging
import ArgumentParser
import TetherLogging

/// Diagnostics go to stderr at `level`, as text or one JSON object per line; stdout is
/// for output people and scripts parse. `metadata` rides on every line (a fleet
/// instance's `instance_id`).
func bootstrapLogging(level: Logger.Level, format: LogFormat = .text, metadata: Logger.Metadata = [:]) {
    LoggingSystem.bootstrap { label in
        switch format {
        case .text:
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            handler.metadata = metadata
            return handler
        case .json:
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            handler.metadata = metadata
            return handler
        }
    }
}

/// A line the command prints itself (the start-up banner, a refusal to start) in the
/// chosen format: in `json` every line on stdout and stderr is an object.
struct ConsoleLine {
    var format: LogFormat

    /// The banner, on stdout: scripts wait for its `listening on <url>`.
    func announce(_ message: String, metadata: Logger.Metadata = [:]) {
        write(message, level: .notice, metadata: metadata, to: .standardOutput)
    }

    /// A reason the command stops, on stderr.
    func fail(_ message: String) {
        write(message, level: .error, metadata: [:], to: .standardError)
    }

    private func write(_ message: String, level: Logger.Level, metadata: Logger.Metadata, to stream: LogStream) {
        switch format {
        case .text: stream.write(Data("\(message)\n".utf8))
        case .json: stream.write(JSONLogLine.encode(time: Date(), level: level, message: message, label: "tether", metadata: metadata))
        }
    }
}
extension LogFormat: ExpressibleByArgument {}
