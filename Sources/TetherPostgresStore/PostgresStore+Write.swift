import Foundation
import PostgresNIO
import TetherEvents
import TetherEventLog

extension PostgresStore {
    /// One event ready to insert: its id taken from `events_id` in batch order, its time
    /// stamped by the clock guard, its node decided as the SQLite store decides it (the
    /// node it names, else its session's node as stored at that point of the batch).
    struct EventRow {
        var event: SessionEvent
        var payload: String
        var sfuURL: String?
    }

    public func write(_ batch: ArraySlice<EventLog.Write>, clock: ClockGuard, monotonicNow: Duration) async throws -> ([SessionEvent], ClockGuard) {
        try writeFaults.admitCommit()
        let logger = logger
        let fence = fence
        let (stored, clock, stale) = try await pools.writer.withTransaction(logger: logger) { connection in
            // A connection the server dropped can take a query and never answer it
            // (postgres-nio; seen with `pg_ctl -m immediate` under load): the writer would
            // wait forever and nothing queued would ever land. Past a silence no healthy
            // batch comes near, the connection is closed, which fails the query; the batch
            // is kept and written again once the database answers.
            let watchdog = Task {
                try await Task.sleep(for: Self.writeSilence)
                logger.error("a history write got no answer for \(Self.writeSilence); closing its connection")
                try? await connection.close()
            }
            defer { watchdog.cancel() }
            var clock = clock
            // A fleet instance writes a session only while the row says it owns it,
            // under the epoch the write carries; the rows stay locked to the commit.
            let owners = fence == nil ? [:] : try await Self.lockOwners(of: batch, on: connection, logger: logger)
            var stale: [String: OwnershipFence.Stale] = [:]
            func isStale(_ row: SessionRecord, events: Int) -> Bool {
                guard fence != nil, let current = owners[PostgresText.clean(row.id)], current.owner != row.ownerInstance || current.epoch != row.epoch
                else { return false }
                stale[row.id, default: .init(sessionID: row.id, epoch: row.epoch, droppedEvents: 0)].droppedEvents += events
                return true
            }
            // Each session's node as stored now, then as this batch's rows change it.
            let referenced = Set(batch.flatMap { write -> [String] in
                switch write {
                case .event(let event, _): [event.sessionID]
                case .unit(let events, _): events.map(\.event.sessionID)
                case .session, .probe: []
                }
            })
            var nodes = try await Self.nodes(of: Array(referenced), on: connection, logger: logger)
            var rows: [EventRow] = []
            var segmentStarts: [Int] = []  // indexes into rows
            var sessionRows: [SessionRecord] = []
            var probe = false
            func add(_ event: SessionEvent, payload: String) throws {
                let stamped = try clock.stampWithMarker(event, monotonicNow: monotonicNow)
                if let marker = stamped.marker {
                    if stamped.startsSegment { segmentStarts.append(rows.count) }
                    rows.append(EventRow(
                        event: marker.event, payload: marker.payload, sfuURL: marker.event.namedSFUURL ?? nodes[marker.event.sessionID]))
                }
                let event = stamped.event
                rows.append(EventRow(event: event, payload: payload, sfuURL: event.namedSFUURL ?? nodes[event.sessionID]))
            }
            for write in batch {
                switch write {
                case .event(let event, let payload):
                    // A bare event (`events_dropped` after an outage) carries no epoch: it is
                    // written only while this instance still owns the session.
                    if let fence, let current = owners[PostgresText.clean(event.sessionID)], current.owner != fence.instanceID {
                        stale[event.sessionID, default: .init(sessionID: event.sessionID, epoch: current.epoch, droppedEvents: 0)].droppedEvents += 1
                        continue
                    }
                    try add(event, payload: payload)
                case .unit(let events, let row):
                    if isStale(row, events: events.count) { continue }
                    for encoded in events { try add(encoded.event, payload: encoded.payload) }
                    sessionRows.append(row)
                    nodes[row.id] = row.sfuURL
                case .session(let row):
                    if isStale(row, events: 0) { continue }
                    sessionRows.append(row)
                    nodes[row.id] = row.sfuURL
                case .probe:
                    probe = true
                }
            }
            if fence != nil, !rows.isEmpty {
                // Several instances write; a live tail reads "every id after the last one
                // seen". Ids taken under one lock held to the commit become visible in id
                // order, so no reader passes an id that commits later.
                try await connection.query("SELECT pg_advisory_xact_lock(\(Self.eventOrderLock))", logger: logger)
            }
            let ids = try await Self.takeEventIDs(rows.count, on: connection, logger: logger)
            var stored: [SessionEvent] = []
            stored.reserveCapacity(rows.count)
            for (index, id) in ids.enumerated() {
                rows[index].event.id = id
                stored.append(rows[index].event)
            }
            try await Self.insertEvents(rows, on: connection, logger: logger)
            // The stats rollups count the batch in its own transaction: both or neither land.
            try await Self.store(Self.rollup(of: rows), on: connection, logger: logger)
            for index in segmentStarts {
                try await connection.query("INSERT INTO clock_segments (first_id) VALUES (\(ids[index])) ON CONFLICT DO NOTHING", logger: logger)
            }
            try await Self.upsert(sessionRows, on: connection, logger: logger)
            if probe {
                try await connection.query("DELETE FROM readiness", logger: logger)
                try await connection.query("INSERT INTO readiness (at) VALUES (\(Self.nowMs()))", logger: logger)
            }
            // After the batch's session rows: a webhook carries the session as stored now.
            if let webhooks {
                let outgoing = stored.compactMap { event in webhooks.subscribedType(of: event.kind).map { (event, $0) } }
                if !outgoing.isEmpty { try await Self.enqueueDeliveries(outgoing, routing: webhooks, on: connection, logger: logger) }
            }
            if fence != nil, !rows.isEmpty {
                // Delivered at commit: every instance's live tail reads the new events.
                try await connection.query("SELECT pg_notify(\(PostgresFleet.channel), 'events')", logger: logger)
            }
            return (stored, clock, Array(stale.values))
        }
        fence?.report(stale.sorted { $0.sessionID < $1.sessionID })
        return (stored, clock)
    }

