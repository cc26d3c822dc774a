import TetherEvents

/// What one session needs to join and stay joined.
public struct SessionConfiguration: Sendable, Equatable {
    public var id: String
    public var callID: String
    public var userID: String
    /// The SFU's token; never logged, never returned.
    public var token: String
    /// The primary SFU node first, then the nodes to migrate to.
    public var sfuURLs: [String]
    public var policy: ReconnectPolicy

    public init(id: String, callID: String, userID: String, token: String, sfuURLs: [String], policy: ReconnectPolicy) {
        self.id = id
        self.callID = callID
        self.userID = userID
        self.token = token
        self.sfuURLs = sfuURLs
        self.policy = policy
    }
}
