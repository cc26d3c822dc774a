import Testing
@testable import TetherEngine
import TetherEvents

/// The reconnector for SFUs that keep lost sessions (Janus): stale sessions destroyed,
/// FAST after a restart, nodes that refuse new sessions, kicks.
@Suite(.timeLimit(.minutes(1))) struct ReconnectorStaleSessionTests {
    let t0 = ContinuousClock.now
    let nodes = ["ws://a/ws", "ws://b/ws"]
    let policy = ReconnectPolicy(
        disconnectionTimeout: .seconds(30), backoffInitial: .milliseconds(200),
        backoffMaximum: .seconds(2), fastReconnectWindow: .seconds(10))

    func at(_ ms: Int) -> ContinuousClock.Instant { t0 + .milliseconds(ms) }

    func joined(keepsStaleSessions: Bool = true) -> Reconnector {
        var machine = Reconnector(policy: policy, nodes: nodes, resumesAcrossRestarts: keepsStaleSessions, leavesStaleSessions: keepsStaleSessions)
        _ = machine.joinForTest(window: nil)
        return machine
    }

    func plan(_ actions: [Reconnector.Action], sourceLocation: SourceLocation = #_sourceLocation) -> Reconnector.AttemptPlan? {
        for action in actions { if case .startAttempt(_, let plan) = action { return plan } }
        Issue.record("no attempt started: \(actions)", sourceLocation: sourceLocation)
        return nil
    }

    /// Loss at 0, the FAST attempt fails; returns the REJOIN that follows.
    func rejoinAfterFailedFast(_ machine: inout Reconnector, step: AttemptStep = .resume) -> Reconnector.AttemptPlan? {
        let fast = plan(machine.connectionLost(reason: .unexpectedClose, closeCode: 1006, detail: nil, lastContact: at(0), now: at(0)))
        #expect(fast?.strategy == .fast && fast?.staleSessionID == nil, "FAST resumes the session, never destroys it")
        _ = machine.attemptFailed(.init(step: step, message: "no"), unitRandom: 0, now: at(10))
        return plan(machine.retryTimerFired(now: at(300)))
    }

    @Test func aRejoinOnTheSameNodeDestroysTheStaleSessionFirst() {
        var machine = joined()
        let rejoin = rejoinAfterFailedFast(&machine)
        #expect(rejoin?.strategy == .rejoin && rejoin?.nodeIndex == 0)
        #expect(rejoin?.staleSessionID == "s1")
    }

    @Test func dialectsThatDropLostSessionsNameNoStaleSession() {
        var machine = joined(keepsStaleSessions: false)
        #expect(rejoinAfterFailedFast(&machine)?.staleSessionID == nil)
    }

    @Test func aDestroyedStaleSessionIsRecordedBeforeTheReconnection() {
        var machine = joined()
        _ = rejoinAfterFailedFast(&machine)
        let actions = machine.attemptSucceeded(
            JoinAnswer(sfuSessionID: "s2", reconnected: false, fastReconnectWindow: nil, participantCount: 1, staleSessionDestroyed: "s1"),
            now: at(400))
        let events = actions.compactMap { if case .emit(let kind) = $0 { kind.type } else { nil } }
        #expect(events == ["stale_session_destroyed", "reconnected"])
        #expect(actions.contains(.emit(.staleSessionDestroyed(sfuURL: "ws://a/ws", sfuSessionID: "s1"))))
        #expect(!actions.contains { if case .destroyStaleSession = $0 { true } else { false } })
    }

    @Test func movingToAnotherNodeAfterALossCleansUpTheOldOne() {
        var machine = joined()
        let rejoin = rejoinAfterFailedFast(&machine, step: .connect)
        // The same node first…
        #expect(rejoin?.nodeIndex == 0)
        _ = machine.attemptFailed(.init(step: .connect, message: "refused"), unitRandom: 0, now: at(400))
        // …then the next, which cannot destroy a session another node holds.
        let next = plan(machine.retryTimerFired(now: at(800)))
        #expect(next?.nodeIndex == 1 && next?.staleSessionID == nil)
        let actions = machine.attemptSucceeded(JoinAnswer(sfuSessionID: "b1", reconnected: false, fastReconnectWindow: nil, participantCount: 1), now: at(900))
        #expect(actions.contains(.destroyStaleSession(sfuURL: "ws://a/ws", sfuSessionID: "s1")))
        #expect(machine.staleSessionDestroyed(sfuURL: "ws://a/ws", sfuSessionID: "s1")
            == [.emit(.staleSessionDestroyed(sfuURL: "ws://a/ws", sfuSessionID: "s1"))])
    }

    @Test func aMigrationThatLeftItsNodeLeavesNothingBehind() {
        var machine = joined()
        let migrate = plan(machine.goAwayReceived(reason: "draining", now: at(0)))
        #expect(migrate?.strategy == .migrate && migrate?.staleSessionID == nil)
        let actions = machine.attemptSucceeded(JoinAnswer(sfuSessionID: "b1", reconnected: false, fastReconnectWindow: nil, participantCount: 1), now: at(100))
        #expect(!actions.contains { if case .destroyStaleSession = $0 { true } else { false } })
    }

    @Test func aRestartResumesWithFastWhereTheSFUAllowsIt() {
        var janus = Reconnector(policy: policy, nodes: nodes, resumesAcrossRestarts: true, leavesStaleSessions: true)
        let fast = plan(janus.resumeAfterRestart(sfuSessionID: "s1", nodeIndex: 1, now: at(0)))
        #expect(fast?.strategy == .fast && fast?.resumeSessionID == "s1" && fast?.nodeIndex == 1)
        _ = janus.attemptFailed(.init(step: .join, message: "458", sfuStrategy: .rejoin), unitRandom: 0, now: at(10))
        let rejoin = plan(janus.retryTimerFired(now: at(300)))
        #expect(rejoin?.strategy == .rejoin && rejoin?.nodeIndex == 1 && rejoin?.staleSessionID == "s1")

        var stream = Reconnector(policy: policy, nodes: nodes)
        #expect(plan(stream.resumeAfterRestart(sfuSessionID: "s1", nodeIndex: 0, now: at(0)))?.strategy == .rejoin)
        var unknown = Reconnector(policy: policy, nodes: nodes, resumesAcrossRestarts: true)
        #expect(plan(unknown.resumeAfterRestart(sfuSessionID: nil, nodeIndex: 0, now: at(0)))?.strategy == .rejoin, "nothing to claim")
    }

    @Test func aFirstJoinRefusedByANodeMovesToTheNext() {
        var machine = Reconnector(policy: policy, nodes: nodes)
        let moved = machine.initialNodeRefused(code: "472", message: "Not accepting new sessions")
        #expect(moved == [.emit(.sfuError(code: "472", message: "ws://a/ws accepts no new sessions (Not accepting new sessions); trying ws://b/ws", strategy: nil))])
        #expect(machine.currentNode == "ws://b/ws")
        #expect(machine.initialNodeRefused(code: "472", message: "again") == nil, "no node left: the join fails")
        #expect(machine.initialJoinSucceeded(sfuSessionID: "b1", fastReconnectWindow: nil).last == .emit(.joined(sfuURL: "ws://b/ws", sfuSessionID: "b1")))
    }

    @Test func aRejoinRefusedByANodeTriesTheNext() {
        var machine = joined()
        _ = rejoinAfterFailedFast(&machine)
        _ = machine.attemptFailed(.init(step: .join, message: "472", nodeRefused: true), unitRandom: 0, now: at(400))
        #expect(plan(machine.retryTimerFired(now: at(800)))?.nodeIndex == 1)
    }

    @Test func aKickEndsTheSessionLeftWithItsReason() {
        var machine = joined()
        #expect(machine.removedBySFU(code: "kicked", message: "a moderator removed us", now: at(0)) == [
            .emit(.sfuError(code: "kicked", message: "a moderator removed us", strategy: nil)),
            .close(1, leaving: .leave(sessionID: "s1", reason: "kicked")), .emit(.left(reason: "kicked")), .setState(.left),
        ])
        #expect(machine.connectionLost(reason: .unexpectedClose, closeCode: 1006, detail: nil, lastContact: at(1), now: at(1)).isEmpty,
                "no automatic rejoin after a kick")
    }

    @Test func aNodeListReplacedDuringAnAttemptWaitsUntilTheAttemptSettles() {
        var machine = joined()
        let rejoin = rejoinAfterFailedFast(&machine)
        #expect(rejoin?.nodeIndex == 0)
        // New credentials name a single other node while the REJOIN to a is in flight.
        _ = machine.nodesReplaced(["ws://c/ws"])
        #expect(machine.nodes == nodes, "the plan's indexes still point into the list it was made from")
        let actions = machine.attemptSucceeded(JoinAnswer(sfuSessionID: "s2", reconnected: false, fastReconnectWindow: nil, participantCount: 1), now: at(400))
        #expect(actions.contains(.emit(.reconnected(strategy: .rejoin, attempts: 2, durationMs: 400, sfuURL: "ws://a/ws", sfuSessionID: "s2"))))
        #expect(machine.nodes == ["ws://c/ws"] && machine.currentNode == "ws://c/ws")
        // The node it is on left the list: the next loss rejoins the new primary, and
        // the session left on a is cleaned up there, never on c.
        // (A minute later: a loss right after a recovery would wait as a flap.)
        let next = plan(machine.connectionLost(reason: .unexpectedClose, closeCode: 1006, detail: nil, lastContact: at(60_000), now: at(60_000)))
        #expect(next?.strategy == .rejoin && next?.nodeIndex == 0 && next?.staleSessionID == nil)
        let done = machine.attemptSucceeded(JoinAnswer(sfuSessionID: "c1", reconnected: false, fastReconnectWindow: nil, participantCount: 1), now: at(60_100))
        #expect(done.contains(.destroyStaleSession(sfuURL: "ws://a/ws", sfuSessionID: "s2")))
    }

    @Test func aShorterNodeListDuringAFailingAttemptNeverPointsPastItsEnd() {
        var machine = joined()
        _ = rejoinAfterFailedFast(&machine, step: .connect)
        _ = machine.attemptFailed(.init(step: .connect, message: "refused"), unitRandom: 0, now: at(400))
        let onB = plan(machine.retryTimerFired(now: at(800)))
        #expect(onB?.nodeIndex == 1)
        _ = machine.nodesReplaced(["ws://a/ws"])
        _ = machine.attemptFailed(.init(step: .connect, message: "refused"), unitRandom: 0, now: at(900))
        let next = plan(machine.retryTimerFired(now: at(1300)))
        #expect(next?.nodeIndex == 0 && machine.nodes == ["ws://a/ws"])
    }

    @Test func aResumeThatHadToRejoinTheRoomSaysSo() {
        var machine = joined()
        _ = machine.connectionLost(reason: .unexpectedClose, closeCode: 1006, detail: nil, lastContact: at(0), now: at(0))
        let actions = machine.attemptSucceeded(
            JoinAnswer(sfuSessionID: "s1b", reconnected: true, fastReconnectWindow: nil, participantCount: 1, rejoinedRoom: true), now: at(50))
        let events = actions.compactMap { if case .emit(let kind) = $0 { kind } else { nil } }
        #expect(events.map(\.type) == ["room_rejoined", "reconnected"])
        #expect(events.first == .roomRejoined(reason: "not_in_room_after_resume"))
    }
}
