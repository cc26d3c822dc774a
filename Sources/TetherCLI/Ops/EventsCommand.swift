import ArgumentParser
import AsyncHTTPClient
import Foundation
import TetherEvents
import NIOCore
import UnixSignals

/// `tether events`: the history, filtered, and with `--follow` the live tail until ^C.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print a running service's history; --follow keeps printing new events until interrupted.",
        discussion: """
            --follow reads the live tail (Server-Sent Events) from where the listing ended, so \
            nothing is missed or printed twice; SIGINT or SIGTERM ends it with exit code 0. \
            Exit codes: 0 done, 1 the API answered an error, 3 no such session, 4 the service \
            is unreachable.
            """)

    @OptionGroup var ops: OpsOptions

    @Option(help: "Only this session's events.")
    var session: String?

    @Option(help: "Only this event type (connection_lost, reconnected, ...); repeatable: any of them.")
    var type: [String] = []

    @Option(help: "Only events of this call's sessions.")
    var call: String?

    @Option(help: "Only events of this user's sessions.")
    var user: String?

    @Option(help: "Only events that happened on this SFU node (its URL).")
    var node: String?

    @Option(help: "Only events with this reason (a loss's, an end's, a failure's).")
    var reason: String?

    @Option(help: "Only events of this strategy (fast, rejoin, migrate).")
    var strategy: String?

    @Option(help: "Only events this recent (10m, 1h, 24h).")
    var since: DurationArgument?

    @Option(help: "At most this many past events (1 to 1000; the newest are kept).")
    var limit = 100

    @Flag(help: "Keep printing new events as they happen.")
    var follow = false

    func validate() throws {
        // The live tail is filtered here, by what each event's JSON shows.
        if follow, call != nil || user != nil || node != nil || reason != nil || strategy != nil {
            throw ValidationError("--follow filters by --session and --type only; drop --call, --user, --node, --reason and --strategy")
        }
    }

    func run() async throws {
        try await OpsClient.run {
            let client = ops.client
            let sinceMs = since.map { String(Int64(Date().timeIntervalSince1970 * 1000) - $0.duration.wholeMilliseconds) }
            // Oldest first through the pages; keep the newest `limit`.
            var events: [[String: Any]] = []
            var cursor: String?
            var lastID: Int64 = 0
            repeat {
                let page = try await client.get("/v1/events", query: type.map { ("type", $0) } + [
                    ("session_id", session), ("call_id", call), ("user_id", user), ("sfu_url", node), ("reason", reason),
                    ("strategy", strategy), ("since", sinceMs), ("limit", "1000"), ("cursor", cursor),
                ])
                let batch = page["events"] as? [[String: Any]] ?? []
                events += batch
                if events.count > limit { events.removeFirst(events.count - limit) }
                lastID = (batch.last?["id"] as? NSNumber)?.int64Value ?? lastID
                cursor = page["next_cursor"] as? String
            } while cursor != nil
            for event in events { show(event) }
            if follow {
                if lastID == 0 { lastID = try await latestID(client) }
                try await tail(client, after: lastID)
            }
        }
    }

    private func show(_ event: [String: Any]) {
        // Written straight to the file descriptor, so a pipe sees each event at once.
        if ops.json {
            OpsPrint.json(event)
        } else {
            let line = [OpsPrint.time(event["time_ms"]), OpsPrint.short(event["session_id"]), event["type"] as? String ?? "-", OpsPrint.details(event)]
                .joined(separator: "  ")
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }
    }

    /// The newest event id, so a follow with nothing listed starts at "now".
    private func latestID(_ client: OpsClient) async throws -> Int64 {
        var cursor: String?
        var last: Int64 = 0
        repeat {
            let page = try await client.get("/v1/events", query: [("limit", "1000"), ("cursor", cursor)])
            last = ((page["events"] as? [[String: Any]])?.last?["id"] as? NSNumber)?.int64Value ?? last
            cursor = page["next_cursor"] as? String
        } while cursor != nil
        return last
    }

    /// Reads the live tail after `after` until a signal; reconnects (resuming with
    /// Last-Event-ID) when the service ends the stream.
    private func tail(_ client: OpsClient, after: Int64) async throws {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var last = after
                while !Task.isCancelled {
                    var request = client.request("/v1/events/stream", query: [("session_id", session)])
                    request.headers.add(name: "Last-Event-ID", value: String(last))
                    let response: HTTPClientResponse
                    do {
                        response = try await OpsClient.http.execute(request, timeout: .hours(24 * 365))
                    } catch {
                        throw OpsClient.Failure(description: "cannot reach \(client.baseURL): \(error)", exitCode: OpsExit.unreachable)
                    }
                    guard response.status == .ok else {
                        throw OpsClient.Failure(description: "the live tail answered \(response.status.code)", exitCode: OpsExit.apiError)
                    }
                    var pending = ""
                    for try await chunk in response.body {
                        pending += String(buffer: chunk)
                        while let end = pending.range(of: "\n\n") {
                            let frame = String(pending[..<end.lowerBound])
                            pending = String(pending[end.upperBound...])
                            guard let data = frame.split(separator: "\n").first(where: { $0.hasPrefix("data: ") }),
                                  let event = (try? JSONSerialization.jsonObject(with: Data(data.dropFirst(6).utf8))) as? [String: Any]
                            else { continue }
                            if !type.isEmpty, !type.contains(event["type"] as? String ?? "") { continue }
                            last = (event["id"] as? NSNumber)?.int64Value ?? last
                            show(event)
                        }
                    }
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
            group.addTask {
                for await _ in signals { return }
            }
            // The first to finish: a signal (exit 0), or the tail failing (its error).
            try await group.next()
            group.cancelAll()
        }
    }
}
