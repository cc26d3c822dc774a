import Foundation
import Logging
import Synchronization
import Testing
import TetherEvents
import TetherTestSupport
@testable import TetherEventLog
@testable import TetherPostgresStore

/// The writer's ownership fence on real PostgreSQL: a fleet instance writes a session's
/// events and row only while the row still names it as owner under the epoch its write
/// carries, checked with the rows locked in the batch's own transaction. A former
/// owner's late writes (its lease ran out, the session was adopted) are dropped whole
/// and reported, so the adopter's history is the only one.
@Suite(.serialized, .timeLimit(.minutes(2))) struct OwnershipFencePostgresTests {
    /// What the fence's listener heard, batch by batch.
    final class Heard: Sendable {
        let reports = Mutex<[[OwnershipFence.Stale]]>([])
        var all: [[OwnershipFence.Stale]] { reports.withLock { $0 } }
    }

    /// A PostgreSQL store on a fresh database of the test cluster, writing as fleet
    /// instance `instanceID` behind a fence whose reports land in `Heard`.
    func withFencedStore(
        instanceID: String = "a", _ body: (PostgresStore, OwnershipFence, Heard, _ url: String) async throws -> Void
    ) async throws {
        let url = try PostgresCluster.createDatabase()
        defer { PostgresCluster.dropDatabase(url) }
        var store = try await PostgresStore.open(url: try PostgresURL(parsing: url))
        defer { store.close() }
        let fence = OwnershipFence(instanceID: instanceID)
        store.fence = fence
        let heard = Heard()
        fence.onStale { stale in heard.reports.withLock { $0.append(stale) } }
        try await body(store, fence, heard, url)
    }

    func row(_ id: String, owner: String?, epoch: Int64, state: String = "joined", updatedAtMs: Int64 = 1_000) -> SessionRecord {
        var record = SessionRecord(
            id: id, state: state, callID: "default:demo", userID: "agent-\(id)", dialect: "stream",
            sfuURLs: #"["ws://10.0.0.1:9000/ws"]"#, sfuToken: "", dialectOptions: nil, policy: "{}", metadata: "{}",
            sfuURL: "ws://10.0.0.1:9000/ws", idempotencyKey: nil, requestFingerprint: nil, createdAtMs: 1_000)
        record.updatedAtMs = updatedAtMs
        record.ownerInstance = owner
        record.epoch = epoch
        return record
    }

    func encoded(_ session: String, _ timeMs: Int64, _ kind: SessionEventKind, by instance: String = "a") -> EventLog.EncodedEvent {
        let event = SessionEvent(sessionID: session, timeMs: timeMs, generation: 1, kind: kind, instanceID: instance)
        return EventLog.EncodedEvent(event: event, payload: String(decoding: try! JSONEncoder().encode(event), as: UTF8.self))
    }

    func lost(_ session: String, _ timeMs: Int64, by instance: String = "a") -> EventLog.EncodedEvent {
        encoded(session, timeMs, .connectionLost(reason: .unexpectedClose, closeCode: nil, detail: nil), by: instance)
    }

    func write(_ writes: [EventLog.Write], to store: PostgresStore) async throws -> [SessionEvent] {
        try await store.write(writes[...], clock: ClockGuard(lastStoredTimeMs: nil), monotonicNow: .zero).0
    }

    func eventCount(_ session: String, in store: PostgresStore) async throws -> Int {
        try await store.events(EventQuery(sessionID: session, limit: 1_000)).count
    }

    /// What an adoption does to the row: another owner, a new epoch (as a sweep and a
    /// claim by `b` would leave it), written behind the writer's back.
    func adopt(_ session: String, by owner: String, epoch: Int64, in store: PostgresStore) async throws {
        let changed = try await store.pools.writer.query(
            "UPDATE sessions SET owner_instance = \(owner), epoch = \(epoch) WHERE id = \(session) RETURNING 1"
        ).collect().count
        #expect(changed == 1)
    }

    @Test func aWriteForASessionAdoptedSinceIsDroppedAndReportedWhileTheOwnersOtherSessionIsStored() async throws {
        try await withFencedStore { store, fence, heard, _ in
            // "a" runs s1 and s2 at epoch 1: the rows are new, so theirs to insert.
            let s1 = row("s1", owner: "a", epoch: 1)
            let s2 = row("s2", owner: "a", epoch: 1)
            _ = try await write([.unit([lost("s1", 2_000)], row: s1), .unit([lost("s2", 2_000)], row: s2)], to: store)
            #expect(try await eventCount("s1", in: store) == 1)
            #expect(try await eventCount("s2", in: store) == 1)
            #expect(heard.all.isEmpty, "writes that match their rows are no one's business")

            // s1 is adopted by "b" (epoch 2) while "a" still believes it runs it.
            try await adopt("s1", by: "b", epoch: 2, in: store)
            let s1Adopted = try #require(try await store.session(id: "s1"))

            // "a" writes both sessions in one batch: for s1 an event and a terminal row
            // (its stale view: the call ended), for s2 a loss and a row.
            var s1Late = s1
            s1Late.state = "left"
            s1Late.endReason = "requested"
            s1Late.updatedAtMs = 3_000
            s1Late.endedAtMs = 3_000
            var s2Next = s2
            s2Next.losses = 1
            s2Next.updatedAtMs = 3_000
            let stored = try await write([
                .unit([lost("s1", 3_000), encoded("s1", 3_001, .left(reason: "requested"))], row: s1Late),
                .unit([lost("s2", 3_000)], row: s2Next),
            ], to: store)

            #expect(stored.map(\.sessionID) == ["s2"], "only s2's event was inserted")
            #expect(try await eventCount("s1", in: store) == 1, "s1's history is the adopter's now: a's events were not added")
            #expect(try await store.session(id: "s1") == s1Adopted, "s1's row is untouched: still b's, epoch 2, joined")
            #expect(try await eventCount("s2", in: store) == 2)
            let s2Stored = try #require(try await store.session(id: "s2"))
            #expect(s2Stored.losses == 1 && s2Stored.updatedAtMs == 3_000, "s2 is still a's: its row was written")

            // Reported after the commit, before `write` returned: s1, the epoch a's write
            // carried, and both of the events dropped with it.
            #expect(heard.all == [[OwnershipFence.Stale(sessionID: "s1", epoch: 1, droppedEvents: 2)]])
            #expect(fence.totals.staleWrites == 1 && fence.totals.droppedEvents == 2, "\(fence.totals)")
        }
    }

    @Test func aRowOnlyWriteForAnAdoptedSessionIsDroppedAndReportedWithNoEvents() async throws {
        try await withFencedStore { store, fence, heard, _ in
            let s1 = row("s1", owner: "a", epoch: 1)
            _ = try await write([.session(s1)], to: store)
            try await adopt("s1", by: "b", epoch: 2, in: store)
            let adopted = try #require(try await store.session(id: "s1"))

            var late = s1
            late.sfuSessionID = "a-stale"
            late.updatedAtMs = 5_000
            _ = try await write([.session(late)], to: store)
            #expect(try await store.session(id: "s1") == adopted)
            #expect(heard.all == [[OwnershipFence.Stale(sessionID: "s1", epoch: 1, droppedEvents: 0)]])
            #expect(fence.totals.staleWrites == 1 && fence.totals.droppedEvents == 0, "\(fence.totals)")
        }
    }

    @Test func aWriteUnderTheRightOwnerButAnOldEpochIsDroppedToo() async throws {
        // "a" lost s1 and got it back (released, then claimed again: epoch 3). A write
        // still carrying epoch 1 is from before: the owner alone does not make it current.
        try await withFencedStore { store, fence, heard, _ in
            let s1 = row("s1", owner: "a", epoch: 1)
            _ = try await write([.unit([lost("s1", 2_000)], row: s1)], to: store)
            try await adopt("s1", by: "a", epoch: 3, in: store)

            _ = try await write([.unit([lost("s1", 3_000)], row: s1)], to: store)
            #expect(try await eventCount("s1", in: store) == 1)
            #expect(try await store.session(id: "s1")?.epoch == 3)
            #expect(heard.all == [[OwnershipFence.Stale(sessionID: "s1", epoch: 1, droppedEvents: 1)]])

            // The write carrying the current epoch goes through.
            var current = s1
            current.epoch = 3
            current.losses = 1
            _ = try await write([.unit([lost("s1", 4_000)], row: current)], to: store)
            #expect(try await eventCount("s1", in: store) == 2)
            #expect(try await store.session(id: "s1")?.losses == 1)
            #expect(fence.totals.staleWrites == 1, "nothing more reported")
        }
    }

    @Test func aHandOverAndAClaimThroughTheFleetFenceTheFormerOwnersLateWrite() async throws {
        // The same, through the fleet's own statements: "a" hands s1 over (owner NULL,
        // epoch 2), "b" registers and claims it (owner b, epoch 3).
        try await withFencedStore { store, fence, heard, url in
            let s1 = row("s1", owner: "a", epoch: 1)
            let s2 = row("s2", owner: "a", epoch: 1)
            _ = try await write([.unit([lost("s1", 2_000)], row: s1), .unit([lost("s2", 2_000)], row: s2)], to: store)

            let logger = Logger(label: "test.fleet")
            let a = try PostgresFleet(url: try PostgresURL(parsing: url), store: store, instanceID: "a", logger: logger)
            defer { a.close() }
            let b = try PostgresFleet(url: try PostgresURL(parsing: url), store: store, instanceID: "b", logger: logger)
            defer { b.close() }
            let registration = try await b.register(address: "127.0.0.1:1", capacity: 10, ttl: .seconds(60), previous: nil, within: .seconds(10))
            guard case .registered(let incarnation) = registration else {
                Issue.record("b was not registered: \(registration)")
                return
            }
            #expect(try await a.handOver(["s1"], incarnation: 1, leaving: false, within: .seconds(10)) == 1)
            let claimed = try await b.claim(incarnation: incarnation, limit: 10, within: .seconds(10))
            #expect(claimed.map(\.record.id) == ["s1"], "s2 is still a's: not free to claim")
            #expect(claimed.first?.record.ownerInstance == "b")
            #expect(claimed.first?.record.epoch == 3)
            #expect(claimed.first?.release == .handover)

            // "a"'s writer still had a loss of each queued, under epoch 1.
            var s2Next = s2
            s2Next.losses = 1
            _ = try await write([.unit([lost("s1", 3_000)], row: s1), .unit([lost("s2", 3_000)], row: s2Next)], to: store)
            #expect(try await eventCount("s1", in: store) == 1)
            #expect(try await store.session(id: "s1")?.ownerInstance == "b")
            #expect(try await eventCount("s2", in: store) == 2)
            #expect(try await store.session(id: "s2")?.losses == 1)
            #expect(heard.all == [[OwnershipFence.Stale(sessionID: "s1", epoch: 1, droppedEvents: 1)]])
            #expect(fence.totals.staleWrites == 1 && fence.totals.droppedEvents == 1, "\(fence.totals)")

            // The adopter's writes, under its epoch, are the history from here on.
            let fenceB = OwnershipFence(instanceID: "b")
            var storeB = store
            storeB.fence = fenceB
            var s1ByB = try #require(claimed.first?.record)
            s1ByB.reconnects = 1
            _ = try await write([.unit([lost("s1", 4_000, by: "b")], row: s1ByB)], to: storeB)
            #expect(try await eventCount("s1", in: store) == 2)
            #expect(try await store.session(id: "s1")?.reconnects == 1)
            #expect(fenceB.totals.staleWrites == 0)
        }
    }
}
