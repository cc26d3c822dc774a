import ArgumentParser
import Foundation
import TetherEvents

/// `tether stats`: losses, reconnects and recovery percentiles over a window.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Losses, reconnects and recovery-time percentiles of a running service.",
        discussion: "Exit codes: 0 done, 1 the API answered an error, 4 the service is unreachable.")

    @OptionGroup var ops: OpsOptions

    @Option(help: "The window: this long until now (10m, 1h, 24h).")
    var since = DurationArgument(.seconds(3600))

    @Option(help: "Only this call's sessions.")
    var call: String?

    @Option(help: "Only this user's sessions.")
    var user: String?

    @Option(help: "Only events on this SFU node (its URL).")
    var node: String?

    @Option(name: .customLong("group-by"), help: "Also per sfu_url or per call_id (most losses first).")
    var groupBy: String?

    func validate() throws {
        if let groupBy, !["sfu_url", "call_id"].contains(groupBy) {
            throw ValidationError("--group-by takes sfu_url or call_id, got \(groupBy.debugDescription)")
        }
    }

    func run() async throws {
        try await OpsClient.run {
            let sinceMs = Int64(Date().timeIntervalSince1970 * 1000) - since.duration.wholeMilliseconds
            let stats = try await ops.client.get("/v1/stats", query: [
                ("since", String(sinceMs)), ("call_id", call), ("user_id", user), ("sfu_url", node), ("group_by", groupBy),
            ])
            if ops.json {
                OpsPrint.json(stats)
                return
            }
            print("window  \(OpsPrint.time(stats["since_ms"])) → \(OpsPrint.time(stats["until_ms"])) UTC\n")
            func counts(_ title: String, _ key: String) {
                let values = stats[key] as? [String: Any] ?? [:]
                print(title)
                if values.isEmpty { print("  none") }
                for name in values.keys.sorted() { print("  \(name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(values[name]!)") }
                print("")
            }
            counts("losses by reason", "losses_by_reason")
            print("reconnects by strategy")
            let strategies = stats["reconnects_by_strategy"] as? [[String: Any]] ?? []
            OpsPrint.table(["  STRATEGY", "SUCCEEDED", "ATTEMPTS FAILED"], strategies.map {
                ["  " + ($0["strategy"] as? String ?? "-"), "\($0["succeeded"] ?? 0)", "\($0["attempts_failed"] ?? 0)"]
            })
            print("")
            counts("failed reconnections by reason", "reconnects_failed")
            let recovery = stats["recovery_time"] as? [String: Any] ?? [:]
            print("recovery time  count \(recovery["count"] ?? 0), p50 \(recovery["p50_ms"] ?? "-") ms, p95 \(recovery["p95_ms"] ?? "-") ms, p99 \(recovery["p99_ms"] ?? "-") ms")
            if let groups = stats["groups"] as? [[String: Any]], let groupBy {
                print("\nby \(groupBy)")
                OpsPrint.table(["  " + groupBy.uppercased(), "JOINS", "LOSSES", "RECONNECTS", "RECOVERED", "FAILED", "P50 MS", "P99 MS"], groups.map { group in
                    let recovery = group["recovery_time"] as? [String: Any] ?? [:]
                    return ["  " + (group["key"] as? String ?? "-")] + ["joins", "losses", "reconnects", "recovered", "reconnects_failed"].map {
                        "\(group[$0] ?? 0)"
                    } + ["\(recovery["p50_ms"] ?? "-")", "\(recovery["p99_ms"] ?? "-")"]
                })
            }
        }
    }
}
