import NIOCore
import StreamSFUProtocol

/// Everything the simulated SFU knows: connections, sessions, calls, armed faults and
/// counters. Lives inside a lock in ``SFUSimulator``; methods only compute, callers do I/O.
struct SimulatorRegistry {
    struct Session {
        var id: String
        var callCID: String
        var userID: String
        var link: ObjectIdentifier?
        /// When its socket went away; FAST can resume it until the deadline passes.
        var lostAt: NIODeadline?
        /// How it last joined: `join`, `fast`, `rejoin` or `migrate`.
        var joinKind = "join"
        /// The session a REJOIN or MIGRATE named as its predecessor.
        var previousSessionID: String?
        /// The node a MIGRATE named as the one it left.
        var migratedFrom: String?
        var fastResumes = 0
        /// The `exp` of the token it last joined with.
        var tokenExpiresAt: Int64?
    }

    struct Counters: Codable, Equatable {
        var connectionsAccepted = 0
        var joins = 0
        var fastResumes = 0
        var fastRejected = 0
        var rejectedJoins = 0
        var leaves = 0
        var healthChecksAnswered = 0
        var healthChecksIgnored = 0
        /// The most WebSocket joins (any kind) seen within one wall-clock second.
        var peakJoinsPerSecond = 0
        var peakConnectionsPerSecond = 0
    }

    var links: [ObjectIdentifier: ParticipantLink] = [:]
    var linkSessions: [ObjectIdentifier: String] = [:]
    var sessions: [String: Session] = [:]
    var calls: [String: Set<String>] = [:]
    var healthFrozenUntil: NIODeadline?
    var joinsToReject = 0
    var joinsToDelay = 0
    var joinDelayMilliseconds = 0
    var joinsToDropAfter = 0
    var dropAfterJoinMilliseconds = 0
    var rejectCode: SfuErrorCode = .sfuFull
    var rejectStrategy: SfuReconnectStrategy = .unspecified
    var counters = Counters()
    var participants = ParticipantLedger()
    private var joinSecond: Int64 = 0
    private var joinsThisSecond = 0
    private var connectSecond: Int64 = 0
    private var connectsThisSecond = 0

    mutating func countConnection(nowSeconds: Int64) {
        counters.connectionsAccepted += 1
        if nowSeconds != connectSecond { connectSecond = nowSeconds; connectsThisSecond = 0 }
        connectsThisSecond += 1
        counters.peakConnectionsPerSecond = max(counters.peakConnectionsPerSecond, connectsThisSecond)
    }

    mutating func countJoin(nowSeconds: Int64) {
        if nowSeconds != joinSecond { joinSecond = nowSeconds; joinsThisSecond = 0 }
        joinsThisSecond += 1
        counters.peakJoinsPerSecond = max(counters.peakJoinsPerSecond, joinsThisSecond)
    }

    /// Other connected participants of `callCID`.
    func peers(of sessionID: String, in callCID: String) -> [ParticipantLink] {
        (calls[callCID] ?? []).compactMap { id in
            guard id != sessionID, let link = sessions[id]?.link else { return nil }
            return links[link]
        }
    }

    /// Removes a session for good, returning who must hear `participant_left`.
    mutating func remove(sessionID: String) -> (session: Session, peers: [ParticipantLink])? {
        guard let session = sessions.removeValue(forKey: sessionID) else { return nil }
        calls[session.callCID]?.remove(sessionID)
        if calls[session.callCID]?.isEmpty == true { calls[session.callCID] = nil }
        if let link = session.link { linkSessions[link] = nil }
        return (session, peers(of: sessionID, in: session.callCID))
    }

    func participants(in callCID: String) -> [SfuParticipant] {
        (calls[callCID] ?? []).sorted().compactMap { id in
            guard let session = sessions[id] else { return nil }
            var participant = SfuParticipant()
            participant.userID = session.userID
            participant.sessionID = session.id
            return participant
        }
    }
}
