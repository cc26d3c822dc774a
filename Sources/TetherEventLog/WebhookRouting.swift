import TetherEvents

/// Which history events become webhooks, and where they go: operator configuration,
/// applied by the writer in the transaction that stores each event.
public struct WebhookRouting: Sendable, Equatable {
    /// The default subscription: the outcomes a frontend acts on.
    public static let defaultTypes: Set<String> = [
        "session.joined", "session.reconnected", "session.failed", "session.left", "session.ended",
    ]

    public var endpoints: [String]
    /// Webhook types to send; nil sends every history event.
    public var types: Set<String>?

    public init(endpoints: [String], types: Set<String>? = WebhookRouting.defaultTypes) {
        self.endpoints = endpoints
        self.types = types
    }

    /// The webhook type of a history event: outcomes have their own names
    /// (`session.failed` for both ways a session fails), every other event is
    /// `session.<event type>`.
    public static func webhookType(of event: SessionEventKind) -> String {
        switch event {
        case .joinFailed, .reconnectFailed: "session.failed"
        case .callEnded: "session.ended"
        default: "session." + event.type
        }
    }

    /// Every webhook type there is, for validating `--webhook-events`.
    public static var allTypes: Set<String> {
        Set(SessionEventKind.allTypes.map { type in
            switch type {
            case "join_failed", "reconnect_failed": "session.failed"
            case "call_ended": "session.ended"
            default: "session." + type
            }
        })
    }

    /// The webhook type to send for `event`, or nil when it is not subscribed.
    public func subscribedType(of event: SessionEventKind) -> String? {
        guard !endpoints.isEmpty else { return nil }
        let type = Self.webhookType(of: event)
        guard let types else { return type }
        return types.contains(type) ? type : nil
    }

    /// The session state an outcome puts the session in (nil for other events: the
    /// session row says).
    static func state(after event: SessionEventKind) -> String? {
        switch event {
        case .joined, .reconnected: SessionState.joined.rawValue
        case .joinFailed, .reconnectFailed: SessionState.failed.rawValue
        case .left: SessionState.left.rawValue
        case .callEnded: SessionState.ended.rawValue
        default: nil
        }
    }
}
