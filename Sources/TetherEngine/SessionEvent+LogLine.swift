import Logging
import TetherEvents

extension SessionEvent {
    /// The log line a person reading the log wants for this event, if any: joins,
    /// losses, recoveries and ends (the history keeps every event; the log the turns).
    /// Its metadata adds `generation`, and `strategy` and `sfu_url` where the event has
    /// them, to the session's own (`session_id`, `call_id`). No event carries a secret.
    ///
    /// Nil too when `minimum` (the logger's level) would drop it: the text is not built.
    func logLine(atLeast minimum: Logger.Level) -> (level: Logger.Level, message: String, metadata: Logger.Metadata)? {
        guard let level = logLevel, level >= minimum else { return nil }
        return logLine(level: level)
    }

    private var logLevel: Logger.Level? {
        switch kind {
        case .joined, .reconnected, .migrated, .left: .info
        case .connectionLost, .callEnded, .adopted: .notice
        case .joinFailed, .reconnectFailed: .warning
        default: nil
        }
    }

    private func logLine(level: Logger.Level) -> (level: Logger.Level, message: String, metadata: Logger.Metadata)? {
        var metadata: Logger.Metadata = ["generation": "\(generation)"]
        let message: String
        switch kind {
        case .joined(let sfuURL, _):
            message = "joined"
            metadata["sfu_url"] = "\(sfuURL)"
        case .joinFailed(let code, let detail):
            message = "join failed: \(code) \(detail)"
        case .connectionLost(let reason, let closeCode, _):
            message = "connection lost: \(reason.rawValue)" + (closeCode.map { " (close code \($0))" } ?? "")
        case .reconnected(let strategy, let attempts, let durationMs, let sfuURL, _):
            message = "reconnected by \(strategy.rawValue) after \(attempts) attempt(s) in \(durationMs) ms"
            metadata["strategy"] = "\(strategy.rawValue)"
            metadata["sfu_url"] = "\(sfuURL)"
        case .reconnectFailed(let reason, let attempts, _):
            message = "reconnection failed after \(attempts) attempt(s): \(reason)"
        case .migrated(let from, let to):
            message = "migrated from \(from)"
            metadata["sfu_url"] = "\(to)"
        case .callEnded(let reason):
            message = "the call ended: \(reason)"
        case .left(let reason):
            message = "left: \(reason)"
        case .adopted(let fromInstance, _, let epoch):
            message = "adopted from instance \(fromInstance) (epoch \(epoch))"
        default:
            return nil
        }
        return (level, message, metadata)
    }
}
