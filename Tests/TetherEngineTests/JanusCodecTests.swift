import Foundation
import Testing
@testable import TetherEngine
import TetherEvents

@Suite(.timeLimit(.minutes(1))) struct JanusCodecTests {
    let dialect = JanusDialect(room: 4321, display: "agent-7", createRoom: true)

    func json(_ frame: WireFrame) throws -> [String: Any] {
        guard case .text(let text) = frame else { throw UndecodableFrame(dialect: "test", detail: "binary") }
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    func reply(_ object: [String: Any]) throws -> WireFrame {
        .text(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
    }

    func sent(_ outputs: [CodecOutput]) throws -> [String: Any] {
        guard outputs.count == 1, case .send(let frame) = outputs[0] else {
            throw UndecodableFrame(dialect: "test", detail: "expected one frame to send, got \(outputs)")
        }
        return try json(frame)
    }

    @Test func aJoinIsCreateAttachCreateRoomJoin() throws {
        var codec = JanusCodec(dialect: dialect)
        let create = try json(try #require(codec.encode(.join(JoinParameters(token: "t", callID: "c", userID: "u"))).first))
        #expect(create["janus"] as? String == "create")
        let attach = try sent(codec.decode(reply(["janus": "success", "transaction": create["transaction"]!, "data": ["id": 11]])))
        #expect(attach["janus"] as? String == "attach")
        #expect(attach["plugin"] as? String == "janus.plugin.videoroom")
        let createRoom = try sent(codec.decode(reply(["janus": "success", "transaction": attach["transaction"]!, "data": ["id": 22]])))
        #expect((createRoom["body"] as? [String: Any])?["request"] as? String == "create")
        // The room already exists (427): join anyway.
        let join = try sent(codec.decode(reply([
            "janus": "success", "transaction": createRoom["transaction"]!,
            "plugindata": ["plugin": "janus.plugin.videoroom", "data": ["videoroom": "event", "error_code": 427, "error": "exists"]],
        ])))
        let body = try #require(join["body"] as? [String: Any])
        #expect(body["request"] as? String == "join")
        #expect(body["ptype"] as? String == "publisher")
        #expect(body["display"] as? String == "agent-7")
        #expect(join["session_id"] as? Int == 11 && join["handle_id"] as? Int == 22)
        // The ack carries nothing; the event is the answer.
        #expect(try codec.decode(reply(["janus": "ack", "transaction": join["transaction"]!])).isEmpty)
        let joined = try codec.decode(reply([
            "janus": "event", "transaction": join["transaction"]!,
            "plugindata": ["plugin": "janus.plugin.videoroom", "data": ["videoroom": "joined", "id": 99, "publishers": [["id": 5]]]],
        ]))
        #expect(joined == [.event(.joinAccepted(JoinAnswer(sfuSessionID: "11:22", reconnected: false, fastReconnectWindow: nil, participantCount: 2)))])
    }

    @Test func aMissingRoomIsCreatedAgainOrFailsClearly() throws {
        for createRoom in [true, false] {
            var codec = JanusCodec(dialect: JanusDialect(room: 7, display: "a", createRoom: createRoom))
            let create = try json(try #require(codec.encode(.join(JoinParameters(token: "t", callID: "c", userID: "u"))).first))
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
                #expect(try sent(missing)["body"].flatMap { ($0 as? [String: Any])?["request"] as? String } == "create")
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

    @Test func aDuplicateIDIsRetriedWithAFreshOne() throws {
        var codec = JanusCodec(dialect: JanusDialect(room: 7, display: "a", createRoom: false))
        let create = try json(try #require(codec.encode(.join(JoinParameters(token: "t", callID: "c", userID: "u"))).first))
        let attach = try sent(codec.decode(reply(["janus": "success", "transaction": create["transaction"]!, "data": ["id": 1]])))
        let join = try sent(codec.decode(reply(["janus": "success", "transaction": attach["transaction"]!, "data": ["id": 2]])))
        let retry = try sent(codec.decode(reply([
            "janus": "event", "transaction": join["transaction"]!,
            "plugindata": ["data": ["videoroom": "event", "error_code": 436, "error": "User ID 5 already exists"]],
        ])))
        #expect((retry["body"] as? [String: Any])?["id"] is Int)
    }

    @Test func fastIsAClaimAnd458AsksForRejoin() throws {
        var codec = JanusCodec(dialect: dialect)
        let claim = try json(try #require(codec.encode(.join(JoinParameters(
            token: "t", callID: "c", userID: "u", resumeSessionID: "11:22",
            reconnect: .init(strategy: .fast, attempt: 1, previousSessionID: "11:22", fromSFU: nil, reason: "x")))).first))
        #expect(claim["janus"] as? String == "claim")
        #expect(claim["session_id"] as? Int == 11)
        var failing = codec
        #expect(try failing.decode(reply(["janus": "error", "transaction": claim["transaction"]!, "error": ["code": 458, "reason": "No such session 11"]]))
            == [.event(.sfuError(SFUError(code: "458", message: "No such session 11", strategy: .rejoin)))])
        #expect(try codec.decode(reply(["janus": "success", "transaction": claim["transaction"]!, "session_id": 11]))
            == [.event(.joinAccepted(JoinAnswer(sfuSessionID: "11:22", reconnected: true, fastReconnectWindow: nil, participantCount: 0)))])
    }

    @Test func keepalivesAreHealthChecksAndSessionLossIsALoss() throws {
        var codec = JanusCodec(dialect: dialect)
        _ = try codec.encode(.join(JoinParameters(token: "t", callID: "c", userID: "u", resumeSessionID: "11:22")))
        let keepalive = try json(try #require(codec.encode(.healthCheck).first))
        #expect(keepalive["janus"] as? String == "keepalive")
        #expect(try codec.decode(reply(["janus": "ack", "session_id": 11, "transaction": keepalive["transaction"]!])) == [.event(.healthCheckAnswered)])
        let second = try json(try #require(codec.encode(.healthCheck).first))
        #expect(throws: JanusSessionLost.self) {
            try codec.decode(reply(["janus": "error", "transaction": second["transaction"]!, "error": ["code": 458, "reason": "No such session"]]))
        }
        #expect(throws: JanusSessionLost.self) { try codec.decode(reply(["janus": "timeout", "session_id": 11])) }
        #expect(throws: UndecodableFrame.self) { try codec.decode(.text("not json")) }
        #expect(throws: UndecodableFrame.self) { try codec.decode(.binary([1, 2, 3])) }
    }

    @Test func unsolicitedEventsDecodeAndUnknownOnesAreSkipped() throws {
        var codec = JanusCodec(dialect: dialect)
        #expect(try codec.decode(reply(["janus": "event", "plugindata": ["data": ["videoroom": "event", "leaving": 5]]]))
            == [.event(.participantLeft(userID: "", sessionID: "5"))])
        #expect(try codec.decode(reply(["janus": "event", "plugindata": ["data": ["videoroom": "destroyed", "room": 4321]]]))
            == [.event(.callEnded(reason: "room_destroyed"))])
        #expect(try codec.decode(reply(["janus": "webrtcup", "session_id": 1])).isEmpty)
        #expect(try codec.decode(reply(["janus": "something_new"])).isEmpty)
    }

    @Test func leavingIsLeaveThenDestroy() throws {
        var codec = JanusCodec(dialect: dialect)
        let frames = try codec.encode(.leave(sessionID: "11:22", reason: "requested")).map(json)
        #expect(frames.map { $0["janus"] as? String } == ["message", "destroy"])
        #expect((frames[0]["body"] as? [String: Any])?["request"] as? String == "leave")
        #expect(frames[1]["session_id"] as? Int == 11)
    }
}
