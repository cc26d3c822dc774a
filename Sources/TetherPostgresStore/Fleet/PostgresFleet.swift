import Foundation
import Logging
import PostgresNIO
import TetherEventLog
import TetherEvents

/// The fleet's statements: instances and their leases, the sweep that declares dead
/// instances and releases their sessions, claims, hand-overs and commands.
///
/// Leases are judged on the database's clock (`expires_at = now() + ttl`), never on an
/// instance's: a peer whose clock is a minute off still sees the same expiry. Every
/// statement that makes this instance act (renew, claim) requires its lease to be valid
/// *now* on that clock, in the same statement.
public struct PostgresFleet: Sendable {
    public let instanceID: String
    let store: PostgresStore
    /// Registrations and renewals: never behind a claim or a sweep.
    let leaseConnection: FleetConnection
    /// Sweeps, claims, capacity reads, hand-overs.
    let connection: FleetConnection
    let logger: Logger

    /// The channel every instance listens on; payloads say what changed
    /// (``Notification``).
    static let channel = "tether_fleet"

    public init(url: PostgresURL, store: PostgresStore, instanceID: String, logger: Logger) throws {
        self.instanceID = instanceID
        self.store = store
        self.logger = logger
        leaseConnection = try FleetConnection(url: url, connectTimeout: .seconds(5), logger: logger)
        connection = try FleetConnection(url: url, connectTimeout: .seconds(5), logger: logger)
    }

    static let terminal = [SessionState.left.rawValue, SessionState.failed.rawValue, SessionState.ended.rawValue]

    // MARK: - Instances and leases

    public enum Registration: Sendable, Equatable {
        case registered(incarnation: Int64)
        /// Another live instance holds this id's lease until then (ms since 1970, the
        /// database's clock).
        case held(untilMs: Int64)
    }

    /// Registers this instance with a fresh lease and a new incarnation, releasing every
    /// session a former incarnation owned (none of them runs here now). `previous`: the
    /// incarnation this process held before it fenced; its own lease is no obstacle.
    public func register(
        address: String, capacity: Int, ttl: Duration, previous: Int64?, within limit: Duration
    ) async throws -> Registration {
        let id = instanceID
        let ttlMs = ttl.milliseconds
        let terminal = Self.terminal
        let logger = logger
        return try await leaseConnection.transaction("the registration", within: limit) { connection in
            let existing = try await connection.query("""
                SELECT incarnation, state, (expires_at > now()) AS live, (extract(epoch FROM expires_at) * 1000)::bigint
                FROM instances WHERE id = \(id) FOR UPDATE
                """, logger: logger).collect().first?.decode((Int64, String, Bool, Int64).self)
            if let (incarnation, state, live, untilMs) = existing, live, state == "serving" || state == "draining", incarnation != previous {
                return .held(untilMs: untilMs)
            }
            let incarnation = try await connection.query("""
                INSERT INTO instances (id, incarnation, address, state, started_at, capacity, sessions, expires_at, renewed_at)
                VALUES (\(id), 1, \(address), 'serving', now(), \(Int64(capacity)), 0, now() + \(ttlMs) * interval '1 millisecond', now())
                ON CONFLICT (id) DO UPDATE SET incarnation = instances.incarnation + 1, address = EXCLUDED.address, state = 'serving',
                    started_at = EXCLUDED.started_at, capacity = EXCLUDED.capacity, sessions = 0, expires_at = EXCLUDED.expires_at,
                    renewed_at = EXCLUDED.renewed_at
                RETURNING incarnation
                """, logger: logger).collect().first?.decode(Int64.self) ?? 1
            // A released row is not joined while no instance holds its socket (a create
            // still `connecting` stays so: a claimer knows it was never answered).
            let released = try await connection.query("""
                UPDATE sessions SET owner_instance = NULL, epoch = epoch + 1, state = CASE WHEN state = 'joined' THEN 'reconnecting' ELSE state END, released_from = \(id), release_kind = 'restart'
                WHERE owner_instance = \(id) AND NOT (state = ANY(\(terminal)))
                RETURNING 1
                """, logger: logger).collect().count
            if released > 0 { try await Self.notify(.claimable, on: connection, logger: logger) }
            return .registered(incarnation: incarnation)
        }
    }

    /// Both of the store's pools hand out a connection within `limit`. After a partition
    /// a pool may still be backing off its reconnects (postgres-nio waits up to a minute
    /// between failed attempts) while the fleet's own connections already answer: an
    /// instance that rejoined then would say `serving` yet answer 503 to every write.
    public func storeAnswers(within limit: Duration) async throws {
        try await store.pools.writer.query("SELECT 1", leaseTimeout: limit)
        try await store.pools.reader.query("SELECT 1", leaseTimeout: limit)
    }

