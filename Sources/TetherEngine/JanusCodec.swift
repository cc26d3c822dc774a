import Foundation
import TetherEvents

/// Per-connection state of the `janus` dialect: transactions matched to their replies,
/// the session and handle, and the steps of the join.
struct JanusCodec: SignalingCodec {
    enum Purpose: Equatable {
        case create, attach, createRoom, join, claim, keepalive, leave, destroy
    }

    let dialect: JanusDialect
    private var pending: [String: Purpose] = [:]
    private var counter = 0
    private var session: Int64?
    private var handle: Int64?
    private var recreatedRoom = false
    private var retriedDuplicateID = false

    init(dialect: JanusDialect) {
        self.dialect = dialect
    }

    // MARK: - Requests

    mutating func encode(_ request: SignalRequest) throws -> [WireFrame] {
        switch request {
        case .join(let parameters):
            if let resume = parameters.resumeSessionID, let ids = JanusDialect.parse(sessionID: resume) {
                session = ids.session
                handle = ids.handle
                return [try frame(["janus": "claim", "session_id": ids.session], .claim)]
            }
            return [try frame(["janus": "create"], .create)]
        case .healthCheck:
            guard let session else { return [] }
            return [try frame(["janus": "keepalive", "session_id": session], .keepalive)]
        case .leave(let sessionID, _):
            let ids = JanusDialect.parse(sessionID: sessionID) ?? session.flatMap { s in handle.map { (s, $0) } }
            guard let (session, handle) = ids else { return [] }
            return [
                try frame(["janus": "message", "session_id": session, "handle_id": handle, "body": ["request": "leave"]], .leave),
                try frame(["janus": "destroy", "session_id": session], .destroy),
            ]
        }
    }

    private mutating func frame(_ body: [String: Any], _ purpose: Purpose) throws -> WireFrame {
        counter += 1
        let transaction = "t\(counter)"
        pending[transaction] = purpose
        var message = body
        message["transaction"] = transaction
        let data = try JSONSerialization.data(withJSONObject: message, options: [.sortedKeys])
        return .text(String(decoding: data, as: UTF8.self))
    }

    private mutating func pluginMessage(_ body: [String: Any], _ purpose: Purpose) throws -> WireFrame {
        try frame(["janus": "message", "session_id": session ?? 0, "handle_id": handle ?? 0, "body": body], purpose)
    }

    private mutating func joinRoom(withID id: Int64? = nil) throws -> WireFrame {
        var body: [String: Any] = ["request": "join", "ptype": "publisher", "room": dialect.room, "display": dialect.display]
        if let id { body["id"] = id }
        return try pluginMessage(body, .join)
    }

    private mutating func createRoom() throws -> WireFrame {
        try pluginMessage(["request": "create", "room": dialect.room, "publishers": 100, "permanent": false, "notify_joining": true], .createRoom)
    }

    // MARK: - Replies and events

    mutating func decode(_ frame: WireFrame) throws -> [CodecOutput] {
        guard case .text(let text) = frame,
              let message = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
              let kind = message["janus"] as? String
        else {
            throw UndecodableFrame(dialect: "janus", detail: "not a Janus JSON message")
        }
        if let transaction = message["transaction"] as? String, let purpose = pending[transaction] {
            return try reply(kind, purpose: purpose, transaction: transaction, message: message)
        }
        return try unsolicited(kind, message: message)
    }

