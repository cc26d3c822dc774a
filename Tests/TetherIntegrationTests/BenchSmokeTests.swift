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
        for scenario in ["detection", "recovery", "scale", "storm", "events", "api"] {
            #expect(output.contains("### \(scenario) ("), "no \(scenario) table")
        }
        #expect(output.contains("| failures | 0 | 0 |"), "the storm lost sessions")
        #expect(!output.contains("n/a"), "a scenario measured nothing")
    }
}