    /// One statement, whatever the session count: pushes the lease to `now() + ttl` if it
    /// is still this incarnation's and still valid. False: the lease is lost (a peer
    /// declared this instance dead, or a newer incarnation took the id).
    public func renew(incarnation: Int64, ttl: Duration, load: Int, address: String, within limit: Duration) async throws -> Bool {
        let id = instanceID
        let ttlMs = ttl.milliseconds
        let logger = logger
        return try await leaseConnection.transaction("the lease renewal", within: limit) { connection in
            try await connection.query("""
                UPDATE instances SET expires_at = now() + \(ttlMs) * interval '1 millisecond', renewed_at = now(), sessions = \(Int64(load)),
                    address = \(address)
                WHERE id = \(id) AND incarnation = \(incarnation) AND state IN ('serving', 'draining') AND expires_at > now()
                RETURNING 1
                """, logger: logger).collect().count == 1
        }
    }

    /// Declares dead every instance whose lease expired more than `grace` ago (on the
    /// database's clock) and releases its live sessions (owner NULL, epoch + 1), in one
    /// transaction. Returns the dead instances' ids. Rows of instances gone for a day,
    /// and answered commands older than an hour, are removed on the way.
    public func sweep(grace: Duration, within limit: Duration) async throws -> [String] {
        let graceMs = grace.milliseconds
        let terminal = Self.terminal
        let logger = logger
        return try await connection.transaction("the sweep", within: limit) { connection in
            let dead = try await connection.query("""
                UPDATE instances SET state = 'dead'
                WHERE state IN ('serving', 'draining') AND expires_at + \(graceMs) * interval '1 millisecond' < now()
                RETURNING id
                """, logger: logger).collect().map { try $0.decode(String.self) }
            if !dead.isEmpty {
                try await connection.query("""
                    UPDATE sessions SET owner_instance = NULL, epoch = epoch + 1, state = CASE WHEN state = 'joined' THEN 'reconnecting' ELSE state END, released_from = owner_instance, release_kind = 'dead'
                    WHERE owner_instance = ANY(\(dead)) AND NOT (state = ANY(\(terminal)))
                    """, logger: logger)
                try await Self.notify(.claimable, on: connection, logger: logger)
            }
            try await connection.query(
                "DELETE FROM instances WHERE state IN ('dead', 'left') AND renewed_at < now() - interval '1 day'", logger: logger)
            try await connection.query(
                "DELETE FROM session_commands WHERE status <> 'pending' AND created_at < now() - interval '1 hour'", logger: logger)
            return dead
        }
    }

    /// Takes up to `limit` live sessions no one owns, oldest first, skipping rows another
    /// claimer holds (`FOR UPDATE SKIP LOCKED`); only while this incarnation's lease is
    /// valid. Each claimed row gets this owner and a new epoch.
    public func claim(incarnation: Int64, limit: Int, within bound: Duration) async throws -> [ClaimedSession] {
        guard limit > 0 else { return [] }
        let id = instanceID
        let terminal = Self.terminal
        let logger = logger
        return try await connection.transaction("the claim", within: bound) { connection in
            let rows = try await connection.query("""
                WITH me AS (
                    SELECT 1 FROM instances
                    WHERE id = \(id) AND incarnation = \(incarnation) AND state = 'serving' AND expires_at > now()
                ), free AS (
                    SELECT id FROM sessions
                    WHERE owner_instance IS NULL AND NOT (state = ANY(\(terminal))) AND EXISTS (SELECT 1 FROM me)
                    ORDER BY seq LIMIT \(Int64(limit)) FOR UPDATE SKIP LOCKED
                )
                UPDATE sessions SET owner_instance = \(id), epoch = sessions.epoch + 1
                FROM free WHERE sessions.id = free.id
                RETURNING sessions.*
                """, logger: logger).collect()
            return try rows.map { row in
                let access = row.makeRandomAccess()
                return ClaimedSession(
                    record: try SessionRecord(postgres: access), releasedFrom: try access.value("released_from"),
                    release: (try access.value("release_kind", as: String?.self)).flatMap(ClaimedSession.Release.init(rawValue:)))
            }
        }
    }

