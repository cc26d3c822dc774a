import Foundation
import HTTPTypes
import Hummingbird
import ServiceLifecycle
import TetherEventLog
import TetherEvents

/// `GET /v1/events/stream`: Server-Sent Events of committed events, resumable with
/// `Last-Event-ID` (or `?after=`) with no gap and no duplicate.
///
/// Written on Hummingbird directly: the OpenAPI generator has no streaming-response
/// model for SSE; the operation stays in openapi.yaml (tag `stream`).
struct EventStreamRoute: Sendable {
    let log: EventLog
    let heartbeat: Duration

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/v1/events/stream") { request, _ -> Response in
            try self.respond(to: request)
        }
    }

    enum Item: Sendable {
        case event(SessionEvent)
        case heartbeat
    }

    func respond(to request: Request) throws -> Response {
        let headerID = request.headers[HTTPField.Name("Last-Event-ID")!]
        let queryID: String? = request.uri.queryParameters.get("after").map { String($0) }
        var resumeFrom: Int64 = 0
        // An empty Last-Event-ID means the client has seen nothing yet.
        if let text = [headerID, queryID].compactMap({ $0 }).first(where: { !$0.isEmpty }) {
            guard let value = Int64(text.trimmingCharacters(in: .whitespaces)), value >= 0 else {
                throw APIError.badRequest("Last-Event-ID / after must be an event id, got '\(text)'", code: "invalid_last_event_id")
            }
            resumeFrom = value
        } else {
            // A fresh tail starts at the present.
            resumeFrom = try log.store.lastEventID()
        }
        let startAfter = resumeFrom
        let sessionFilter: String? = request.uri.queryParameters.get("session_id").map { String($0) }
        // Subscribe before reading the backlog: an event committed in between is in
        // both, and the id check drops the second copy.
        let (subscription, live) = log.subscribe()
        let log = self.log
        let heartbeat = self.heartbeat
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer { log.unsubscribe(subscription) }
            var sent = startAfter
            func send(_ event: SessionEvent, _ writer: inout any ResponseBodyWriter) async throws {
                guard let id = event.id, id > sent else { return }
                sent = id
                if let sessionFilter, event.sessionID != sessionFilter { return }
                try await writer.write(ByteBuffer(string: Self.frame(event)))
            }
            while true {
                let page = try log.store.events(EventQuery(sessionID: sessionFilter, afterID: sent, limit: 1000))
                for event in page { try await send(event, &writer) }
                if page.count < 1000 { break }
            }
            try await writer.write(ByteBuffer(string: ": live\n\n"))
            let (items, continuation) = AsyncStream.makeStream(of: Item.self)
            let forward = Task {
                for await event in live { continuation.yield(.event(event)) }
                continuation.finish()
            }
            let beat = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: heartbeat)
                    continuation.yield(.heartbeat)
                }
            }
            defer {
                forward.cancel()
                beat.cancel()
            }
            for await item in items.cancelOnGracefulShutdown() {
                switch item {
                case .event(let event): try await send(event, &writer)
                case .heartbeat: try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                }
            }
            try await writer.finish(nil)
        })
    }

    static func frame(_ event: SessionEvent) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = (try? encoder.encode(event)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return "id: \(event.id ?? 0)\nevent: \(event.type)\ndata: \(json)\n\n"
    }
}
