import Foundation
import Testing
import TetherTestSupport

/// Every benchmark scenario at a tiny size, so the benchmarks cannot rot. The numbers
/// are not checked: these machines are shared and noisy; BENCHMARKS.md holds real runs.
@Suite(.timeLimit(.minutes(10))) struct BenchSmokeTests {
    @Test func everyScenarioRunsAndPrintsItsTable() async throws {
        let bench = try ChildProcess(["bench", "all", "--smoke"])
        let status = await bench.waitForExit(timeout: .seconds(180))
        #expect(status == 0, "output: \(bench.output.suffix(20))")
        let output = bench.output.joined(separator: "\n")
        for scenario in ["detection", "recovery", "scale", "serve", "storm", "events", "stats", "api", "webhooks"] {
            #expect(output.contains("### \(scenario) ("), "no \(scenario) table")
        }
        #expect(output.contains("| failures | 0 | 0 |"), "the storm lost sessions")
        // The floor comes first, measured once for every scenario, and the ratios divide by it.
        #expect(output.hasPrefix("### machine floor ("), "no machine floor table first")
        #expect(output.components(separatedBy: "### machine floor (").count == 2, "the floor was measured more than once")
        for ratio in [
            "| loss recorded p99 / WebSocket round-trip p99 (10 at once) |", "| FAST recovery p99 / connect+round-trip p99 (10 at once) |",
            "| all back / ideal (sessions ÷ cap + connect+round trip) |", "| inserts/s ÷ raw SQLite floor |",
            "| GET /v1/sessions/{id} (SQLite) req/s ÷ trivial route req/s |",
        ] {
            #expect(output.contains(ratio), "no ratio row \(ratio)")
        }
        #expect(!output.contains("no floor measured"), "a ratio had no floor to divide by")
        #expect(!output.contains("n/a"), "a scenario measured nothing")
        #expect(output.contains("| start on a file without rollups: migration 0012 fills them |"), "stats did not time the upgrade")
    }

    @Test func theStoreScenariosRunOnPostgreSQLToo() async throws {
        let server = try PostgresCluster.maintenanceURL()
        for scenario in ["events", "stats", "api", "fleet"] {
            let bench = try ChildProcess(["bench", scenario, "--smoke", "--db", server])
            let status = await bench.waitForExit(timeout: .seconds(180))
            #expect(status == 0, "output: \(bench.output.suffix(20))")
            let output = bench.output.joined(separator: "\n")
            #expect(!output.contains("n/a"), "\(scenario) measured nothing on PostgreSQL")
            if scenario == "events" {
                #expect(output.contains("### events (PostgreSQL: "), "no PostgreSQL events table")
                #expect(output.contains("| inserts/s ÷ raw postgres-nio floor |"), "no floor ratio")
            } else if scenario == "stats" {
                #expect(output.contains("| start on a database without rollups: migration 0003 fills them |"), "stats did not time the upgrade")
            } else if scenario == "api" {
                #expect(output.contains("| GET /v1/sessions/{id} req/s, PostgreSQL ÷ SQLite |"), "no store ratio")
            } else {
                // Real instances, a real kill -9: the smoke fleet's adoption is complete and clean.
                #expect(output.contains("| kill -9 → all 20 of its sessions joined elsewhere |"), "adoption incomplete")
                #expect(output.contains("| adopted sessions that failed | 0 | 0 |"))
                #expect(output.contains("| sessions that ever had two live agents at the SFU | 0 | 0 |"))
            }
        }
        // Each run dropped the databases it made.
        #expect(try PostgresCluster.databaseNames().filter { $0.hasPrefix("tether_bench_") } == [])
    }
}
