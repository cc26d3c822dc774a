import Foundation
import Logging

/// A swift-log handler that writes each record as one ``JSONLogLine`` to a stream
/// (stderr for the log; stdout for the start-up banner), whole lines under one lock so
/// lines from many threads never interleave.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let stream: LogStream

    public init(label: String, stream: LogStream = .standardError, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.stream = stream
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(
        level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
        source: String, file: String, function: String, line: UInt
    ) {
        var merged = self.metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let explicit { merged.merge(explicit) { $1 } }
        stream.write(JSONLogLine.encode(time: Date(), level: level, message: message.description, label: label, metadata: merged))
    }
}

/// Where log lines go: a file descriptor written a whole line at a time.
public final class LogStream: @unchecked Sendable {
    private let handle: FileHandle
    private let lock = NSLock()

    public init(handle: FileHandle) { self.handle = handle }

    public static let standardError = LogStream(handle: .standardError)
    public static let standardOutput = LogStream(handle: .standardOutput)

    public func write(_ data: Data) {
        lock.withLock { try? handle.write(contentsOf: data) }
    }
}