    private mutating func reply(_ kind: String, purpose: Purpose, transaction: String, message: [String: Any]) throws -> [CodecOutput] {
        if kind == "ack" {
            // A plugin request's ack precedes (or follows) its event; a keepalive's ack is the answer.
            guard purpose == .keepalive else { return [] }
            pending[transaction] = nil
            return [.event(.healthCheckAnswered)]
        }
        pending[transaction] = nil
        if kind == "error" {
            let error = message["error"] as? [String: Any]
            let code = (error?["code"] as? NSNumber)?.intValue ?? 0
            let reason = error?["reason"] as? String ?? "unknown error"
            switch purpose {
            case .keepalive:
                throw JanusSessionLost(description: "Janus answered a keepalive with \(code): \(reason)")
            case .claim:
                // 458: the session is gone (expired or the server restarted): REJOIN.
                return [.event(.sfuError(SFUError(code: String(code), message: reason, strategy: .rejoin)))]
            case .leave, .destroy:
                return []
            default:
                return [.event(.sfuError(SFUError(code: String(code), message: reason, strategy: nil)))]
            }
        }
        switch purpose {
        case .create:
            guard let id = Self.dataID(message) else { throw UndecodableFrame(dialect: "janus", detail: "create answered without a session id") }
            session = id
            return [.send(try frame(["janus": "attach", "session_id": id, "plugin": "janus.plugin.videoroom"], .attach))]
        case .attach:
            guard let id = Self.dataID(message) else { throw UndecodableFrame(dialect: "janus", detail: "attach answered without a handle id") }
            handle = id
            return [.send(dialect.createRoom ? try createRoom() : try joinRoom())]
        case .createRoom:
            let data = Self.pluginData(message)
            if let code = (data?["error_code"] as? NSNumber)?.intValue, code != 427 {
                return [.event(.sfuError(SFUError(code: String(code), message: data?["error"] as? String ?? "room create failed", strategy: nil)))]
            }
            return [.send(try joinRoom())]
        case .join:
            return try joinAnswer(message)
        case .claim:
            guard let session, let handle else { return [] }
            return [.event(.joinAccepted(JoinAnswer(
                sfuSessionID: JanusDialect.sessionID(session: session, handle: handle),
                reconnected: true, fastReconnectWindow: nil, participantCount: 0)))]
        case .keepalive, .leave, .destroy:
            return []
        }
    }

    private mutating func joinAnswer(_ message: [String: Any]) throws -> [CodecOutput] {
        let data = Self.pluginData(message)
        if let code = (data?["error_code"] as? NSNumber)?.intValue {
            let reason = data?["error"] as? String ?? "join failed"
            if code == 426, dialect.createRoom, !recreatedRoom {
                // The room is gone (Janus restarted): create it again, then join.
                recreatedRoom = true
                return [.send(try createRoom())]
            }
            if code == 436, !retriedDuplicateID {
                // Our participant id is still taken: join again with a fresh one.
                retriedDuplicateID = true
                return [.send(try joinRoom(withID: Int64.random(in: 1_000_000...Int64(Int32.max))))]
            }
            let message = code == 426 ? "no such room \(dialect.room) (create_room is false): \(reason)" : reason
            return [.event(.sfuError(SFUError(code: String(code), message: message, strategy: nil)))]
        }
        guard data?["videoroom"] as? String == "joined", let session, let handle else { return [] }
        let publishers = (data?["publishers"] as? [Any])?.count ?? 0
        return [.event(.joinAccepted(JoinAnswer(
            sfuSessionID: JanusDialect.sessionID(session: session, handle: handle),
            reconnected: false, fastReconnectWindow: nil, participantCount: publishers + 1)))]
    }

    private func unsolicited(_ kind: String, message: [String: Any]) throws -> [CodecOutput] {
        switch kind {
        case "timeout":
            throw JanusSessionLost(description: "Janus timed the session out")
        case "event":
            let data = Self.pluginData(message)
            if data?["videoroom"] as? String == "destroyed" {
                return [.event(.callEnded(reason: "room_destroyed"))]
            }
            var outputs: [CodecOutput] = []
            if let joining = data?["joining"] as? [String: Any], let id = (joining["id"] as? NSNumber)?.int64Value {
                outputs.append(.event(.participantJoined(userID: joining["display"] as? String ?? "", sessionID: String(id))))
            }
            if let leaving = (data?["leaving"] as? NSNumber)?.int64Value {
                outputs.append(.event(.participantLeft(userID: "", sessionID: String(leaving))))
            }
            return outputs
        default:
            // webrtcup, media, slowlink, hangup, detached, trickle: nothing to act on here.
            return []
        }
    }

    static func dataID(_ message: [String: Any]) -> Int64? {
        ((message["data"] as? [String: Any])?["id"] as? NSNumber)?.int64Value
    }

    static func pluginData(_ message: [String: Any]) -> [String: Any]? {
        (message["plugindata"] as? [String: Any])?["data"] as? [String: Any]
    }
}