    /// What the fleet could still take: the free places of every serving instance whose
    /// lease is valid (its capacity less the live sessions it owns now, counted, not its
    /// load at the last renewal), this one's included unless `othersOnly`, and how many
    /// live sessions wait for an owner.
    public func capacity(othersOnly: Bool = false, within limit: Duration) async throws -> (free: Int, unowned: Int) {
        let terminal = Self.terminal
        let excluded = othersOnly ? instanceID : ""
        let logger = logger
        return try await connection.transaction("the capacity", within: limit) { connection in
            let row = try await connection.query("""
                SELECT
                    (SELECT coalesce(sum(greatest(i.capacity - (
                         SELECT count(*) FROM sessions s WHERE s.owner_instance = i.id AND NOT (s.state = ANY(\(terminal)))), 0)), 0)::bigint
                     FROM instances i WHERE i.state = 'serving' AND i.expires_at > now() AND i.id <> \(excluded)),
                    (SELECT count(*) FROM sessions WHERE owner_instance IS NULL AND NOT (state = ANY(\(terminal)))) AS unowned
                """, logger: logger).collect().first?.decode((Int64, Int64).self)
            return (Int(row?.0 ?? 0), Int(row?.1 ?? 0))
        }
    }

    /// Hands `sessions` (this instance's, whose sockets are already closed) to the fleet:
    /// released with `handover`, a new epoch, and a wake-up for claimers; then marks this
    /// instance `left` when `leaving`.
    @discardableResult
    public func handOver(_ sessions: [String], incarnation: Int64, leaving: Bool, within limit: Duration) async throws -> Int {
        let id = instanceID
        let terminal = Self.terminal
        let logger = logger
        return try await connection.transaction("the hand-over", within: limit) { connection in
            let released = try await connection.query("""
                UPDATE sessions SET owner_instance = NULL, epoch = epoch + 1, state = CASE WHEN state = 'joined' THEN 'reconnecting' ELSE state END, released_from = \(id), release_kind = 'handover'
                WHERE owner_instance = \(id) AND id = ANY(\(sessions)) AND NOT (state = ANY(\(terminal)))
                RETURNING 1
                """, logger: logger).collect().count
            if leaving {
                try await connection.query(
                    "UPDATE instances SET state = 'left', expires_at = now() WHERE id = \(id) AND incarnation = \(incarnation)", logger: logger)
            }
            if released > 0 { try await Self.notify(.claimable, on: connection, logger: logger) }
            return released
        }
    }

    /// Marks this instance `draining`: peers place no new session on it.
    public func markDraining(incarnation: Int64, within limit: Duration) async throws {
        let id = instanceID
        let logger = logger
        try await connection.transaction("marking the instance draining", within: limit) { connection in
            try await connection.query(
                "UPDATE instances SET state = 'draining' WHERE id = \(id) AND incarnation = \(incarnation) AND state = 'serving'",
                logger: logger)
        }
    }

    /// Every instance the database knows, by id, with its state judged on the
    /// database's clock.
    public func instances() async throws -> [FleetInstance] {
        let terminal = Self.terminal
        let rows = try await store.pools.reader.query("""
            SELECT i.id, i.incarnation, i.address,
                   CASE WHEN i.state IN ('serving', 'draining') AND i.expires_at <= now() THEN 'fenced' ELSE i.state END,
                   (extract(epoch FROM i.started_at) * 1000)::bigint, i.capacity,
                   (SELECT count(*) FROM sessions s WHERE s.owner_instance = i.id AND NOT (s.state = ANY(\(terminal)))),
                   (extract(epoch FROM i.expires_at) * 1000)::bigint, (extract(epoch FROM i.renewed_at) * 1000)::bigint
            FROM instances i ORDER BY i.id
            """, logger: logger)
        return try rows.map { row in
            let (id, incarnation, address, state, started, capacity, sessions, expires, renewed) =
                try row.decode((String, Int64, String, String, Int64, Int64, Int64, Int64, Int64).self)
            return FleetInstance(
                id: id, state: state, incarnation: incarnation, address: address, startedAtMs: started, capacity: capacity,
                sessions: sessions, leaseExpiresAtMs: expires, lastRenewalAtMs: renewed)
        }
    }

    /// The instance that owns `sessionID` and whether its lease is valid now (false
    /// once it expired, whether or not a sweep has declared it dead yet).
    public func owner(of sessionID: String) async throws -> (record: SessionRecord, ownerLive: Bool)? {
        let rows = try await store.pools.reader.query("""
            SELECT s.*, coalesce((SELECT i.state IN ('serving', 'draining') AND i.expires_at > now()
                                  FROM instances i WHERE i.id = s.owner_instance), false) AS owner_live
            FROM sessions s WHERE s.id = \(sessionID)
            """, logger: logger)
        guard let row = rows.collect().first?.makeRandomAccess() else { return nil }
        return (try SessionRecord(postgres: row), try row.value("owner_live"))
    }

