/// How to get a lost session back, as in the Stream SDKs.
public enum ReconnectStrategy: String, Sendable, Codable, CaseIterable {
    /// A new socket that resumes the same SFU session.
    case fast
    /// A new SFU session that joins the call again, naming the previous one.
    case rejoin
    /// Join through another SFU node, telling it which node we came from.
    case migrate
    /// Leave, and make no more attempts.
    case disconnect
}
