import TetherEngine
import TetherEvents

/// A validated create request, independent of the generated API types.
struct CreateSessionRequest: Sendable, Equatable {
    var callID: String
    var userID: String
    var dialect: String
    var sfuURLs: [String]
    var token: String
    var policy: ReconnectPolicy
    var metadata: [String: String]
    var janus: JanusOptions?
    var idempotencyKey: String?

    /// Identifies the request's content, to tell a retry from a different request that
    /// reuses an Idempotency-Key. The SFU token is left out: a retry may carry a
    /// refreshed one, and a secret has no business in a comparison key.
    var fingerprint: String {
        let parts: [String] = [
            callID, userID, dialect, sfuURLs.joined(separator: ","),
            metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&"),
            "\(PolicyDocument(policy))",
            janus.map { "\($0.room)/\($0.display)/\($0.createRoom)" } ?? "",
        ]
        return parts.joined(separator: "|")
    }
}

/// The `janus` dialect's options: the videoroom and the secrets Janus asks for, as
/// stored with the session (secrets only while it lives).
struct JanusOptions: Codable, Sendable, Equatable {
    var room: JanusRoom
    var display: String
    var createRoom: Bool
    var pin: String?
    var roomSecret: String?
    var adminKey: String?
    var apiSecret: String?

    enum CodingKeys: String, CodingKey {
        case room, display, pin
        case createRoom = "create_room"
        case roomSecret = "room_secret"
        case adminKey = "admin_key"
        case apiSecret = "api_secret"
    }

    /// The options once the session has ended: nothing left to authenticate with.
    var withoutSecrets: JanusOptions {
        JanusOptions(room: room, display: display, createRoom: createRoom)
    }

    func dialect(sessionID: String) -> JanusDialect {
        JanusDialect(
            room: room, display: display, createRoom: createRoom, pin: pin, roomSecret: roomSecret,
            adminKey: adminKey, apiSecret: apiSecret, opaqueID: sessionID)
    }
}
