import HTTPTypes
import Hummingbird
import OpenAPIHummingbird
import OpenAPIRuntime

/// Sends each operation generated from `openapi.yaml` to one of two places by its
/// declared path: the probes that must answer without a token (`/healthz`, `/readyz`)
/// to the router itself, everything else to the group that carries the bearer check.
///
/// Deciding by the operation's declared path (not by the request's raw path) is what
/// keeps a spelling like `//v1/sessions` from reaching a handler without the check.
/// One operation, `GET /v1/sessions/{id}`, is left to ``SessionReadRoute``; the listing
/// pages may answer bytes their handler wrote (``PreencodedBody``).
struct GuardedRouteTransport<Context: RequestContext>: ServerTransport {
    static var openPaths: Set<String> { ["/healthz", "/readyz"] }

    let open: Router<Context>
    let guarded: RouterGroup<Context>

    func register(
        _ handler: @escaping @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?),
        method: HTTPRequest.Method,
        path: String
    ) throws {
        let preencoded = PreencodedBody.wraps(method: method, path: path)
        let handler = { @Sendable (request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata) in
            try await RequestQuery.$raw.withValue(request.path) {
                preencoded
                    ? try await PreencodedBody.answer(handler, request, body, metadata)
                    : try await handler(request, body, metadata)
            }
        }
        // Served by ``SessionReadRoute`` (registered beside this transport), not the runtime.
        if method == SessionReadRoute.method && path == SessionReadRoute.path { return }
        if Self.openPaths.contains(path) {
            try open.register(handler, method: method, path: path)
        } else {
            try guarded.register(handler, method: method, path: path)
        }
    }
}
