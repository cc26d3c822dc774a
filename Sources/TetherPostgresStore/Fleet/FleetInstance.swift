/// One row of `GET /v1/instances`: an instance of the fleet as the database sees it.
public struct FleetInstance: Sendable, Equatable {
    /// `serving` and `draining` while its lease holds; `fenced` once the lease expired
    /// on the database's clock (by the self-fencing rule it no longer acts as an agent)
    /// until a peer's sweep declares it `dead`; `left` after a clean stop.
    public var id: String
    public var state: String
    public var incarnation: Int64
    public var address: String
    public var startedAtMs: Int64
    public var capacity: Int64
    /// Live sessions it owns now.
    public var sessions: Int64
    public var leaseExpiresAtMs: Int64
    public var lastRenewalAtMs: Int64

    public init(
        id: String, state: String, incarnation: Int64, address: String, startedAtMs: Int64, capacity: Int64, sessions: Int64,
        leaseExpiresAtMs: Int64, lastRenewalAtMs: Int64
    ) {
        self.id = id
        self.state = state
        self.incarnation = incarnation
        self.address = address
        self.startedAtMs = startedAtMs
        self.capacity = capacity
        self.sessions = sessions
        self.leaseExpiresAtMs = leaseExpiresAtMs
        self.lastRenewalAtMs = lastRenewalAtMs
    }
}
