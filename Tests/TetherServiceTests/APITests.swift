import Foundation
import NIOHTTP1
import NIOCore
import NIOPosix
import Testing
import TetherAPI
import TetherEvents
@testable import TetherEventLog
@testable import TetherService

/// Starts a service and `nodes` simulators, runs `body`, and stops them all and removes
/// the database whatever happens.
func withService(
    store: StoreKind = .sqlite,
    apiTokens: [String] = [], nodes: Int = 1, policy: ReconnectPolicy = servicePolicy,
    databasePath: String? = nil, configure: (inout ServiceConfiguration) -> Void = { _ in },
    sseHeartbeat: Duration = .milliseconds(200),
    historyBatchSize: Int = 20_000,
    _ body: (LiveService, [Simulator]) async throws -> Void
) async throws {
    let service = try await LiveService.start(
        store: store, databasePath: databasePath, apiTokens: apiTokens, policy: policy, sseHeartbeat: sseHeartbeat,
        historyBatchSize: historyBatchSize, configure: configure)
    var simulators: [Simulator] = []
    do {
        for _ in 0..<nodes { simulators.append(try await Simulator.start()) }
        try await body(service, simulators)
    } catch {
        await service.stop()
        for simulator in simulators { await simulator.stop() }
        service.removeDatabase()
        throw error
    }
    await service.stop()
    for simulator in simulators { await simulator.stop() }
    service.removeDatabase()
}

