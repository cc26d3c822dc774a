import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import TetherEngine
import TetherEvents
import TetherTestSupport
@testable import TetherEventLog
@testable import TetherService

/// Issue 20 at the service's edge: an event and its row commit together, a full writer
/// queue leaves an explicit gap, concurrent DELETEs all wait for the same leave, and the
/// route table matches openapi.yaml.
@Suite(.serialized, .timeLimit(.minutes(5))) struct EngineShapeTests {
    /// The writer dies after `commits` more transactions while the session is lost,
    /// resumed, rejoined and ended by its SFU. Whatever made it to the file, the row
    /// says what the history says: never a terminal event without its terminal row, a
    /// reconnection without its counter, or a row ahead of its events.
    @Test(arguments: 0...8)
    func aCrashBetweenAnyTwoCommitsLeavesEachRowAgreeingWithItsHistory(commits: Int) async throws {
        // One write per transaction: every boundary between two writes is a place to crash.
        // Patient timeouts: the FAST and the REJOIN must each succeed at once, which a
        // 1 s join timeout on a loaded CI machine once did not.
        try await withService(policy: patientTestPolicy, historyBatchSize: 1) { service, sfus in
            let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url]))
            let id = try #require(created.json["id"] as? String)
            service.app.log.store.writeFaults.arm(commits: commits)
            let sfu = sfus[0].simulator
            try await sfus[0].inject("drop")
            _ = try await pollUntil(timeout: .seconds(20)) { sfu.state.sessions.first?.fastResumes == 1 && sfu.state.sessions.first?.connected == true ? true : nil }
            try await sfus[0].inject("forget")
            _ = try await pollUntil(timeout: .seconds(20)) { sfu.state.sessions.count == 1 && sfu.state.sessions.first?.connected == true ? true : nil }
            try await sfus[0].inject("call-ended")
            _ = try await pollUntil(timeout: .seconds(20)) { sfu.state.sessions.allSatisfy { !$0.connected } ? true : nil }
            // What a restart would find: the file as it is, read by a second store.
            let file = try EventStore.open(path: service.databasePath)
            let row = try #require(try await file.session(id: id))
            let events = try await file.events(EventQuery(sessionID: id, limit: 1000))
            let types = events.map(\.type)
            let terminal = types.contains { ["left", "call_ended", "reconnect_failed", "join_failed"].contains($0) }
            #expect(terminal == !row.isLive, "after \(commits) commits: row \(row.state), events \(types)")
            #expect(row.losses == types.filter { $0 == "connection_lost" }.count, "after \(commits) commits: \(types)")
            #expect(row.reconnects == types.filter { $0 == "reconnected" }.count, "after \(commits) commits: \(types)")
            #expect(UInt64(row.generation) == events.map(\.generation).max() ?? 0, "after \(commits) commits: row generation \(row.generation), events \(events.map(\.generation))")
            service.app.log.store.writeFaults.heal()
        }
    }

    /// A full queue (the disk failing) counts the events it cannot keep; once the disk
    /// is back, each session affected gets one `events_dropped{count}`.
    @Test func aQueueOverflowIsRecordedAsEventsDroppedOnceStorageRecovers() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tether-overflow-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let store = try EventStore.open(path: path)
        let log = EventLog(store: store, limits: .init(maxQueuedEvents: 10, maxQueuedBytes: 1 << 20, probeInterval: .seconds(60)))
        let writer = Task { try await log.run() }
        store.writeFaults.arm(commits: 0)
        for index in 0..<50 {
            log.append(SessionEvent(sessionID: "overflowing", timeMs: 1_700_000_000_000 + Int64(index), generation: 1, kind: .goAway(reason: "\(index)")))
        }
        _ = try await pollUntil(timeout: .seconds(10)) { log.health.droppedEvents > 0 && log.health.failure != nil ? true : nil }
        let dropped = log.health.droppedEvents
        store.writeFaults.heal()
        let recorded = try await pollUntil(timeout: .seconds(20)) { () async throws -> [SessionEvent]? in
            let events = try await store.events(EventQuery(sessionID: "overflowing", limit: 1000))
            return events.contains { $0.type == "events_dropped" } ? events : nil
        }
        #expect(recorded.filter { $0.type == "go_away" }.count == 50 - dropped, "what the queue held was kept")
        #expect(recorded.last?.kind == .eventsDropped(count: dropped))
        // One count, whole: the queue refills while the writer retries, and the count
        // must not be dropped in its turn (it was, and a later `events_dropped{1}` stood
        // for the 30 lost).
        #expect(recorded.filter { $0.type == "events_dropped" }.count == 1)
        log.stop()
        try await writer.value
    }

    /// Two DELETEs of one session during a slow leave (an SFU that does not answer the
    /// close frame, so the socket closes only after the client's grace): both answer
    /// 204 once that socket has closed, and a GET after either reads `left`.
    @Test func concurrentDeletesBothAnswerAfterTheSameLeave() async throws {
        let janus = HostileJanus(infoFields: #""session-timeout":60,"reclaim-session-timeout":30"#, answersClose: false)
        try await janus.start()
        try await withService(nodes: 0) { service, _ in
            let created = try await service.json(.POST, "/v1/sessions", [
                "call_id": "room-1", "user_id": "agent-7",
                "sfu": ["dialect": "janus", "urls": [janus.url], "token": "", "janus": ["room": 1, "create_room": true]],
            ])
            let id = try #require(created.json["id"] as? String)
            #expect(janus.connectionCount == 1)
            let started = ContinuousClock.now
            async let first = service.request(.DELETE, "/v1/sessions/\(id)")
            async let second = service.request(.DELETE, "/v1/sessions/\(id)")
            for reply in [try await first, try await second] {
                #expect(reply.status == 204)
                #expect(ContinuousClock.now - started >= .milliseconds(400), "answered before the leave's socket closed")
            }
            #expect(try await service.request(.GET, "/v1/sessions/\(id)").json["state"] as? String == "left")
            _ = try await pollUntil(timeout: .seconds(5)) { janus.connectionCount == 0 ? true : nil }
        }
        await janus.stop()
    }

    /// `RouteTable` (405 answers) lists exactly the paths and methods openapi.yaml has.
    @Test func theRouteTableMatchesOpenAPI() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let spec = try String(contentsOf: root.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        var documented: [String: Set<String>] = [:]
        var inPaths = false
        var current: String?
        for line in spec.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" { inPaths = true; continue }
            if inPaths, !line.isEmpty, !line.hasPrefix(" ") { break }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                current = String(line.dropFirst(2).dropLast())
                documented[current!] = []
            } else if let current, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                let key = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "post", "put", "delete", "patch"].contains(key) { documented[current, default: []].insert(key.uppercased()) }
            }
        }
        var table: [String: Set<String>] = [:]
        for route in RouteTable.routes where route.pattern.first != "console" {
            table["/" + route.pattern.joined(separator: "/")] = Set(route.methods)
        }
        let normalized = Dictionary(uniqueKeysWithValues: documented.map { path, methods in
            (path.split(separator: "/").map { $0.hasPrefix("{") ? "*" : String($0) }.joined(separator: "/"), methods)
        }).mapKeys { "/" + $0 }
        #expect(!documented.isEmpty)
        #expect(normalized == table, "openapi.yaml \(normalized.sorted { $0.key < $1.key }) vs RouteTable \(table.sorted { $0.key < $1.key })")
    }
}

extension Dictionary {
    func mapKeys<T: Hashable>(_ transform: (Key) -> T) -> [T: Value] {
        Dictionary<T, Value>(uniqueKeysWithValues: map { (transform($0.key), $0.value) })
    }
}
