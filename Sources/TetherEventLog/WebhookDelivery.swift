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
    /// The endpoint's URL when the row was written (shown redacted; a try goes to the
    /// endpoint's current URL).
    public var endpoint: String
    /// The endpoint's stable id.
    public var endpointID: String
    /// The oldest pending row of its (session, endpoint) queue: the only one that may be sent.
    public var head: Bool
    /// Bumped by an operator's retry or replay: a try's outcome applies only to the
    /// version it was picked at.
    public var version: Int
    /// Made due by an operator: sent even while the endpoint's breaker is open.
    public var forced: Bool
    public var type: String
    /// The exact JSON sent on every try; emptied once delivered.
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
        case endpointID = "endpoint_id", head, version, forced
        case nextAttemptAtMs = "next_attempt_at_ms", lastAttemptAtMs = "last_attempt_at_ms"
        case lastStatus = "last_status", lastError = "last_error", deliveredAtMs = "delivered_at_ms"
    }

    public init(
        eventID: Int64, sessionID: String, endpoint: String, endpointID: String, type: String, body: String, createdAtMs: Int64,
        head: Bool
    ) {
        self.eventID = eventID
        self.sessionID = sessionID
        self.endpoint = endpoint
        self.endpointID = endpointID
        self.head = head
        self.version = 0
        self.forced = false
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
