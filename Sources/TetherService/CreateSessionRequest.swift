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
    var idempotencyKey: String?

    /// Identifies the request's content, to tell a retry from a different request that
    /// reuses an Idempotency-Key. The token is left out on purpose: only its length counts.
    var fingerprint: String {
        let parts: [String] = [
            callID, userID, dialect, sfuURLs.joined(separator: ","), String(token.count),
            metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&"),
            "\(PolicyDocument(policy))",
        ]
        return parts.joined(separator: "|")
    }
}
