/// What `GET /v1/webhooks/endpoints` shows of one endpoint.
public struct WebhookEndpointStatus: Sendable, Equatable {
    public var id: String
    public var url: String
    public var enabled: Bool
    public var disabledReason: String?
    public var backlog: Int
    public var oldestPendingCreatedAtMs: Int64?
    public var lastError: String?
    public var failingSinceMs: Int64?
    public var lastSuccessAtMs: Int64?
    public var overflowed: Int

    public init(
        id: String, url: String, enabled: Bool, disabledReason: String?, backlog: Int, oldestPendingCreatedAtMs: Int64?,
        lastError: String?, failingSinceMs: Int64?, lastSuccessAtMs: Int64?, overflowed: Int
    ) {
        self.id = id
        self.url = url
        self.enabled = enabled
        self.disabledReason = disabledReason
        self.backlog = backlog
        self.oldestPendingCreatedAtMs = oldestPendingCreatedAtMs
        self.lastError = lastError
        self.failingSinceMs = failingSinceMs
        self.lastSuccessAtMs = lastSuccessAtMs
        self.overflowed = overflowed
    }
}
