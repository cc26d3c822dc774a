import Foundation
import TetherEvents

/// The Janus WebRTC Server's WebSocket API (JSON, subprotocol `janus-protocol`), with
/// the videoroom plugin: join = info → (destroy a stale session) → create → attach →
/// (create room) → join as a publisher; health check = keepalive/ack; FAST = claim on
/// a new socket, then a check that the participant is still in the room; leave =
/// leave + destroy.
public struct JanusDialect: SignalingDialect {
    public var room: JanusRoom
    public var display: String
    /// Create the room when it does not exist (also again after a Janus restart).
    public var createRoom: Bool
    /// The room's `pin`, sent with the join (and set on a room we create).
    public var pin: String?
    /// The room's `secret`, set on a room we create.
    public var roomSecret: String?
    /// The videoroom plugin's `admin_key`, needed to create rooms when Janus sets one.
    public var adminKey: String?
    /// Janus's `api_secret`, sent as `apisecret` with every request.
    public var apiSecret: String?
    /// Set as each handle's `opaque_id`, so Janus's admin API and event handlers can
    /// tell which Tether session a handle belongs to.
    public var opaqueID: String?

    public init(
        room: JanusRoom, display: String, createRoom: Bool, pin: String? = nil, roomSecret: String? = nil,
        adminKey: String? = nil, apiSecret: String? = nil, opaqueID: String? = nil
    ) {
        self.room = room
        self.display = display
        self.createRoom = createRoom
        self.pin = pin
        self.roomSecret = roomSecret
        self.adminKey = adminKey
        self.apiSecret = apiSecret
        self.opaqueID = opaqueID
    }

    public var name: String { "janus" }
    public var webSocketSubprotocol: String? { "janus-protocol" }
    public func makeCodec() -> any SignalingCodec { JanusCodec(dialect: self) }
    /// A claim works from any socket, ours after a restart too.
    public var resumesAcrossRestarts: Bool { true }
    /// A lost Janus session stays in the room until `reclaim_session_timeout` or
    /// `session_timeout` (30–60 s): a REJOIN must destroy it, or the room shows two agents.
    public var leavesStaleSessions: Bool { true }
}
