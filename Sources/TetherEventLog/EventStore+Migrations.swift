import Foundation
import GRDB

extension EventStore {
    struct Migration: Sendable {
        var name: String
        var sql: String
        /// Work in Swift after the SQL, in the same transaction.
        var then: (@Sendable (Database) throws -> Void)? = nil
    }

    /// `migrations/*.sql` (add each new file here; a test checks none is missing), compiled into the binary (SwiftPM `embedInCode`) so the shipped
    /// executable migrates a fresh database from any directory, with no resource bundle.
    static let embeddedMigrations: [Migration] = [
        Migration(name: "0001_init", sql: String(decoding: PackageResources._001_init_sql, as: UTF8.self)),
        Migration(name: "0002_time_by_id", sql: String(decoding: PackageResources._002_time_by_id_sql, as: UTF8.self)),
        Migration(name: "0003_clear_ended_tokens", sql: String(decoding: PackageResources._003_clear_ended_tokens_sql, as: UTF8.self)),
        Migration(name: "0004_readiness", sql: String(decoding: PackageResources._004_readiness_sql, as: UTF8.self)),
        Migration(name: "0005_clock_segments", sql: String(decoding: PackageResources._005_clock_segments_sql, as: UTF8.self)),
        Migration(name: "0006_webhook_deliveries", sql: String(decoding: PackageResources._006_webhook_deliveries_sql, as: UTF8.self)),
        Migration(name: "0007_query_filters", sql: String(decoding: PackageResources._007_query_filters_sql, as: UTF8.self)),
        Migration(name: "0008_join_failure_code", sql: String(decoding: PackageResources._008_join_failure_code_sql, as: UTF8.self)),
        Migration(name: "0009_resume_state", sql: String(decoding: PackageResources._009_resume_state_sql, as: UTF8.self)),
        Migration(name: "0010_webhook_queues", sql: String(decoding: PackageResources._010_webhook_queues_sql, as: UTF8.self)),
        Migration(name: "0011_ownership", sql: String(decoding: PackageResources._011_ownership_sql, as: UTF8.self)),
        Migration(
            name: "0012_stats_rollups", sql: String(decoding: PackageResources._012_stats_rollups_sql, as: UTF8.self),
            then: { db in try EventStore.backfillRollups(in: db) }),
    ]
}
