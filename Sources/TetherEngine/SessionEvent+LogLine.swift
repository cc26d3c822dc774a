import Logging
import TetherEvents

extension SessionEvent {
    /// The log line a person reading the log wants for this event, if any: joins,
    /// losses, recoveries and ends (the history keeps every event; the log the turns).
    /// Its metadata adds `generation`, and `strategy` and `sfu_url` where the event has
    /// them, to the session's own (`session_id`, `call_id`). No event carries a secret.
    func logLine() -> (level: Logger.Level, message: String, metadata: Logger.Metadata)? {
        var metadata: Logger.Metadata = ["generation": "\(generation)"]
        let level: Logger.Level
        let message: String
        switch kind {
        case .joined(let sfuURL, _):
            (level, message) = (.info, "joined")
            metadata["sfu_url"] = "\(sfuURL)"
        case .joinFailed(let code, let detail):
            (level, message) = (.warning, "join failed: \(code) \(detail)")
        case .connectionLost(let reason, let closeCode, _):
            (level, message) = (.notice, "connection lost: \(reason.rawValue)" + (closeCode.map { " (close code \($0))" } ?? ""))
        case .reconnected(let strategy, let attempts, let durationMs, let sfuURL, _):
            (level, message) = (.info, "reconnected by \(strategy.rawValue) after \(attempts) attempt(s) in \(durationMs) ms")
            metadata["strategy"] = "\(strategy.rawValue)"
            metadata["sfu_url"] = "\(sfuURL)"
        case .reconnectFailed(let reason, let attempts, _):
            (level, message) = (.warning, "reconnection failed after \(attempts) attempt(s): \(reason)")
        case .migrated(let from, let to):
            (level, message) = (.info, "migrated from \(from)")
            metadata["sfu_url"] = "\(to)"
        case .callEnded(let reason):
            (level, message) = (.notice, "the call ended: \(reason)")
        case .left(let reason):
            (level, message) = (.info, "left: \(reason)")
        case .adopted(let fromInstance, _, let epoch):
            (level, message) = (.notice, "adopted from instance \(fromInstance) (epoch \(epoch))")
        default:
            return nil
        }
        return (level, message, metadata)
    }
}
