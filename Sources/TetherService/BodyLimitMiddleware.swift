import Hummingbird

/// Refuses request bodies over the limit with 413 before anything reads them, and reads
/// an empty POST body with no Content-Type as `{}` (so `POST …/migrate` needs no body).
struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let maxBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBytes {
            throw APIError(.contentTooLarge, code: "body_too_large", message: "the body is \(length) bytes; the limit is \(maxBytes)")
        }
        guard request.method == .post || request.method == .put || request.method == .patch else {
            return try await next(request, context)
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: maxBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, code: "body_too_large", message: "the body is larger than the limit of \(maxBytes) bytes")
        }
        if body.readableBytes == 0, request.headers[.contentType] == nil {
            var head = request.head
            head.headerFields[.contentType] = "application/json"
            request = Request(head: head, body: .init(buffer: ByteBuffer(string: "{}")))
        }
        return try await next(request, context)
    }
}
