import HTTPTypes
import OpenAPIRuntime
import Synchronization

/// A response body a handler wrote itself, sent instead of the OpenAPI runtime's
/// encoding of the typed answer.
///
/// The generated handlers answer typed values, which the runtime encodes with
/// `JSONEncoder` on every request. The listing pages are built from rows whose JSON is
/// kept (an event's by id, a session's by its row's content), so encoding a page of 100
/// again on every poll was most of its cost. For the operations in ``operations``,
/// ``GuardedRouteTransport`` runs the handler with a slot (a task local); a handler that
/// fills it answers a typed placeholder, and the transport sends the slot's bytes in its
/// stead. Status and headers stay the runtime's; nothing else changes.
final class PreencodedBody: Sendable {
    @TaskLocal static var slot: PreencodedBody?

    /// Method and declared path of the operations whose handlers may fill the slot.
    static let operations: Set<String> = ["GET /v1/sessions", "GET /v1/events", "GET /v1/sessions/{id}/events"]

    private let bytes = Mutex<[UInt8]?>(nil)

    func fill(_ body: [UInt8]) { bytes.withLock { $0 = body } }

    var filled: [UInt8]? { bytes.withLock { $0 } }

    static func wraps(method: HTTPRequest.Method, path: String) -> Bool {
        operations.contains("\(method.rawValue) \(path)")
    }

    /// Runs `handler` with a slot; when it filled the slot and answered 200, the answer
    /// carries the slot's bytes.
    static func answer(
        _ handler: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?),
        _ request: HTTPRequest, _ body: HTTPBody?, _ metadata: ServerRequestMetadata
    ) async throws -> (HTTPResponse, HTTPBody?) {
        let slot = PreencodedBody()
        var (response, answer) = try await $slot.withValue(slot) { try await handler(request, body, metadata) }
        guard response.status == .ok, let bytes = slot.filled else { return (response, answer) }
        // Any length the runtime gave was the placeholder's.
        response.headerFields[.contentLength] = nil
        answer = HTTPBody(bytes)
        return (response, answer)
    }
}