@Suite(.serialized, .timeLimit(.minutes(5))) struct APITests {
    @Test(arguments: StoreKind.allCases) func createAnswersWhenJoinedAndTheSessionReadsBack(store: StoreKind) async throws {
        try await withService(store: store) { service, sfus in
            let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url], extra: ["metadata": ["tenant": "acme"]]))
            #expect(created.status == 201)
            let id = try #require(created.json["id"] as? String)
            #expect(created.headers.first(name: "Location") == "/v1/sessions/\(id)")
            #expect(created.json["state"] as? String == "joined")
            #expect(created.json["sfu_url"] as? String == sfus[0].url)
            #expect((created.json["sfu_session_id"] as? String)?.isEmpty == false)
            #expect((created.json["metadata"] as? [String: String]) == ["tenant": "acme"])
            #expect(!created.text.contains(sfuToken), "the SFU token is never returned")

            let fetched = try await service.request(.GET, "/v1/sessions/\(id)")
            #expect(fetched.status == 200)
            #expect(fetched.json["state"] as? String == "joined")
            #expect((fetched.json["counters"] as? [String: Int])?["losses"] == 0)
            #expect(try await service.eventTypes(of: id) == ["session_created", "joined"])

            let deleted = try await service.request(.DELETE, "/v1/sessions/\(id)")
            #expect(deleted.status == 204)
            #expect(try await service.request(.DELETE, "/v1/sessions/\(id)").status == 204, "DELETE is idempotent")
            let after = try await service.request(.GET, "/v1/sessions/\(id)")
            #expect(after.json["state"] as? String == "left")
            #expect(after.json["end_reason"] as? String == "requested")
            #expect(try await service.eventTypes(of: id) == ["session_created", "joined", "left"])
        }
    }

    /// `GET /v1/sessions/{id}` answers from its own route with a cached body: it must say
    /// what the runtime-encoded listing says, after every change, live or ended.
    @Test(arguments: StoreKind.allCases) func aSessionReadByIdMatchesTheListingThroughEveryChange(store: StoreKind) async throws {
        try await withService(store: store) { service, sfus in
            let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url], extra: ["metadata": ["tenant": "acme"]]))
            let id = try #require(created.json["id"] as? String)
            func readsAsListed(_ expectedState: String) async throws -> [String: Any] {
                let fetched = try await service.request(.GET, "/v1/sessions/\(id)")
                #expect(fetched.status == 200)
                #expect(fetched.headers.first(name: "Content-Type") == "application/json; charset=utf-8")
                let listed = try await service.request(.GET, "/v1/sessions?limit=100").json["sessions"] as? [[String: Any]] ?? []
                let entry = try #require(listed.first { $0["id"] as? String == id })
                #expect(NSDictionary(dictionary: fetched.json).isEqual(to: entry), "\(fetched.text) vs \(entry)")
                #expect(fetched.json["state"] as? String == expectedState)
                return fetched.json
            }
            let first = try await readsAsListed("joined")
            #expect(try await readsAsListed("joined")["updated_at_ms"] as? Int == first["updated_at_ms"] as? Int, "a quiet session reads the same")

            // A drop and its recovery change the row: the next read shows the new one.
            try await sfus[0].inject("drop")
            _ = try await pollUntil(timeout: .seconds(30)) { () async throws -> Bool? in
                let now = try await service.request(.GET, "/v1/sessions/\(id)").json
                return (now["counters"] as? [String: Int])?["reconnects"] == 1 && now["state"] as? String == "joined" ? true : nil
            }
            let recovered = try await readsAsListed("joined")
            #expect((recovered["generation"] as? Int ?? 0) > (first["generation"] as? Int ?? 0))

            #expect(try await service.request(.DELETE, "/v1/sessions/\(id)").status == 204)
            _ = try await readsAsListed("left")

            let head = try await service.request(.HEAD, "/v1/sessions/\(id)")
            #expect(head.status == 200 && head.body.isEmpty)
            let missing = try await service.request(.GET, "/v1/sessions/no-such-session")
            #expect(missing.status == 404 && missing.errorCode == "session_not_found", "\(missing.text)")
        }
    }

    /// The listing pages are written from each row's kept JSON (`ListingPageWriter`), not
    /// by the runtime: byte for byte they must be what the runtime writes for the typed
    /// page, with and without a cursor, before and after the rows change, and on a
    /// second read (from the kept forms).
    @Test(arguments: StoreKind.allCases) func listingPagesAreWhatTheRuntimeWouldWrite(store: StoreKind) async throws {
        try await withService(store: store) { service, sfus in
            let encoder = JSONEncoder()
            encoder.outputFormatting = APIJSON.outputFormatting
            func typedEvents(_ query: EventQuery) async throws -> Data {
                let stored = try await service.app.log.store.storedEvents(query)
                let next = stored.count == query.limit ? stored.last.map { String($0.id) } : nil
                return try encoder.encode(Components.Schemas.EventPage(
                    events: try stored.map { try Components.Schemas.Event($0.decoded()) }, next_cursor: next))
            }
            func typedSessions(_ query: SessionQuery) async throws -> Data {
                let records = try await service.app.log.store.sessions(query)
                let next = records.count == query.limit ? records.last?.seq.map { String($0) } : nil
                return try encoder.encode(Components.Schemas.SessionPage(
                    sessions: records.map { .init($0, currentAttempt: 0) }, next_cursor: next))
            }
            func pagesMatch() async throws {
                for _ in 0..<2 {
                    try await service.app.log.flush()
                    for (path, query) in [("/v1/events?limit=100", EventQuery(limit: 100)), ("/v1/events?limit=2", EventQuery(limit: 2))] {
                        let page = try await service.request(.GET, path)
                        #expect(page.status == 200 && page.headers.first(name: "Content-Type") == "application/json; charset=utf-8")
                        #expect(page.text == String(decoding: try await typedEvents(query), as: UTF8.self))
                    }
                    let id = try #require(try await service.app.log.store.sessions(.init(limit: 1)).first?.id)
                    let own = try await service.request(.GET, "/v1/sessions/\(id)/events?limit=3")
                    #expect(own.text == String(decoding: try await typedEvents(EventQuery(sessionID: id, limit: 3)), as: UTF8.self))
                    for (path, query) in [("/v1/sessions?limit=100", SessionQuery(limit: 100)), ("/v1/sessions?limit=1", SessionQuery(limit: 1))] {
                        let page = try await service.request(.GET, path)
                        #expect(page.status == 200)
                        #expect(page.text == String(decoding: try await typedSessions(query), as: UTF8.self))
                    }
                }
            }
            var ids: [String] = []
            for index in 0..<2 {
                let created = try await service.json(
                    .POST, "/v1/sessions", createBody(urls: [sfus[0].url], extra: ["metadata": ["tenant": "acme-\(index)", "path": "a/b\"c"]]))
                ids.append(try #require(created.json["id"] as? String))
            }
            try await pagesMatch()
            // A drop and recovery change both rows and add events.
            try await sfus[0].inject("drop")
            for id in ids { try await service.waitForEvents(of: id, timeout: .seconds(30)) { $0.last == "reconnected" } }
            try await pagesMatch()
            #expect(try await service.request(.DELETE, "/v1/sessions/\(ids[0])").status == 204)
            try await pagesMatch()
            let empty = try await service.request(.GET, "/v1/events?session_id=no-such-session")
            #expect(empty.text == #"{"events":[]}"#)
        }
    }

    @Test(arguments: StoreKind.allCases) func theSameIdempotencyKeyReturnsTheSameSession(store: StoreKind) async throws {
        try await withService(store: store) { service, sfus in
            let body = createBody(urls: [sfus[0].url])
            let data = try JSONSerialization.data(withJSONObject: body)
            async let first = service.request(.POST, "/v1/sessions", body: data, headers: [("Idempotency-Key", "abc-1")])
            async let second = service.request(.POST, "/v1/sessions", body: data, headers: [("Idempotency-Key", "abc-1")])
            let (a, b) = try await (first, second)
            #expect(a.status == 201)
            #expect(b.status == 201)
            #expect(a.json["id"] as? String == b.json["id"] as? String)
            let again = try await service.json(.POST, "/v1/sessions", body, headers: [("Idempotency-Key", "abc-1")])
            #expect(again.json["id"] as? String == a.json["id"] as? String)
            #expect(sfus[0].simulator.state.counters.joins == 1, "one agent, not two")
            var other = body
            other["user_id"] = "agent-8"
            let reused = try await service.json(.POST, "/v1/sessions", other, headers: [("Idempotency-Key", "abc-1")])
            #expect(reused.status == 422)
            #expect(reused.errorCode == "idempotency_key_reused")
        }
    }

    @Test(arguments: StoreKind.allCases) func aRejectedJoinAnswers502WithTheSFUsCodeAndIsRecorded(store: StoreKind) async throws {
        try await withService(store: store) { service, sfus in
            try await sfus[0].inject("reject-joins?count=1&code=700")
            let reply = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url]))
            #expect(reply.status == 502)
            let error = try #require(reply.json["error"] as? [String: Any])
            #expect(error["code"] as? String == "join_failed")
            #expect(error["sfu_code"] as? String == "SFU_FULL")
            #expect((error["message"] as? String)?.contains("join rejected by fault injection") == true)
            let id = try #require(error["session_id"] as? String)
            #expect(try await service.eventTypes(of: id) == ["session_created", "join_failed"])
            #expect(try await service.request(.GET, "/v1/sessions/\(id)").json["state"] as? String == "failed")
        }
    }

    @Test func anUnreachableSFUAnswers502AndASilentOne504() async throws {
        try await withService { service, sfus in
            let port = try #require(sfus[0].simulator.port)
            await sfus[0].stop()
            let refused = try await service.json(.POST, "/v1/sessions", createBody(urls: ["ws://127.0.0.1:\(port)/ws"]))
            #expect(refused.status == 502)
            #expect((refused.json["error"] as? [String: Any])?["sfu_code"] as? String == "connect_failed")

            // Accepts TCP, never answers the upgrade.
            let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
                .bind(host: "127.0.0.1", port: 0).get()
            let silentPort = try #require(silent.localAddress?.port)
            let timedOut = try await service.json(
                .POST, "/v1/sessions",
                createBody(urls: ["ws://127.0.0.1:\(silentPort)/ws"], extra: ["policy": ["connect_timeout_ms": 300]]))
            #expect(timedOut.status == 504)
            #expect((timedOut.json["error"] as? [String: Any])?["sfu_code"] as? String == "upgrade_timeout")
            try await silent.close()
        }
    }

    @Test(arguments: StoreKind.allCases) func listingFiltersByStateAndCallAndPagesWithACursor(store: StoreKind) async throws {
        try await withService(store: store) { service, sfus in
            var ids: [String] = []
            for index in 0..<5 {
                var body = createBody(urls: [sfus[0].url])
                body["call_id"] = index < 3 ? "default:a" : "default:b"
                ids.append(try #require(try await service.json(.POST, "/v1/sessions", body).json["id"] as? String))
            }
            _ = try await service.request(.DELETE, "/v1/sessions/\(ids[0])")
            let page1 = try await service.request(.GET, "/v1/sessions?limit=2")
            let first = try #require(page1.json["sessions"] as? [[String: Any]])
            #expect(first.map { $0["id"] as? String } == [ids[4], ids[3]], "newest first")
            let cursor = try #require(page1.json["next_cursor"] as? String)
            let page2 = try await service.request(.GET, "/v1/sessions?limit=2&cursor=\(cursor)")
            #expect((page2.json["sessions"] as? [[String: Any]])?.map { $0["id"] as? String } == [ids[2], ids[1]])
            let callA = try await service.request(.GET, "/v1/sessions?call_id=default:a")
            #expect((callA.json["sessions"] as? [[String: Any]])?.count == 3)
            let left = try await service.request(.GET, "/v1/sessions?state=left")
            #expect((left.json["sessions"] as? [[String: Any]])?.map { $0["id"] as? String } == [ids[0]])
            let joined = try await service.request(.GET, "/v1/sessions?state=joined&call_id=default:a")
            #expect((joined.json["sessions"] as? [[String: Any]])?.count == 2)
        }
    }

    @Test(arguments: StoreKind.allCases) func eventsFilterBySessionTypeAndTimeWithACursor(store: StoreKind) async throws {
        try await withService(store: store) { service, sfus in
            let a = try #require(try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url])).json["id"] as? String)
            let b = try #require(try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url])).json["id"] as? String)
            try await sfus[0].inject("drop")
            try await service.waitForEvents(of: a) { $0.contains("reconnected") }
            try await service.waitForEvents(of: b) { $0.contains("reconnected") }
            let lost = try await service.request(.GET, "/v1/events?type=connection_lost")
            #expect((lost.json["events"] as? [[String: Any]])?.count == 2)
            let ofA = try await service.request(.GET, "/v1/events?session_id=\(a)&type=reconnected")
            let events = try #require(ofA.json["events"] as? [[String: Any]])
            #expect(events.count == 1)
            #expect(events.first?["strategy"] as? String == "fast")
            let all = try #require(try await service.request(.GET, "/v1/events?limit=1000").json["events"] as? [[String: Any]])
            let ids = all.compactMap { $0["id"] as? Int }
            #expect(ids == ids.sorted() && Set(ids).count == ids.count, "ids are monotonic")
            // Walk the same history three at a time.
            var walked: [Int] = []
            var cursor: String? = nil
            repeat {
                let reply = try await service.request(.GET, "/v1/events?limit=3" + (cursor.map { "&cursor=\($0)" } ?? ""))
                walked += (reply.json["events"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
                cursor = reply.json["next_cursor"] as? String
            } while cursor != nil
            #expect(walked == ids)
            let lastTime = try #require(all.last?["time_ms"] as? Int)
            let future = try await service.request(.GET, "/v1/events?since=\(lastTime + 1)")
            #expect((future.json["events"] as? [[String: Any]])?.isEmpty == true)
            let past = try await service.request(.GET, "/v1/events?until=\(lastTime + 1)")
            #expect((past.json["events"] as? [[String: Any]])?.count == ids.count)
        }
    }

    @Test(arguments: StoreKind.allCases) func statsAndMetricsCountLossesReconnectsAndRecoveryTimes(store: StoreKind) async throws {
        try await withService(store: store) { service, sfus in
            let id = try #require(try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url])).json["id"] as? String)
            try await sfus[0].inject("drop")
            try await service.waitForEvents(of: id) { $0.filter { $0 == "reconnected" }.count == 1 }
            try await sfus[0].inject("forget")
            try await service.waitForEvents(of: id) { $0.filter { $0 == "reconnected" }.count == 2 }
            let stats = try await service.request(.GET, "/v1/stats").json
            #expect((stats["losses_by_reason"] as? [String: Int]) == ["unexpected_close": 2])
            let strategies = try #require(stats["reconnects_by_strategy"] as? [[String: Any]])
            let fast = try #require(strategies.first { $0["strategy"] as? String == "fast" })
            #expect(fast["started"] as? Int == 2)
            #expect(fast["succeeded"] as? Int == 1)
            #expect(fast["attempts_failed"] as? Int == 1)
            let rejoin = try #require(strategies.first { $0["strategy"] as? String == "rejoin" })
            #expect(rejoin["succeeded"] as? Int == 1)
            let recovery = try #require(stats["recovery_time"] as? [String: Any])
            #expect(recovery["count"] as? Int == 2)
            #expect(recovery["p50_ms"] is Int && recovery["p99_ms"] is Int)
            #expect(recovery["relative_error"] as? Double == 0.02, "the percentiles state their error bound")
            let empty = try await service.request(.GET, "/v1/stats?since=0&until=1").json
            #expect((empty["recovery_time"] as? [String: Any])?["count"] as? Int == 0)

            let metrics = try await service.request(.GET, "/metrics", authorize: false)
            #expect(metrics.status == 200)
            #expect(metrics.text.contains(#"tether_losses_total{reason="unexpected_close"} 2"#))
            #expect(metrics.text.contains(#"tether_reconnects_total{strategy="fast",outcome="succeeded"} 1"#) ||
                    metrics.text.contains(#"tether_reconnects_total{outcome="succeeded",strategy="fast"} 1"#))
            #expect(metrics.text.contains("tether_reconnect_duration_seconds_bucket"))
            #expect(metrics.text.contains(#"tether_sessions{state="joined"} 1"#))
        }
    }

    @Test(arguments: StoreKind.allCases) func healthAndReadiness(store: StoreKind) async throws {
        try await withService(store: store, apiTokens: ["0123456789abcdef-token"]) { service, _ in
            let health = try await service.request(.GET, "/healthz", authorize: false)
            #expect(health.status == 200)
            #expect(health.json["status"] as? String == "ok")
            let ready = try await service.request(.GET, "/readyz", authorize: false)
            #expect(ready.status == 200)
        }
    }

    @Test func theShippedMigrationsAreAllEmbeddedAndApplyToAFreshDatabase() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("migrations")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files.map { String($0.dropLast(4)) } == EventStore.embeddedMigrations.map(\.name))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fresh-\(UUID().uuidString).sqlite").path
        let store = try EventStore.open(path: path)
        #expect(try store.appliedMigrations() == files.map { String($0.dropLast(4)) })
        try store.checkWritable()
    }
}
