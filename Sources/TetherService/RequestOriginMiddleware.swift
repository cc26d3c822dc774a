import HTTPTypes
import Hummingbird

/// Applies ``RequestOriginPolicy`` to every request, matched or not, before anything
/// else reads it.
struct RequestOriginMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: RequestOriginPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let host = request.head.authority
        switch policy.check(method: request.method, host: host, origin: request.headers[.origin]) {
        case .allow:
            return try await next(request, context)
        case .misdirected(let host):
            throw APIError(
                .misdirectedRequest, code: "host_not_allowed",
                message: "Host '\(host.prefix(200))' is not a loopback name or address; without API tokens Tether answers only requests addressed to loopback (a DNS-rebinding guard)")
        case .foreignOrigin(let origin):
            throw APIError(
                .forbidden, code: "origin_not_allowed",
                message: "a \(request.method) from the web origin '\(origin.prefix(200))' is refused: only the console's own origin (or an --allow-origin) may change state")
        }
    }
}
