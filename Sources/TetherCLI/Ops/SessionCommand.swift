import ArgumentParser
import Foundation

/// `tether session ID`: one session and its history as a timeline.
struct SessionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session",
        abstract: "Show one session and its history as a timeline.",
        discussion: "Exit codes: 0 done, 1 the API answered an error, 3 no such session, 4 the service is unreachable.")

    @OptionGroup var ops: OpsOptions

    @Argument(help: "The session id.")
    var id: String

    func run() async throws {
        try await OpsClient.run {
            let client = ops.client
            let session = try await client.get("/v1/sessions/\(id)")
            var events: [[String: Any]] = []
            var cursor: String?
            repeat {
                let page = try await client.get("/v1/sessions/\(id)/events", query: [("limit", "1000"), ("cursor", cursor)])
                events += page["events"] as? [[String: Any]] ?? []
                cursor = page["next_cursor"] as? String
            } while cursor != nil && events.count < 100_000
            if ops.json {
                OpsPrint.json(["session": session, "events": events])
                return
            }
            let counters = session["counters"] as? [String: Any] ?? [:]
            print("session   \(session["id"] ?? "-")")
            print("state     \(session["state"] ?? "-")\(session["end_reason"].map { " (\($0))" } ?? "")")
            print("call      \(session["call_id"] ?? "-")   user \(session["user_id"] ?? "-")")
            print("sfu       \(session["sfu_url"] ?? "-")   session \(session["sfu_session_id"] ?? "-")   generation \(session["generation"] ?? "-")")
            print("counters  losses \(counters["losses"] ?? 0), reconnects \(counters["reconnects"] ?? 0), failed \(counters["failed_reconnects"] ?? 0)")
            print("")
            let start = (events.first?["time_ms"] as? NSNumber)?.int64Value ?? 0
            OpsPrint.table(
                ["TIME (UTC)", "+MS", "GEN", "EVENT", "DETAILS"],
                events.map { event in
                    let at = (event["time_ms"] as? NSNumber)?.int64Value ?? start
                    return [OpsPrint.time(event["time_ms"]), "+\(at - start)", "\(event["generation"] ?? "-")",
                            event["type"] as? String ?? "-", OpsPrint.details(event)]
                })
        }
    }
}