    /// How long a batch's transaction may go without finishing before its connection is
    /// closed: a batch of 20,000 events commits in well under a second.
    static let writeSilence: Duration = .seconds(15)

    /// The advisory lock that orders event ids with commits across a fleet ("tether" in ASCII).
    static let eventOrderLock: Int64 = 0x74_65_74_68_65_72

    /// The owner and epoch of every session `batch` writes a row for, locked
    /// (`FOR UPDATE`) until the batch commits. Sessions with no row yet are new: theirs
    /// to insert.
    static func lockOwners(
        of batch: ArraySlice<EventLog.Write>, on connection: PostgresConnection, logger: Logger
    ) async throws -> [String: (owner: String?, epoch: Int64)] {
        let ids = Array(Set(batch.compactMap { write -> String? in
            switch write {
            case .unit(_, let row), .session(let row): PostgresText.clean(row.id)
            case .event(let event, _): PostgresText.clean(event.sessionID)
            case .probe: nil
            }
        })).sorted()  // one lock order for every writer: no deadlock between instances
        guard !ids.isEmpty else { return [:] }
        var owners: [String: (owner: String?, epoch: Int64)] = [:]
        for try await (id, owner, epoch) in try await connection.query(
            "SELECT id, owner_instance, epoch FROM sessions WHERE id = ANY(\(ids)) ORDER BY id FOR UPDATE", logger: logger
        ).decode((String, String?, Int64).self) {
            owners[id] = (owner, epoch)
        }
        return owners
    }

    static func nodes(of sessions: [String], on connection: PostgresConnection, logger: Logger) async throws -> [String: String] {
        guard !sessions.isEmpty else { return [:] }
        var nodes: [String: String] = [:]
        for try await (id, node) in try await connection.query("SELECT id, sfu_url FROM sessions WHERE id = ANY(\(sessions))", logger: logger)
            .decode((String, String).self)
        {
            nodes[id] = node
        }
        return nodes
    }

