import Foundation
import TetherEventLog
import TetherEvents

extension Scenarios {
    /// The nodes, calls, users and tenants the events scenario's sessions are spread
    /// over, so the ops filters have realistic selectivity: 8 nodes, 4 sessions per
    /// call, one user per 2 sessions, 20 tenants, one session in 20 failed.
    struct QueryFleet {
        static let nodes = (1...8).map { "ws://10.0.0.\($0):9000/ws" }
        static let tenants = (0..<20).map { "tenant-\($0)" }

        let sessions: Int

        func record(_ index: Int) -> SessionRecord {
            var record = SessionRecord(
                id: "session-\(index)", state: index % 20 == 0 ? "failed" : "joined", callID: "call-\(index / 4)",
                userID: "user-\(index / 2)", dialect: "stream", sfuURLs: "[]", sfuToken: "", dialectOptions: nil, policy: "{}",
                metadata: #"{"tenant":"\#(Self.tenants[index % Self.tenants.count])"}"#, sfuURL: Self.nodes[index % Self.nodes.count],
                idempotencyKey: nil, requestFingerprint: nil, createdAtMs: eventBaseMs - Int64(sessions - index) * 10)
            record.updatedAtMs = record.createdAtMs
            return record
        }

        func randomSession() -> Int { Int.random(in: 0..<sessions) }
    }

    /// p50 and p99 of each filter ops use during an incident, `queries` times each with
    /// random arguments, over everything the events scenario stored (`total` events
    /// stamped from `eventBaseMs`, `eventsPerMs` per ms).
    static func filterLatencies(store: any HistoryStore, fleet: QueryFleet, total: Int, queries: Int, into report: inout BenchReport) async throws {
        let endMs = eventBaseMs + Int64(total / eventsPerMs)
        let spanMs = max(1, endMs - eventBaseMs)
        func measure(_ name: String, _ query: () async throws -> Int) async throws {
            var samples = Samples()
            var rows = 0
            for _ in 0..<queries {
                let start = ContinuousClock.now
                rows += try await query()
                samples.add(ContinuousClock.now - start)
            }
            report.add("\(name): p50 / p99 (avg \(rows / max(1, queries)) rows)", "\(samples.ms(50)) / \(samples.ms(99))", target: "p99 ≤ 5 ms")
        }
        func recentSince(_ fraction: Double) -> Int64 { endMs - Int64(Double(spanMs) * fraction) }
        try await measure("events: losses on one node, last 10 % of history") {
            try await store.events(EventQuery(
                types: ["connection_lost"], sfuURL: QueryFleet.nodes.randomElement(), sinceMs: recentSince(0.1), limit: 100)).count
        }
        try await measure("events: one call's history") {
            try await store.events(EventQuery(callID: "call-\(fleet.randomSession() / 4)", limit: 100)).count
        }
        try await measure("events: one user's losses") {
            try await store.events(EventQuery(types: ["connection_lost"], userID: "user-\(fleet.randomSession() / 2)", limit: 100)).count
        }
        try await measure("events: reason=unexpected_close from a random time") {
            try await store.events(EventQuery(reason: "unexpected_close", sinceMs: eventBaseMs + Int64.random(in: 0..<spanMs), limit: 100)).count
        }
        try await measure("events: strategy=fast, type=reconnected, one node") {
            try await store.events(EventQuery(
                types: ["reconnected"], sfuURL: QueryFleet.nodes.randomElement(), strategy: "fast",
                sinceMs: eventBaseMs + Int64.random(in: 0..<spanMs), limit: 100)).count
        }
        try await measure("events: two types (loss, reconnected) from a random time") {
            try await store.events(EventQuery(
                types: ["connection_lost", "reconnected"], sinceMs: eventBaseMs + Int64.random(in: 0..<spanMs), limit: 100)).count
        }
        try await measure("sessions: one tenant's failed sessions, created in the last half") {
            try await store.sessions(SessionQuery(
                state: "failed", createdSinceMs: eventBaseMs - Int64(fleet.sessions) * 5,
                metadata: ["tenant": QueryFleet.tenants.randomElement()!], limit: 100)).count
        }
        try await measure("sessions: one user") {
            try await store.sessions(SessionQuery(userID: "user-\(fleet.randomSession() / 2)", limit: 100)).count
        }
        try await measure("sessions: on one node") {
            try await store.sessions(SessionQuery(sfuURL: QueryFleet.nodes.randomElement(), limit: 100)).count
        }
        try await measure("stats: group_by sfu_url, last 1 % of history") {
            try await store.stats(StatsQuery(sinceMs: recentSince(0.01), untilMs: endMs + 1, groupBy: .sfuURL)).groups.count
        }
        try await measure("stats: one call, whole history") {
            try await store.stats(StatsQuery(sinceMs: 0, untilMs: endMs + 1, callID: "call-\(fleet.randomSession() / 4)")).recoveryCount
        }
    }
}
