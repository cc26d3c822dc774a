import Foundation
import Testing
@testable import TetherEngine
import TetherEvents

@Suite(.timeLimit(.minutes(1))) struct JanusCodecTests {
    let dialect = JanusDialect(room: .number(4321), display: "agent-7", createRoom: true)

    func json(_ frame: WireFrame) throws -> [String: Any] {
        guard case .text(let text) = frame else { throw UndecodableFrame(dialect: "test", detail: "binary") }
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    func reply(_ object: [String: Any]) throws -> WireFrame {
        .text(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
    }

    func sent(_ outputs: [CodecOutput]) throws -> [String: Any] {
        try #require(try sentAll(outputs).last)
    }

    func sentAll(_ outputs: [CodecOutput]) throws -> [[String: Any]] {
        try outputs.map { output in
            guard case .send(let frame) = output else {
                throw UndecodableFrame(dialect: "test", detail: "expected frames to send, got \(outputs)")
            }
            return try json(frame)
        }
    }

    func body(_ message: [String: Any]) -> [String: Any] { message["body"] as? [String: Any] ?? [:] }

    /// Starts a join and answers its `info` with these windows; returns the next request.
    func afterInfo(
        _ codec: inout JanusCodec, _ parameters: JoinParameters = JoinParameters(token: "", callID: "c", userID: "u"),
        sessionTimeout: Int = 60, reclaimTimeout: Int = 30
    ) throws -> [String: Any] {
        let info = try json(try #require(codec.encode(.join(parameters)).first))
        #expect(info["janus"] as? String == "info")
        return try sent(codec.decode(reply([
            "janus": "server_info", "transaction": info["transaction"]!,
            "session-timeout": sessionTimeout, "reclaim-session-timeout": reclaimTimeout,
        ])))
    }

    @Test func aJoinIsInfoCreateAttachCreateRoomJoinAndCarriesTheNodesWindows() throws {
        var codec = JanusCodec(dialect: JanusDialect(room: .number(4321), display: "agent-7", createRoom: true, opaqueID: "tether-1"))
        let create = try afterInfo(&codec)
        #expect(create["janus"] as? String == "create")
        #expect(create["token"] == nil && create["apisecret"] == nil, "no auth fields when none are configured")
        let attach = try sent(codec.decode(reply(["janus": "success", "transaction": create["transaction"]!, "data": ["id": 11]])))
        #expect(attach["janus"] as? String == "attach")
        #expect(attach["plugin"] as? String == "janus.plugin.videoroom")
        #expect(attach["opaque_id"] as? String == "tether-1")
        let createRoom = try sent(codec.decode(reply(["janus": "success", "transaction": attach["transaction"]!, "data": ["id": 22]])))
        #expect(body(createRoom)["request"] as? String == "create")
        // The room already exists (427): join anyway.
        let join = try sent(codec.decode(reply([
            "janus": "success", "transaction": createRoom["transaction"]!,
            "plugindata": ["plugin": "janus.plugin.videoroom", "data": ["videoroom": "event", "error_code": 427, "error": "exists"]],
        ])))
        #expect(body(join)["request"] as? String == "join")
        #expect(body(join)["ptype"] as? String == "publisher")
        #expect(body(join)["display"] as? String == "agent-7")
        #expect(join["session_id"] as? Int == 11 && join["handle_id"] as? Int == 22)
        // The ack carries nothing; the event is the answer.
        #expect(try codec.decode(reply(["janus": "ack", "transaction": join["transaction"]!])).isEmpty)
        let joined = try codec.decode(reply([
            "janus": "event", "transaction": join["transaction"]!,
            "plugindata": ["plugin": "janus.plugin.videoroom", "data": [
                "videoroom": "joined", "id": 99, "publishers": [["id": 5]], "attendees": [["id": 6], ["id": 8]],
            ]],
        ]))
        #expect(joined == [.event(.joinAccepted(JoinAnswer(
            sfuSessionID: "11:22:99", reconnected: false, fastReconnectWindow: .seconds(30), participantCount: 4,
            healthCheckCeiling: .seconds(20), resumeState: #"{"handle":22,"participant":"99","session":11}"#)))])
    }

    @Test func authenticationAndRoomSecretsGoWhereJanusReadsThem() throws {
        var codec = JanusCodec(dialect: JanusDialect(
            room: .name("lobby"), display: "a", createRoom: true, pin: "1234", roomSecret: "s3", adminKey: "ak", apiSecret: "as"))
        let create = try afterInfo(&codec, JoinParameters(token: "tok", callID: "c", userID: "u"))
        #expect(create["token"] as? String == "tok" && create["apisecret"] as? String == "as")
        let attach = try sent(codec.decode(reply(["janus": "success", "transaction": create["transaction"]!, "data": ["id": 1]])))
        #expect(attach["token"] as? String == "tok" && attach["apisecret"] as? String == "as")
        let createRoom = try sent(codec.decode(reply(["janus": "success", "transaction": attach["transaction"]!, "data": ["id": 2]])))
        #expect(body(createRoom)["room"] as? String == "lobby")
        #expect(body(createRoom)["pin"] as? String == "1234")
        #expect(body(createRoom)["secret"] as? String == "s3")
        #expect(body(createRoom)["admin_key"] as? String == "ak")
        let join = try sent(codec.decode(reply([
            "janus": "success", "transaction": createRoom["transaction"]!, "plugindata": ["data": ["videoroom": "created"]],
        ])))
        #expect(body(join)["pin"] as? String == "1234" && body(join)["room"] as? String == "lobby")
        let keepalive = try json(try #require(codec.encode(.healthCheck).first))
        #expect(keepalive["token"] as? String == "tok" && keepalive["apisecret"] as? String == "as")
    }

    @Test func refusalsAreJoinFailuresWithJanusCodeAnd472NamesTheNode() throws {
        var codec = JanusCodec(dialect: dialect)
        let create = try afterInfo(&codec)
        var refusing = codec
        #expect(try refusing.decode(reply(["janus": "error", "transaction": create["transaction"]!, "error": ["code": 472, "reason": "Not accepting new sessions"]]))
            == [.event(.sfuError(SFUError(code: "472", message: "Not accepting new sessions", strategy: nil, nodeRefusesNewSessions: true)))])
        #expect(try codec.decode(reply(["janus": "error", "transaction": create["transaction"]!, "error": ["code": 403, "reason": "Unauthorized request"]]))
            == [.event(.sfuError(SFUError(code: "403", message: "Unauthorized request", strategy: nil, unauthenticated: true)))])
    }

    @Test func aMissingRoomIsCreatedAgainOrFailsClearly() throws {
        for createRoom in [true, false] {
            var codec = JanusCodec(dialect: JanusDialect(room: .number(7), display: "a", createRoom: createRoom))
            let create = try afterInfo(&codec)
            let attach = try sent(codec.decode(reply(["janus": "success", "transaction": create["transaction"]!, "data": ["id": 1]])))
            var next = try sent(codec.decode(reply(["janus": "success", "transaction": attach["transaction"]!, "data": ["id": 2]])))
            if createRoom {
                next = try sent(codec.decode(reply(["janus": "success", "transaction": next["transaction"]!, "plugindata": ["data": ["videoroom": "created"]]])))
            }
            let missing = try codec.decode(reply([
                "janus": "event", "transaction": next["transaction"]!,
                "plugindata": ["data": ["videoroom": "event", "error_code": 426, "error": "No such room (7)"]],
            ]))
            if createRoom {
                #expect(body(try sent(missing))["request"] as? String == "create")
            } else {
                guard case .event(.sfuError(let error)) = try #require(missing.first) else {
                    Issue.record("expected an SFU error, got \(missing)")
                    continue
                }
                #expect(error.code == "426")
                #expect(error.message.contains("no such room 7"))
            }
        }
    }

    @Test func rejoinDestroysTheStaleSessionBeforeCreatingOne() throws {
        var codec = JanusCodec(dialect: dialect)
        let destroy = try afterInfo(&codec, JoinParameters(token: "", callID: "c", userID: "u", staleSessionID: "11:22:99"))
        #expect(destroy["janus"] as? String == "destroy" && destroy["session_id"] as? Int == 11)
        var gone = codec
        // Already gone (458) or destroyed: either way the create follows.
        let afterGone = try sent(gone.decode(reply(["janus": "error", "transaction": destroy["transaction"]!, "error": ["code": 458, "reason": "No such session"]])))
        #expect(afterGone["janus"] as? String == "create")
        let create = try sent(codec.decode(reply(["janus": "success", "transaction": destroy["transaction"]!, "session_id": 11])))
        #expect(create["janus"] as? String == "create")
        let attach = try sent(codec.decode(reply(["janus": "success", "transaction": create["transaction"]!, "data": ["id": 12]])))
        let createRoom = try sent(codec.decode(reply(["janus": "success", "transaction": attach["transaction"]!, "data": ["id": 23]])))
        let join = try sent(codec.decode(reply(["janus": "success", "transaction": createRoom["transaction"]!, "plugindata": ["data": ["videoroom": "created"]]])))
        let joined = try codec.decode(reply(["janus": "event", "transaction": join["transaction"]!, "plugindata": ["data": ["videoroom": "joined", "id": 100]]]))
        guard case .event(.joinAccepted(let answer)) = try #require(joined.first) else { Issue.record("\(joined)"); return }
        #expect(answer.staleSessionDestroyed == "11")
        #expect(answer.sfuSessionID == "12:23:100")
    }

    @Test func aCleanupOnlyDestroysAndJoinsNothing() throws {
        var codec = JanusCodec(dialect: dialect)
        let destroy = try afterInfo(&codec, JoinParameters(token: "", callID: "c", userID: "u", staleSessionID: "11:22", cleanupOnly: true))
        #expect(destroy["janus"] as? String == "destroy")
        let done = try codec.decode(reply(["janus": "success", "transaction": destroy["transaction"]!]))
        guard case .event(.joinAccepted(let answer)) = try #require(done.first) else { Issue.record("\(done)"); return }
        #expect(answer.staleSessionDestroyed == "11" && answer.sfuSessionID.isEmpty)
    }

    func claimed(_ codec: inout JanusCodec, resume: String = "11:22:99") throws -> [String: Any] {
        let claim = try afterInfo(&codec, JoinParameters(
            token: "", callID: "c", userID: "u", resumeSessionID: resume,
            reconnect: .init(strategy: .fast, attempt: 1, previousSessionID: resume, fromSFU: nil, reason: "x"),
            staleSessionID: resume))
        #expect(claim["janus"] as? String == "claim", "a claim never destroys the session it resumes")
        #expect(claim["session_id"] as? Int == 11)
        let list = try sent(codec.decode(reply(["janus": "success", "transaction": claim["transaction"]!, "session_id": 11])))
        #expect(body(list)["request"] as? String == "listparticipants")
        #expect(list["handle_id"] as? Int == 22)
        return list
    }

    @Test func fastIsAClaimConfirmedByTheRoomAnd458AsksForRejoin() throws {
        var codec = JanusCodec(dialect: dialect)
        let claim = try afterInfo(&codec, JoinParameters(token: "", callID: "c", userID: "u", resumeSessionID: "11:22:99"))
        #expect(try codec.decode(reply(["janus": "error", "transaction": claim["transaction"]!, "error": ["code": 458, "reason": "No such session 11"]]))
            == [.event(.sfuError(SFUError(code: "458", message: "No such session 11", strategy: .rejoin, sessionUnknown: true)))])

        codec = JanusCodec(dialect: dialect)
        let list = try claimed(&codec)
        let present = try codec.decode(reply([
            "janus": "success", "transaction": list["transaction"]!,
            "plugindata": ["data": ["videoroom": "participants", "participants": [["id": 99, "display": "agent-7"], ["id": 5]]]],
        ]))
        #expect(present == [.event(.joinAccepted(JoinAnswer(
            sfuSessionID: "11:22:99", reconnected: true, fastReconnectWindow: .seconds(30), participantCount: 2,
            healthCheckCeiling: .seconds(20), resumeState: #"{"handle":22,"participant":"99","session":11}"#)))])
    }

    @Test func aClaimedSessionOutOfTheRoomJoinsAgainOnAFreshHandle() throws {
        var codec = JanusCodec(dialect: dialect)
        let list = try claimed(&codec)
        let frames = try sentAll(codec.decode(reply([
            "janus": "success", "transaction": list["transaction"]!,
            "plugindata": ["data": ["videoroom": "participants", "participants": [["id": 5, "display": "agent-7"]]]],
        ])))
        #expect(frames.map { $0["janus"] as? String } == ["detach", "attach"])
        #expect(frames[0]["handle_id"] as? Int == 22)
        let createRoom = try sent(codec.decode(reply(["janus": "success", "transaction": frames[1]["transaction"]!, "data": ["id": 33]])))
        let join = try sent(codec.decode(reply(["janus": "success", "transaction": createRoom["transaction"]!, "plugindata": ["data": ["videoroom": "created"]]])))
        #expect(join["handle_id"] as? Int == 33)
        let joined = try codec.decode(reply(["janus": "event", "transaction": join["transaction"]!, "plugindata": ["data": ["videoroom": "joined", "id": 101]]]))
        #expect(joined == [.event(.joinAccepted(JoinAnswer(
            sfuSessionID: "11:33:101", reconnected: true, fastReconnectWindow: .seconds(30), participantCount: 1,
            healthCheckCeiling: .seconds(20), rejoinedRoom: true, resumeState: #"{"handle":33,"participant":"101","session":11}"#)))])
    }

    @Test func keepalivesAreHealthChecksAndAnExpiredSessionAsksForRejoin() throws {
        var codec = JanusCodec(dialect: dialect)
        _ = try codec.encode(.join(JoinParameters(token: "t", callID: "c", userID: "u", resumeSessionID: "11:22")))
        let keepalive = try json(try #require(codec.encode(.healthCheck).first))
        #expect(keepalive["janus"] as? String == "keepalive")
        #expect(try codec.decode(reply(["janus": "ack", "session_id": 11, "transaction": keepalive["transaction"]!])) == [.event(.healthCheckAnswered)])
        let second = try json(try #require(codec.encode(.healthCheck).first))
        // Resuming an expired session cannot work: straight to REJOIN, no pointless claim.
        #expect(try codec.decode(reply(["janus": "error", "transaction": second["transaction"]!, "error": ["code": 458, "reason": "No such session"]]))
            == [.event(.sfuError(SFUError(code: "458", message: "keepalive refused: No such session", strategy: .rejoin)))])
        #expect(try codec.decode(reply(["janus": "timeout", "session_id": 11]))
            == [.event(.sfuError(SFUError(code: "session_timeout", message: "Janus timed the session out", strategy: .rejoin)))])
        #expect(throws: UndecodableFrame.self) { try codec.decode(.text("not json")) }
        #expect(throws: UndecodableFrame.self) { try codec.decode(.binary([1, 2, 3])) }
    }

    @Test func kicksDetachesAndDestroyedRoomsAreOutcomes() throws {
        var codec = JanusCodec(dialect: dialect)
        _ = try codec.encode(.join(JoinParameters(token: "", callID: "c", userID: "u", resumeSessionID: "11:22:99")))
        #expect(try codec.decode(reply(["janus": "event", "sender": 22, "plugindata": ["data": ["videoroom": "event", "room": 4321, "leaving": "ok", "reason": "kicked"]]]))
            == [.event(.removed(code: "kicked", message: "a moderator removed the participant from room 4321"))])
        #expect(try codec.decode(reply(["janus": "event", "sender": 22, "plugindata": ["data": ["videoroom": "event", "leaving": "ok"]]])).isEmpty,
                "the answer to our own leave")
        #expect(try codec.decode(reply(["janus": "detached", "session_id": 11, "sender": 22]))
            == [.event(.sfuError(SFUError(code: "detached", message: "Janus detached our handle 22", strategy: .rejoin)))])
        #expect(try codec.decode(reply(["janus": "detached", "session_id": 11, "sender": 23])).isEmpty, "another handle's detach")
        #expect(try codec.decode(reply(["janus": "event", "plugindata": ["data": ["videoroom": "destroyed", "room": 4321]]]))
            == [.event(.sfuError(SFUError(code: "room_destroyed", message: "the room 4321 was destroyed", strategy: .rejoin)))])
    }

    @Test func ourOwnIdInAKickedNoticeIsAKickAndStringIdsWork() throws {
        var codec = JanusCodec(dialect: JanusDialect(room: .name("lobby"), display: "agent-7", createRoom: false))
        let list = try afterInfo(&codec, JoinParameters(token: "", callID: "c", userID: "u", resumeSessionID: "11:22:agent-uuid"))
        #expect(list["janus"] as? String == "claim")
        let verify = try sent(codec.decode(reply(["janus": "success", "transaction": list["transaction"]!])))
        // String participant ids (string_ids): ours is found by id, not by display.
        let present = try codec.decode(reply([
            "janus": "success", "transaction": verify["transaction"]!,
            "plugindata": ["data": ["participants": [["id": "someone-else", "display": "agent-7"], ["id": "agent-uuid", "display": "agent-7"]]]],
        ]))
        guard case .event(.joinAccepted(let answer)) = try #require(present.first) else { Issue.record("\(present)"); return }
        #expect(answer.sfuSessionID == "11:22:agent-uuid" && !answer.rejoinedRoom)
        #expect(try codec.decode(reply(["janus": "event", "plugindata": ["data": ["videoroom": "event", "kicked": "agent-uuid"]]]))
            == [.event(.removed(code: "kicked", message: "a moderator removed the participant from room lobby"))])
        #expect(try codec.decode(reply(["janus": "event", "plugindata": ["data": ["videoroom": "event", "leaving": "someone-else"]]]))
            == [.event(.participantLeft(userID: "", sessionID: "someone-else"))])
    }

    @Test func aCleanupThatCannotDestroyFailsSoItIsRetried() throws {
        var codec = JanusCodec(dialect: dialect)
        let destroy = try afterInfo(&codec, JoinParameters(token: "", callID: "c", userID: "u", staleSessionID: "11:22", cleanupOnly: true))
        #expect(try codec.decode(reply(["janus": "error", "transaction": destroy["transaction"]!, "error": ["code": 403, "reason": "Unauthorized"]]))
            == [.event(.sfuError(SFUError(code: "403", message: "destroying a stale session: Unauthorized", strategy: nil)))])
    }

    @Test func unsolicitedEventsDecodeAndUnknownOnesAreSkipped() throws {
        var codec = JanusCodec(dialect: dialect)
        #expect(try codec.decode(reply(["janus": "event", "plugindata": ["data": ["videoroom": "event", "leaving": 5]]]))
            == [.event(.participantLeft(userID: "", sessionID: "5"))])
        #expect(try codec.decode(reply(["janus": "event", "plugindata": ["data": ["videoroom": "event", "kicked": 6]]]))
            == [.event(.participantLeft(userID: "", sessionID: "6"))])
        #expect(try codec.decode(reply(["janus": "webrtcup", "session_id": 1])).isEmpty)
        #expect(try codec.decode(reply(["janus": "something_new"])).isEmpty)
    }

    @Test func aSilentInfoLeavesThePolicysWindows() throws {
        var codec = JanusCodec(dialect: JanusDialect(room: .number(7), display: "a", createRoom: false))
        let info = try json(try #require(codec.encode(.join(JoinParameters(token: "", callID: "c", userID: "u"))).first))
        let create = try sent(codec.decode(reply(["janus": "error", "transaction": info["transaction"]!, "error": ["code": 404, "reason": "?"]])))
        #expect(create["janus"] as? String == "create")
        let attach = try sent(codec.decode(reply(["janus": "success", "transaction": create["transaction"]!, "data": ["id": 1]])))
        let join = try sent(codec.decode(reply(["janus": "success", "transaction": attach["transaction"]!, "data": ["id": 2]])))
        let joined = try codec.decode(reply(["janus": "event", "transaction": join["transaction"]!, "plugindata": ["data": ["videoroom": "joined", "id": 3]]]))
        #expect(joined == [.event(.joinAccepted(JoinAnswer(
            sfuSessionID: "1:2:3", reconnected: false, fastReconnectWindow: nil, participantCount: 1,
            resumeState: #"{"handle":2,"participant":"3","session":1}"#)))])
    }

    @Test func leavingIsLeaveThenDestroy() throws {
        var codec = JanusCodec(dialect: dialect)
        let frames = try codec.encode(.leave(sessionID: "11:22:99", reason: "requested")).map(json)
        #expect(frames.map { $0["janus"] as? String } == ["message", "destroy"])
        #expect(body(frames[0])["request"] as? String == "leave")
        #expect(frames[0]["handle_id"] as? Int == 22)
        #expect(frames[1]["session_id"] as? Int == 11)
    }

    /// Issue 19: a Janus announcing `Int64.max` (or 1e300, or a negative) must cost a
    /// recorded `bad_value`, with a window in range, never a trap.
    @Test(arguments: [
        (#""session-timeout":60,"reclaim-session-timeout":9223372036854775807"#, Duration.seconds(600) as Duration?, Duration.seconds(20) as Duration?, 1),
        (#""session-timeout":1e300,"reclaim-session-timeout":1e300"#, .seconds(600), .seconds(28_800), 2),
        (#""session-timeout":-1,"reclaim-session-timeout":-1"#, nil, nil, 2),
        (#""session-timeout":1,"reclaim-session-timeout":30"#, .seconds(30), .seconds(1), 1),
        (#""session-timeout":0,"reclaim-session-timeout":0"#, .seconds(0), nil, 0),
        (#""session-timeout":"60","reclaim-session-timeout":true"#, nil, nil, 2),
    ])
    func absurdWindowsAreClampedAndNamed(fields: String, window: Duration?, ceiling: Duration?, problems: Int) throws {
        var codec = JanusCodec(dialect: dialect)
        let info = try json(try #require(codec.encode(.join(JoinParameters(token: "", callID: "c", userID: "u"))).first))
        let create = try sent(codec.decode(.text(#"{"janus":"server_info","transaction":"\#(info["transaction"]!)",\#(fields)}"#)))
        let attach = try sent(codec.decode(reply(["janus": "success", "transaction": create["transaction"]!, "data": ["id": 11]])))
        let createRoom = try sent(codec.decode(reply(["janus": "success", "transaction": attach["transaction"]!, "data": ["id": 22]])))
        let join = try sent(codec.decode(reply(["janus": "success", "transaction": createRoom["transaction"]!])))
        let joined = try codec.decode(reply([
            "janus": "event", "transaction": join["transaction"]!,
            "plugindata": ["plugin": "janus.plugin.videoroom", "data": ["videoroom": "joined", "id": 99]],
        ]))
        guard case .event(.joinAccepted(let answer)) = joined.first else {
            Issue.record("no join answer: \(joined)")
            return
        }
        #expect(answer.fastReconnectWindow == window)
        #expect(answer.healthCheckCeiling == ceiling)
        #expect(answer.valueProblems.count == problems, "\(answer.valueProblems)")
    }

    @Test func aParticipantIDLongerThanAnIDIsNotKept() throws {
        var codec = JanusCodec(dialect: dialect)
        let create = try afterInfo(&codec)
        let attach = try sent(codec.decode(reply(["janus": "success", "transaction": create["transaction"]!, "data": ["id": 11]])))
        let createRoom = try sent(codec.decode(reply(["janus": "success", "transaction": attach["transaction"]!, "data": ["id": 22]])))
        let join = try sent(codec.decode(reply(["janus": "success", "transaction": createRoom["transaction"]!])))
        let joined = try codec.decode(reply([
            "janus": "event", "transaction": join["transaction"]!,
            "plugindata": ["plugin": "janus.plugin.videoroom", "data": ["videoroom": "joined", "id": String(repeating: "p", count: 100_000)]],
        ]))
        guard case .event(.joinAccepted(let answer)) = joined.first else {
            Issue.record("no join answer: \(joined)")
            return
        }
        #expect(answer.sfuSessionID == "11:22")
    }

    /// The dialect's resume state is its own JSON, used in place of the shown id: a claim
    /// (and a stale destroy) take their ids from it, whatever the shown id says.
    @Test func aClaimTakesItsIdsFromTheResumeState() throws {
        var codec = JanusCodec(dialect: dialect)
        let state = JanusResumeState(session: 31, handle: 32, participant: "p-33").text
        let claim = try afterInfo(&codec, JoinParameters(
            token: "", callID: "c", userID: "u", resumeSessionID: "shown-id-not-read", resumeState: state))
        #expect(claim["janus"] as? String == "claim")
        #expect(claim["session_id"] as? Int == 31)
        var cleanup = JanusCodec(dialect: dialect)
        let destroy = try afterInfo(&cleanup, JoinParameters(
            token: "", callID: "c", userID: "u", staleSessionID: "shown", cleanupOnly: true, staleResumeState: state))
        #expect(destroy["janus"] as? String == "destroy")
        #expect(destroy["session_id"] as? Int == 31)
        #expect(JanusResumeState(resumeState: state, sessionID: nil) == JanusResumeState(session: 31, handle: 32, participant: "p-33"))
        #expect(JanusResumeState(resumeState: nil, sessionID: "1:2:x") == JanusResumeState(session: 1, handle: 2, participant: "x"), "rows from before")
    }

    /// The codec reports facts; the dialect alone picks the strategy.
    @Test func factsMapToStrategiesInOnePlace() {
        #expect(dialect.error(for: .claimRefused(code: 458, reason: "gone")).strategy == .rejoin)
        #expect(dialect.error(for: .claimRefused(code: 458, reason: "gone")).sessionUnknown)
        #expect(dialect.error(for: .sessionTimedOut).strategy == .rejoin)
        #expect(dialect.error(for: .refused(request: "create", code: 472, reason: "full")).nodeRefusesNewSessions)
        #expect(dialect.error(for: .refused(request: "join", code: 403, reason: "token")).unauthenticated)
        #expect(dialect.error(for: .refused(request: "join", code: 433, reason: "pin")).strategy == nil)
    }
}
