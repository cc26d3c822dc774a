import Foundation
import Testing
import TetherEvents
import TetherTestSupport
@testable import TetherService
import TetherSFUSimulator
import TetherService

/// A node that forgot every session (what an SFU restart does): a few refused resumes
/// teach the service, and the node's other sessions skip FAST.
@Suite(.serialized, .timeLimit(.minutes(3))) struct NodeRestartTests {
    /// One reconnection in flight, and timeouts no busy machine reaches: 8 sessions
    /// rejoin one after another, which on 2 loaded cores once took longer than the
    /// test policy's 5 s deadline, and once a 1 s join timeout failed a REJOIN's first
    /// try. The detector's windows are wide for the same reason: with the default 2 s
    /// evidence window, three refusals one after another on a loaded CI machine once
    /// spread over more than 2 s, the first expired and a fourth FAST was spent; and
    /// the 10 s verdict could run out before the eighth session reconnects. These
    /// tests are about which strategy each session uses, not about time.
    static func oneAtATime(_ configuration: inout ServiceConfiguration) {
        configuration.maxReconnectsInFlight = 1
        configuration.defaultPolicy = patientTestPolicy
        configuration.nodeRestart = .init(evidenceWindow: .seconds(120), verdictLifetime: .seconds(300))
    }

    func has(_ events: [[String: Any]], _ type: String, _ key: String, _ value: String) -> Bool {
        events.contains { $0["type"] as? String == type && $0[key] as? String == value }
    }

    @Test func threeRefusedResumesMarkTheNodeAndTheOtherSessionsSkipFast() async throws {
        // One reconnect attempt at a time: each result is known before the next dials,
        // so exactly the threshold (3) of FAST attempts is spent.
        try await withService(configure: Self.oneAtATime) { service, sfus in
            var ids: [String] = []
            for _ in 0..<8 {
                let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url]))
                ids.append(try #require(created.json["id"] as? String))
            }
            let acceptedBefore = sfus[0].simulator.state.counters.connectionsAccepted
            // In process, not through the admin HTTP surface: that request would count as
            // a connection on the same port.
            _ = try sfus[0].simulator.inject(.forgetSessions)
            var spentFast = 0
            var skippedFast = 0
            for id in ids {
                try await service.waitForEvents(of: id, timeout: .seconds(30)) { $0.last == "reconnected" }
                let events = try await service.events(of: id)
                let refused = has(events, "reconnect_attempt_failed", "strategy", "fast")
                let ruledOut = has(events, "strategy_escalated", "reason", "node_restarted")
                #expect(refused != ruledOut, "each session either spent its FAST or skipped it: \(events.compactMap { $0["type"] as? String })")
                if refused { spentFast += 1 }
                if ruledOut {
                    skippedFast += 1
                    let escalated = try #require(events.first { $0["reason"] as? String == "node_restarted" })
                    #expect(escalated["from"] as? String == "fast" && escalated["to"] as? String == "rejoin")
                    let reconnected = try #require(events.last)
                    #expect(reconnected["strategy"] as? String == "rejoin")
                    #expect(reconnected["attempts"] as? Int == 1, "the skipped FAST is not an attempt")
                }
            }
            #expect(spentFast == 3)
            #expect(skippedFast == 5)
            let accepted = sfus[0].simulator.state.counters.connectionsAccepted - acceptedBefore
            var histories: [String] = []
            for id in ids { histories.append(try await service.eventTypes(of: id).joined(separator: ",")) }
            #expect(accepted == 3 + 8, "3 refused resumes, then one REJOIN per session: \(histories)")
        }
    }

    @Test func aNodeThatStillKnowsItsSessionsIsNeverMarked() async throws {
        try await withService(configure: Self.oneAtATime) { service, sfus in
            var ids: [String] = []
            for _ in 0..<4 {
                let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url]))
                ids.append(try #require(created.json["id"] as? String))
            }
            try await sfus[0].inject("drop")
            for id in ids {
                try await service.waitForEvents(of: id, timeout: .seconds(30)) { $0.last == "reconnected" }
                let events = try await service.events(of: id)
                #expect(events.last?["strategy"] as? String == "fast")
                #expect(!has(events, "strategy_escalated", "reason", "node_restarted"))
            }
        }
    }
}
