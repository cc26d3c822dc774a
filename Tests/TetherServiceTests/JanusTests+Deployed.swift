import Foundation
import Testing
import TetherEvents
import TetherTestSupport
@testable import TetherService

/// Janus configured the way deployments run it: default health checks, auth, pins, kicks,
/// nodes that refuse new sessions. "One agent" is checked on Janus's side: the room
/// lists the agent once, and the admin API shows one Janus session holding a handle
/// whose `opaque_id` is the Tether session id. Each test carries its own time limit (the
/// suite's 5 minutes apply too).
extension JanusTests {
    func janusBody(
        _ urls: [String], room: Any, create: Bool = true, token: String? = nil, janus extra: [String: Any] = [:],
        policy: [String: Any]? = nil
    ) -> [String: Any] {
        var janus: [String: Any] = ["room": room, "display": "agent-7", "create_room": create]
        janus.merge(extra) { $1 }
        var sfu: [String: Any] = ["dialect": "janus", "urls": urls, "janus": janus]
        if let token { sfu["token"] = token }
        var body: [String: Any] = ["call_id": "room-\(room)", "user_id": "agent-7", "sfu": sfu]
        if let policy { body["policy"] = policy }
        return body
    }

    /// Exactly one agent: once in the room, one Janus session of ours.
    func expectOneAgent(_ janus: JanusInstance, room: Int, session id: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let agents = try await janus.participants(in: room).filter { $0.display == "agent-7" }
        #expect(agents.count == 1, "the room lists the agent \(agents.count) times", sourceLocation: sourceLocation)
        let owned = try await janus.sessions(withOpaqueID: id)
        #expect(owned.count == 1, "Janus holds \(owned.count) sessions of ours: \(owned)", sourceLocation: sourceLocation)
    }

    func event(_ type: String, of id: String, in service: LiveService) async throws -> [String: Any] {
        try #require(try await service.events(of: id).last { $0["type"] as? String == type }, "no \(type) event")
    }

    // MARK: - One agent, always

    @Test(.timeLimit(.minutes(2))) func aFreezePastTheDefaultHealthTimeoutIsResumedByClaimWithinTheNodesReclaimWindow() async throws {
        // The default policy (15 s health-check timeout, 10 s FAST window). Janus says
        // its reclaim window is 30 s, so the claim is still worth trying at the loss.
        try await withJanus(policy: ReconnectPolicy()) { service, janus in
            let room = 4201
            let created = try await service.json(.POST, "/v1/sessions", body([janus[0].url], room: room))
            let id = try #require(created.json["id"] as? String)
            janus[0].signal(SIGSTOP)
            try await service.waitForEvents(of: id, timeout: .seconds(25)) { $0.contains("connection_lost") }
            try await quietPeriod(.seconds(2))
            janus[0].signal(SIGCONT)
            try await service.waitForEvents(of: id, timeout: .seconds(20)) { $0.last == "reconnected" }
            let lost = try await event("connection_lost", of: id, in: service)
            #expect(lost["reason"] as? String == "health_check_timeout")
            #expect(try await event("reconnected", of: id, in: service)["strategy"] as? String == "fast")
            try await expectOneAgent(janus[0], room: room, session: id)
        }
    }

    @Test(.timeLimit(.minutes(2))) func aFreezePastTheReclaimWindowRejoinsAfterDestroyingTheStaleSession() async throws {
        try await withJanus(policy: ReconnectPolicy(), reclaimTimeout: 10) { service, instances in
            let janus = instances[0]
            let room = 4202
            let created = try await service.json(.POST, "/v1/sessions", body([janus.url], room: room))
            let id = try #require(created.json["id"] as? String)
            let before = try #require(created.json["sfu_session_id"] as? String)
            janus.signal(SIGSTOP)
            try await service.waitForEvents(of: id, timeout: .seconds(25)) { $0.contains("connection_lost") }
            try await quietPeriod(.seconds(2))
            janus.signal(SIGCONT)
            let types = try await service.waitForEvents(of: id, timeout: .seconds(20)) { $0.last == "reconnected" }
            // 10 s from the last keepalive answer had passed at the loss: no claim.
            let escalated = try await event("strategy_escalated", of: id, in: service)
            #expect(escalated["reason"] as? String == "fast_reconnect_deadline_passed")
            let failedClaims = try await service.events(of: id).filter {
                $0["type"] as? String == "reconnect_attempt_failed" && $0["strategy"] as? String == "fast"
            }
            #expect(failedClaims.isEmpty, "no claim was tried: \(types)")
            let destroyed = try await event("stale_session_destroyed", of: id, in: service)
            #expect(destroyed["sfu_session_id"] as? String == before)
            #expect(try await event("reconnected", of: id, in: service)["strategy"] as? String == "rejoin")
            try await expectOneAgent(janus, room: room, session: id)
        }
    }

