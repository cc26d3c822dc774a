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
        guard let header = request.headers[.authorization], let presented = Self.bearerToken(in: header) else {
            throw APIError.unauthorized
        }
        guard let role = tokens.role(of: presented) else { throw APIError.unauthorized }
        if role == .read, request.method != .get, request.method != .head {
            throw APIError.forbidden
        }
        return try await next(request, context)
    }

    /// The token of a `Bearer` credential: the scheme is case-insensitive (RFC 9110
    /// §11.1), separated from the token by one or more spaces.
    static func bearerToken(in header: String) -> Substring? {
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].drop { $0 == " " }
        return token.isEmpty ? nil : token
    }
}
