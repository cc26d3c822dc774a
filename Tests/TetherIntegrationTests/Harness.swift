import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import NIOConcurrencyHelpers
import NIOPosix
import Testing
@testable import TetherEngine
import TetherEvents
import TetherSFUSimulator
import TetherTestSupport

/// Collects a session's events, and waits until they satisfy a condition.
final class EventRecorder: Sendable {
    private let box = NIOLockedValueBox<[SessionEvent]>([])

    func record(_ event: SessionEvent) { box.withLockedValue { $0.append(event) } }

    var events: [SessionEvent] { box.withLockedValue { $0 } }
    var types: [String] { events.map(\.type) }

    func count(of type: String) -> Int { events.filter { $0.type == type }.count }

    /// Waits (polling) until `condition` holds; fails the test after `timeout`.
    @discardableResult
    func wait(
        timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation,
        until condition: ([SessionEvent]) -> Bool
    ) async throws -> [SessionEvent] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let current = events
            if condition(current) { return current }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("timed out; events so far: \(types)", sourceLocation: sourceLocation)
        throw CancellationError()
    }

    func waitFor(_ type: String, count: Int = 1, timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await wait(timeout: timeout, sourceLocation: sourceLocation) { events in
            events.filter { $0.type == type }.count >= count
        }
    }
}

/// A simulator on a free loopback port, driven through its HTTP admin surface.
struct SimulatorNode: Sendable {
    let simulator: SFUSimulator

    static func start(nodeID: String = "sfu", fastReconnectDeadlineSeconds: Int = 10) async throws -> SimulatorNode {
        let simulator = SFUSimulator(configuration: .init(
            host: "127.0.0.1", port: 0, nodeID: nodeID, fastReconnectDeadlineSeconds: fastReconnectDeadlineSeconds))
        try await simulator.start()
        return SimulatorNode(simulator: simulator)
    }

    var url: String { simulator.signalingURL }

    /// `POST /admin/<fault>?<query>`; fails the test unless the answer is 200.
    func inject(_ fault: String, _ query: String = "") async throws {
        var request = URLRequest(url: URL(string: simulator.adminURL + "/" + fault + (query.isEmpty ? "" : "?" + query))!)
        request.httpMethod = "POST"
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode
        #expect(status == 200, "admin \(fault) answered \(status ?? 0): \(String(decoding: data, as: UTF8.self))")
    }

    func state() async throws -> SFUSimulator.State {
        let (data, _) = try await URLSession.shared.data(from: URL(string: simulator.adminURL + "/state")!)
        return try JSONDecoder().decode(SFUSimulator.State.self, from: data)
    }

    func stop() async { await simulator.stop() }
}

/// These tests are about the loss signal's sites and the reconnection, not detection speed:
/// steady health checks, so a busy machine cannot add a loss of its own.
let testPolicy = steadyTestPolicy

let testToken = SimulatorToken.make(callCID: "default:demo", userID: "agent-7")

/// One session joined to `nodes` simulators (the first is primary); everything is
/// stopped when `body` returns or throws.
func withJoinedSession(
    nodes count: Int = 1,
    policy: ReconnectPolicy = testPolicy,
    _ body: (SessionRunner, EventRecorder, [SimulatorNode]) async throws -> Void
) async throws {
    var nodes: [SimulatorNode] = []
    for index in 0..<count { nodes.append(try await SimulatorNode.start(nodeID: "sfu-\(index)")) }
    let recorder = EventRecorder()
    let session = SessionRunner(
        configuration: SessionConfiguration(
            id: UUID().uuidString, callID: "default:demo", userID: "agent-7", token: testToken,
            sfuURLs: nodes.map(\.url), policy: policy),
        dialect: StreamDialect(),
        eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
        record: { recorder.record($0) })
    do {
        try await session.start()
        try await body(session, recorder, nodes)
    } catch {
        await session.leave()
        for node in nodes { await node.stop() }
        throw error
    }
    await session.leave()
    for node in nodes { await node.stop() }
}

extension SessionEvent {
    var strategy: ReconnectStrategy? {
        switch kind {
        case .reconnectStarted(let strategy, _), .reconnected(let strategy, _, _, _, _),
            .reconnectAttemptFailed(let strategy, _, _, _):
            strategy
        default: nil
        }
    }

    var sfuSessionID: String? {
        switch kind {
        case .joined(_, let id), .reconnected(_, _, _, _, let id): id
        default: nil
        }
    }
}
