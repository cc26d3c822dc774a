import GRDB

/// One row of `webhook_deliveries`: a history event on its way to one endpoint.
public struct WebhookDelivery: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "webhook_deliveries"

    public enum Status: String, Codable, Sendable, CaseIterable {
        case pending, delivered, failed
    }

    public var id: Int64?
    public var eventID: Int64
    public var sessionID: String
    public var endpoint: String
    public var type: String
    /// The exact JSON sent on every try.
    public var body: String
    public var status: Status
    public var attempts: Int
    public var createdAtMs: Int64
    public var nextAttemptAtMs: Int64
    public var lastAttemptAtMs: Int64?
    public var lastStatus: Int?
    public var lastError: String?
    public var deliveredAtMs: Int64?

    enum CodingKeys: String, CodingKey {
        case id, endpoint, type, body, status, attempts
        case eventID = "event_id", sessionID = "session_id", createdAtMs = "created_at_ms"
        case nextAttemptAtMs = "next_attempt_at_ms", lastAttemptAtMs = "last_attempt_at_ms"
        case lastStatus = "last_status", lastError = "last_error", deliveredAtMs = "delivered_at_ms"
    }

    public init(eventID: Int64, sessionID: String, endpoint: String, type: String, body: String, createdAtMs: Int64) {
        self.eventID = eventID
        self.sessionID = sessionID
        self.endpoint = endpoint
        self.type = type
        self.body = body
        self.status = .pending
        self.attempts = 0
        self.createdAtMs = createdAtMs
        self.nextAttemptAtMs = createdAtMs
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}
