import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import Synchronization
import TetherEventLog
import TetherEvents

/// `GET /v1/events/stream`: Server-Sent Events of committed events, resumable with
/// `Last-Event-ID` (or `?after=`) with no gap and no duplicate.
///
/// Written on Hummingbird directly: the OpenAPI generator has no streaming-response
/// model for SSE; the operation stays in openapi.yaml (tag `stream`).
///
/// Bounded on every side: at most `streams.limit` readers, at most `buffer` events
/// queued per reader. A reader that falls `buffer` events behind, or whose socket has
/// not taken a write for a whole heartbeat period, is disconnected; it loses nothing,
/// because it resumes from its `Last-Event-ID`.
struct EventStreamRoute: Sendable {
    let log: EventLog
    let heartbeat: Duration
    let streams: EventStreamSlots
    let buffer: Int

    func register(on group: RouterGroup<TetherRequestContext>) {
        group.get("/v1/events/stream") { request, context -> Response in
            try await self.respond(to: request, channel: context.channel)
        }
    }

    enum Item: Sendable {
        case event(SessionEvent)
        case heartbeat
    }

    func respond(to request: Request, channel: any Channel) async throws -> Response {
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
            resumeFrom = try await log.store.lastEventID()
        }
        guard let slot = streams.acquire() else {
            throw APIError(
                .serviceUnavailable, code: "too_many_streams",
                message: "\(streams.limit) event streams are open, the most this server allows (--max-event-streams); retry later")
        }
        let startAfter = resumeFrom
        let sessionFilter: String? = request.uri.queryParameters.get("session_id").map { String($0) }
        // The subscription starts before the backlog is read: an event committed in
        // between is in both, and the id check drops the second copy.
        let (items, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingOldest(buffer))
        let watch = StallWatch()
        // The reader leaving ends the stream at once, and with it the slot: its socket
        // closing, or (half-closure being allowed) its side of the connection ending.
        let readerGone: @Sendable () -> Void = { continuation.finish() }
        channel.closeFuture.whenComplete { _ in readerGone() }
        ResponseProgressHandler.whenInputClosed(on: channel, readerGone)
        let subscriber = EventLog.Subscriber(
            deliver: { event in
                switch continuation.yield(.event(event)) {
                case .enqueued:
                    return true
                case .dropped:
                    // The reader is `buffer` events behind: cut it off rather than
                    // drop events silently or grow without bound.
                    continuation.finish()
                    channel.close(promise: nil)
                    return false
                case .terminated:
                    return false
                @unknown default:
                    return false
                }
            },
            end: { continuation.finish() })
        let log = self.log
        let heartbeat = self.heartbeat
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            // Subscribed here, not before the head is written: a client gone before
            // that never runs this body and so never leaves a subscriber behind.
            // Subscribing before the backlog read still leaves no gap.
            let subscription = log.subscribe(subscriber)
            defer {
                log.unsubscribe(subscription)
                continuation.finish()
                withExtendedLifetime(slot) {}
            }
            let beat = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: heartbeat)
                    // A write pending since the previous beat: the reader stopped
                    // reading and the socket buffer is full. Closing is the only way
                    // to end a write blocked on it.
                    if watch.stalled(since: ContinuousClock.now - heartbeat) {
                        channel.close(promise: nil)
                        continuation.finish()
                        return
                    }
                    continuation.yield(.heartbeat)
                }
            }
            defer { beat.cancel() }
            var sent = startAfter
            func write(_ text: String, _ writer: inout any ResponseBodyWriter) async throws {
                watch.writeStarted()
                defer { watch.writeEnded() }
                try await writer.write(ByteBuffer(string: text))
            }
            func send(_ event: SessionEvent, _ writer: inout any ResponseBodyWriter) async throws {
                guard let id = event.id, id > sent else { return }
                sent = id
                if let sessionFilter, event.sessionID != sessionFilter { return }
                try await write(Self.frame(event), &writer)
            }
            while true {
                let page = try await log.store.events(EventQuery(sessionID: sessionFilter, afterID: sent, limit: 1000))
                for event in page { try await send(event, &writer) }
                if page.count < 1000 { break }
            }
            try await write(": live\n\n", &writer)
            for await item in items.cancelOnGracefulShutdown() {
                switch item {
                case .event(let event): try await send(event, &writer)
                case .heartbeat: try await write(": keep-alive\n\n", &writer)
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

/// When the current write to an SSE reader began, to tell a slow reader from a stalled one.
private final class StallWatch: Sendable {
    private let pendingSince = Mutex<ContinuousClock.Instant?>(nil)

    func writeStarted() { pendingSince.withLock { $0 = .now } }
    func writeEnded() { pendingSince.withLock { $0 = nil } }

    /// True when a write has been pending since before `instant`.
    func stalled(since instant: ContinuousClock.Instant) -> Bool {
        pendingSince.withLock { started in started.map { $0 <= instant } ?? false }
    }
}