    @Test(.timeLimit(.minutes(2))) func killNineOfTetherIsResumedByClaimWithoutALeaveOrASecondAgent() async throws {
        let crash = CrashRecoveryTests()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tether-janus-crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let janus = try await JanusInstance.start()
        var (serve, base) = try await crash.startServe(database: "history.sqlite", in: folder)
        do {
            let room = 4203
            let observer = try await JanusObserver.join(janus, room: room)
            defer { observer.close() }
            let (status, created) = try await callURL(.POST, base + "/v1/sessions", json: body([janus.url], room: room))
            #expect(status == 201, "\(created)")
            let id = try #require(created["id"] as? String)
            let participant = try #require(try await agentID(in: janus, room: room))

            serve.signal(SIGKILL)
            _ = await serve.waitForExit()
            (serve, base) = try await crash.startServe(database: "history.sqlite", in: folder)

            let types = try await crash.waitFor(base, id) { $0.last == "reconnected" }
            #expect(Array(types.suffix(3)) == ["resumed_after_restart", "reconnect_started", "reconnected"], "\(types)")
            let events = try #require(try await callURL(.GET, base + "/v1/sessions/\(id)/events").1["events"] as? [[String: Any]])
            #expect(events.last?["strategy"] as? String == "fast")
            #expect(!observer.leavingIDs.contains(participant), "the observer saw no leave")
            #expect(observer.joiningDisplays.filter { $0 == "agent-7" }.count == 1, "the observer saw the agent join once: \(observer.joiningDisplays)")
            #expect(try await agentID(in: janus, room: room) == participant, "the same participant")
            try await expectOneAgent(janus, room: room, session: id)
        } catch {
            serve.signal(SIGKILL)
            await janus.stop()
            throw error
        }
        serve.signal(SIGTERM)
        _ = await serve.waitForExit()
        await janus.stop()
    }

    // MARK: - Kicks and detaches

    @Test(.timeLimit(.minutes(2))) func aKickEndsTheSessionLeftKickedWithoutRejoining() async throws {
        try await withJanus { service, janus in
            let room = 4204
            let observer = try await JanusObserver.join(janus[0], room: room)
            defer { observer.close() }
            let created = try await service.json(.POST, "/v1/sessions", body([janus[0].url], room: room))
            let id = try #require(created.json["id"] as? String)
            let participant = try #require(try await agentID(in: janus[0], room: room))
            let kickedAt = Int64(Date().timeIntervalSince1970 * 1000)
            try await observer.kick(participant)
            let types = try await service.waitForEvents(of: id) { $0.last == "left" }
            #expect(types == ["session_created", "joined", "sfu_error", "left"])
            let error = try await event("sfu_error", of: id, in: service)
            #expect(error["code"] as? String == "kicked")
            let left = try await event("left", of: id, in: service)
            #expect(left["reason"] as? String == "kicked")
            let recordedAfter = try #require(left["time_ms"] as? Int).advanced(by: -Int(kickedAt))
            #expect(recordedAfter <= 1000, "left{kicked} recorded \(recordedAfter) ms after the kick")
            let session = try await service.request(.GET, "/v1/sessions/\(id)").json
            #expect(session["state"] as? String == "left" && session["end_reason"] as? String == "kicked")
            try await quietPeriod(.seconds(2))
            #expect(try await service.eventTypes(of: id) == types, "no rejoin after a kick")
            #expect(try await agentID(in: janus[0], room: room) == nil)
            #expect(try await janus[0].sessions(withOpaqueID: id).isEmpty, "our Janus session was destroyed")
        }
    }

    @Test(.timeLimit(.minutes(2))) func anAdminDetachOfOurHandleRejoinsWithOneAgent() async throws {
        try await withJanus { service, janus in
            let room = 4205
            let created = try await service.json(.POST, "/v1/sessions", body([janus[0].url], room: room))
            let id = try #require(created.json["id"] as? String)
            let ids = try #require((created.json["sfu_session_id"] as? String)?.split(separator: ":").compactMap { Int64($0) })
            try await janus[0].admin(["janus": "detach_handle", "session_id": ids[0], "handle_id": ids[1]])
            let types = try await service.waitForEvents(of: id) { $0.last == "reconnected" }
            #expect(types == ["session_created", "joined", "sfu_error", "reconnect_started", "stale_session_destroyed", "reconnected"], "\(types)")
            #expect(try await event("sfu_error", of: id, in: service)["code"] as? String == "detached")
            #expect(try await event("reconnected", of: id, in: service)["strategy"] as? String == "rejoin")
            try await expectOneAgent(janus[0], room: room, session: id)
        }
    }

