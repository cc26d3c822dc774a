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

/// The `janus` dialect's options: the videoroom, as stored with the session.
struct JanusOptions: Codable, Sendable, Equatable {
    var room: Int64
    var display: String
    var createRoom: Bool

    enum CodingKeys: String, CodingKey {
        case room, display
        case createRoom = "create_room"
    }
}