    /// `count` ids from `events_id`, ascending: the batch's events get them in order.
    static func takeEventIDs(_ count: Int, on connection: PostgresConnection, logger: Logger) async throws -> [Int64] {
        guard count > 0 else { return [] }
        var ids: [Int64] = []
        ids.reserveCapacity(count)
        for try await id in try await connection.query("SELECT nextval('events_id') FROM generate_series(1, \(count)) ORDER BY 1", logger: logger)
            .decode(Int64.self)
        {
            ids.append(id)
        }
        return ids
    }

    /// The whole batch in one statement: a column array each, `UNNEST`ed (about 1.7×
    /// the rate of multi-row `VALUES` with a bind per value, measured with `tether bench
    /// events --db`). Nullable columns travel as a value array and a null-flag array:
    /// no value of theirs is reserved to mean NULL. The arrays' strings are cleaned of
    /// NUL where they are interpolated (SQL.swift).
    static func insertEvents(_ rows: [EventRow], on connection: PostgresConnection, logger: Logger) async throws {
        guard !rows.isEmpty else { return }
        var ids: [Int64] = [], sessions: [String] = [], types: [String] = [], times: [Int64] = [], generations: [Int64] = []
        var reasons: [String] = [], noReason: [Bool] = [], strategies: [String] = [], noStrategy: [Bool] = []
        var durations: [Int64] = [], noDuration: [Bool] = [], payloads: [String] = [], urls: [String] = [], noURL: [Bool] = []
        for row in rows {
            let event = row.event
            let (reason, strategy, duration) = event.statsColumns
            ids.append(event.id ?? 0)
            sessions.append(event.sessionID)
            types.append(event.type)
            times.append(event.timeMs)
            generations.append(Int64(event.generation))
            reasons.append(reason ?? "")
            noReason.append(reason == nil)
            strategies.append(strategy ?? "")
            noStrategy.append(strategy == nil)
            durations.append(duration ?? 0)
            noDuration.append(duration == nil)
            payloads.append(row.payload)
            urls.append(row.sfuURL ?? "")
            noURL.append(row.sfuURL == nil)
        }
        try await connection.query("""
            INSERT INTO events (id, session_id, type, time_ms, generation, reason, strategy, duration_ms, payload, sfu_url)
            SELECT i, s, t, tm, g, CASE WHEN nr THEN NULL ELSE r END, CASE WHEN ns THEN NULL ELSE st END,
                   CASE WHEN nd THEN NULL ELSE d END, p, CASE WHEN nu THEN NULL ELSE u END
            FROM UNNEST(\(ids)::bigint[], \(sessions)::text[], \(types)::text[], \(times)::bigint[], \(generations)::bigint[],
                        \(reasons)::text[], \(noReason)::boolean[], \(strategies)::text[], \(noStrategy)::boolean[],
                        \(durations)::bigint[], \(noDuration)::boolean[], \(payloads)::text[], \(urls)::text[], \(noURL)::boolean[])
                AS x(i, s, t, tm, g, r, nr, st, ns, d, nd, p, u, nu)
            """, logger: logger)
    }

    /// Every column of `sessions` but `seq`, in the order they are bound.
    static let sessionColumns = [
        "id", "state", "call_id", "user_id", "dialect", "sfu_urls", "sfu_token", "dialect_options", "policy", "metadata", "sfu_url",
        "sfu_session_id", "resume_state", "generation", "losses", "reconnects", "failed_reconnects", "end_reason", "join_failure_code",
        "idempotency_key", "request_fingerprint", "created_at_ms", "updated_at_ms", "ended_at_ms", "owner_instance", "epoch",
    ]

