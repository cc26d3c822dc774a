import Foundation
import TetherEvents

/// Per-connection state of the `janus` dialect: transactions matched to their replies,
/// the session, handle and participant, and the steps of the join.
struct JanusCodec: SignalingCodec {
    enum Purpose: Equatable {
        case info, destroyStale, create, attach, createRoom, join, claim, verifyPresence, detachOld
        case keepalive, leave, destroy
    }

    /// What a join on this connection is for.
    enum Goal: Equatable {
        /// A new Janus session (first join, REJOIN, MIGRATE).
        case create
        /// Resume the session named in the join (FAST).
        case claim
        /// Destroy a session left behind on this node, and nothing else.
        case cleanup
    }

    let dialect: JanusDialect
    private var pending: [String: Purpose] = [:]
    private var counter = 0
    private var goal = Goal.create
    private var session: Int64?
    private var handle: Int64?
    /// Our participant id in the room, as text: a number, or a string with `string_ids`.
    private var participant: String?
    /// The SFU token, sent as Janus's `token` on every request (token_auth).
    private var token: String?
    /// A session of ours from before the loss, destroyed before anything is created.
    private var staleSession: Int64?
    private var destroyingStaleSession: Int64?
    private var destroyedStaleSession: Int64?
    /// What `{"janus":"info"}` said: how long Janus keeps an idle session, and a lost one
    /// reclaimable. Nil when it did not say.
    private var sessionTimeout: Duration?
    private var reclaimTimeout: Duration?
    /// What `info` said that was out of range (clamped or ignored), for the history.
    private var valueProblems: [String] = []
    private var recreatedRoom = false
    /// The claimed session had lost its place in the room; the join on a fresh handle
    /// put it back.
    private var rejoinedRoom = false

    init(dialect: JanusDialect) {
        self.dialect = dialect
    }

    // MARK: - Requests

    mutating func encode(_ request: SignalRequest) throws -> [WireFrame] {
        switch request {
        case .join(let parameters):
            token = parameters.token.isEmpty ? nil : parameters.token
            staleSession = parameters.staleSessionID == nil ? nil
                : JanusResumeState(resumeState: parameters.staleResumeState, sessionID: parameters.staleSessionID)?.session
            if parameters.cleanupOnly {
                goal = .cleanup
            } else if parameters.resumeSessionID != nil,
                      let resume = JanusResumeState(resumeState: parameters.resumeState, sessionID: parameters.resumeSessionID) {
                goal = .claim
                (session, handle, participant) = (resume.session, resume.handle, resume.participant)
                // Claiming the session means keeping it: it is not stale.
                staleSession = nil
            } else {
                goal = .create
            }
            // The node's real windows first: they bound FAST and the keepalive interval.
            return [try frame(["janus": "info"], .info)]
        case .healthCheck:
            guard let session else { return [] }
            return [try frame(["janus": "keepalive", "session_id": session], .keepalive)]
        case .leave(let sessionID, _):
            // This connection's own session (a leave goes out on the socket that joined
            // it), or the one named.
            let named = JanusResumeState(resumeState: nil, sessionID: sessionID)
            guard let session = session ?? named?.session, let handle = handle ?? named?.handle else { return [] }
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
        if let token { message["token"] = token }
        if let secret = dialect.apiSecret { message["apisecret"] = secret }
        let data = try JSONSerialization.data(withJSONObject: message, options: [.sortedKeys])
        return .text(String(decoding: data, as: UTF8.self))
    }

    private mutating func pluginMessage(_ body: [String: Any], _ purpose: Purpose) throws -> WireFrame {
        try frame(["janus": "message", "session_id": session ?? 0, "handle_id": handle ?? 0, "body": body], purpose)
    }

    private mutating func attach() throws -> WireFrame {
        var body: [String: Any] = ["janus": "attach", "session_id": session ?? 0, "plugin": "janus.plugin.videoroom"]
        if let opaque = dialect.opaqueID { body["opaque_id"] = opaque }
        return try frame(body, .attach)
    }

    private mutating func joinRoom() throws -> WireFrame {
        var body: [String: Any] = ["request": "join", "ptype": "publisher", "room": dialect.room.jsonValue, "display": dialect.display]
        if let pin = dialect.pin { body["pin"] = pin }
        return try pluginMessage(body, .join)
    }

    private mutating func createRoom() throws -> WireFrame {
        var body: [String: Any] = [
            "request": "create", "room": dialect.room.jsonValue, "publishers": 100, "permanent": false, "notify_joining": true,
        ]
        if let pin = dialect.pin { body["pin"] = pin }
        if let secret = dialect.roomSecret { body["secret"] = secret }
        if let key = dialect.adminKey { body["admin_key"] = key }
        return try pluginMessage(body, .createRoom)
    }

    /// The step after `info` (and after the stale session's destroy).
    private mutating func firstStep() throws -> [CodecOutput] {
        if let stale = staleSession {
            staleSession = nil
            destroyingStaleSession = stale
            return [.send(try frame(["janus": "destroy", "session_id": stale], .destroyStale))]
        }
        switch goal {
        case .claim:
            return [.send(try frame(["janus": "claim", "session_id": session ?? 0], .claim))]
        case .create:
            return [.send(try frame(["janus": "create"], .create))]
        case .cleanup:
            return [.event(.joinAccepted(answer(sfuSessionID: "", reconnected: false, participants: 0)))]
        }
    }

    /// The ids of the session this connection joined, once it has them.
    private var resumeState: JanusResumeState? {
        guard let session, let handle else { return nil }
        return JanusResumeState(session: session, handle: handle, participant: participant)
    }

    private func answer(sfuSessionID: String, reconnected: Bool, participants: Int) -> JoinAnswer {
        JoinAnswer(
            sfuSessionID: sfuSessionID, reconnected: reconnected, fastReconnectWindow: reclaimTimeout,
            participantCount: participants,
            // A third of Janus's idle timeout: two keepalives may go missing before it
            // expires the session.
            // 0 means Janus never expires idle sessions.
            healthCheckCeiling: sessionTimeout.flatMap { $0 > .zero ? $0 / 3 : nil },
            staleSessionDestroyed: destroyedStaleSession.map(String.init),
            rejoinedRoom: rejoinedRoom,
            valueProblems: valueProblems,
            resumeState: resumeState?.text)
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
        return unsolicited(kind, message: message)
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
            return try error(message, purpose: purpose)
        }
        switch purpose {
        case .info:
            readWindows(message)
            return try firstStep()
        case .destroyStale:
            destroyedStaleSession = destroyingStaleSession
            return try firstStep()
        case .create:
            guard let id = Self.dataID(message) else { throw UndecodableFrame(dialect: "janus", detail: "create answered without a session id") }
            session = id
            return [.send(try attach())]
        case .attach:
            guard let id = Self.dataID(message) else { throw UndecodableFrame(dialect: "janus", detail: "attach answered without a handle id") }
            handle = id
            return [.send(dialect.createRoom ? try createRoom() : try joinRoom())]
        case .createRoom:
            let data = Self.pluginData(message)
            if let code = (data?["error_code"] as? NSNumber)?.intValue, code != 427 {
                return report(.refused(request: "createRoom", code: code, reason: data?["error"] as? String ?? "room create failed"))
            }
            return [.send(try joinRoom())]
        case .join:
            return try joinAnswer(message)
        case .claim:
            // Events sent while we were away are lost: ask the room whether we are still in it.
            return [.send(try pluginMessage(["request": "listparticipants", "room": dialect.room.jsonValue], .verifyPresence))]
        case .verifyPresence:
            return try presenceAnswer(message)
        case .keepalive, .leave, .destroy, .detachOld:
            return []
        }
    }

