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

    @Option(help: "Only this user's sessions.")
    var user: String?

    @Option(help: "Only sessions now on this SFU node (its URL).")
    var node: String?

    @Option(name: .customLong("meta"), help: ArgumentHelp("Only sessions whose create metadata has KEY=VALUE (repeatable).", valueName: "KEY=VALUE"))
    var metadata: [String] = []

    @Option(help: "At most this many (1 to 1000).")
    var limit = 100

    func validate() throws {
        for pair in metadata where (pair.firstIndex(of: "=") ?? pair.startIndex) == pair.startIndex {
            throw ValidationError("--meta takes KEY=VALUE, got \(pair.debugDescription)")
        }
    }

    func run() async throws {
        try await OpsClient.run {
            let pairs = metadata.map { pair -> (String, String?) in
                let equals = pair.firstIndex(of: "=")!
                return ("metadata." + pair[..<equals], String(pair[pair.index(after: equals)...]))
            }
            let page = try await ops.client.get("/v1/sessions", query: [
                ("state", state), ("call_id", call), ("user_id", user), ("sfu_url", node), ("limit", String(limit)),
            ] + pairs)
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
