import Hummingbird

/// Requires `Authorization: Bearer <token>` on `/v1/*` when tokens are configured.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let tokens: [String]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !tokens.isEmpty, request.uri.path.hasPrefix("/v1/") || request.uri.path == "/v1" else {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw APIError.unauthorized
        }
        let presented = Array(header.dropFirst("Bearer ".count).utf8)
        // Compare every token in full so timing does not reveal a matching prefix.
        var matched = false
        for token in tokens where Self.constantTimeEquals(presented, Array(token.utf8)) { matched = true }
        guard matched else { throw APIError.unauthorized }
        return try await next(request, context)
    }

    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}
