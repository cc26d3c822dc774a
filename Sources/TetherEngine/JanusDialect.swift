import Foundation
import TetherEvents

/// The Janus WebRTC Server's WebSocket API (JSON, subprotocol `janus-protocol`), with
/// the videoroom plugin: join = create → attach → (create room) → join as a publisher;
/// health check = keepalive/ack; FAST = claim on a new socket; leave = leave + destroy.
public struct JanusDialect: SignalingDialect {
    public var room: Int64
    public var display: String
    /// Create the room when it does not exist (also again after a Janus restart).
    public var createRoom: Bool

    public init(room: Int64, display: String, createRoom: Bool) {
        self.room = room
        self.display = display
        self.createRoom = createRoom
    }

    public var name: String { "janus" }
    public var webSocketSubprotocol: String? { "janus-protocol" }
    public func makeCodec() -> any SignalingCodec { JanusCodec(dialect: self) }

    /// Tether's SFU session id for Janus: "<session id>:<handle id>".
    static func sessionID(session: Int64, handle: Int64) -> String { "\(session):\(handle)" }

    static func parse(sessionID: String) -> (session: Int64, handle: Int64)? {
        let parts = sessionID.split(separator: ":")
        guard parts.count == 2, let session = Int64(parts[0]), let handle = Int64(parts[1]) else { return nil }
        return (session, handle)
    }
}

/// Janus said the session is gone (a `timeout` event, or 458 to a keepalive): a loss.
struct JanusSessionLost: Error, CustomStringConvertible {
    var description: String
}
