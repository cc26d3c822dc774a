import Testing
@testable import TetherEngine
import TetherEvents

/// The reconnector driven by a manual clock: `t0 + offset` is "now".
@Suite(.timeLimit(.minutes(1))) struct ReconnectorTests {
    let t0 = ContinuousClock.now
    let nodes = ["ws://a/ws", "ws://b/ws", "ws://c/ws"]
    let policy = ReconnectPolicy(
        disconnectionTimeout: .seconds(30), backoffInitial: .milliseconds(200),
        backoffMaximum: .seconds(2), fastReconnectWindow: .seconds(10))

    func at(_ ms: Int) -> ContinuousClock.Instant { t0 + .milliseconds(ms) }

    /// A joined machine on node 0 with SFU session "s1".
    func joined() -> Reconnector {
        var machine = Reconnector(policy: policy, nodes: nodes)
        _ = machine.joinForTest(window: nil)
        return machine
    }

    func lose(_ machine: inout Reconnector, at ms: Int = 0, lastContact: Int? = nil) -> [Reconnector.Action] {
        machine.connectionLost(
            reason: .unexpectedClose, closeCode: 1006, detail: nil,
            lastContact: at(lastContact ?? ms), now: at(ms))
    }

    // MARK: - Joining

    @Test func initialJoinRecordsJoined() {
        var machine = Reconnector(policy: policy, nodes: nodes)
        let actions = machine.joinForTest(window: .seconds(5))
        #expect(actions == [.setState(.joined), .emit(.joined(sfuURL: "ws://a/ws", sfuSessionID: "s1"))])
        #expect(machine.state == .joined)
    }

    @Test func initialJoinFailureFailsTheSession() {
        var machine = Reconnector(policy: policy, nodes: nodes)
        let actions = machine.initialJoinFailed(code: "SFU_FULL", message: "full")
        #expect(actions == [.emit(.joinFailed(code: "SFU_FULL", message: "full")), .setState(.failed)])
        #expect(lose(&machine).isEmpty, "a failed session ignores later inputs")
    }

    // MARK: - FAST

    @Test func aLossStartsFastOnTheSameSessionUnderTheDeadline() {
        var machine = joined()
        let actions = lose(&machine, at: 100)
        let plan = Reconnector.AttemptPlan(
            strategy: .fast, attempt: 1, nodeIndex: 0, resumeSessionID: "s1", previousSessionID: "s1",
            fromNodeIndex: nil, trigger: .connectionLost)
        #expect(actions == [
            .emit(.connectionLost(reason: .unexpectedClose, closeCode: 1006, detail: nil)),
            .setState(.reconnecting),
            .emit(.reconnectStarted(strategy: .fast, trigger: .connectionLost)),
            .armTimer(.deadline, at: at(30_100)),
            .close(1, leaving: nil),
            .armTimer(.fastWindow, at: at(10_100)),
            .startAttempt(AttemptID(2), plan),
        ])
        #expect(machine.state == .reconnecting)
        #expect(machine.currentAttempt == 1)
    }

    @Test func fastSuccessReportsStrategyAttemptsAndDuration() {
        var machine = joined()
        _ = lose(&machine, at: 0)
        let actions = machine.attemptSucceeded(
            JoinAnswer(sfuSessionID: "s1", reconnected: true, fastReconnectWindow: nil, participantCount: 1), now: at(7))
        #expect(actions.contains(.emit(.reconnected(strategy: .fast, attempts: 1, durationMs: 7, sfuURL: "ws://a/ws", sfuSessionID: "s1"))))
        #expect(actions.contains(.cancelTimer(.deadline)))
        #expect(actions.last == .setState(.joined))
        #expect(machine.state == .joined)
        #expect(machine.currentAttempt == 0)
    }

    @Test(arguments: [
        Reconnector.AttemptFailure(step: .connect, message: "refused"),
        Reconnector.AttemptFailure(step: .join, message: "PARTICIPANT_RECONNECT_FAILED"),
        Reconnector.AttemptFailure(step: .join, message: "join timeout"),
    ])
    func aFailedFastEscalatesToRejoinAfterABackoff(failure: Reconnector.AttemptFailure) {
        var machine = joined()
        _ = lose(&machine, at: 0)
        let actions = machine.attemptFailed(failure, unitRandom: 0.9, now: at(5))
        // Retry 1: at most backoffInitial (200 ms), here 0.9 of it.
        #expect(actions == [
            .cancelTimer(.fastWindow),
            .emit(.reconnectAttemptFailed(strategy: .fast, attempt: 1, step: failure.step, error: failure.message)),
            .emit(.strategyEscalated(from: .fast, to: .rejoin, reason: failure.step.rawValue)),
            .setState(.reconnecting),
            .armTimer(.retry, at: at(5 + 180)),
        ])
        #expect(machine.retryTimerFired(now: at(185)) == [.startAttempt(AttemptID(3), .init(
            strategy: .rejoin, attempt: 2, nodeIndex: 0, resumeSessionID: nil, previousSessionID: "s1",
            fromNodeIndex: nil, trigger: .connectionLost))])
    }

    /// A FAST the SFU refuses because it forgot the session (Stream's
    /// PARTICIPANT_RECONNECT_FAILED, Janus's 458) is no failed try of the same thing: the
    /// REJOIN starts in the same step, with no backoff and no retry counted.
    @Test func aFastRefusedAsUnknownRejoinsAtOnce() {
        var machine = joined()
        _ = lose(&machine, at: 0)
        let failure = Reconnector.AttemptFailure(step: .join, message: "PARTICIPANT_RECONNECT_FAILED", sessionUnknown: true)
        let actions = machine.attemptFailed(failure, unitRandom: 0.9, now: at(5))
        #expect(!actions.contains { if case .armTimer(.retry, _) = $0 { true } else { false } }, "no backoff: \(actions)")
        #expect(actions.contains(.emit(.strategyEscalated(from: .fast, to: .rejoin, reason: failure.step.rawValue))))
        guard case .startAttempt(_, let plan) = actions.last else {
            Issue.record("expected the REJOIN at once: \(actions)")
            return
        }
        #expect(plan.strategy == .rejoin && plan.attempt == 2)
        // A REJOIN that fails in its turn waits the first backoff: retries of the same
        // strategy are still damped.
        let rejoinFailed = machine.attemptFailed(
            Reconnector.AttemptFailure(step: .connect, message: "refused"), unitRandom: 0.9, now: at(10))
        #expect(rejoinFailed.last == .armTimer(.retry, at: at(10 + 180)))
    }

    @Test func aFastAnsweredWithoutReconnectedRejoinsAtOnce() {
        var machine = joined()
        _ = lose(&machine, at: 0)
        let actions = machine.attemptSucceeded(
            JoinAnswer(sfuSessionID: "s1", reconnected: false, fastReconnectWindow: nil, participantCount: 1), now: at(3))
        guard case .startAttempt(_, let plan) = actions.last else {
            Issue.record("expected the REJOIN at once: \(actions)")
            return
        }
        #expect(plan.strategy == .rejoin)
    }

    @Test func fastAnsweredWithoutReconnectedEscalates() {
        var machine = joined()
        _ = lose(&machine, at: 0)
        let actions = machine.attemptSucceeded(
            JoinAnswer(sfuSessionID: "s1", reconnected: false, fastReconnectWindow: nil, participantCount: 1), now: at(3))
        #expect(actions.first == .close(2, leaving: nil), "the socket that did not resume is closed, never made current")
        #expect(actions.contains(.emit(.reconnectAttemptFailed(
            strategy: .fast, attempt: 1, step: .resume,
            error: "the SFU answered the FAST join without reconnected=true"))))
        #expect(actions.contains(.emit(.strategyEscalated(from: .fast, to: .rejoin, reason: "resume"))))
        #expect(machine.state == .reconnecting)
    }

    @Test func theFastWindowClosingMidAttemptEscalates() {
        var machine = joined()
        _ = lose(&machine, at: 0)
        let actions = machine.fastWindowClosed(now: at(10_000))
        #expect(actions.first == .cancelAttempt(AttemptID(2)))
        #expect(actions.contains(.emit(.strategyEscalated(from: .fast, to: .rejoin, reason: "fast_window"))))
        guard case .startAttempt(_, let plan) = machine.retryTimerFired(now: at(10_200)).last else {
            Issue.record("expected a REJOIN attempt")
            return
        }
        #expect(plan.strategy == .rejoin)
    }

    @Test func aLossPastTheSFUsFastDeadlineSkipsToRejoin() {
        var machine = joined()
        // Last heard 12 s ago; the SFU keeps sessions for 10 s.
        let actions = lose(&machine, at: 12_000, lastContact: 0)
        #expect(actions.contains(.emit(.reconnectStarted(strategy: .fast, trigger: .connectionLost))))
        #expect(actions.contains(.emit(.strategyEscalated(from: .fast, to: .rejoin, reason: "fast_reconnect_deadline_passed"))))
        guard case .startAttempt(_, let plan) = actions.last else {
            Issue.record("expected an attempt")
            return
        }
        #expect(plan.strategy == .rejoin)
        #expect(plan.resumeSessionID == nil)
        #expect(!actions.contains(.armTimer(.fastWindow, at: at(10_000))))
    }

    @Test func theSFUsAnnouncedWindowReplacesTheDefault() {
        var machine = Reconnector(policy: policy, nodes: nodes)
        _ = machine.joinForTest(window: .seconds(2))
        let actions = lose(&machine, at: 3_000, lastContact: 0)
        #expect(actions.contains(.emit(.strategyEscalated(from: .fast, to: .rejoin, reason: "fast_reconnect_deadline_passed"))))
    }

    // MARK: - REJOIN

    @Test func everyRetryBacksOffExponentiallyWithFullJitter() {
        var machine = joined()
        _ = lose(&machine, at: 0)
        // Retry 1 (the failed FAST): ceiling 200 ms, half of it.
        var actions = machine.attemptFailed(.init(step: .join, message: "refused"), unitRandom: 0.5, now: at(1))
        #expect(actions.last == .armTimer(.retry, at: at(1 + 100)))
        #expect(!actions.contains { if case .startAttempt = $0 { true } else { false } })
        actions = machine.retryTimerFired(now: at(101))
        #expect(actions == [.startAttempt(AttemptID(3), .init(
            strategy: .rejoin, attempt: 2, nodeIndex: 0, resumeSessionID: nil, previousSessionID: "s1",
            fromNodeIndex: nil, trigger: .connectionLost))])
        // Retry 2: ceiling 400 ms.
        actions = machine.attemptFailed(.init(step: .join, message: "SFU_FULL"), unitRandom: 0.5, now: at(110))
        #expect(actions.last == .armTimer(.retry, at: at(110 + 200)))
        // Much later the ceiling is capped at backoffMaximum (2 s).
        for _ in 0..<6 {
            _ = machine.retryTimerFired(now: at(500))
            actions = machine.attemptFailed(.init(step: .join, message: "x"), unitRandom: 0.999, now: at(500))
        }
        #expect(actions.last == .armTimer(.retry, at: at(500) + .seconds(2) * 0.999))
    }

    @Test func rejoinMovesOnToTheNextNodeWhenANodeIsUnreachable() {
        var machine = joined()
        _ = lose(&machine, at: 0)
        _ = machine.attemptFailed(.init(step: .connect, message: "refused"), unitRandom: 0, now: at(1))
        guard case .startAttempt(_, let plan) = machine.retryTimerFired(now: at(1)).last else {
            Issue.record("expected a REJOIN attempt")
            return
        }
        // FAST stays on its node; the REJOIN that follows starts on the same node…
        #expect(plan.nodeIndex == 0)
        _ = machine.attemptFailed(.init(step: .connect, message: "refused"), unitRandom: 0, now: at(2))
        // …and a refused REJOIN tries the next one.
        guard case .startAttempt(_, let next) = machine.retryTimerFired(now: at(3)).last else {
            Issue.record("expected a retry")
            return
        }
        #expect(next.nodeIndex == 1)
    }

    @Test func opposingStrategyHintsFromTwoNodesNeverSpin() {
        // Node A refuses with MIGRATE, node B with REJOIN: each failure still waits.
        var machine = joined()
        _ = lose(&machine, at: 0)
        var now = 0
        var attempts = 0
        var waited = Duration.zero
        var hint = ReconnectStrategy.migrate
        while now < 6_000 {
            let actions = machine.attemptFailed(.init(step: .join, message: "refused", sfuStrategy: hint), unitRandom: 0.5, now: at(now))
            attempts += 1
            guard case .armTimer(.retry, let when) = actions.last else {
                Issue.record("a failure started the next attempt without a backoff: \(actions)")
                return
            }
            waited += when - at(now)
            now = Int((when - t0).wholeMilliseconds)
            _ = machine.retryTimerFired(now: at(now))
            hint = hint == .migrate ? .rejoin : .migrate
        }
        #expect(attempts <= 40, "\(attempts) attempts in 6 s")
        #expect(waited >= .seconds(5))
    }

    @Test func fastIsNeverTriedAgainAfterItFailedOrItsWindowPassed() {
        var machine = joined()
        _ = lose(&machine, at: 0)
        // FAST failed; the SFU then asks for FAST: REJOIN it is.
        _ = machine.attemptFailed(.init(step: .join, message: "x"), unitRandom: 0, now: at(1))
        _ = machine.retryTimerFired(now: at(1))
        let actions = machine.attemptFailed(.init(step: .join, message: "try fast", sfuStrategy: .fast), unitRandom: 0, now: at(2))
        #expect(!actions.contains(.emit(.strategyEscalated(from: .rejoin, to: .fast, reason: "join"))))
        guard case .startAttempt(_, let plan) = machine.retryTimerFired(now: at(2)).last else {
            Issue.record("expected an attempt")
            return
        }
        #expect(plan.strategy == .rejoin)

        // A REJOIN whose SFU asks for FAST after the window passed: still REJOIN.
        var late = joined()
        _ = late.sfuErrorReceived(SFUError(code: "1", message: "rejoin", strategy: .rejoin), now: at(0))
        _ = late.attemptFailed(.init(step: .join, message: "fast please", sfuStrategy: .fast), unitRandom: 0, now: at(11_000))
        guard case .startAttempt(_, let latePlan) = late.retryTimerFired(now: at(11_000)).last else {
            Issue.record("expected an attempt")
            return
        }
        #expect(latePlan.strategy == .rejoin)
    }

    // MARK: - Flapping

    func recover(_ machine: inout Reconnector, at ms: Int) {
        _ = machine.attemptSucceeded(
            JoinAnswer(sfuSessionID: "s1", reconnected: true, fastReconnectWindow: nil, participantCount: 1), now: at(ms))
    }

    @Test func aLossSoonAfterARecoveryWaitsAGrowingBackoff() {
        var machine = joined()
        _ = lose(&machine, at: 0)
        recover(&machine, at: 10)
        // Lost 50 ms after recovering: a flap. The reconnection waits 200 ms, recorded.
        var actions = lose(&machine, at: 60)
        #expect(actions.contains(.emit(.reconnectDelayed(reason: "flapping", delayMs: 200))))
        #expect(actions.last == .armTimer(.retry, at: at(260)))
        #expect(actions.contains(.armTimer(.deadline, at: at(30_060))), "the deadline applies from the loss")
        #expect(!actions.contains { if case .startAttempt = $0 { true } else { false } })
        guard case .startAttempt(_, let plan) = machine.retryTimerFired(now: at(260)).last else {
            Issue.record("expected the delayed attempt")
            return
        }
        #expect(plan.strategy == .fast)
        recover(&machine, at: 270)
        // Again: 400 ms.
        actions = lose(&machine, at: 300)
        #expect(actions.contains(.emit(.reconnectDelayed(reason: "flapping", delayMs: 400))))
        _ = machine.retryTimerFired(now: at(700))
        recover(&machine, at: 710)
        // A loss after a stable connection (10 s) starts at once and resets the damping.
        actions = lose(&machine, at: 20_000)
        #expect(!actions.contains { if case .emit(.reconnectDelayed) = $0 { true } else { false } })
        #expect({ if case .startAttempt = actions.last { true } else { false } }())
    }

    @Test func tooManyRecoveriesInTheWindowEndFailedFlapping() {
        var machine = joined()
        var now = 0
        for _ in 0..<10 {
            _ = lose(&machine, at: now)
            _ = machine.retryTimerFired(now: at(now + 3_000))
            recover(&machine, at: now + 3_000)
            now += 11_000  // stable each time: no damping, but ten recoveries in 110 s
        }
        let actions = lose(&machine, at: now)
        #expect(actions.suffix(2) == [.emit(.reconnectFailed(reason: "flapping", attempts: 0, durationMs: 0)), .setState(.failed)])
        #expect(actions.contains(.close(machine.generation, leaving: nil)), "the flapping connection is closed")
        #expect(machine.state == .failed)
    }

    // MARK: - SFU errors, go_away, call_ended

    @Test(arguments: [ReconnectStrategy.rejoin, .migrate, .fast])
    func anSFUErrorNamingAStrategyUsesIt(strategy: ReconnectStrategy) {
        var machine = joined()
        let actions = machine.sfuErrorReceived(SFUError(code: "500", message: "oops", strategy: strategy), now: at(0))
        #expect(actions.first == .emit(.sfuError(code: "500", message: "oops", strategy: strategy)))
        #expect(actions.contains(.emit(.reconnectStarted(strategy: strategy, trigger: .sfuError))))
        guard case .startAttempt(_, let plan) = actions.last else {
            Issue.record("expected an attempt")
            return
        }
        #expect(plan.strategy == strategy)
        #expect(machine.state == (strategy == .migrate ? .migrating : .reconnecting))
    }

    @Test func anSFUErrorWithoutStrategyIsOnlyRecorded() {
        var machine = joined()
        let actions = machine.sfuErrorReceived(SFUError(code: "500", message: "oops", strategy: nil), now: at(0))
        #expect(actions == [.emit(.sfuError(code: "500", message: "oops", strategy: nil))])
        #expect(machine.state == .joined)
    }

    @Test func disconnectLeavesWithNoFurtherAttempts() {
        var machine = joined()
        let actions = machine.sfuErrorReceived(SFUError(code: "600", message: "bye", strategy: .disconnect), now: at(0))
        #expect(actions == [
            .emit(.sfuError(code: "600", message: "bye", strategy: .disconnect)),
            .close(1, leaving: .leave(sessionID: "s1", reason: "sfu_disconnect")),
            .emit(.left(reason: "sfu_disconnect")),
            .setState(.left),
        ])
        #expect(lose(&machine, at: 10).isEmpty)
    }

    @Test func goAwayMigratesToTheNextNodeNamingTheOldOne() {
        var machine = joined()
        let actions = machine.goAwayReceived(reason: "shutting_down", now: at(0))
        #expect(actions.contains(.emit(.goAway(reason: "shutting_down"))))
        #expect(actions.contains(.emit(.reconnectStarted(strategy: .migrate, trigger: .goAway))))
        #expect(actions.last == .startAttempt(AttemptID(2), .init(
            strategy: .migrate, attempt: 1, nodeIndex: 1, resumeSessionID: nil, previousSessionID: "s1",
            fromNodeIndex: 0, trigger: .goAway)))
        #expect(machine.state == .migrating)
        let done = machine.attemptSucceeded(
            JoinAnswer(sfuSessionID: "s2", reconnected: false, fastReconnectWindow: nil, participantCount: 1), now: at(9))
        #expect(done.contains(.emit(.reconnected(strategy: .migrate, attempts: 1, durationMs: 9, sfuURL: "ws://b/ws", sfuSessionID: "s2"))))
        #expect(done.contains(.emit(.migrated(from: "ws://a/ws", to: "ws://b/ws"))))
        #expect(machine.currentNode == "ws://b/ws")
        #expect(machine.sfuSessionID == "s2")
    }

    @Test func aFailedMigrateFallsBackToRejoinOnTheNodeAfterTheTarget() {
        var machine = joined()
        _ = machine.goAwayReceived(reason: "shutting_down", now: at(0))
        let actions = machine.attemptFailed(.init(step: .connect, message: "refused"), unitRandom: 0, now: at(3))
        #expect(actions.contains(.emit(.strategyEscalated(from: .migrate, to: .rejoin, reason: "connect"))))
        #expect(machine.retryTimerFired(now: at(3)).last == .startAttempt(AttemptID(3), .init(
            strategy: .rejoin, attempt: 2, nodeIndex: 2, resumeSessionID: nil, previousSessionID: "s1",
            fromNodeIndex: nil, trigger: .goAway)))
        #expect(machine.state == .reconnecting)
    }

    @Test func anOperatorMigrationTargetsTheNodeAsked() {
        var machine = joined()
        let actions = machine.migrationRequested(targetNode: 2, now: at(0))
        #expect(actions.contains(.emit(.reconnectStarted(strategy: .migrate, trigger: .operatorRequest))))
        guard case .startAttempt(_, let plan) = actions.last else {
            Issue.record("expected an attempt")
            return
        }
        #expect(plan.nodeIndex == 2)
    }

    func joinedMakeBeforeBreak() -> Reconnector {
        var machine = Reconnector(policy: policy, nodes: nodes, makeBeforeBreak: true)
        _ = machine.joinForTest(window: nil)
        return machine
    }

    @Test func anOperatorMigrationJoinsTheTargetBeforeLeaving() {
        var machine = joinedMakeBeforeBreak()
        let actions = machine.migrationRequested(targetNode: 1, now: at(0))
        #expect(!actions.contains(.close(1, leaving: nil)))
        #expect(!actions.contains(.close(1, leaving: .leave(sessionID: "s1", reason: "migrating"))), "the current node is kept")
        #expect(actions.last == .startAttempt(AttemptID(2), .init(
            strategy: .migrate, attempt: 1, nodeIndex: 1, resumeSessionID: nil, previousSessionID: "s1",
            fromNodeIndex: 0, trigger: .operatorRequest)))
        let done = machine.attemptSucceeded(
            JoinAnswer(sfuSessionID: "s2", reconnected: false, fastReconnectWindow: nil, participantCount: 2), now: at(20))
        #expect(done.suffix(3) == [
            .emit(.migrated(from: "ws://a/ws", to: "ws://b/ws")),
            .close(1, leaving: .leave(sessionID: "s1", reason: "migrated")),
            .setState(.joined),
        ])
        #expect(machine.currentNode == "ws://b/ws")
    }

    @Test func aFailedMakeBeforeBreakMigrationStaysWhereItIs() {
        var machine = joinedMakeBeforeBreak()
        _ = machine.migrationRequested(targetNode: 1, now: at(0))
        let actions = machine.attemptFailed(.init(step: .connect, message: "refused"), unitRandom: 0, now: at(5))
        #expect(actions.suffix(2) == [.emit(.migrationFailed(to: "ws://b/ws", error: "refused")), .setState(.joined)])
        #expect(!actions.contains { if case .startAttempt = $0 { true } else { false } })
        #expect(machine.state == .joined)
        #expect(machine.currentNode == "ws://a/ws")
        #expect(machine.sfuSessionID == "s1")
        // A deadline that passes during one stays as well.
        _ = machine.migrationRequested(targetNode: 1, now: at(10))
        #expect(machine.deadlineFired(now: at(30_010)).last == .setState(.joined))
    }

    @Test func aLeaveDuringAMakeBeforeBreakMigrationLeavesTheKeptNodeProperly() {
        var machine = joinedMakeBeforeBreak()
        _ = machine.migrationRequested(targetNode: 1, now: at(0))
        let actions = machine.leaveRequested(reason: "requested", now: at(5))
        #expect(actions.first == .close(1, leaving: .leave(sessionID: "s1", reason: "requested")), "the joined old node gets its leave")
        #expect(actions.cancelsAnAttempt)
        #expect(actions.last == .setState(.left))
    }

    @Test func aTargetFailureReportedAfterTheDeadlineStillStaysWhereItIs() {
        var machine = joinedMakeBeforeBreak()
        _ = machine.migrationRequested(targetNode: 1, now: at(0))
        let actions = machine.attemptFailed(.init(step: .join, message: "late"), unitRandom: 0, now: at(31_000))
        #expect(actions.last == .setState(.joined))
        #expect(machine.state == .joined)
    }

    @Test func aMakeBeforeBreakMigrationWhoseKeptConnectionDiesRecoversTheUsualWay() {
        var machine = joinedMakeBeforeBreak()
        _ = machine.migrationRequested(targetNode: 1, now: at(0))
        _ = lose(&machine, at: 3)
        let actions = machine.attemptFailed(.init(step: .connect, message: "refused"), unitRandom: 0, now: at(5))
        #expect(actions.contains(.emit(.strategyEscalated(from: .migrate, to: .rejoin, reason: "connect"))))
        #expect({ if case .armTimer(.retry, _) = actions.last { true } else { false } }())
        #expect(machine.state == .reconnecting)
    }

    @Test func callEndedEndsTheSessionWithoutReconnecting() {
        var machine = joined()
        let actions = machine.callEnded(reason: "ended", now: at(0))
        #expect(actions == [.close(1, leaving: nil), .emit(.callEnded(reason: "ended")), .setState(.ended)])
        #expect(lose(&machine, at: 1).isEmpty)
        #expect(machine.goAwayReceived(reason: "x", now: at(2)).isEmpty)
    }

    @Test func callEndedDuringAReconnectionCancelsIt() {
        var machine = joined()
        _ = lose(&machine)
        let actions = machine.callEnded(reason: "ended", now: at(5))
        #expect(actions.cancelsAnAttempt)
        #expect(actions.contains(.cancelTimer(.deadline)))
        #expect(actions.last == .setState(.ended))
    }

    // MARK: - Single flight

    @Test func triggersDuringAReconnectionAreRecordedAndMerged() {
        var machine = joined()
        _ = lose(&machine, at: 0)
        let merged = machine.goAwayReceived(reason: "rebalance", now: at(1))
        #expect(merged == [
            .emit(.goAway(reason: "rebalance")),
            .emit(.triggerMerged(trigger: .goAway, strategy: .migrate)),
        ])
        let lostAgain = lose(&machine, at: 2)
        #expect(lostAgain == [
            .emit(.connectionLost(reason: .unexpectedClose, closeCode: 1006, detail: nil)),
            .emit(.triggerMerged(trigger: .connectionLost, strategy: nil)),
        ], "no second attempt is started")
        #expect(machine.currentAttempt == 1)
        // The merged go_away shapes the next attempt: MIGRATE rather than REJOIN.
        let next = machine.attemptFailed(.init(step: .connect, message: "refused"), unitRandom: 0, now: at(3))
        #expect(next.contains(.emit(.strategyEscalated(from: .fast, to: .migrate, reason: "connect"))))
        guard case .startAttempt(_, let plan) = machine.retryTimerFired(now: at(3)).last else {
            Issue.record("expected an attempt")
            return
        }
        #expect(plan.strategy == .migrate)
        #expect(plan.nodeIndex == 1)
    }

    @Test func aMergedDisconnectEndsTheReconnection() {
        var machine = joined()
        _ = lose(&machine, at: 0)
        let actions = machine.sfuErrorReceived(SFUError(code: "600", message: "bye", strategy: .disconnect), now: at(1))
        #expect(actions.cancelsAnAttempt)
        #expect(actions.last == .setState(.left))
    }

    // MARK: - Deadline

    @Test func theDeadlineFailsTheSessionAndStopsEverything() {
        var machine = joined()
        _ = lose(&machine, at: 0)
        _ = machine.attemptFailed(.init(step: .connect, message: "refused"), unitRandom: 0, now: at(10))
        _ = machine.retryTimerFired(now: at(10))
        let actions = machine.deadlineFired(now: at(30_000))
        #expect(actions == [
            .cancelAttempt(AttemptID(3)),
            .cancelTimer(.deadline), .cancelTimer(.retry), .cancelTimer(.fastWindow),
            .emit(.reconnectFailed(reason: "deadline_exceeded", attempts: 2, durationMs: 30_000)),
            .setState(.failed),
        ])
        #expect(machine.state == .failed)
        #expect(machine.retryTimerFired(now: at(30_001)).isEmpty)
        #expect(machine.attemptFailed(.init(step: .connect, message: "late"), unitRandom: 0, now: at(30_002)).isEmpty)
    }

    @Test func aFailureReportedAfterTheDeadlineFailsInsteadOfRetrying() {
        var machine = joined()
        _ = lose(&machine, at: 0)
        let actions = machine.attemptFailed(.init(step: .connect, message: "timeout"), unitRandom: 0, now: at(31_000))
        #expect(actions.contains(.emit(.reconnectFailed(reason: "deadline_exceeded", attempts: 1, durationMs: 31_000))))
        #expect(actions.last == .setState(.failed))
    }

    @Test func aRetryDeadlineWhileWaitingHasNoAttemptToCancel() {
        var machine = joined()
        _ = lose(&machine, at: 0)
        _ = machine.attemptFailed(.init(step: .connect, message: "refused"), unitRandom: 0, now: at(1))
        _ = machine.attemptFailed(.init(step: .connect, message: "refused"), unitRandom: 1, now: at(2))
        let actions = machine.deadlineFired(now: at(30_000))
        #expect(!actions.cancelsAnAttempt)
        #expect(actions.contains(.cancelTimer(.retry)))
    }

    // MARK: - A node known to have restarted

    @Test func aFastRuledOutBecomesTheFirstRejoinAttemptAtOnce() {
        var machine = joined()
        _ = lose(&machine, at: 0)
        let actions = machine.fastRuledOut(reason: "node_restarted", now: at(5))
        #expect(actions == [
            .cancelTimer(.fastWindow),
            .emit(.strategyEscalated(from: .fast, to: .rejoin, reason: "node_restarted")),
            .setState(.reconnecting),
            .startAttempt(AttemptID(3), .init(
                strategy: .rejoin, attempt: 1, nodeIndex: 0, resumeSessionID: nil, previousSessionID: "s1",
                fromNodeIndex: nil, trigger: .connectionLost)),
        ])
        #expect(machine.fastRuledOut(reason: "node_restarted", now: at(6)).isEmpty, "only a FAST in flight can be ruled out")
        let done = machine.attemptSucceeded(JoinAnswer(sfuSessionID: "s2", reconnected: false, fastReconnectWindow: nil, participantCount: 1), now: at(50))
        #expect(done.contains(.emit(.reconnected(strategy: .rejoin, attempts: 1, durationMs: 50, sfuURL: "ws://a/ws", sfuSessionID: "s2"))))
    }

    // MARK: - Leaving

    @Test func leavingWhileJoinedSendsALeave() {
        var machine = joined()
        #expect(machine.leaveRequested(reason: "requested", now: at(0)) == [
            .close(1, leaving: .leave(sessionID: "s1", reason: "requested")), .emit(.left(reason: "requested")), .setState(.left),
        ])
        #expect(machine.leaveRequested(reason: "again", now: at(1)).isEmpty, "leaving is idempotent")
    }

    @Test func leavingDuringAReconnectionCancelsTheAttempt() {
        var machine = joined()
        _ = lose(&machine, at: 0)
        let actions = machine.leaveRequested(reason: "requested", now: at(1))
        #expect(actions.first == .cancelAttempt(AttemptID(2)), "the lost connection was closed at the loss; the attempt is what runs")
        #expect(actions.cancelsAnAttempt)
        #expect(actions.last == .setState(.left))
        #expect(machine.deadlineFired(now: at(30_000)).isEmpty)
    }
}
