import Foundation
import GRDB
import Synchronization
import Testing
import TetherTestSupport
@testable import TetherEventLog
@testable import TetherPostgresStore
@testable import TetherService

/// A history read that runs too long is interrupted in SQLite and answered 504, and
/// the store keeps answering afterwards.
@Suite(.timeLimit(.minutes(2))) struct QueryTimeLimitTests {
    @Test func aReadPastItsLimitIsInterruptedAndTheStoreStillAnswers() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tether-limit-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let store = try EventStore.open(path: path)
        let database = store.database
        // Counting to 10^11 in SQL takes hours: only an interrupt ends it within the
        // suite's time limit.
        let endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000000) SELECT COUNT(*) FROM n"
        await #expect(throws: APIError.queryTimeout(.milliseconds(300))) {
            try await QueryTimeLimit(limit: .milliseconds(300)).run { try await database.read { db in try Int.fetchOne(db, sql: endless) } }
        }
        let answered = try await QueryTimeLimit(limit: .seconds(30)).run { try await database.read { db in try Int.fetchOne(db, sql: "SELECT 42") } }
        #expect(answered == 42)
    }

    /// On PostgreSQL the running statement is not cancelled by its task: the readers'
    /// `statement_timeout` ends it on the server, and then the read answers 504. The
    /// store answers the next read.
    @Test func onPostgreSQLAReadPastItsLimitEndsOnTheServerAndTheStoreStillAnswers() async throws {
        let url = try PostgresCluster.createDatabase()
        defer { PostgresCluster.dropDatabase(url) }
        let store = try await PostgresStore.open(url: try PostgresURL(parsing: url))
        defer { store.close() }
        let started = ContinuousClock.now
        await #expect(throws: APIError.queryTimeout(.milliseconds(300))) {
            try await QueryTimeLimit(limit: .milliseconds(300)).run { try await store.pools.reader.query("SELECT pg_sleep(100)").collect().count }
        }
        let took = ContinuousClock.now - started
        #expect(took < .seconds(30), "the server's statement_timeout (\(PostgresStore.readStatementTimeout)) ended the 100 s read after \(took)")
        let answered = try await QueryTimeLimit(limit: .seconds(30)).run {
            try await store.pools.reader.query("SELECT 42").collect().first?.decode(Int.self)
        }
        #expect(answered == 42)
    }

    @Test func withNoTimeAtAllTheReadIsNotStarted() async throws {
        let started = Mutex(false)
        await #expect(throws: APIError.queryTimeout(.zero)) {
            try await QueryTimeLimit(limit: .zero).run { started.withLock { $0 = true } }
        }
        #expect(started.withLock { $0 } == false)
    }

    @Test func theAPIAnswers504WithItsCode() async throws {
        try await withService(configure: { $0.queryTimeLimit = .zero }) { service, _ in
            for path in ["/v1/stats?group_by=sfu_url", "/v1/events?type=connection_lost", "/v1/sessions?state=joined"] {
                let reply = try await service.request(.GET, path)
                #expect(reply.status == 504, "\(path): \(reply.text)")
                #expect(reply.errorCode == "query_timeout", "\(path): \(reply.text)")
            }
            #expect(try await service.request(.GET, "/healthz").status == 200)
        }
    }
}
