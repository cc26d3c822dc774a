import Foundation
import TetherEvents

/// Where the history lives: sessions, events, idempotency keys and the webhook outbox.
/// Two stores keep the same promises behind it: ``EventStore`` (an SQLite file, the
/// embedded default) and the PostgreSQL store (a database a fleet can share).
///
/// Writes come only from ``EventLog``'s single writer, in batches; each batch is one
/// committed transaction, synchronously durable, before anything it holds is
/// acknowledged. Reads never wait for a write. Every read honours task cancellation
/// (the API bounds each history read by cancelling it).
public protocol HistoryStore: Sendable {
    /// Events to turn into webhook deliveries, in the transaction that stores them; set
    /// before the writer starts.
    var webhooks: WebhookRouting? { get set }
    /// For tests: makes the writer's commits fail from some point on, as if the process
    /// died right after the last one that went through.
    var writeFaults: WriteFaults { get }
    /// What logs and messages name this store by: a file path, or a URL without its
    /// password.
    var location: String { get }

    // MARK: The writer

    /// The time of the newest event (0 when none): where the writer's clock starts.
    func lastEventTime() async throws -> Int64
    /// Commits one batch of the writer's queue in one transaction. `clock` decides each
    /// event's stored time; a jump it reports is recorded as a `clock_jump` event just
    /// before the event that showed it, and a backward one starts a new clock segment.
    /// Returns the stored events with their ids (markers included) and the clock after.
    func write(_ batch: ArraySlice<EventLog.Write>, clock: ClockGuard, monotonicNow: Duration) async throws -> ([SessionEvent], ClockGuard)
    /// Removes from disk the bytes of secrets that committed rows no longer hold.
    func wipeRetiredSecrets() async throws

    // MARK: History reads

    /// The events matching `query`, oldest first, as stored (see ``events(_:)`` for them
    /// decoded).
    func storedEvents(_ query: EventQuery) async throws -> [StoredEvent]
    /// The largest event id stored (0 when none).
    func lastEventID() async throws -> Int64
    func session(id: String) async throws -> SessionRecord?
    func session(idempotencyKey: String) async throws -> SessionRecord?
    /// Newest first (`seq` descending).
    func sessions(_ query: SessionQuery) async throws -> [SessionRecord]
    /// Sessions that were live when the process last stopped, oldest first.
    func liveSessions() async throws -> [SessionRecord]
    func stats(_ query: StatsQuery) async throws -> EventStats

    // MARK: Retention

    /// Deletes events older than `cutoffMs` in bounded transactions; returns how many.
    @discardableResult
    func prune(eventsBefore cutoffMs: Int64, batch: Int64) async throws -> Int
    /// Deletes delivered and failed deliveries created before `cutoffMs`; pending ones stay.
    @discardableResult
    func pruneDeliveries(before cutoffMs: Int64, batch: Int) async throws -> Int

    // MARK: The webhook outbox

    /// Registers the configured endpoints at start (see ``EventStore``); returns how
    /// many pending deliveries were given up because their endpoint is gone.
    @discardableResult
    func registerWebhookEndpoints(_ endpoints: [WebhookRouting.Endpoint], nowMs: Int64) async throws -> Int
    func webhookEndpoints() async throws -> [WebhookEndpointStatus]
    func enableWebhookEndpoint(id: String) async throws -> Bool
    func enabledWebhookEndpoints() async throws -> Set<String>
    /// Due queue heads of `endpoint`, soonest first, not in `busy`.
    func dueWebhookHeads(endpoint: String, nowMs: Int64, excluding busy: Set<Int64>, limit: Int, forcedOnly: Bool) async throws -> [WebhookDelivery]
    func nextWebhookHeadDueMs(endpoint: String, excluding busy: Set<Int64>) async throws -> Int64?
    /// How the store picks due heads (its query plan), to show it is an index seek.
    func explainDueHeads() async throws -> [String]
    @discardableResult
    func settleWebhookTries(_ settlements: [WebhookSettlement], disableAfterMs: Int64) async throws -> Set<Int64>
    func retryDelivery(id: Int64, nowMs: Int64) async throws -> WebhookDelivery?
    func replayDeliveries(endpoint: String, sinceMs: Int64, untilMs: Int64, nowMs: Int64) async throws -> Int
    func delivery(id: Int64) async throws -> WebhookDelivery?
    /// Newest first; `before` is an id cursor.
    func deliveries(status: WebhookDelivery.Status?, endpoint: String?, before: Int64?, limit: Int) async throws -> [WebhookDelivery]
    /// The database's own id, made once when it was created: part of every `webhook-id`.
    func databaseIdentity() async throws -> String
}

extension HistoryStore {
    /// The events matching `query`, oldest first.
    public func events(_ query: EventQuery) async throws -> [SessionEvent] {
        let decoder = JSONDecoder()
        return try await storedEvents(query).map { try $0.decoded(with: decoder) }
    }

    public func stats(sinceMs: Int64, untilMs: Int64) async throws -> EventStats {
        try await stats(StatsQuery(sinceMs: sinceMs, untilMs: untilMs))
    }

    public func dueWebhookHeads(endpoint: String, nowMs: Int64, excluding busy: Set<Int64>, limit: Int) async throws -> [WebhookDelivery] {
        try await dueWebhookHeads(endpoint: endpoint, nowMs: nowMs, excluding: busy, limit: limit, forcedOnly: false)
    }

    public func deliveries(status: WebhookDelivery.Status?, before: Int64?, limit: Int) async throws -> [WebhookDelivery] {
        try await deliveries(status: status, endpoint: nil, before: before, limit: limit)
    }

    @discardableResult
    public func prune(eventsBefore cutoffMs: Int64) async throws -> Int {
        try await prune(eventsBefore: cutoffMs, batch: 10_000)
    }

    @discardableResult
    public func pruneDeliveries(before cutoffMs: Int64) async throws -> Int {
        try await pruneDeliveries(before: cutoffMs, batch: 10_000)
    }
}
