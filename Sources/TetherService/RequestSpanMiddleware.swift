import HTTPTypes
import Hummingbird
import Instrumentation
import Tracing

/// A server span per HTTP request, named by the matched route, parent of what the
/// handler traces; a caller's `traceparent` makes it a child of the caller's trace.
///
/// Hummingbird's `TracingMiddleware` does the same, at a cost measured here (bench api,
/// BENCHMARKS.md "The cost of tracing"): it ends the span in a post-write closure, which
/// turns every response body into a streamed one, and fills its attributes whether or not
/// the span is sampled. This one ends the span when the handler has answered (the body
/// write is the server's, not the request's, work) and fills attributes only on spans
/// that are recorded, so a sampled-out request costs little more than the sampler.
struct RequestSpanMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var parent = ServiceContext.current ?? .topLevel
        InstrumentationSystem.instrument.extract(request.headers, into: &parent, using: HeaderExtractor())
        // Named by the route once the router has matched it (inside `next`).
        let span = startSpan("HTTP \(request.method.rawValue) route not found", context: parent, ofKind: .server)
        defer {
            if span.isRecording, let route = context.endpointPath {
                span.operationName = route
                span.attributes["http.route"] = route
            }
            span.end()
        }
        if span.isRecording {
            span.updateAttributes { attributes in
                attributes["http.request.method"] = request.method.rawValue
                attributes["url.path"] = request.uri.path
                attributes["user_agent.original"] = request.headers[.userAgent]
            }
        }
        do {
            let response = try await ServiceContext.$current.withValue(span.context) { try await next(request, context) }
            if span.isRecording {
                span.attributes["http.response.status_code"] = Int(response.status.code)
                if response.status.code >= 500 { span.setStatus(.init(code: .error)) }
            }
            return response
        } catch {
            // The error middleware inside has already turned API errors into answers;
            // what reaches here is the router's own (404, 405) or a failure.
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            if span.isRecording {
                span.attributes["http.response.status_code"] = status
                if status >= 500 { span.setStatus(.init(code: .error)) }
                span.recordError(error)
            }
            throw error
        }
    }

    private struct HeaderExtractor: Extractor {
        func extract(key name: String, from headers: HTTPFields) -> String? {
            HTTPField.Name(name).flatMap { headers[$0] }
        }
    }
}
