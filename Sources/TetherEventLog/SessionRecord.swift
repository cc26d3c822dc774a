import GRDB
import TetherEvents

/// One row of `sessions`: what a session is, where it is, and how it has fared.
public struct SessionRecord: Codable, Sendable, Hashable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "sessions"

    public var seq: Int64?
    public var id: String
    public var state: String
    public var callID: String
    public var userID: String
    public var dialect: String
    /// JSON array of URLs.
    public var sfuURLs: String
    /// The SFU's token: stored to resume after a restart, never returned or logged.
    public var sfuToken: String
    public var dialectOptions: String?
    /// JSON object, milliseconds.
    public var policy: String
    /// JSON object of strings.
    public var metadata: String
    public var sfuURL: String
    public var sfuSessionID: String?
    /// The dialect's own state for resuming `sfuSessionID` (JSON it owns); nil for a
    /// dialect that needs none, and for rows written before it existed.
    public var resumeState: String?
    public var generation: Int64
    public var losses: Int
    public var reconnects: Int
    public var failedReconnects: Int
    /// Why the session ended, as the API shows it (`requested`, `join_failed: SFU_FULL`).
    public var endReason: String?
    /// The SFU's (or the transport's) code when the first join failed; nil otherwise.
    public var joinFailureCode: String?
    public var idempotencyKey: String?
    public var requestFingerprint: String?
    public var createdAtMs: Int64
    public var updatedAtMs: Int64
    public var endedAtMs: Int64?
    /// The fleet instance that runs the session (PostgreSQL store); nil while no one
    /// does (released, waiting to be claimed) and always on the SQLite store.
    public var ownerInstance: String?
    /// Bumped each time ownership changes hands: every write an owner makes is
    /// conditional on `(ownerInstance, epoch)`, so a former owner's writes match nothing.
    public var epoch: Int64

    enum CodingKeys: String, CodingKey {
        case seq, id, state, dialect, policy, metadata, generation, losses, reconnects
        case callID = "call_id", userID = "user_id", sfuURLs = "sfu_urls", sfuToken = "sfu_token"
        case dialectOptions = "dialect_options", sfuURL = "sfu_url", sfuSessionID = "sfu_session_id", resumeState = "resume_state"
        case failedReconnects = "failed_reconnects", endReason = "end_reason", joinFailureCode = "join_failure_code"
        case idempotencyKey = "idempotency_key", requestFingerprint = "request_fingerprint"
        case createdAtMs = "created_at_ms", updatedAtMs = "updated_at_ms", endedAtMs = "ended_at_ms"
        case ownerInstance = "owner_instance", epoch
    }

    public init(
        id: String, state: String, callID: String, userID: String, dialect: String, sfuURLs: String,
        sfuToken: String, dialectOptions: String?, policy: String, metadata: String, sfuURL: String,
        idempotencyKey: String?, requestFingerprint: String?, createdAtMs: Int64
    ) {
        self.id = id
        self.state = state
        self.callID = callID
        self.userID = userID
        self.dialect = dialect
        self.sfuURLs = sfuURLs
        self.sfuToken = sfuToken
        self.dialectOptions = dialectOptions
        self.policy = policy
        self.metadata = metadata
        self.sfuURL = sfuURL
        self.sfuSessionID = nil
        self.resumeState = nil
        self.generation = 0
        self.losses = 0
        self.reconnects = 0
        self.failedReconnects = 0
        self.endReason = nil
        self.joinFailureCode = nil
        self.idempotencyKey = idempotencyKey
        self.requestFingerprint = requestFingerprint
        self.createdAtMs = createdAtMs
        self.updatedAtMs = createdAtMs
        self.endedAtMs = nil
        self.ownerInstance = nil
        self.epoch = 0
    }

    /// Reads a row by column name, as the derived `Decodable` init would, without its
    /// keyed containers: that init looked each optional column up three times
    /// (`contains`, `decodeNil`, `decode`) and was 28 % of the CPU of a listing page
    /// of 100 sessions. A non-optional column that is NULL or missing throws; an
    /// optional one that is missing reads as nil, as before.
    public init(row: Row) throws {
        seq = row["seq"]
        id = try row.decode(String.self, forColumn: "id")
        state = try row.decode(String.self, forColumn: "state")
        callID = try row.decode(String.self, forColumn: "call_id")
        userID = try row.decode(String.self, forColumn: "user_id")
        dialect = try row.decode(String.self, forColumn: "dialect")
        sfuURLs = try row.decode(String.self, forColumn: "sfu_urls")
        sfuToken = try row.decode(String.self, forColumn: "sfu_token")
        dialectOptions = row["dialect_options"]
        policy = try row.decode(String.self, forColumn: "policy")
        metadata = try row.decode(String.self, forColumn: "metadata")
        sfuURL = try row.decode(String.self, forColumn: "sfu_url")
        sfuSessionID = row["sfu_session_id"]
        resumeState = row["resume_state"]
        generation = try row.decode(Int64.self, forColumn: "generation")
        losses = try row.decode(Int.self, forColumn: "losses")
        reconnects = try row.decode(Int.self, forColumn: "reconnects")
        failedReconnects = try row.decode(Int.self, forColumn: "failed_reconnects")
        endReason = row["end_reason"]
        joinFailureCode = row["join_failure_code"]
        idempotencyKey = row["idempotency_key"]
        requestFingerprint = row["request_fingerprint"]
        createdAtMs = try row.decode(Int64.self, forColumn: "created_at_ms")
        updatedAtMs = try row.decode(Int64.self, forColumn: "updated_at_ms")
        endedAtMs = row["ended_at_ms"]
        ownerInstance = row["owner_instance"]
        epoch = try row.decode(Int64.self, forColumn: "epoch")
    }

    public var isLive: Bool { !(SessionState(rawValue: state)?.isTerminal ?? true) }
}