    private mutating func error(_ message: [String: Any], purpose: Purpose) throws -> [CodecOutput] {
        let error = message["error"] as? [String: Any]
        let code = (error?["code"] as? NSNumber)?.intValue ?? 0
        let reason = error?["reason"] as? String ?? "unknown error"
        switch purpose {
        case .info:
            // A Janus that will not say its windows still serves: the policy's apply.
            return try firstStep()
        case .destroyStale:
            // 458: the stale session is already gone, which is what we wanted. Anything
            // else (403 with an expired token) leaves it there: a cleanup must retry.
            guard code == 458 || goal != .cleanup else {
                return report(.staleDestroyRefused(code: code, reason: reason))
            }
            return try firstStep()
        case .keepalive:
            // 458: the session expired or Janus restarted; resuming it is impossible.
            return report(.keepaliveRefused(code: code, reason: reason))
        case .claim:
            // 458: the session is gone (expired or the server restarted): REJOIN.
            return report(.claimRefused(code: code, reason: reason))
        case .leave, .destroy, .detachOld:
            return []
        case .create:
            // 472: this node accepts no new sessions; another node may.
            return report(.refused(request: "create", code: code, reason: reason))
        case .attach, .createRoom, .join, .verifyPresence:
            return report(.refused(request: "\(purpose)", code: code, reason: reason))
        }
    }

