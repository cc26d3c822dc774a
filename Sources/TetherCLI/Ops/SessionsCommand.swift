import ArgumentParser
import Foundation

/// `tether sessions`: the sessions of a running service, newest first.
struct SessionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions",
        abstract: "List a running service's sessions, newest first.",
        discussion: "Exit codes: 0 done, 1 the API answered an error (its code is printed), 4 the service is unreachable.")

    @OptionGroup var ops: OpsOptions

    @Option(help: "Only this state (connecting, joined, reconnecting, migrating, left, failed, ended).")
    var state: String?

    @Option(help: "Only this call.")
    var call: String?

    @Option(help: "At most this many (1 to 1000).")
    var limit = 100

    func run() async throws {
        try await OpsClient.run {
            let page = try await ops.client.get("/v1/sessions", query: [("state", state), ("call_id", call), ("limit", String(limit))])
            let sessions = page["sessions"] as? [[String: Any]] ?? []
            if ops.json {
                OpsPrint.json(page)
                return
            }
            OpsPrint.table(
                ["ID", "STATE", "CALL", "USER", "SFU", "GEN", "LOSSES", "RECONNECTS", "FAILED", "AGE"],
                sessions.map { session in
                    let counters = session["counters"] as? [String: Any] ?? [:]
                    return [
                        OpsPrint.short(session["id"]), session["state"] as? String ?? "-", session["call_id"] as? String ?? "-",
                        session["user_id"] as? String ?? "-", session["sfu_url"] as? String ?? "-",
                        "\(session["generation"] ?? "-")", "\(counters["losses"] ?? 0)", "\(counters["reconnects"] ?? 0)",
                        "\(counters["failed_reconnects"] ?? 0)", OpsPrint.age(sinceMs: session["created_at_ms"]),
                    ]
                })
            if page["next_cursor"] != nil { print("… more: raise --limit or use the API's cursor") }
        }
    }
}
