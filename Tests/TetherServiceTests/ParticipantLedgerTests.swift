import Foundation
import Testing
@testable import TetherSFUSimulator

/// The simulated SFU's record of who was in the call: one span per joined socket,
/// grouped by lineage (a session and those that replaced it through REJOIN or MIGRATE
/// naming it as their previous session), and `overlaps`, the joins made while another
/// socket of the same lineage was still joined: what the fleet tests assert stays 0.
/// The ledger is driven here the way `SFUSimulator` drives it (join, FAST, leave,
/// disconnect), with times as inputs.
@Suite(.timeLimit(.minutes(1))) struct ParticipantLedgerTests {
    /// A socket: the ledger knows links only by identity. Held by the test for its whole
    /// run, so no identifier is reused by a later socket.
    final class Socket {}

    let sockets = (0..<8).map { _ in Socket() }

    func link(_ index: Int) -> ObjectIdentifier { ObjectIdentifier(sockets[index]) }

    @Test func aFirstJoinOpensASpanInItsOwnLineage() {
        var ledger = ParticipantLedger()
        ledger.joined(link: link(0), sessionID: "A", previousSessionID: nil, nowMs: 100)
        #expect(ledger.spans == ["A": [.init(sfuSessionID: "A", joinedAtMs: 100, leftAtMs: nil)]])
        #expect(ledger.live == 1)
        #expect(ledger.overlaps == 0)
        ledger.left(link: link(0), nowMs: 250)
        #expect(ledger.spans["A"] == [.init(sfuSessionID: "A", joinedAtMs: 100, leftAtMs: 250)])
        #expect(ledger.live == 0)
    }

    @Test func rejoinsAndMigrationsJoinTheLineageOfTheSessionTheyName() {
        var ledger = ParticipantLedger()
        // A, then B naming A (a REJOIN after A's socket closed), then C naming B (a
        // MIGRATE): one agent, one lineage named after its first session.
        ledger.joined(link: link(0), sessionID: "A", previousSessionID: nil, nowMs: 100)
        ledger.left(link: link(0), nowMs: 200)
        ledger.joined(link: link(1), sessionID: "B", previousSessionID: "A", nowMs: 300)
        ledger.left(link: link(1), nowMs: 400)
        ledger.joined(link: link(2), sessionID: "C", previousSessionID: "B", nowMs: 500)
        #expect(Array(ledger.spans.keys) == ["A"], "C names B, whose lineage is A's: no lineage of its own")
        #expect(ledger.spans["A"] == [
            .init(sfuSessionID: "A", joinedAtMs: 100, leftAtMs: 200),
            .init(sfuSessionID: "B", joinedAtMs: 300, leftAtMs: 400),
            .init(sfuSessionID: "C", joinedAtMs: 500, leftAtMs: nil),
        ])
        #expect(ledger.overlaps == 0, "each span began after the one before it ended")
        #expect(ledger.live == 1)
    }

    @Test func aRejoinNamingASessionTheLedgerNeverSawIsFiledUnderThatSession() {
        // The simulator restarted between the two: the lineage is the named predecessor,
        // so a later hop from it still lands in the same place.
        var ledger = ParticipantLedger()
        ledger.joined(link: link(0), sessionID: "B", previousSessionID: "A", nowMs: 100)
        ledger.left(link: link(0), nowMs: 150)
        ledger.joined(link: link(1), sessionID: "C", previousSessionID: "B", nowMs: 200)
        #expect(ledger.spans.keys.sorted() == ["A"])
        #expect(ledger.spans["A"]?.map(\.sfuSessionID) == ["B", "C"])
    }

    @Test func twoSocketsOfOneLineageJoinedAtOnceCountOneOverlap() {
        var ledger = ParticipantLedger()
        ledger.joined(link: link(0), sessionID: "A", previousSessionID: nil, nowMs: 100)
        // B replaces A (REJOIN) while A's socket is still joined: for a moment the call
        // shows the agent twice, whatever the SFU does with A afterwards.
        ledger.joined(link: link(1), sessionID: "B", previousSessionID: "A", nowMs: 200)
        #expect(ledger.overlaps == 1)
        #expect(ledger.live == 1, "`live` counts agents (lineages), not sockets")
        // The simulator then drops A's socket: the overlap is history, not undone.
        ledger.left(link: link(0), nowMs: 210)
        #expect(ledger.overlaps == 1)
        #expect(ledger.live == 1)
        #expect(ledger.spans["A"] == [
            .init(sfuSessionID: "A", joinedAtMs: 100, leftAtMs: 210),
            .init(sfuSessionID: "B", joinedAtMs: 200, leftAtMs: nil),
        ])
    }

    @Test func aThirdSocketJoinedWhileTwoAreCountsAgain() {
        var ledger = ParticipantLedger()
        ledger.joined(link: link(0), sessionID: "A", previousSessionID: nil, nowMs: 100)
        ledger.joined(link: link(1), sessionID: "B", previousSessionID: "A", nowMs: 110)
        ledger.joined(link: link(2), sessionID: "C", previousSessionID: "B", nowMs: 120)
        #expect(ledger.overlaps == 2, "one per join made while another socket of the lineage was joined")
        #expect(ledger.live == 1)
    }

    @Test func aFastResumeAfterTheOldSocketClosedIsNoOverlap() {
        var ledger = ParticipantLedger()
        ledger.joined(link: link(0), sessionID: "A", previousSessionID: nil, nowMs: 100)
        ledger.left(link: link(0), nowMs: 200)
        #expect(ledger.live == 0)
        // FAST resumes the same SFU session on a new socket; the simulator names no
        // previous session for it (`previousSessionID: nil`).
        ledger.joined(link: link(1), sessionID: "A", previousSessionID: nil, nowMs: 300)
        #expect(ledger.overlaps == 0)
        #expect(ledger.live == 1)
        #expect(ledger.spans["A"]?.map(\.joinedAtMs) == [100, 300], "both sockets are spans of the one lineage")
    }

    @Test func aFastResumeThatTakesOverAStillOpenSocketCountsAsAnOverlap() {
        // As the ledger documents: the SFU drops the old socket when FAST takes its
        // session over, but both were joined for a moment, so the fleet's "overlaps
        // stay 0" also catches a resume racing a socket its owner never closed.
        var ledger = ParticipantLedger()
        ledger.joined(link: link(0), sessionID: "A", previousSessionID: nil, nowMs: 100)
        ledger.joined(link: link(1), sessionID: "A", previousSessionID: nil, nowMs: 200)
        #expect(ledger.overlaps == 1)
        // The simulator drops the old socket after the join; its close ends the first span.
        ledger.left(link: link(0), nowMs: 205)
        #expect(ledger.live == 1)
        #expect(ledger.spans["A"] == [
            .init(sfuSessionID: "A", joinedAtMs: 100, leftAtMs: 205),
            .init(sfuSessionID: "A", joinedAtMs: 200, leftAtMs: nil),
        ])
    }

    @Test func aFastResumeOfASessionThatHadRejoinedStaysInTheOriginalLineage() {
        var ledger = ParticipantLedger()
        ledger.joined(link: link(0), sessionID: "A", previousSessionID: nil, nowMs: 100)
        ledger.left(link: link(0), nowMs: 150)
        ledger.joined(link: link(1), sessionID: "B", previousSessionID: "A", nowMs: 200)
        ledger.left(link: link(1), nowMs: 250)
        // FAST on B: found by B's own recorded lineage.
        ledger.joined(link: link(2), sessionID: "B", previousSessionID: nil, nowMs: 300)
        #expect(ledger.spans.keys.sorted() == ["A"])
        #expect(ledger.spans["A"]?.map(\.sfuSessionID) == ["A", "B", "B"])
        #expect(ledger.overlaps == 0)
    }

    @Test func separateAgentsLiveTogetherAreNoOverlap() {
        var ledger = ParticipantLedger()
        ledger.joined(link: link(0), sessionID: "A", previousSessionID: nil, nowMs: 100)
        ledger.joined(link: link(1), sessionID: "X", previousSessionID: nil, nowMs: 100)
        ledger.joined(link: link(2), sessionID: "Y", previousSessionID: nil, nowMs: 110)
        #expect(ledger.overlaps == 0, "three agents in the call, each once")
        #expect(ledger.live == 3)
        ledger.left(link: link(1), nowMs: 200)
        #expect(ledger.live == 2)
        ledger.left(link: link(0), nowMs: 210)
        ledger.left(link: link(2), nowMs: 220)
        #expect(ledger.live == 0)
        #expect(ledger.spans.keys.sorted() == ["A", "X", "Y"])
    }

    @Test func aSecondJoinOnTheSameSocketClosesItsEarlierSpanFirst() {
        // One socket that joins again (a REJOIN sent on the connection it already has)
        // is one participant, not two.
        var ledger = ParticipantLedger()
        ledger.joined(link: link(0), sessionID: "A", previousSessionID: nil, nowMs: 100)
        ledger.joined(link: link(0), sessionID: "B", previousSessionID: "A", nowMs: 200)
        #expect(ledger.overlaps == 0)
        #expect(ledger.live == 1)
        #expect(ledger.spans["A"] == [
            .init(sfuSessionID: "A", joinedAtMs: 100, leftAtMs: 200),
            .init(sfuSessionID: "B", joinedAtMs: 200, leftAtMs: nil),
        ])
    }

    @Test func aLeaveThenADisconnectOfOneSocketEndsItsSpanOnce() {
        // The simulator calls `left` on a LeaveCallRequest and again when the socket
        // closes: the second finds nothing open and changes nothing.
        var ledger = ParticipantLedger()
        ledger.joined(link: link(0), sessionID: "A", previousSessionID: nil, nowMs: 100)
        ledger.joined(link: link(1), sessionID: "X", previousSessionID: nil, nowMs: 100)
        ledger.left(link: link(0), nowMs: 200)
        ledger.left(link: link(0), nowMs: 300)
        #expect(ledger.spans["A"]?.first?.leftAtMs == 200, "the first close stands")
        #expect(ledger.live == 1, "X is still joined: the repeat did not count A's lineage down again")
        // Then A comes back: with its count still at 0, no overlap.
        ledger.joined(link: link(2), sessionID: "B", previousSessionID: "A", nowMs: 400)
        #expect(ledger.overlaps == 0)
        #expect(ledger.live == 2)
        // A socket that never joined (closed before its join) leaves nothing behind either.
        ledger.left(link: link(3), nowMs: 500)
        #expect(ledger.live == 2)
    }

    @Test func spansEncodeWithTheAdminEndpointsKeys() throws {
        let span = ParticipantLedger.Span(sfuSessionID: "A", joinedAtMs: 100, leftAtMs: 200)
        let json = String(decoding: try JSONEncoder().encode(span), as: UTF8.self)
        for key in ["\"sfu_session_id\":\"A\"", "\"joined_at_ms\":100", "\"left_at_ms\":200"] {
            #expect(json.contains(key), "\(json)")
        }
    }
}
