import Foundation
import Testing
import TetherEvents
@testable import TetherEventLog

/// The outbox in each store itself (the same answers from SQLite and PostgreSQL): queue heads, the backlog cap, bodies dropped once
/// delivered, backlog counts kept as rows change, and versioned settlements.
@Suite(.timeLimit(.minutes(1))) struct WebhookOutboxTests {
    /// A store with routing to endpoint `1` (cap `maxBacklog`), `events` events written
    /// through the real writer, for `body`.
    func withOutbox(
        _ kind: StoreKind, maxBacklog: Int = 300_000, events: [SessionEvent], _ body: (any HistoryStore) async throws -> Void
    ) async throws {
        try await kind.withStore { store in
            var store = store
            store.webhooks = WebhookRouting(endpoints: [.init(id: "1", url: "http://127.0.0.1:9/hook")], types: nil, maxBacklog: maxBacklog)
            _ = try await store.registerWebhookEndpoints(store.webhooks!.endpoints, nowMs: 1)
            let log = EventLog(store: store)
            let writer = Task { try await log.run() }
            for event in events { log.append(event) }
            try await log.flush(within: .seconds(30))
            log.stop()
            try await writer.value
            try await body(store)
        }
    }

    static func event(_ session: String, at timeMs: Int64) -> SessionEvent {
        SessionEvent(sessionID: session, timeMs: timeMs, generation: 1, kind: .goAway(reason: "x"))
    }

    func pendingCount(_ store: any HistoryStore) async throws -> Int {
        try await store.deliveries(status: .pending, before: nil, limit: 1000).count
    }

    @Test(arguments: StoreKind.allCases) func onlyEachQueuesOldestPendingRowIsAHead(kind: StoreKind) async throws {
        let events = (0..<6).map { Self.event("s-\($0 % 2)", at: 1000 + Int64($0)) }
        try await withOutbox(kind, events: events) { store in
            let heads = try await store.dueWebhookHeads(endpoint: "1", nowMs: 10_000, excluding: [], limit: 100)
            #expect(heads.map(\.sessionID).sorted() == ["s-0", "s-1"], "one head per session queue")
            #expect(heads.allSatisfy { $0.createdAtMs <= 1001 }, "the oldest of each")
        }
    }

    @Test(arguments: StoreKind.allCases) func pastTheCapTheOldestPendingRowsFailWithOverflow(kind: StoreKind) async throws {
        let events = (0..<8).map { Self.event("s-\($0)", at: 1000 + Int64($0)) }
        try await withOutbox(kind, maxBacklog: 5, events: events) { store in
            let endpoint = try #require(try await store.webhookEndpoints().first)
            #expect(endpoint.backlog == 5)
            #expect(endpoint.overflowed == 3)
            #expect(try await pendingCount(store) == 5)
            let failed = try await store.deliveries(status: .failed, before: nil, limit: 10)
            #expect(Set(failed.map(\.sessionID)) == ["s-0", "s-1", "s-2"], "the oldest go first")
            #expect(failed.allSatisfy { $0.lastError?.hasPrefix("overflow") == true })
        }
    }

    @Test(arguments: StoreKind.allCases) func aDeliveredRowLosesItsBodyAndTheBacklogCountFollows(kind: StoreKind) async throws {
        let events = [Self.event("s", at: 1000), Self.event("s", at: 1001)]
        try await withOutbox(kind, events: events) { store in
            let head = try #require(try await store.dueWebhookHeads(endpoint: "1", nowMs: 10_000, excluding: [], limit: 10).first)
            #expect(!head.body.isEmpty)
            let applied = try await store.settleWebhookTries(
                [.init(delivery: head, status: 200, outcome: .delivered, atMs: 5000)], disableAfterMs: 1_000_000)
            #expect(applied == [head.id!])
            let row = try #require(try await store.delivery(id: head.id!))
            #expect(row.status == .delivered && row.body.isEmpty)
            #expect(try await store.webhookEndpoints().first?.backlog == 1)
            #expect(try await pendingCount(store) == 1)
            let next = try #require(try await store.dueWebhookHeads(endpoint: "1", nowMs: 10_000, excluding: [], limit: 10).first)
            #expect(next.createdAtMs == 1001, "the next row became the head")
        }
    }

    @Test(arguments: StoreKind.allCases) func aSettlementOfAnOlderVersionIsNotApplied(kind: StoreKind) async throws {
        try await withOutbox(kind, events: [Self.event("s", at: 1000)]) { store in
            let head = try #require(try await store.dueWebhookHeads(endpoint: "1", nowMs: 10_000, excluding: [], limit: 10).first)
            _ = try await store.retryDelivery(id: head.id!, nowMs: 6000)
            let applied = try await store.settleWebhookTries(
                [.init(delivery: head, status: 500, outcome: .retry(atMs: 99_000, error: "500"), atMs: 7000)], disableAfterMs: 1_000_000)
            #expect(applied.isEmpty)
            let row = try #require(try await store.delivery(id: head.id!))
            #expect(row.nextAttemptAtMs == 6000 && row.forced && row.attempts == 0, "the operator's retry stands")
        }
    }
}
