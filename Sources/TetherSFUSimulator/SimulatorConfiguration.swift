/// How a simulated SFU node behaves.
public struct SimulatorConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port.
    public var port: Int
    /// This node's id, sent nowhere but shown in the admin state (MIGRATE names nodes by URL).
    public var nodeID: String
    /// When set, tokens must carry a valid HS256 signature made with this secret.
    public var tokenSecret: String?
    /// How long a lost session stays resumable by FAST; sent as `fast_reconnect_deadline_seconds`.
    public var fastReconnectDeadlineSeconds: Int
    /// Accept tokens that carry no claims as an anonymous participant (for fuzzing the
    /// API with random tokens); never combined with a secret.
    public var acceptAnonymousTokens: Bool
    /// PEM certificate (chain) and key: when both are set the node serves `wss://`
    /// (and its admin surface `https://`) on its one port.
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?

    public init(
        host: String = "127.0.0.1", port: Int = 0, nodeID: String = "sfu", tokenSecret: String? = nil,
        fastReconnectDeadlineSeconds: Int = 10, acceptAnonymousTokens: Bool = false,
        tlsCertificatePath: String? = nil, tlsKeyPath: String? = nil
    ) {
        self.tlsCertificatePath = tlsCertificatePath
        self.tlsKeyPath = tlsKeyPath
        self.acceptAnonymousTokens = acceptAnonymousTokens
        self.host = host
        self.port = port
        self.nodeID = nodeID
        self.tokenSecret = tokenSecret
        self.fastReconnectDeadlineSeconds = fastReconnectDeadlineSeconds
    }
}
