import Foundation
import TetherEvents

/// The JSON a webhook carries: `{id, type, created_at_ms, session, event}`, the same
/// bytes from either store.
public struct WebhookPayload: Encodable {
    struct Session: Encodable {
        var id: String
        var call_id: String
        var user_id: String
        var state: String
        var metadata: [String: String]
    }
    var id: String
    var type: String
    var created_at_ms: Int64
    var session: Session
    var event: SessionEvent

    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// The body for stored `event` (with its id) of webhook `type`, its session as
    /// stored now (`row`, nil when there is none).
    public static func body(of event: SessionEvent, type: String, session row: SessionRecord?, encoder: JSONEncoder) throws -> String {
        // The metadata a create stored (a [String: String]); a row that would not read
        // back sends none rather than holding the event's transaction.
        let metadata = row.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.metadata.utf8)) } ?? [:]
        let payload = WebhookPayload(
            id: String(event.id ?? 0), type: type, created_at_ms: event.timeMs,
            session: .init(
                id: event.sessionID, call_id: row?.callID ?? "", user_id: row?.userID ?? "",
                state: WebhookRouting.state(after: event.kind) ?? row?.state ?? "", metadata: metadata),
            event: event)
        return String(decoding: try encoder.encode(payload), as: UTF8.self)
    }
}
