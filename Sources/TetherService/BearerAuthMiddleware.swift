import HTTPTypes
import Hummingbird

/// Requires `Authorization: Bearer <token>` and enforces the token's role.
///
/// It is attached to the route group that holds every guarded operation, so it runs
/// only after the router has matched one of them: however a path is spelled (`//v1`,
/// `/v1//sessions`), a request that reaches a guarded handler went through this check,
/// and one that matches nothing never reaches a handler at all.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let tokens: TokenRing

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !tokens.isEmpty else { return try await next(request, context) }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw APIError.unauthorized
        }
        guard let role = tokens.role(of: header.dropFirst("Bearer ".count)) else { throw APIError.unauthorized }
        if role == .read, request.method != .get, request.method != .head {
            throw APIError.forbidden
        }
        return try await next(request, context)
    }
}
