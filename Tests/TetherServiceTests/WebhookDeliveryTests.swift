import Foundation
import Testing
import TetherEvents
import TetherSFUSimulator
import TetherTestSupport
@testable import TetherEventLog
@testable import TetherService

/// Issue 21: a backlog that drains, endpoints that cannot starve each other, failure
/// classes the way Standard Webhooks recommends, endpoints that are disabled and enabled,
/// bulk replay, and Standard Webhooks signatures verified by the reference library.
@Suite(.serialized, .timeLimit(.minutes(5))) struct WebhookDeliveryTests {
    static let secret = "webhook-secret-for-tests"

    func withReceiver(
        answering script: [Int] = [], configure: @escaping (inout ServiceConfiguration, WebhookReceiver) -> Void = { _, _ in },
        _ body: (LiveService, Simulator, WebhookReceiver) async throws -> Void
    ) async throws {
        let receiver = try await WebhookReceiver.start(secret: Self.secret, answering: script)
        do {
            try await withService(configure: {
                $0.webhookURLs = [receiver.url]
                $0.webhookSecret = Self.secret
                configure(&$0, receiver)
            }) { service, sfus in
                try await body(service, sfus[0], receiver)
            }
        } catch {
            await receiver.stop()
            throw error
        }
        await receiver.stop()
    }

    /// `count` history events for `sessions` sessions straight into the log (each a
    /// subscribed type), `count / sessions` per session, in order.
    func append(_ service: LiveService, events count: Int, sessions: Int) async throws {
        let base = Int64(Date().timeIntervalSince1970 * 1000)
        for index in 0..<count {
            service.app.log.append(SessionEvent(
                sessionID: "s-\(index % sessions)", timeMs: base + Int64(index / sessions), generation: 1,
                kind: .reconnected(strategy: .fast, attempts: 1, durationMs: 1, sfuURL: "ws://x/ws", sfuSessionID: "\(index)")))
        }
        try await service.app.log.flush(within: .seconds(60))
    }

    // MARK: - Scale

    /// 20,000 pending deliveries (2,000 sessions × 10) drain, each session's in order,
    /// and the dispatcher's pick is an index seek on the queue heads.
    @Test func aLargeBacklogDrainsInOrderAndThePickIsAnIndexSeek() async throws {
        try await withReceiver { service, _, receiver in
            let plan = try await service.app.log.store.explainDueHeads()
            #expect(plan.contains { $0.contains("USING INDEX webhook_deliveries_heads") }, "\(plan)")
            #expect(!plan.contains { $0.contains("TEMP B-TREE") || $0.hasPrefix("SCAN") }, "\(plan)")
            let started = ContinuousClock.now
            try await append(service, events: 20_000, sessions: 2_000)
            _ = try await pollUntil(timeout: .seconds(240)) {
                receiver.delivered.count >= 20_000 ? true : nil
            }
            let seconds = Double((ContinuousClock.now - started).wholeMilliseconds) / 1000
            print("webhook backlog: 20,000 deliveries drained in \(seconds) s (\(Int(20_000 / seconds))/s)")
            var lastBySession: [String: Int] = [:]
            for hook in receiver.delivered {
                let session = (hook.json["session"] as? String) ?? ""
                let event = Int(hook.eventID ?? "") ?? 0
                #expect(event > (lastBySession[session] ?? 0), "session order broken at event \(event)")
                lastBySession[session] = event
            }
            #expect(Set(receiver.delivered.compactMap(\.eventID)).count == 20_000, "each delivered once")
            let endpoint = try #require(try await service.app.log.store.webhookEndpoints().first)
            #expect(endpoint.backlog == 0)
        }
    }

    /// 300 sessions, two endpoints, one of which never answers: the healthy one gets
    /// every webhook, promptly, while the stalling one holds at most its own cap.
    @Test func aStallingEndpointBesideAHealthyOneStarvesNothing() async throws {
        try await withReceiver(configure: { configuration, receiver in
            configuration.webhookURLs = [receiver.stallingURL, receiver.url]
            configuration.webhookConcurrency = 8
        }) { service, _, receiver in
            let base = Int64(Date().timeIntervalSince1970 * 1000)
            for index in 0..<300 {
                service.app.log.append(SessionEvent(
                    sessionID: "s-\(index)", timeMs: base, generation: 1, kind: .joined(sfuURL: "ws://x/ws", sfuSessionID: "\(index)")))
            }
            try await service.app.log.flush()
            _ = try await pollUntil(timeout: .seconds(60)) { receiver.delivered.count >= 300 ? true : nil }
            let lateness = receiver.delivered.map { $0.arrivedAtMs - base }.sorted()
            print("healthy endpoint beside a stalling one, 300 sessions: lateness p50 \(lateness[150]) ms, p99 \(lateness[296]) ms, max \(lateness.last ?? 0) ms")
            #expect(receiver.peak("/stall") <= 8, "the stalling endpoint holds at most its own cap (\(receiver.peak("/stall")))")
            #expect(Set(receiver.delivered.compactMap(\.eventID)).count == 300)
        }
    }

    /// Each try's timeout starts when its request is written: a receiver that takes
    /// 1 s per answer gets 48 webhooks once each, none given up inside Tether.
    @Test func aSlowReceiverIsNotTimedOutByTetherItself() async throws {
        try await withReceiver(configure: { configuration, _ in configuration.webhookConcurrency = 16 }) { service, _, receiver in
            receiver.delay(webhooks: .seconds(1))
            let base = Int64(Date().timeIntervalSince1970 * 1000)
            for index in 0..<48 {
                service.app.log.append(SessionEvent(
                    sessionID: "s-\(index)", timeMs: base, generation: 1, kind: .joined(sfuURL: "ws://x/ws", sfuSessionID: "\(index)")))
            }
            try await service.app.log.flush()
            _ = try await pollUntil(timeout: .seconds(30)) { receiver.delivered.count >= 48 ? true : nil }
            try await quietPeriod(.seconds(2))
            #expect(receiver.hooks.count == 48, "every webhook arrived exactly once (\(receiver.hooks.count) requests)")
            let page = try await service.request(.GET, "/v1/webhooks/deliveries?status=delivered&limit=100").json
            let rows = page["deliveries"] as? [[String: Any]] ?? []
            #expect(rows.count == 48 && rows.allSatisfy { $0["attempts"] as? Int == 1 })
        }
    }

    // MARK: - Failure classes

    /// A 400 is final for that delivery only: the session's next webhook goes at once,
    /// not a retry window later.
    @Test func aRejectedWebhookDoesNotHoldBackItsSession() async throws {
        try await withReceiver(answering: [400]) { service, sfu, receiver in
            let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfu.url]))
            let id = try #require(created.json["id"] as? String)
            #expect(try await service.request(.DELETE, "/v1/sessions/\(id)").status == 204)
            _ = try await pollUntil(timeout: .seconds(10)) { receiver.delivered.contains { $0.json["type"] as? String == "session.left" } ? true : nil }
            #expect(receiver.hooks.map(\.status) == [400, 200])
            let failed = try await pollUntil(timeout: .seconds(10)) { () async throws -> [[String: Any]]? in
                let rows = try await service.request(.GET, "/v1/webhooks/deliveries?status=failed").json["deliveries"] as? [[String: Any]] ?? []
                return rows.isEmpty ? nil : rows
            }
            #expect(failed.first?["last_status"] as? Int == 400)
            #expect(try await service.request(.GET, "/metrics").text.contains(#"tether_webhook_deliveries_total{outcome="rejected"} 1"#))
        }
    }

    /// 429 with `Retry-After: 2` is retried no sooner than asked.
    @Test func a429IsRetriedAfterItsRetryAfter() async throws {
        try await withReceiver(answering: [429]) { service, sfu, receiver in
            receiver.answer(retryAfter: "2")
            _ = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfu.url]))
            _ = try await pollUntil(timeout: .seconds(15)) { receiver.delivered.count >= 1 ? true : nil }
            let tries = receiver.hooks
            #expect(tries.map(\.status) == [429, 200])
            #expect(tries[1].arrivedAtMs - tries[0].arrivedAtMs >= 1900, "retried \(tries[1].arrivedAtMs - tries[0].arrivedAtMs) ms later")
        }
    }

    /// 410 disables the endpoint: listed as disabled, nothing more sent; enabled again,
    /// what waited is delivered.
    @Test func a410DisablesTheEndpointUntilItIsEnabled() async throws {
        try await withReceiver(answering: [410]) { service, sfu, receiver in
            let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfu.url]))
            let id = try #require(created.json["id"] as? String)
            let disabled = try await pollUntil(timeout: .seconds(10)) { () async throws -> [String: Any]? in
                let endpoint = (try await service.request(.GET, "/v1/webhooks/endpoints").json["endpoints"] as? [[String: Any]])?.first
                return endpoint?["state"] as? String == "disabled" ? endpoint : nil
            }
            #expect((disabled["disabled_reason"] as? String)?.contains("410") == true)
            #expect(try await service.request(.DELETE, "/v1/sessions/\(id)").status == 204)
            try await quietPeriod(.seconds(2))
            #expect(receiver.hooks.count == 1, "nothing is sent to a disabled endpoint")
            let backlog = try await service.request(.GET, "/v1/webhooks/endpoints").json["endpoints"] as? [[String: Any]]
            #expect(backlog?.first?["backlog"] as? Int == 2)
            #expect((backlog?.first?["oldest_pending_age_ms"] as? Int ?? -1) >= 0)
            #expect(try await service.request(.POST, "/v1/webhooks/endpoints/1/enable").status == 200)
            _ = try await pollUntil(timeout: .seconds(10)) { receiver.delivered.count >= 2 ? true : nil }
            #expect(receiver.delivered.compactMap { $0.json["type"] as? String } == ["session.joined", "session.left"])
            #expect(try await service.request(.POST, "/v1/webhooks/endpoints/nope/enable").status == 404)
        }
    }

    /// An endpoint failing for longer than --webhook-disable-after is disabled.
    @Test func anEndpointFailingTooLongIsDisabled() async throws {
        try await withReceiver(answering: Array(repeating: 503, count: 100), configure: { configuration, _ in
            configuration.webhookDisableAfter = .seconds(1)
        }) { service, sfu, _ in
            _ = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfu.url]))
            let disabled = try await pollUntil(timeout: .seconds(20)) { () async throws -> [String: Any]? in
                let endpoint = (try await service.request(.GET, "/v1/webhooks/endpoints").json["endpoints"] as? [[String: Any]])?.first
                return endpoint?["state"] as? String == "disabled" ? endpoint : nil
            }
            #expect((disabled["disabled_reason"] as? String)?.contains("failing for more than") == true)
            #expect(try await service.request(.GET, "/metrics").text.contains(#"tether_webhook_endpoint_enabled{endpoint="1"} 0"#))
        }
    }

    /// Failed deliveries of one endpoint in a time range are sent again by one call.
    @Test func bulkReplaySendsTheFailedDeliveriesOfARangeAgain() async throws {
        try await withReceiver(answering: [400, 400, 400]) { service, _, receiver in
            let before = Int64(Date().timeIntervalSince1970 * 1000) - 1
            let base = before + 1
            for index in 0..<3 {
                service.app.log.append(SessionEvent(
                    sessionID: "s-\(index)", timeMs: base, generation: 1, kind: .joined(sfuURL: "ws://x/ws", sfuSessionID: "\(index)")))
            }
            try await service.app.log.flush()
            _ = try await pollUntil(timeout: .seconds(10)) { receiver.hooks.count >= 3 ? true : nil }
            _ = try await pollUntil(timeout: .seconds(10)) { () async throws -> Bool? in
                let rows = try await service.request(.GET, "/v1/webhooks/deliveries?status=failed").json["deliveries"] as? [[String: Any]] ?? []
                return rows.count == 3 ? true : nil
            }
            let replay = try await service.json(.POST, "/v1/webhooks/deliveries/replay", ["endpoint_id": "1", "since_ms": before, "until_ms": base + 60_000])
            #expect(replay.status == 202, "\(replay.text)")
            #expect(replay.json["replayed"] as? Int == 3)
            _ = try await pollUntil(timeout: .seconds(10)) { receiver.delivered.count >= 3 ? true : nil }
            #expect(try await service.json(.POST, "/v1/webhooks/deliveries/replay", ["endpoint_id": "nope", "since_ms": 0, "until_ms": 1]).status == 404)
            #expect(try await service.json(.POST, "/v1/webhooks/deliveries/replay", ["endpoint_id": "1", "since_ms": 5, "until_ms": 5]).status == 422)
        }
    }

    // MARK: - Operators and shutdown

    /// An operator's retry made while a try is in flight stands: that try's outcome (a
    /// 500) is not applied over it, so the retry goes at once and its 200 is the one
    /// attempt counted.
    @Test func anOperatorsRetryIsNeverOverwrittenByATryInFlight() async throws {
        try await withReceiver(answering: [500]) { service, sfu, receiver in
            receiver.delay(webhooks: .seconds(2))
            _ = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfu.url]))
            // The first try is in flight (the receiver holds it for 2 s).
            _ = try await pollUntil(timeout: .seconds(10)) { receiver.peak("/hook") >= 1 ? true : nil }
            let pending = try #require(try await service.app.log.store.deliveries(status: .pending, before: nil, limit: 1).first)
            let retried = try await service.request(.POST, "/v1/webhooks/deliveries/\(pending.id ?? 0)/retry")
            #expect(retried.status == 202)
            let row = try await pollUntil(timeout: .seconds(20)) { () async throws -> WebhookDelivery? in
                let row = try await service.app.log.store.delivery(id: pending.id ?? 0)
                return row?.status == .delivered ? row : nil
            }
            #expect(receiver.hooks.map(\.status) == [500, 200])
            #expect(row.attempts == 1, "the 500 of the try overtaken by the retry was not applied (attempts \(row.attempts))")
            #expect(row.version == 1)
        }
    }

    /// SIGTERM lets a try in flight finish and records it: after the restart nothing is
    /// sent twice.
    @Test func shutdownLetsTriesInFlightFinish() async throws {
        let receiver = try await WebhookReceiver.start(secret: Self.secret)
        receiver.delay(webhooks: .seconds(1))
        let service = try await LiveService.start(configure: {
            $0.webhookURLs = [receiver.url]
            $0.webhookSecret = Self.secret
        })
        service.app.log.append(SessionEvent(sessionID: "s", timeMs: Int64(Date().timeIntervalSince1970 * 1000), generation: 1,
                                            kind: .joined(sfuURL: "ws://x/ws", sfuSessionID: "1")))
        try await service.app.log.flush()
        _ = try await pollUntil(timeout: .seconds(10)) { receiver.peak("/hook") >= 1 ? true : nil }
        await service.stop()
        let store = try EventStore.open(path: service.databasePath)
        let rows = try await store.deliveries(status: nil, before: nil, limit: 10)
        #expect(rows.map(\.status) == [.delivered], "the try in flight at SIGTERM finished and was recorded")
        service.removeDatabase()
        await receiver.stop()
    }

    /// The deliveries list reads what is committed, even while the writer cannot commit.
    @Test func theDeliveriesListAnswersWhileTheDiskFails() async throws {
        try await withReceiver { service, _, _ in
            service.app.log.store.writeFaults.arm(commits: 0)
            service.app.log.append(SessionEvent(sessionID: "s", timeMs: 1, generation: 1, kind: .goAway(reason: "x")))
            _ = try await pollUntil(timeout: .seconds(10)) { service.app.log.health.failure != nil ? true : nil }
            let started = ContinuousClock.now
            #expect(try await service.request(.GET, "/v1/webhooks/deliveries").status == 200)
            #expect(ContinuousClock.now - started < .seconds(2))
            service.app.log.store.writeFaults.heal()
        }
    }

    @Test func eventsDroppedIsSubscribedByDefault() {
        #expect(WebhookRouting.defaultTypes.contains("session.events_dropped"))
        #expect(ServiceConfiguration().webhookTypes?.contains("session.events_dropped") == true)
    }

    // MARK: - Endpoint ids and secrets

    /// An endpoint keeps its backlog when its URL changes, under the same id.
    @Test func aChangedURLKeepsItsBacklogUnderItsID() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tether-hooks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let secretFile = folder.appendingPathComponent("frontend.secret")
        try "whsec_\(Data(repeating: 7, count: 32).base64EncodedString())\n".write(to: secretFile, atomically: true, encoding: .utf8)
        // The receivers check `Tether-Signature` with the key the `whsec_` form decodes to.
        let key = String(repeating: "\u{7}", count: 32)
        let down = try await WebhookReceiver.start(secret: key, answering: Array(repeating: 503, count: 1000))
        let up = try await WebhookReceiver.start(secret: key)
        func config(_ url: String) throws -> String {
            let path = folder.appendingPathComponent("hooks-\(UUID().uuidString).json").path
            try #"{"endpoints": [{"id": "frontend", "url": "\#(url)", "secret_file": "\#(secretFile.path)"}]}"#
                .write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let database = folder.appendingPathComponent("t.sqlite").path
        let first = try await LiveService.start(databasePath: database, configure: { $0.webhookConfigFile = try? config(down.url) })
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for index in 0..<5 {
            first.app.log.append(SessionEvent(sessionID: "s-\(index)", timeMs: now, generation: 1, kind: .joined(sfuURL: "ws://x/ws", sfuSessionID: "\(index)")))
        }
        try await first.app.log.flush()
        _ = try await pollUntil(timeout: .seconds(10)) { down.hooks.count >= 5 ? true : nil }
        await first.stop()
        let second = try await LiveService.start(databasePath: database, configure: { $0.webhookConfigFile = try? config(up.url) })
        _ = try await pollUntil(timeout: .seconds(20)) { up.delivered.count >= 5 ? true : nil }
        #expect(Set(up.delivered.compactMap(\.eventID)).count == 5, "the backlog followed the id to the new URL")
        await second.stop()
        second.removeDatabase()
        await down.stop()
        await up.stop()
    }

    /// Signed the Standard Webhooks way with two secrets at once (a rotation): the
    /// reference library verifies each webhook with either.
    @Test func standardWebhooksSignaturesVerifyWithTheReferenceLibraryAcrossARotation() async throws {
        let old = "whsec_" + Data((0..<32).map { UInt8($0) }).base64EncodedString()
        let new = "whsec_" + Data((0..<32).map { UInt8(255 - $0) }).base64EncodedString()
        let python = try PythonReceiver(secrets: [old, new])
        let port = try await python.port()
        try await withService(nodes: 1, configure: {
            $0.webhookURLs = ["http://127.0.0.1:\(port)/hook"]
            $0.webhookSecrets = [old, new]
        }) { service, sfus in
            let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url]))
            let id = try #require(created.json["id"] as? String)
            #expect(try await service.request(.DELETE, "/v1/sessions/\(id)").status == 204)
            let lines = try await python.lines(count: 2)
            for line in lines {
                #expect(line["verified_by"] as? [Int] == [0, 1], "\(line)")
                #expect((line["webhook_id"] as? String)?.hasPrefix("msg_") == true)
            }
            #expect(Set(lines.compactMap { $0["webhook_id"] as? String }).count == 2, "one id per message")
        }
        await python.stop()
    }
}

/// `Tests/Support/standard_webhooks_receiver.py` as a child process.
struct PythonReceiver {
    let process: ChildProcess

    init(secrets: [String]) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Support/standard_webhooks_receiver.py")
        process = try ChildProcess(["python3", script.path] + secrets, executable: URL(fileURLWithPath: "/usr/bin/env"))
    }

    func port() async throws -> Int {
        let line = try await process.waitForLine(timeout: .seconds(20)) { $0.hasPrefix("listening ") }
        return try #require(Int(line.dropFirst("listening ".count)))
    }

    func lines(count: Int) async throws -> [[String: Any]] {
        try await pollUntil(timeout: .seconds(20)) { () -> [[String: Any]]? in
            let json = process.jsonLines
            return json.count >= count ? json : nil
        }
    }

    func stop() async { await process.stop() }
}