    private mutating func presenceAnswer(_ message: [String: Any]) throws -> [CodecOutput] {
        let data = Self.pluginData(message)
        let participants = data?["participants"] as? [[String: Any]] ?? []
        let present = participants.contains { entry in
            if let participant { return Self.text(entry["id"]) == participant }
            // A session id stored by an earlier version names no participant: match the display.
            return entry["display"] as? String == dialect.display
        }
        if present, let session, let handle {
            return [.event(.joinAccepted(answer(
                sfuSessionID: JanusResumeState(session: session, handle: handle, participant: participant).displayID,
                reconnected: true, participants: participants.count)))]
        }
        // Kicked or the room re-created while we were away: join again on a fresh handle
        // (the old one is detached, not reused: Janus may still hold its state).
        rejoinedRoom = true
        var outputs: [CodecOutput] = []
        if let old = handle {
            outputs.append(.send(try frame(["janus": "detach", "session_id": session ?? 0, "handle_id": old], .detachOld)))
        }
        handle = nil
        participant = nil
        outputs.append(.send(try attach()))
        return outputs
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
            return report(code == 426 ? .roomMissing(reason: reason) : .refused(request: "join", code: code, reason: reason))
        }
        guard data?["videoroom"] as? String == "joined", let session, let handle else { return [] }
        participant = PeerLimits.id(Self.text(data?["id"]))
        let publishers = (data?["publishers"] as? [Any])?.count ?? 0
        let attendees = (data?["attendees"] as? [Any])?.count ?? 0
        return [.event(.joinAccepted(answer(
            sfuSessionID: JanusResumeState(session: session, handle: handle, participant: participant).displayID,
            reconnected: goal == .claim, participants: publishers + attendees + 1)))]
    }

    private func unsolicited(_ kind: String, message: [String: Any]) -> [CodecOutput] {
        switch kind {
        case "timeout":
            return report(.sessionTimedOut)
        case "detached":
            guard let sender = (message["sender"] as? NSNumber)?.int64Value, sender == handle else { return [] }
            return report(.handleDetached(sender))
        case "event":
            return pluginEvent(Self.pluginData(message))
        default:
            // webrtcup, media, slowlink, hangup, trickle: nothing to act on here.
            return []
        }
    }

    private func pluginEvent(_ data: [String: Any]?) -> [CodecOutput] {
        guard let data else { return [] }
        if data["videoroom"] as? String == "destroyed" {
            return report(.roomDestroyed)
        }
        if data["leaving"] as? String == "ok" {
            // Sent to the participant that left: after our own leave, or a kick.
            guard data["reason"] as? String == "kicked" else { return [] }
            return [.event(.removed(code: "kicked", message: "a moderator removed the participant from room \(dialect.room)"))]
        }
        var outputs: [CodecOutput] = []
        if let joining = data["joining"] as? [String: Any], let id = (joining["id"] as? NSNumber)?.int64Value {
            outputs.append(.event(.participantJoined(userID: joining["display"] as? String ?? "", sessionID: String(id))))
        }
        if let kicked = Self.text(data["kicked"]), kicked == participant {
            // Our own kick, told the room's way: the decision stands all the same.
            return [.event(.removed(code: "kicked", message: "a moderator removed the participant from room \(dialect.room)"))]
        }
        for key in ["leaving", "kicked"] {
            if let gone = Self.text(data[key]) {
                outputs.append(.event(.participantLeft(userID: "", sessionID: gone)))
            }
        }
        return outputs
    }

    /// A fact the session must act on, as the dialect maps it.
    private func report(_ fact: JanusFact) -> [CodecOutput] {
        [.event(.sfuError(dialect.error(for: fact)))]
    }

    /// A Janus id as text: ids are numbers, or strings with `string_ids`.
    static func text(_ value: Any?) -> String? {
        if let number = value as? NSNumber { return number.stringValue }
        return value as? String
    }

    /// The node's windows from `info`, each checked against ``PeerLimits`` before it
    /// becomes a `Duration`: a Janus that announces `Int64.max` seconds gets a clamped
    /// window and a recorded `bad_value`, not a trap in the timer that adds it to now.
    private mutating func readWindows(_ info: [String: Any]) {
        let idle = PeerLimits.seconds(
            info["session-timeout"], field: "session-timeout",
            range: PeerLimits.minSessionTimeoutSeconds...PeerLimits.maxSessionTimeoutSeconds)
        // 0 is Janus's "never expires": kept as said, below the range on purpose.
        let idleIsNever = (info["session-timeout"] as? NSNumber)?.doubleValue == 0
        sessionTimeout = idleIsNever ? .zero : idle.value.map { .seconds($0) }
        let reclaim = PeerLimits.seconds(
            info["reclaim-session-timeout"], field: "reclaim-session-timeout",
            range: 0...PeerLimits.maxFastReconnectWindowSeconds)
        reclaimTimeout = reclaim.value.map { .seconds($0) }
        valueProblems = [idleIsNever ? nil : idle.problem, reclaim.problem].compactMap { $0 }
    }

    static func dataID(_ message: [String: Any]) -> Int64? {
        ((message["data"] as? [String: Any])?["id"] as? NSNumber)?.int64Value
    }

    static func pluginData(_ message: [String: Any]) -> [String: Any]? {
        (message["plugindata"] as? [String: Any])?["data"] as? [String: Any]
    }
}
