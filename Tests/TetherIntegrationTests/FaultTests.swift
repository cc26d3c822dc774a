import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
import TetherEngine
import TetherEvents
import TetherSFUSimulator
import TetherTestSupport

/// One test per fault, over real sockets against the simulator, each checking the
/// exact event sequence.
@Suite(.serialized, .timeLimit(.minutes(5))) struct FaultTests {
    @Test(arguments: [false, true])
    func anAbruptDropGivesOneLossThenFastResumesTheSameSession(reset: Bool) async throws {
        try await withJoinedSession { session, recorder, nodes in
            let joinedID = recorder.events.first { $0.type == "joined" }?.sfuSessionID
            try await nodes[0].inject("drop", reset ? "reset=1" : "")
            try await recorder.waitFor("reconnected")
            try await Task.sleep(for: .milliseconds(300))
            #expect(recorder.types == ["session_created", "joined", "connection_lost", "reconnect_started", "reconnected"])
            let lost = recorder.events[2]
            #expect(lost.kind == .connectionLost(
                reason: .unexpectedClose, closeCode: 1006,
                detail: reset ? "the connection was reset (ECONNRESET)" : "the connection ended with no close frame"))
            #expect(recorder.events[3].kind == .reconnectStarted(strategy: .fast, trigger: .connectionLost))
            let reconnected = recorder.events[4]
            #expect(reconnected.strategy == .fast)
            #expect(reconnected.sfuSessionID == joinedID, "FAST resumes the same SFU session")
            let state = try await nodes[0].state()
            #expect(state.sessions.count == 1)
            #expect(state.sessions.first?.fastResumes == 1)
            #expect(await session.state == .joined)
        }
    }

    @Test func aCloseFrameGivesOneLossWithItsCode() async throws {
        try await withJoinedSession { _, recorder, nodes in
            try await nodes[0].inject("close", "code=4001&reason=maintenance")
            try await recorder.waitFor("reconnected")
            #expect(recorder.events[2].kind == .connectionLost(reason: .unexpectedClose, closeCode: 4001, detail: "maintenance"))
            #expect(recorder.count(of: "connection_lost") == 1)
        }
    }

    @Test func anErrorThenACloseGivesExactlyOneLoss() async throws {
        try await withJoinedSession { _, recorder, nodes in
            try await nodes[0].inject("garbage", "close=4002")
            try await recorder.waitFor("reconnected")
            try await Task.sleep(for: .milliseconds(300))
            #expect(recorder.types == ["session_created", "joined", "connection_lost", "reconnect_started", "reconnected"])
            guard case .connectionLost(let reason, _, let detail) = recorder.events[2].kind else {
                Issue.record("expected connection_lost")
                return
            }
            #expect(reason == .error)
            #expect(detail?.contains("undecodable stream frame") == true)
        }
    }

    @Test func aGarbageFrameIsAnErrorLossNotACrash() async throws {
        try await withJoinedSession { session, recorder, nodes in
            try await nodes[0].inject("garbage")
            try await recorder.waitFor("reconnected")
            guard case .connectionLost(.error, nil, let detail?) = recorder.events[2].kind else {
                Issue.record("expected an error loss, got \(recorder.events[2])")
                return
            }
            #expect(detail.contains("are not an SfuEvent"))
            #expect(recorder.events[4].strategy == .fast)
            #expect(await session.state == .joined)
        }
    }

    @Test func aHealthCheckFreezeGivesATimeoutLossEmittedBeforeTheClose() async throws {
        try await withJoinedSession(policy: steadyTestPolicy) { _, recorder, nodes in
            // Longer than the 2 s timeout by about 1 s, and the new connection has about
            // 1 s to spare before its own timeout: one loss, then FAST, even on a busy machine.
            try await nodes[0].inject("freeze", "ms=3000")
            try await recorder.waitFor("connection_lost")
            // Had our own close come first, the user-close guard would have swallowed the
            // loss, or it would read unexpected_close.
            #expect(recorder.events[2].kind == .connectionLost(reason: .healthCheckTimeout, closeCode: nil, detail: nil))
            try await recorder.waitFor("reconnected")
            try await Task.sleep(for: .milliseconds(800))
            let losses = recorder.events.filter { $0.type == "connection_lost" }
            #expect(losses.map(\.kind) == [.connectionLost(reason: .healthCheckTimeout, closeCode: nil, detail: nil)], "exactly one loss")
            #expect(recorder.types.last == "reconnected")
            #expect(try await nodes[0].state().counters.healthChecksIgnored > 0)
        }
    }

    @Test func aForgetfulSFUMakesFastFailAndRejoinSucceedsNamingThePreviousSession() async throws {
        try await withJoinedSession { _, recorder, nodes in
            let oldID = try #require(recorder.events.first { $0.type == "joined" }?.sfuSessionID)
            try await nodes[0].inject("forget")
            try await recorder.waitFor("reconnected")
            #expect(recorder.types == [
                "session_created", "joined", "connection_lost", "reconnect_started",
                "reconnect_attempt_failed", "strategy_escalated", "reconnected",
            ])
            guard case .reconnectAttemptFailed(.fast, 1, .join, let error) = recorder.events[4].kind else {
                Issue.record("expected a failed FAST join, got \(recorder.events[4])")
                return
            }
            #expect(error.contains("PARTICIPANT_RECONNECT_FAILED"))
            #expect(recorder.events[5].kind == .strategyEscalated(from: .fast, to: .rejoin, reason: "join"))
            let reconnected = recorder.events[6]
            guard case .reconnected(.rejoin, 2, _, _, let newID) = reconnected.kind else {
                Issue.record("expected a REJOIN after 2 attempts, got \(reconnected)")
                return
            }
            #expect(newID != oldID)
            let server = try #require(try await nodes[0].state().sessions.first)
            #expect(server.sessionID == newID)
            #expect(server.joinKind == "rejoin")
            #expect(server.previousSessionID == oldID)
        }
    }

    @Test func goAwayMigratesToTheSecondSimulator() async throws {
        try await withJoinedSession(nodes: 2) { session, recorder, nodes in
            try await nodes[0].inject("go-away", "reason=shutting_down")
            try await recorder.waitFor("migrated")
            #expect(recorder.types == ["session_created", "joined", "go_away", "reconnect_started", "reconnected", "migrated"])
            #expect(recorder.events[2].kind == .goAway(reason: "shutting_down"))
            #expect(recorder.events[3].kind == .reconnectStarted(strategy: .migrate, trigger: .goAway))
            #expect(recorder.events[4].strategy == .migrate)
            #expect(recorder.events[5].kind == .migrated(from: nodes[0].url, to: nodes[1].url))
            let second = try #require(try await nodes[1].state().sessions.first)
            #expect(second.joinKind == "migrate")
            #expect(second.migratedFrom == nodes[0].url)
            #expect(second.connected)
            #expect(await session.snapshot.sfuURL == nodes[1].url)
            #expect(await session.state == .joined)
        }
    }

    @Test func anErrorNamingRejoinRejoins() async throws {
        // About the sequence, not timing: a 1 s join timeout on a busy CI machine once
        // failed the REJOIN's first try and added a reconnect_attempt_failed.
        try await withJoinedSession(policy: patientTestPolicy) { _, recorder, nodes in
            try await nodes[0].inject("error", "code=204&strategy=rejoin&message=rejoin%20please")
            try await recorder.waitFor("reconnected")
            #expect(recorder.types == ["session_created", "joined", "sfu_error", "reconnect_started", "reconnected"])
            #expect(recorder.events[2].kind == .sfuError(code: "PARTICIPANT_RECONNECT_FAILED", message: "rejoin please", strategy: .rejoin))
            #expect(recorder.events[4].strategy == .rejoin)
        }
    }

    @Test func anErrorWithDisconnectLeavesWithNoReconnect() async throws {
        try await withJoinedSession { session, recorder, nodes in
            try await nodes[0].inject("error", "code=600&strategy=disconnect")
            #expect(await session.waitUntilFinished() == .left)
            try await Task.sleep(for: .milliseconds(300))
            #expect(recorder.types == ["session_created", "joined", "sfu_error", "left"])
            #expect(recorder.events[3].kind == .left(reason: "sfu_disconnect"))
            let state = try await nodes[0].state()
            #expect(state.counters.leaves == 1)
            #expect(state.connections == 0)
        }
    }

    @Test func callEndedEndsTheSession() async throws {
        try await withJoinedSession { session, recorder, nodes in
            try await nodes[0].inject("call-ended", "reason=kicked")
            #expect(await session.waitUntilFinished() == .ended)
            try await Task.sleep(for: .milliseconds(300))
            #expect(recorder.types == ["session_created", "joined", "call_ended"])
            #expect(recorder.events[2].kind == .callEnded(reason: "kicked"))
            #expect(try await nodes[0].state().connections == 0)
        }
    }

    @Test func aCloseTheUserAskedForGivesNoLoss() async throws {
        try await withJoinedSession { session, recorder, nodes in
            await session.leave(reason: "requested")
            #expect(await session.state == .left)
            try await Task.sleep(for: .milliseconds(300))
            #expect(recorder.types == ["session_created", "joined", "left"])
            let state = try await nodes[0].state()
            #expect(state.counters.leaves == 1, "the SFU got a leave_call_request")
            #expect(state.sessions.isEmpty)
            #expect(state.connections == 0)
        }
    }

    @Test func anSFUDownPastTheDeadlineLeavesTheSessionFailedWithNothingRunning() async throws {
        var policy = testPolicy
        policy.disconnectionTimeout = .milliseconds(1500)
        try await withJoinedSession(policy: policy) { session, recorder, nodes in
            let port = try #require(nodes[0].simulator.port)
            await nodes[0].stop()
            #expect(await session.waitUntilFinished() == .failed)
            let failed = try #require(recorder.events.last)
            guard case .reconnectFailed("deadline_exceeded", let attempts, let duration) = failed.kind else {
                Issue.record("expected reconnect_failed, got \(failed)")
                return
            }
            #expect(attempts >= 2)
            #expect(duration >= 1500)
            #expect(recorder.types.prefix(4) == ["session_created", "joined", "connection_lost", "reconnect_started"])
            #expect(recorder.events.contains { $0.kind == .strategyEscalated(from: .fast, to: .rejoin, reason: "connect") })
            // Nothing is left running: an SFU that comes back sees no further attempt.
            let revived = SFUSimulator(configuration: .init(port: port))
            try await revived.start()
            try await Task.sleep(for: .milliseconds(600))
            #expect(revived.state.counters.connectionsAccepted == 0)
            await revived.stop()
        }
    }

    @Test func aRejectedFirstJoinFailsWithTheSFUsCode() async throws {
        let node = try await SimulatorNode.start()
        try await node.inject("reject-joins", "count=1&code=700")
        let recorder = EventRecorder()
        let session = SessionRunner(
            configuration: .init(id: "s", callID: "default:demo", userID: "agent-7", token: testToken, sfuURLs: [node.url], policy: testPolicy),
            dialect: StreamDialect(), eventLoopGroup: MultiThreadedEventLoopGroup.singleton, record: { recorder.record($0) })
        do {
            try await session.start()
            Issue.record("the join should have failed")
        } catch let error as SessionJoinError {
            #expect(error == SessionJoinError(code: "SFU_FULL", message: "join rejected by fault injection", rejectedBySFU: true))
        }
        #expect(await session.state == .failed)
        #expect(recorder.types == ["session_created", "join_failed"])
        await node.stop()
    }

    @Test func aServerThatNeverAnswersTheUpgradeTimesOutAndFreesTheSocket() async throws {
        // Accepts TCP, reads, never answers: the WSClient hazard.
        let silent = try await SilentServer.start()
        var policy = testPolicy
        policy.connectTimeout = .milliseconds(300)
        let session = SessionRunner(
            configuration: .init(id: "s", callID: "c", userID: "u", token: testToken, sfuURLs: [silent.url], policy: policy),
            dialect: StreamDialect(), eventLoopGroup: MultiThreadedEventLoopGroup.singleton, record: { _ in })
        do {
            try await session.start()
            Issue.record("the join should have failed")
        } catch let error as SessionJoinError {
            #expect(error.code == "upgrade_timeout")
        }
        // Freed: the server sees the socket closed (our timeout closed it), promptly.
        #expect(silent.acceptedCount == 1)
        let deadline = ContinuousClock.now + .seconds(5)
        while !silent.allClosed, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(silent.allClosed, "the timed-out socket was closed")
        try await silent.stop()
    }
}