    // MARK: - Placement

    /// Stores a new session no instance runs yet (this one has no room): the first
    /// instance with room claims it and joins it. Its events are written by that owner.
    public func place(_ record: SessionRecord) async throws {
        var record = record
        record.ownerInstance = nil
        record.epoch = 0
        let placed = record
        let logger = logger
        try await store.pools.writer.withTransaction(logger: logger) { connection in
            try await PostgresStore.upsert([placed], on: connection, logger: logger)
            try await connection.query("UPDATE sessions SET release_kind = 'placement' WHERE id = \(placed.id)", logger: logger)
            try await Self.notify(.claimable, on: connection, logger: logger)
        }
    }

    // MARK: - Commands

    /// Writes a command for the owner of `sessionID` and wakes it; returns its id.
    public func submit(_ kind: SessionCommand.Kind, sessionID: String, owner: String, body: String) async throws -> Int64 {
        let logger = logger
        return try await store.pools.writer.withTransaction(logger: logger) { connection in
            let id = try await connection.query("""
                INSERT INTO session_commands (session_id, owner_instance, kind, body)
                VALUES (\(sessionID), \(owner), \(kind.rawValue), \(body)) RETURNING id
                """, logger: logger).collect().first?.decode(Int64.self) ?? 0
            try await Self.notify(.command(owner: owner), on: connection, logger: logger)
            return id
        }
    }

    /// Commands waiting for this instance, oldest first.
    public func pendingCommands(limit: Int = 100) async throws -> [SessionCommand] {
        try await store.pools.writer.query("""
            SELECT id, session_id, kind, body FROM session_commands
            WHERE owner_instance = \(instanceID) AND status = 'pending' ORDER BY id LIMIT \(Int64(limit))
            """, logger: logger).compactMap { row in
            let (id, session, kind, body) = try row.decode((Int64, String, String, String).self)
            return SessionCommand.Kind(rawValue: kind).map { SessionCommand(id: id, sessionID: session, kind: $0, body: body) }
        }
    }

    /// Answers a command and wakes whoever waits for it.
    public func answer(_ command: Int64, status: SessionCommand.Status, result: String) async throws {
        let logger = logger
        try await store.pools.writer.withTransaction(logger: logger) { connection in
            try await connection.query(
                "UPDATE session_commands SET status = \(status.rawValue), result = \(result) WHERE id = \(command)", logger: logger)
            try await Self.notify(.answered(command: command), on: connection, logger: logger)
        }
    }

    /// A command's status and answer.
    public func commandOutcome(_ command: Int64) async throws -> (status: SessionCommand.Status, result: String?)? {
        guard let (status, result) = try await store.pools.reader.query(
            "SELECT status, result FROM session_commands WHERE id = \(command)", logger: logger
        ).collect().first?.decode((String, String?).self), let known = SessionCommand.Status(rawValue: status) else { return nil }
        return (known, result)
    }

    // MARK: - Notifications

    /// What a `NOTIFY` on ``channel`` says.
    public enum Notification: Sendable, Equatable {
        /// Live sessions without an owner are waiting for a claim.
        case claimable
        /// A command waits for `owner`.
        case command(owner: String)
        /// A command was answered.
        case answered(command: Int64)
        /// A session's row changed (its first join settled, it ended).
        case settled(session: String)
        /// Events were committed (by any instance): live tails read on.
        case events

        var payload: String {
            switch self {
            case .claimable: "claimable"
            case .command(let owner): "command:\(owner)"
            case .answered(let command): "answered:\(command)"
            case .settled(let session): "settled:\(session)"
            case .events: "events"
            }
        }

        init?(payload: String) {
            if payload == "claimable" { self = .claimable; return }
            if payload == "events" { self = .events; return }
            guard let colon = payload.firstIndex(of: ":") else { return nil }
            let value = String(payload[payload.index(after: colon)...])
            switch payload[..<colon] {
            case "command": self = .command(owner: value)
            case "answered":
                guard let id = Int64(value) else { return nil }
                self = .answered(command: id)
            case "settled": self = .settled(session: value)
            default: return nil
            }
        }
    }

    static func notify(_ notification: Notification, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_notify(\(channel), \(notification.payload))", logger: logger)
    }

    /// Sends `notification` to every instance.
    public func notify(_ notification: Notification) async throws {
        try await store.pools.writer.query("SELECT pg_notify(\(Self.channel), \(notification.payload))", logger: logger)
    }

    /// Closes the fleet's own connection.
    public func close() {
        leaseConnection.drop()
        connection.drop()
    }
}

extension Duration {
    /// Whole milliseconds, for the database.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
