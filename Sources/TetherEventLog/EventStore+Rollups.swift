import Foundation
import GRDB

extension EventStore {
    static let readCellSQL = "SELECT cell FROM stats_rollups WHERE span_ms = ? AND start_ms = ? AND sfu_url = ?"
    static let writeCellSQL = "INSERT OR REPLACE INTO stats_rollups (span_ms, start_ms, sfu_url, cell) VALUES (?, ?, ?, ?)"

    /// Adds the events with ids in `ids` to the rollups. The events' nodes are read
    /// back as stored (an event without one takes its session's), so the rollups count
    /// exactly what a raw read of the same events would.
    static func rollUp(ids: ClosedRange<Int64>, in db: Database) throws {
        var rollup = StatsRollup()
        let types = StatsTally.countedTypes.map { "'\($0.type)'" }.joined(separator: ", ")
        let rows = try Row.fetchCursor(
            db.cachedStatement(sql: """
                SELECT time_ms, sfu_url, type, reason, strategy, duration_ms, COUNT(*) AS n FROM events
                WHERE id BETWEEN ? AND ? AND type IN (\(types))
                GROUP BY time_ms / 60000, sfu_url, type, reason, strategy, duration_ms
                """),
            arguments: [ids.lowerBound, ids.upperBound])
        while let row = try rows.next() {
            rollup.add(
                timeMs: row["time_ms"], node: row["sfu_url"], type: row["type"], reason: row["reason"], strategy: row["strategy"],
                durationMs: row["duration_ms"], count: row["n"])
        }
        try store(rollup, in: db)
    }

    /// Merges each of the batch's cells into its stored row (the only writer holds the
    /// write lock: read, merge, write back).
    static func store(_ rollup: StatsRollup, in db: Database) throws {
        guard !rollup.isEmpty else { return }
        let read = try db.cachedStatement(sql: readCellSQL)
        let write = try db.cachedStatement(sql: writeCellSQL)
        for (key, added) in rollup.cells {
            var cell = added
            if let stored = try Data.fetchOne(read, arguments: [key.spanMs, key.startMs, key.node]) {
                cell.merge(try RollupCell(decoding: [UInt8](stored)))
            }
            try write.execute(arguments: [key.spanMs, key.startMs, key.node, Data(cell.encoded())])
        }
    }

    /// Fills the rollups from the whole history (migration 0012), in id chunks so the
    /// grouping never holds more than a chunk's worth.
    static func backfillRollups(in db: Database, chunk: Int64 = 500_000) throws {
        guard let lowest = try Int64.fetchOne(db, sql: "SELECT MIN(id) FROM events"),
            let highest = try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM events")
        else { return }
        var start = lowest
        while start <= highest {
            let end = min(highest, start + chunk - 1)
            try rollUp(ids: start...end, in: db)
            start = end + 1
        }
    }

    /// Deletes rollup buckets wholly before `cutoffMs`: one that holds the cutoff keeps
    /// the counts of its pruned events until it, too, is past.
    static func pruneRollups(before cutoffMs: Int64, in db: Database) throws {
        for span in RollupWindow.spansMs {
            // Per span, so the delete seeks the primary key's (span_ms, start_ms) prefix.
            try db.execute(sql: "DELETE FROM stats_rollups WHERE span_ms = ? AND start_ms <= ?", arguments: [span, cutoffMs - span])
        }
    }

    /// The rollups' figures over `parts` (whole buckets), on one node or all, per node when asked.
    static func rollupTally(_ parts: [RollupWindow.Part], sfuURL: String?, byNode: Bool, in db: Database) throws -> StatsTally {
        var tally = StatsTally()
        for part in parts {
            var sql = "SELECT sfu_url, cell FROM stats_rollups WHERE span_ms = ? AND start_ms >= ? AND start_ms < ?"
            var arguments: StatementArguments = [part.spanMs, part.fromMs, part.untilMs]
            if let sfuURL {
                sql += " AND sfu_url = ?"
                arguments += [sfuURL]
            }
            let rows = try Row.fetchCursor(db.cachedStatement(sql: sql), arguments: arguments)
            while let row = try rows.next() {
                let cell: Data = row["cell"]
                try RollupCell.add([UInt8](cell), group: byNode ? row["sfu_url"] : "", to: &tally)
            }
        }
        return tally
    }
}