    /// The batch's session rows, the last one written for each session, inserted or
    /// updated in first-appearance order (so new sessions' `seq` follows their
    /// creation); the metadata of new ones indexed for the `metadata.KEY` filter.
    static func upsert(_ records: [SessionRecord], on connection: PostgresConnection, logger: Logger) async throws {
        guard !records.isEmpty else { return }
        var order: [String] = []
        var last: [String: SessionRecord] = [:]
        for record in records {
            if last[record.id] == nil { order.append(record.id) }
            last[record.id] = record
        }
        let unique = order.compactMap { last[$0] }
        let perStatement = SQL.maxBinds / sessionColumns.count
        let updates = sessionColumns.filter { $0 != "id" && $0 != "created_at_ms" }.map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")
        var created: [String] = []
        var start = 0
        while start < unique.count {
            let chunk = unique[start..<min(start + perStatement, unique.count)]
            var sql = SQL("INSERT INTO sessions (\(sessionColumns.joined(separator: ", "))) VALUES ")
            for (index, record) in chunk.enumerated() {
                if index > 0 { sql.append(",") }
                let values = [
                    sql.bind(record.id), sql.bind(record.state), sql.bind(record.callID), sql.bind(record.userID), sql.bind(record.dialect),
                    sql.bind(record.sfuURLs), sql.bind(record.sfuToken), sql.bind(record.dialectOptions) + "::text", sql.bind(record.policy),
                    sql.bind(record.metadata), sql.bind(record.sfuURL), sql.bind(record.sfuSessionID) + "::text",
                    sql.bind(record.resumeState) + "::text", sql.bind(record.generation) + "::bigint", sql.bind(Int64(record.losses)) + "::bigint",
                    sql.bind(Int64(record.reconnects)) + "::bigint", sql.bind(Int64(record.failedReconnects)) + "::bigint",
                    sql.bind(record.endReason) + "::text", sql.bind(record.joinFailureCode) + "::text", sql.bind(record.idempotencyKey) + "::text",
                    sql.bind(record.requestFingerprint) + "::text", sql.bind(record.createdAtMs) + "::bigint",
                    sql.bind(record.updatedAtMs) + "::bigint", sql.bind(record.endedAtMs) + "::bigint",
                    sql.bind(record.ownerInstance) + "::text", sql.bind(record.epoch) + "::bigint",
                ]
                sql.append("(" + values.joined(separator: ",") + ")")
            }
            // `xmax = 0` tells the rows this statement inserted from those it updated.
            sql.append(" ON CONFLICT (id) DO UPDATE SET \(updates) RETURNING id, (xmax = 0) AS inserted")
            for try await (id, inserted) in try await connection.query(sql.query, logger: logger).decode((String, Bool).self) where inserted {
                created.append(id)
            }
            start += chunk.count
        }
        guard !created.isEmpty else { return }
        // Metadata never changes after the create: only new sessions are indexed. The
        // entries are read here, not with json_each_text: a "\u0000" in a value (a
        // client may send one) cannot become PostgreSQL text, and would fail the batch
        // for good.
        var ids: [String] = [], keys: [String] = [], values: [String] = []
        // RETURNING gives the ids as stored (cleaned).
        let byStoredID = Dictionary(unique.map { (PostgresText.clean($0.id), $0) }, uniquingKeysWith: { $1 })
        for id in created {
            guard let record = byStoredID[id], let object = try? JSONSerialization.jsonObject(with: Data(record.metadata.utf8)) as? [String: Any]
            else { continue }
            for (key, value) in object {
                ids.append(id)
                keys.append(key)
                let text = value as? String
                    ?? (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed])).map { String(decoding: $0, as: UTF8.self) }
                    ?? ""
                values.append(text)
            }
        }
        guard !ids.isEmpty else { return }
        try await connection.query("""
            INSERT INTO session_metadata (key, value, seq)
            SELECT entry.key, entry.value, sessions.seq
            FROM UNNEST(\(ids)::text[], \(keys)::text[], \(values)::text[]) AS entry(id, key, value)
            JOIN sessions ON sessions.id = entry.id
            ON CONFLICT DO NOTHING
            """, logger: logger)
    }

    public func wipeRetiredSecrets() async throws {
        // PostgreSQL keeps a replaced row version until VACUUM reuses its space and does
        // not zero it; the README says to rely on disk encryption for the database's
        // files. Nothing to do here.
    }

    public func lastEventTime() async throws -> Int64 {
        try await pools.writer.query("SELECT time_ms FROM events ORDER BY id DESC LIMIT 1").collect().first?.decode(Int64.self) ?? 0
    }
}