    // MARK: - Auth and access

    @Test(.timeLimit(.minutes(2))) func tokenAuthAdminKeyAndPins() async throws {
        try await withJanus(security: .init(tokenAuth: true, adminKey: "videoroom-admin-key")) { service, instances in
            let janus = instances[0]
            try await janus.admin(["janus": "add_token", "token": "right-token", "plugins": ["janus.plugin.videoroom"]])
            // The room exists (an observer created it with the admin key): with the key,
            // create_room finds it and joins; without, Janus refuses the create first.
            let room = 4206
            let observer = try await JanusObserver.join(janus, room: room, token: "right-token")
            defer { observer.close() }
            let joined = try await service.json(.POST, "/v1/sessions", janusBody(
                [janus.url], room: room, token: "right-token", janus: ["admin_key": "videoroom-admin-key"]))
            #expect(joined.status == 201, "\(joined.text)")
            #expect(Set((joined.json["janus"] as? [String: Any] ?? [:]).keys) == ["room", "display", "create_room"], "no secret comes back")
            #expect(!joined.text.contains("videoroom-admin-key") && !joined.text.contains("right-token"))

            let wrongToken = try await service.json(.POST, "/v1/sessions", janusBody([janus.url], room: room, create: false, token: "wrong-token"))
            #expect(wrongToken.status == 502)
            #expect((wrongToken.json["error"] as? [String: Any])?["sfu_code"] as? String == "403")

            let noKey = try await service.json(.POST, "/v1/sessions", janusBody([janus.url], room: room, token: "right-token"))
            #expect(noKey.status == 502, "\(noKey.text)")
            #expect((noKey.json["error"] as? [String: Any])?["sfu_code"] as? String == "429", "Janus: admin_key missing (\(noKey.text))")

            // A room with a PIN that Tether creates: the right PIN joins, a wrong one is 433.
            let pinRoom = 4207
            let withPin = try await service.json(.POST, "/v1/sessions", janusBody(
                [janus.url], room: pinRoom, token: "right-token", janus: ["admin_key": "videoroom-admin-key", "pin": "2468"]))
            #expect(withPin.status == 201, "\(withPin.text)")
            let wrongPin = try await service.json(.POST, "/v1/sessions", janusBody(
                [janus.url], room: pinRoom, create: false, token: "right-token", janus: ["pin": "1357"]))
            #expect(wrongPin.status == 502)
            #expect((wrongPin.json["error"] as? [String: Any])?["sfu_code"] as? String == "433")
        }
    }

    @Test(.timeLimit(.minutes(2))) func anAPISecretIsSentWithEveryRequest() async throws {
        // With `string_ids`: rooms are strings.
        try await withJanus(security: .init(apiSecret: "janus-api-secret", stringRoomIDs: true)) { service, instances in
            let janus = instances[0]
            let room = "lobby-4208"
            let right = try await service.json(.POST, "/v1/sessions", janusBody([janus.url], room: room, janus: ["api_secret": "janus-api-secret"]))
            #expect(right.status == 201, "\(right.text)")
            #expect((right.json["janus"] as? [String: Any])?["room"] as? String == room)
            let id = try #require(right.json["id"] as? String)
            // Keepalives carry it too: the session stays joined across several of them.
            try await quietPeriod(.seconds(1))
            #expect(try await service.request(.GET, "/v1/sessions/\(id)").json["state"] as? String == "joined")
            let wrong = try await service.json(.POST, "/v1/sessions", janusBody([janus.url], room: room, janus: ["api_secret": "not-the-secret"]))
            #expect(wrong.status == 502)
            #expect((wrong.json["error"] as? [String: Any])?["sfu_code"] as? String == "403")
        }
    }

    @Test(.timeLimit(.minutes(2))) func aNodeThatAcceptsNoNewSessionsIsSkipped() async throws {
        try await withJanus(2) { service, janus in
            try await janus[0].admin(["janus": "accept_new_sessions", "accept": false])
            let created = try await service.json(.POST, "/v1/sessions", body([janus[0].url, janus[1].url], room: 4209))
            #expect(created.status == 201, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            #expect(created.json["sfu_url"] as? String == janus[1].url)
            #expect(try await service.eventTypes(of: id) == ["session_created", "sfu_error", "joined"])
            #expect(try await event("sfu_error", of: id, in: service)["code"] as? String == "472")
            #expect(try await event("joined", of: id, in: service)["sfu_url"] as? String == janus[1].url)
            #expect(try await janus[0].sessions(withOpaqueID: id).isEmpty)
            #expect(try await janus[1].sessions(withOpaqueID: id).count == 1)
        }
    }
}
