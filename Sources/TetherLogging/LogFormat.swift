/// How `tether serve` writes its log lines: `text` for a person at a terminal, `json`
/// (one object per line) for a log pipeline.
public enum LogFormat: String, Sendable, CaseIterable {
    case text
    case json

    /// The flag, else `TETHER_LOG_FORMAT`, else `text` on a terminal and `json` otherwise
    /// (a container, systemd, a pipe: where a collector reads the lines).
    public static func resolve(flag: LogFormat?, environment: String?, standardErrorIsTerminal: Bool) throws(LogFormatError) -> LogFormat {
        if let flag { return flag }
        if let environment {
            guard let format = LogFormat(rawValue: environment) else { throw LogFormatError(value: environment) }
            return format
        }
        return standardErrorIsTerminal ? .text : .json
    }
}

public struct LogFormatError: Error, CustomStringConvertible {
    public var value: String
    public var description: String { "TETHER_LOG_FORMAT must be text or json, not '\(value.prefix(32))'" }
}
