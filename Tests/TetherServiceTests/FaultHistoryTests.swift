import Foundation
import Testing
import TetherEvents
import TetherTestSupport
@testable import TetherService

/// Each simulator fault through the HTTP API, reading the history back.
@Suite(.serialized, .timeLimit(.minutes(3))) struct FaultHistoryTests {
    struct Fault: Sendable, CustomTestStringConvertible {
        var admin: String
        var nodes = 1
        /// Detection faults need the fast health checks; the rest run steady.
        var policy = servicePolicy
        /// The history must end with exactly this.
        var history: [String]
        var state: String
        var testDescription: String { admin }
    }

    static let faults: [Fault] = [
        Fault(admin: "drop", history: ["session_created", "joined", "connection_lost", "reconnect_started", "reconnected"], state: "joined"),
        Fault(admin: "drop?reset=1", history: ["session_created", "joined", "connection_lost", "reconnect_started", "reconnected"], state: "joined"),
        Fault(admin: "close?code=4000", history: ["session_created", "joined", "connection_lost", "reconnect_started", "reconnected"], state: "joined"),
        Fault(admin: "garbage?close=4002", history: ["session_created", "joined", "connection_lost", "reconnect_started", "reconnected"], state: "joined"),
        // The steady policy's 2 s timeout sees the 3 s freeze about 1 s before it ends,
        // and the new connection has about 1 s to spare before its own timeout: a
        // busy 2-core machine cannot turn one freeze into none or into two losses.
        Fault(admin: "freeze?ms=3000", policy: steadyTestPolicy, history: ["session_created", "joined", "connection_lost", "reconnect_started", "reconnected"], state: "joined"),
        Fault(admin: "forget", history: [
            "session_created", "joined", "connection_lost", "reconnect_started", "reconnect_attempt_failed",
            "strategy_escalated", "reconnected",
        ], state: "joined"),
        Fault(admin: "error?code=204&strategy=rejoin", history: ["session_created", "joined", "sfu_error", "reconnect_started", "reconnected"], state: "joined"),
        Fault(admin: "go-away", nodes: 2, history: ["session_created", "joined", "go_away", "reconnect_started", "reconnected", "migrated"], state: "joined"),
        Fault(admin: "error?code=600&strategy=disconnect", history: ["session_created", "joined", "sfu_error", "left"], state: "left"),
        Fault(admin: "call-ended", history: ["session_created", "joined", "call_ended"], state: "ended"),
    ]

    @Test(arguments: faults)
    func theHistoryExplainsTheFault(_ fault: Fault) async throws {
        try await withService(nodes: fault.nodes, policy: fault.policy) { service, sfus in
            let created = try await service.json(.POST, "/v1/sessions", createBody(urls: sfus.map(\.url)))
            let id = try #require(created.json["id"] as? String)
            try await sfus[0].inject(fault.admin)
            try await service.waitForEvents(of: id) { $0.count >= fault.history.count }
            // Nothing more follows: a deliberate window, then the exact history.
            try await quietPeriod(.milliseconds(900))
            #expect(try await service.eventTypes(of: id) == fault.history)
            let session = try await service.request(.GET, "/v1/sessions/\(id)").json
            #expect(session["state"] as? String == fault.state)
            if fault.nodes == 2 {
                #expect(session["sfu_url"] as? String == sfus[1].url)
            }
        }
    }

    @Test func anSFUDownPastTheDeadlineEndsFailedWithDeadlineExceeded() async throws {
        var policy = servicePolicy
        policy.disconnectionTimeout = .milliseconds(1200)
        try await withService(policy: policy) { service, sfus in
            let id = try #require(try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url])).json["id"] as? String)
            await sfus[0].stop()
            let types = try await service.waitForEvents(of: id) { $0.last == "reconnect_failed" }
            #expect(types.prefix(4) == ["session_created", "joined", "connection_lost", "reconnect_started"])
            let last = try #require(try await service.events(of: id).last)
            #expect(last["reason"] as? String == "deadline_exceeded")
            let session = try await service.request(.GET, "/v1/sessions/\(id)").json
            #expect(session["state"] as? String == "failed")
            #expect(session["end_reason"] as? String == "deadline_exceeded")
            #expect((session["counters"] as? [String: Int])?["failed_reconnects"] == 1)
        }
    }

    @Test func deleteLeavesCleanlyAndTheSFUHearsIt() async throws {
        try await withService { service, sfus in
            let id = try #require(try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url])).json["id"] as? String)
            #expect(try await service.request(.DELETE, "/v1/sessions/\(id)").status == 204)
            #expect(try await service.eventTypes(of: id) == ["session_created", "joined", "left"])
            #expect(sfus[0].simulator.state.counters.leaves == 1)
            #expect(sfus[0].simulator.state.sessions.isEmpty)
        }
    }

    @Test func gracefulShutdownLeavesEverySessionAndFlushesTheHistory() async throws {
        let sfu = try await Simulator.start()
        let service = try await LiveService.start()
        var ids: [String] = []
        for _ in 0..<3 {
            ids.append(try #require(try await service.json(.POST, "/v1/sessions", createBody(urls: [sfu.url])).json["id"] as? String))
        }
        await service.stop()
        #expect(sfu.simulator.state.counters.leaves == 3)
        let reopened = try LiveService.storeAt(service.databasePath)
        for id in ids {
            #expect(try await reopened.session(id: id)?.state == "left")
            #expect(try await reopened.events(.init(sessionID: id)).map(\.type) == ["session_created", "joined", "left"])
        }
        await sfu.stop()
    }
}

import TetherEventLog

extension LiveService {
    static func storeAt(_ path: String) throws -> EventStore { try EventStore.open(path: path) }
}
