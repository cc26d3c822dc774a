/// What one try (or the retry window) decided for one delivery.
public struct WebhookSettlement: Sendable {
    public enum Outcome: Sendable, Equatable {
        case delivered
        case retry(atMs: Int64, error: String)
        /// Final for this delivery (a 4xx, the window passed); the queue moves on.
        case failed(error: String)
        /// The endpoint answered 410 (or kept failing too long): it is disabled, the
        /// delivery stays pending for when it is enabled again.
        case disableEndpoint(reason: String)
    }

    public var delivery: WebhookDelivery
    public var status: Int?
    public var outcome: Outcome
    public var atMs: Int64

    public init(delivery: WebhookDelivery, status: Int?, outcome: Outcome, atMs: Int64) {
        self.delivery = delivery
        self.status = status
        self.outcome = outcome
        self.atMs = atMs
    }
}
