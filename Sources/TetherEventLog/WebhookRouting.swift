import TetherEvents

/// Which history events become webhooks, and where they go: operator configuration,
/// applied by the writer in the transaction that stores each event.
public struct WebhookRouting: Sendable, Equatable {
    /// The default subscription: the outcomes a frontend acts on, and the gaps in what it
    /// was told (`session.events_dropped`).
    public static let defaultTypes: Set<String> = [
        "session.joined", "session.reconnected", "session.failed", "session.left", "session.ended", "session.events_dropped",
    ]

    /// One configured receiver: a stable id (its queue and backlog follow the id, so a
    /// changed URL keeps them) and where it is now.
    public struct Endpoint: Sendable, Equatable {
        public var id: String
        public var url: String

        public init(id: String, url: String) {
            self.id = id
            self.url = url
        }
    }

    public var endpoints: [Endpoint]
    /// Webhook types to send; nil sends every history event.
    public var types: Set<String>?
    /// Pending deliveries one endpoint may hold; past it the oldest fail with `overflow`.
    public var maxBacklog: Int

    public init(endpoints: [Endpoint], types: Set<String>? = WebhookRouting.defaultTypes, maxBacklog: Int = 300_000) {
        self.endpoints = endpoints
        self.types = types
        self.maxBacklog = maxBacklog
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
