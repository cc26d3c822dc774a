import Foundation
import Testing
import TetherEventLog
import TetherPostgresStore
import TetherTestSupport

/// The two stores the history can live in; suites that matter on a store run on both
/// (Swift Testing arguments), against a real SQLite file and a real PostgreSQL database
/// on the test cluster (`PostgresCluster`: never mocked, never skipped).
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// A fresh, empty database of this kind: its `--db` value, removed by `cleanup`.
    func makeDatabase() throws -> (db: String, cleanup: @Sendable () -> Void) {
        switch self {
        case .sqlite:
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("tether-test-\(UUID().uuidString).sqlite").path
            return (path, { for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: path + suffix) } })
        case .postgres:
            let url = try PostgresCluster.createDatabase()
            return (url, { PostgresCluster.dropDatabase(url) })
        }
    }

    /// Opens the store on a fresh database for `body`, then closes and removes it.
    func withStore(_ body: (any HistoryStore) async throws -> Void) async throws {
        let (db, cleanup) = try makeDatabase()
        defer { cleanup() }
        switch self {
        case .sqlite:
            try await body(try EventStore.open(path: db))
        case .postgres:
            let store = try await PostgresStore.open(url: try PostgresURL(parsing: db))
            defer { store.close() }
            try await body(store)
        }
    }
}
