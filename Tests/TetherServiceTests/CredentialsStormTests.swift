import Foundation
import Testing
import TetherEvents
import TetherSFUSimulator
import TetherTestSupport
@testable import TetherEventLog
@testable import TetherService

/// Issue 21: 500 sessions told to REJOIN at once each want fresh credentials. The
/// credentials endpoint sees at most `--credentials-concurrency` requests at a time,
/// a failing one is left alone by the breaker, and every session reconnects (on its
/// old token when the refresh failed).
@Suite(.serialized, .timeLimit(.minutes(5))) struct CredentialsStormTests {
    static let sessions = 500
    static let cap = 16
    /// 500 refreshes through 16 places at 400 ms each take 12.5 s, and 500 upgrades at
    /// once take more than a second on two busy cores: the deadline (30 s by default)
    /// and the step timeouts are the defaults' order, not the tests' usual 5 s and 5 s.
    static let policy = {
        var policy = servicePolicy
        policy.disconnectionTimeout = .seconds(60)
        policy.connectTimeout = .seconds(10)
        policy.joinTimeout = .seconds(10)
        return policy
    }()
    /// What the endpoint answers: told apart from the sessions' first token by its `exp`.
    static let freshExpiry: Int64 = 4_000_000_000
    static let freshToken = SimulatorToken.make(callCID: "default:demo", userID: "agent-7", expiresAt: freshExpiry)

    func withStorm(
        prepare: (WebhookReceiver) -> Void,
        _ check: (LiveService, WebhookReceiver, SFUSimulator, _ since: Int64) async throws -> Void
    ) async throws {
        let receiver = try await WebhookReceiver.start(secret: "unused")
        receiver.answer(credentials: ["token": Self.freshToken])
        prepare(receiver)
        do {
            try await withService(policy: Self.policy, configure: {
                $0.credentialsURL = receiver.credentialsURL
                $0.credentialsSecret = receiver.credentialsSecret
                $0.credentialsConcurrency = Self.cap
            }) { service, sfus in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for batch in 0..<10 {
                        group.addTask {
                            for _ in 0..<(Self.sessions / 10) {
                                let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url]))
                                #expect(created.status == 201, "batch \(batch): \(created.text)")
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                _ = try await pollUntil(timeout: .seconds(60)) {
                    sfus[0].simulator.state.sessions.count >= Self.sessions ? true : nil
                }
                let since = Int64(Date().timeIntervalSince1970 * 1000)
                _ = try sfus[0].simulator.inject(.error(code: 500, message: "storm", strategy: "rejoin"))
                let reconnected: Set<String>
                do {
                    reconnected = try await pollUntil(timeout: .seconds(180)) { () async throws -> Set<String>? in
                        let events = try await service.app.log.store.events(EventQuery(types: ["reconnected"], sinceMs: since, limit: 10_000))
                        let sessions = Set(events.map(\.sessionID))
                        return sessions.count >= Self.sessions ? sessions : nil
                    }
                } catch {
                    // What the sessions that did not reconnect did last, to say why.
                    let events = try await service.app.log.store.events(EventQuery(sinceMs: since, limit: 100_000))
                    let last = Dictionary(events.map { ($0.sessionID, "\($0.kind)".prefix(120)) }, uniquingKeysWith: { _, later in later })
                    let counted = Dictionary(last.values.map { ($0.prefix(40), 1) }, uniquingKeysWith: +)
                    Issue.record("last events: \(counted); \(last.values.first { !$0.hasPrefix("reconnected") } ?? "")")
                    throw error
                }
                #expect(reconnected.count == Self.sessions)
                try await check(service, receiver, sfus[0].simulator, since)
            }
        } catch {
            await receiver.stop()
            throw error
        }
        await receiver.stop()
    }

    /// How many `type` events since `since`, and how many sessions have one.
    func refreshes(_ service: LiveService, since: Int64, type: String) async throws -> (events: Int, sessions: Int) {
        let events = try await service.app.log.store.events(EventQuery(types: [type], sinceMs: since, limit: 100_000))
        return (events.count, Set(events.map(\.sessionID)).count)
    }

    /// A 400 ms endpoint: never more than the cap at once, and each REJOIN carries the
    /// fresh token.
    @Test func aSlowEndpointSeesAtMostTheCap() async throws {
        try await withStorm(prepare: { $0.delay(credentials: .milliseconds(400)) }) { service, receiver, sfu, since in
            let asked = receiver.requests.filter { $0.path == "/credentials" }
            print("credentials storm, slow endpoint: \(asked.count) requests, peak \(receiver.peak("/credentials")) in flight")
            #expect(receiver.peak("/credentials") <= Self.cap, "peak \(receiver.peak("/credentials"))")
            #expect(receiver.peak("/credentials") >= 2, "the requests did overlap (peak \(receiver.peak("/credentials")))")
            #expect(asked.allSatisfy { $0.signatureValid })
            let refreshed = try await refreshes(service, since: since, type: "credentials_refreshed")
            let failed = try await refreshes(service, since: since, type: "credentials_refresh_failed")
            #expect(refreshed.sessions == Self.sessions, "every session refreshed")
            #expect(asked.count == refreshed.events, "one request per refresh (\(asked.count) for \(refreshed.events))")
            #expect(failed.events == 0)
            #expect(sfu.state.sessions.allSatisfy { $0.tokenExpiresAt == Self.freshExpiry }, "every REJOIN carried the fresh token")
        }
    }

    /// An endpoint answering 503: the breaker stops asking after a few failures, and
    /// the sessions reconnect on their old tokens.
    @Test func aFailingEndpointIsLeftAloneAndSessionsReconnectOnTheOldToken() async throws {
        try await withStorm(prepare: { $0.answer(credentialsWith: 503) }) { service, receiver, sfu, since in
            let asked = receiver.requests.filter { $0.path == "/credentials" }
            let failed = try await refreshes(service, since: since, type: "credentials_refresh_failed")
            print("credentials storm, 503 endpoint: \(asked.count) requests for \(Self.sessions) refreshes, peak \(receiver.peak("/credentials"))")
            #expect(receiver.peak("/credentials") <= Self.cap)
            #expect(asked.count < Self.sessions / 2, "the breaker held most refreshes back (\(asked.count) requests)")
            #expect(failed.sessions == Self.sessions, "each session recorded its failed refresh (\(failed.sessions))")
            let refreshed = try await refreshes(service, since: since, type: "credentials_refreshed")
            #expect(refreshed.events == 0)
            #expect(sfu.state.sessions.allSatisfy { $0.tokenExpiresAt == nil }, "every REJOIN carried the old token")
        }
    }
}
