import Foundation
import Testing
import TetherEvents
import TetherSFUSimulator
import TetherTestSupport
@testable import TetherService

/// Webhooks from the outbox, and SFU credentials that stay fresh, against a receiver
/// and a credentials endpoint over real HTTP.
@Suite(.serialized, .timeLimit(.minutes(5))) struct WebhookTests {
    static let secret = "webhook-secret-for-tests"

    func withWebhooks(
        store: StoreKind = .sqlite, answering script: [Int] = [], policy: ReconnectPolicy = patientTestPolicy, credentials: Bool = false, alsoStalling: Bool = false,
        _ body: (LiveService, Simulator, WebhookReceiver) async throws -> Void
    ) async throws {
        let receiver = try await WebhookReceiver.start(secret: Self.secret, answering: script)
        do {
            try await withService(store: store, policy: policy, configure: {
                $0.webhookURLs = alsoStalling ? [receiver.stallingURL, receiver.url] : [receiver.url]
                $0.webhookSecret = Self.secret
                if credentials {
                    $0.credentialsURL = receiver.credentialsURL
                    $0.credentialsSecret = receiver.credentialsSecret
                }
            }) { service, sfus in
                try await body(service, sfus[0], receiver)
            }
        } catch {
            await receiver.stop()
            throw error
        }
        await receiver.stop()
    }

    func eventTypes(_ hooks: [WebhookReceiver.Received]) -> [String] {
        hooks.compactMap { $0.json["type"] as? String }
    }

    @Test(arguments: StoreKind.allCases) func aDeliveryRefusedTwiceArrivesOnTheThirdTryOnceAndInOrder(store: StoreKind) async throws {
        try await withWebhooks(store: store, answering: [500, 500]) { service, sfu, receiver in
            let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfu.url], extra: ["metadata": ["tenant": "acme"]]))
            let id = try #require(created.json["id"] as? String, "the create answered \(created.status): \(created.text)")
            #expect(try await service.request(.DELETE, "/v1/sessions/\(id)").status == 204)
            _ = try await pollUntil(timeout: .seconds(20)) { receiver.delivered.count >= 2 ? true : nil }
            let hooks = receiver.hooks
            #expect(hooks.allSatisfy { $0.signatureValid }, "every signature verifies")
            #expect(hooks.map(\.status) == [500, 500, 200, 200])
            #expect(eventTypes(hooks) == ["session.joined", "session.joined", "session.joined", "session.left"], "the left waits for the joined")
            #expect(Set(hooks.prefix(3).map(\.eventID)).count == 1, "every try carries the same Tether-Event-Id")
            #expect(Set(receiver.delivered.map(\.eventID)).count == 2, "each event delivered once")

            let payload = try #require(try JSONSerialization.jsonObject(with: Data(receiver.delivered[0].body.utf8)) as? [String: Any])
            let session = try #require(payload["session"] as? [String: Any])
            #expect(session["id"] as? String == id && session["state"] as? String == "joined")
            #expect(session["call_id"] as? String == "default:demo" && session["user_id"] as? String == "agent-7")
            #expect((session["metadata"] as? [String: Any])?["tenant"] as? String == "acme")
            #expect((payload["event"] as? [String: Any])?["type"] as? String == "joined")
            #expect(payload["id"] as? String == receiver.delivered[0].eventID)

            // The receiver has answered 200 before the outbox records the outcome, so wait
            // for the service's own record rather than reading it once.
            let deliveries = try await pollUntil(timeout: .seconds(10)) {
                let page = try await service.request(.GET, "/v1/webhooks/deliveries?status=delivered").json
                let rows = page["deliveries"] as? [[String: Any]] ?? []
                return rows.count >= 2 ? rows : nil
            }
            #expect(deliveries.count == 2)
            #expect(deliveries.map { $0["attempts"] as? Int } == [1, 3], "newest first: the left in one try, the joined in three")
            #expect(deliveries.allSatisfy { $0["status"] as? String == "delivered" })
            let metrics = try await service.request(.GET, "/metrics").text
            #expect(metrics.contains(#"tether_webhook_deliveries_total{outcome="retried"} 2"#))
            #expect(metrics.contains(#"tether_webhook_deliveries_total{outcome="delivered"} 2"#))
        }
    }

    @Test(arguments: StoreKind.allCases) func aSessionThatFailsIsToldWithinASecondOfItsReconnectFailed(store: StoreKind) async throws {
        var policy = servicePolicy
        policy.disconnectionTimeout = .milliseconds(1500)
        try await withWebhooks(store: store, policy: policy) { service, sfu, receiver in
            let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfu.url]))
            let id = try #require(created.json["id"] as? String)
            await sfu.stop()
            try await service.waitForEvents(of: id) { $0.last == "reconnect_failed" }
            let failed = try #require(try await service.events(of: id).last)
            let hook = try await pollUntil(timeout: .seconds(5)) { receiver.delivered.first { $0.json["type"] as? String == "session.failed" } }
            let lateness = hook.arrivedAtMs - Int64(try #require(failed["time_ms"] as? Int))
            #expect(lateness <= 1000, "session.failed arrived \(lateness) ms after reconnect_failed")
            let payload = try #require(try JSONSerialization.jsonObject(with: Data(hook.body.utf8)) as? [String: Any])
            #expect((payload["session"] as? [String: Any])?["state"] as? String == "failed")
            #expect((payload["event"] as? [String: Any])?["reason"] as? String == "deadline_exceeded")
        }
    }

    @Test(arguments: StoreKind.allCases) func aDeadEndpointNeverHoldsBackAnotherOne(store: StoreKind) async throws {
        try await withWebhooks(store: store, alsoStalling: true) { service, sfu, receiver in
            var ids: [String] = []
            for _ in 0..<3 {
                let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfu.url]))
                ids.append(try #require(created.json["id"] as? String))
            }
            _ = try await pollUntil(timeout: .seconds(10)) { receiver.delivered.count >= 3 ? true : nil }
            #expect(receiver.delivered.count == 3, "each session's joined at the live endpoint")
            for hook in receiver.delivered {
                let created = try #require(Int64(hook.json["created_at_ms"] as? String ?? ""))
                #expect(hook.arrivedAtMs - created <= 1000, "the live endpoint got \(hook.eventID ?? "") \(hook.arrivedAtMs - created) ms after its event")
            }
            #expect(receiver.requests.contains { $0.path == "/stall" } == false, "the stalling endpoint has not answered yet")
        }
    }

    @Test(arguments: StoreKind.allCases) func retryingAnUnknownOrDeliveredDeliveryIsRefused(store: StoreKind) async throws {
        try await withWebhooks(store: store) { service, sfu, receiver in
            _ = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfu.url]))
            // Wait for the outbox's record of the delivery, not just the receiver's 200.
            let delivered = try await pollUntil(timeout: .seconds(10)) {
                let page = try await service.request(.GET, "/v1/webhooks/deliveries?status=delivered").json
                return (page["deliveries"] as? [[String: Any]])?.first?["id"] as? Int
            }
            let again = try await service.request(.POST, "/v1/webhooks/deliveries/\(delivered)/retry")
            #expect(again.status == 409)
            #expect((again.json["error"] as? [String: Any])?["code"] as? String == "already_delivered")
            #expect(try await service.request(.POST, "/v1/webhooks/deliveries/999999/retry").status == 404)
            #expect(try await service.request(.GET, "/v1/webhooks/deliveries?status=lost").status == 400)
        }
    }

    @Test(arguments: StoreKind.allCases) func killNineWithPendingDeliveriesDeliversThemAllAfterTheRestart(store: StoreKind) async throws {
        let receiver = try await WebhookReceiver.start(secret: Self.secret, answering: Array(repeating: 503, count: 1000))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tether-webhooks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let (database, cleanup) = try CrashRecoveryTests().newDatabase(store, named: "history.sqlite")
        defer { cleanup() }
        let sfu = try await Simulator.start()
        func serve() async throws -> (ChildProcess, String) {
            let process = try ChildProcess([
                "serve", "--port", "0", "--db", database, "--log-level", "warning",
                "--health-check-interval", "500ms", "--health-check-timeout", "2s",
                "--webhook-url", receiver.url, "--webhook-secret", Self.secret,
            ], currentDirectory: folder)
            return (process, try await process.waitForServeAddress())
        }
        var (process, base) = try await serve()
        let crash = CrashRecoveryTests()
        do {
            var ids: [String] = []
            for _ in 0..<3 {
                let (status, session) = try await callURL(.POST, base + "/v1/sessions", json: createBody(urls: [sfu.url]))
                #expect(status == 201)
                ids.append(try #require(session["id"] as? String))
            }
            // Every session's joined webhook has been tried (and refused) at least once.
            _ = try await pollUntil(timeout: .seconds(15)) { Set(receiver.hooks.compactMap(\.eventID)).count >= 3 ? true : nil }
            #expect(receiver.delivered.isEmpty)
            process.signal(SIGKILL)
            _ = await process.waitForExit()
            receiver.answer(webhooksWith: [])
            let triedBeforeTheCrash = receiver.hooks.count
            (process, base) = try await serve()
            // The joined webhooks left pending, then the resumed sessions' reconnected ones.
            _ = try await pollUntil(timeout: .seconds(20)) { receiver.delivered.count >= 6 ? true : nil }
            try await quietPeriod(.seconds(1))
            let afterRestart = Array(receiver.hooks.dropFirst(triedBeforeTheCrash))
            let delivered = afterRestart.filter { (200..<300).contains($0.status) }
            #expect(delivered.allSatisfy { $0.signatureValid })
            #expect(Set(delivered.compactMap(\.eventID)).count == delivered.count, "no event delivered twice by one process")
            let joined = delivered.filter { $0.json["type"] as? String == "session.joined" }
            #expect(joined.count == 3, "each pending delivery delivered once by the new process")
            let refusedIDs = Set(receiver.hooks.prefix(triedBeforeTheCrash).compactMap(\.eventID))
            #expect(Set(joined.compactMap(\.eventID)) == refusedIDs, "the same Tether-Event-Id across the crash")
            #expect(delivered.filter { $0.json["type"] as? String == "session.reconnected" }.count == 3)
        } catch {
            process.signal(SIGKILL)
            await sfu.stop()
            await receiver.stop()
            throw error
        }
        process.signal(SIGTERM)
        _ = await process.waitForExit()
        await sfu.stop()
        await receiver.stop()
    }

    // MARK: - Credentials

    static let sfuSecret = "simulator-hs256-secret"

    func token(expiresIn seconds: Int64) -> (token: String, exp: Int64) {
        let exp = Int64(Date().timeIntervalSince1970) + seconds
        return (SimulatorToken.make(callCID: "default:demo", userID: "agent-7", secret: Self.sfuSecret, expiresAt: exp), exp)
    }

    /// A simulator that checks signatures and `exp`, as Stream's SFU does.
    func withSigningSimulator(_ body: (Simulator) async throws -> Void) async throws {
        let sfu = Simulator(simulator: SFUSimulator(configuration: .init(tokenSecret: Self.sfuSecret)))
        try await sfu.simulator.start()
        do { try await body(sfu) } catch {
            await sfu.stop()
            throw error
        }
        await sfu.stop()
    }

    func create(_ service: LiveService, on sfu: Simulator, token: String) async throws -> String {
        var body = createBody(urls: [sfu.url])
        body["sfu"] = ["dialect": "stream", "urls": [sfu.url], "token": token]
        let created = try await service.json(.POST, "/v1/sessions", body)
        #expect(created.status == 201, "\(created.text)")
        return try #require(created.json["id"] as? String)
    }

    func tokenExpiry(at sfu: Simulator) -> Int64? {
        sfu.simulator.state.sessions.first?.tokenExpiresAt
    }

    @Test func anExpiredTokenIsReplacedFromTheCredentialsEndpointForTheRejoin() async throws {
        try await withSigningSimulator { sfu in
            try await withWebhooks(credentials: true) { service, _, receiver in
                let fresh = token(expiresIn: 3600)
                receiver.answer(credentials: ["token": fresh.token])
                let expiring = token(expiresIn: 2)
                let id = try await create(service, on: sfu, token: expiring.token)
                // Past the first token's exp, the SFU forgets everyone (a restart).
                try await pollUntil(timeout: .seconds(10)) { Int64(Date().timeIntervalSince1970) > expiring.exp ? true : nil }
                _ = try sfu.simulator.inject(.forgetSessions)
                let types = try await service.waitForEvents(of: id, timeout: .seconds(20)) { $0.last == "reconnected" }
                #expect(types.contains("credentials_refreshed"), "\(types)")
                #expect(try await service.events(of: id).last?["strategy"] as? String == "rejoin")
                #expect(tokenExpiry(at: sfu) == fresh.exp, "the SFU holds the session with the fresh token")
                let asks = receiver.requests.filter { $0.path == "/credentials" }
                #expect(!asks.isEmpty && asks.allSatisfy { $0.signatureValid })
                #expect(asks.allSatisfy { $0.json["session_id"] as? String == id && $0.json["call_id"] as? String == "default:demo" })
                let stored = try await service.request(.GET, "/v1/sessions/\(id)").text
                #expect(!stored.contains(fresh.token), "the token is never returned")
            }
        }
    }

    @Test func withoutACredentialsEndpointTheRefusalIsRecordedWithTheSFUsCode() async throws {
        try await withSigningSimulator { sfu in
            try await withService { service, _ in
                let expiring = token(expiresIn: 2)
                let id = try await create(service, on: sfu, token: expiring.token)
                try await pollUntil(timeout: .seconds(10)) { Int64(Date().timeIntervalSince1970) > expiring.exp ? true : nil }
                _ = try sfu.simulator.inject(.forgetSessions)
                try await service.waitForEvents(of: id, timeout: .seconds(20)) { $0.last == "left" || $0.last == "reconnect_failed" }
                let events = try await service.events(of: id)
                let refused = try #require(events.first { $0["type"] as? String == "reconnect_attempt_failed" })
                #expect((refused["error"] as? String)?.contains("UNAUTHENTICATED") == true, "\(refused)")
                #expect(!events.contains { $0["type"] as? String == "reconnected" })
            }
        }
    }

    @Test func newCredentialsThroughTheAPIAreUsedByTheNextRejoin() async throws {
        try await withSigningSimulator { sfu in
            try await withService { service, _ in
                let first = token(expiresIn: 3600)
                let id = try await create(service, on: sfu, token: first.token)
                #expect(tokenExpiry(at: sfu) == first.exp)
                let second = token(expiresIn: 7200)
                let put = try await service.json(.PUT, "/v1/sessions/\(id)/credentials", ["token": second.token])
                #expect(put.status == 200, "\(put.text)")
                #expect(!put.text.contains(second.token))
                _ = try sfu.simulator.inject(.forgetSessions)
                let types = try await service.waitForEvents(of: id, timeout: .seconds(20)) { $0.last == "reconnected" }
                #expect(types.contains("credentials_updated"))
                #expect(tokenExpiry(at: sfu) == second.exp, "the REJOIN used the new token")

                #expect(try await service.json(.PUT, "/v1/sessions/nope/credentials", ["token": second.token]).status == 404)
                #expect(try await service.json(.PUT, "/v1/sessions/\(id)/credentials", ["token": ""]).status == 422)
                #expect(try await service.request(.DELETE, "/v1/sessions/\(id)").status == 204)
                #expect(try await service.json(.PUT, "/v1/sessions/\(id)/credentials", ["token": second.token]).status == 409)
            }
        }
    }
}
