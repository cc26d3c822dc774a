import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
import TetherEngine
import TetherEvents
import TetherSFUSimulator
import TetherTestSupport

/// A DELETE while a reconnection attempt waits on the real network: in the WebSocket
/// upgrade, and in the join. Each stops there at once, frees its socket, and the session
/// has left. (`SessionRunnerTests` covers admission and the credentials fetch.)
@Suite(.serialized, .timeLimit(.minutes(2))) struct AttemptCancellationTests {
    @Test func aDeleteDuringTheJoinOfAnAttemptStopsIt() async throws {
        try await withJoinedSession { session, recorder, nodes in
            // The next join is never answered; then the connection drops: FAST waits in its join.
            try await nodes[0].inject("delay-joins", "count=1&ms=600000")
            try await nodes[0].inject("drop")
            try await recorder.waitFor("reconnect_started")
            let deadline = ContinuousClock.now + .seconds(10)
            while try await nodes[0].state().connections < 1, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            let asked = ContinuousClock.now
            await session.leave()
            #expect(ContinuousClock.now - asked < .seconds(2), "the leave did not wait for the join")
            #expect(await session.state == .left)
            try await waitForNoConnections(nodes[0])
        }
    }

    @Test func aDeleteDuringTheUpgradeOfAnAttemptStopsIt() async throws {
        // The second node accepts TCP and never answers the upgrade.
        let silent = try await SilentServer.start()
        let node = try await SimulatorNode.start()
        var policy = testPolicy
        policy.connectTimeout = .seconds(60)
        let recorder = EventRecorder()
        let session = SessionRunner(
            configuration: .init(
                id: "s", callID: "default:demo", userID: "agent-7", token: testToken,
                sfuURLs: [node.url, silent.url], policy: policy),
            dialect: StreamDialect(), eventLoopGroup: MultiThreadedEventLoopGroup.singleton, record: { recorder.record($0) })
        try await session.start()
        // go_away: MIGRATE to the silent node, where the attempt waits in the upgrade.
        try await node.inject("go-away")
        let deadline = ContinuousClock.now + .seconds(10)
        while silent.acceptedCount == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(silent.acceptedCount == 1, "the MIGRATE dialed the silent node")
        let asked = ContinuousClock.now
        await session.leave()
        #expect(ContinuousClock.now - asked < .seconds(2), "the leave did not wait for the upgrade")
        #expect(await session.state == .left)
        let freed = ContinuousClock.now + .seconds(5)
        while !silent.allClosed, ContinuousClock.now < freed {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(silent.allClosed, "the attempt's socket was closed")
        try await silent.stop()
        await node.stop()
    }

    func waitForNoConnections(_ node: SimulatorNode) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while try await node.state().connections > 0 {
            guard ContinuousClock.now < deadline else {
                Issue.record("the simulator still has \(try await node.state().connections) connections")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
