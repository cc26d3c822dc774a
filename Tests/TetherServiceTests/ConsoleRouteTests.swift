import Foundation
import Testing
@testable import TetherService

/// `GET /console`: served from the binary, without a token, under a CSP that allows
/// only the page's own origin.
@Suite(.serialized, .timeLimit(.minutes(1))) struct ConsoleRouteTests {
    @Test func theConsoleIsServedWithoutATokenUnderASelfOnlyPolicy() async throws {
        try await withService(apiTokens: ["0123456789abcdef-token"], nodes: 0) { service, _ in
            for (path, type) in [("/console", "text/html"), ("/console/console.js", "text/javascript"), ("/console/console.css", "text/css")] {
                let reply = try await service.request(.GET, path, authorize: false)
                #expect(reply.status == 200, "\(path)")
                #expect(reply.headers.first(name: "Content-Type")?.hasPrefix(type) == true, "\(path)")
                let policy = try #require(reply.headers.first(name: "Content-Security-Policy"))
                #expect(policy.contains("default-src 'none'") && policy.contains("script-src 'self'") && policy.contains("connect-src 'self'"))
                #expect(!policy.contains("unsafe") && !policy.contains("http"), "no inline code, no other origin: \(policy)")
                #expect(reply.headers.first(name: "X-Content-Type-Options") == "nosniff")
                #expect(!reply.body.isEmpty)
            }
            let page = try await service.request(.GET, "/console", authorize: false).text
            #expect(page.contains("console.js") && page.contains("console.css"))
            #expect(!page.contains("<script>") && !page.contains("style="), "nothing inline for the policy to block")
            // The page holds no data: the API behind it still wants the token.
            #expect(try await service.request(.GET, "/v1/sessions", authorize: false).status == 401)
            #expect(try await service.request(.POST, "/console", authorize: false).status == 405)
            #expect(try await service.request(.GET, "/console/other.js", authorize: false).status == 404)
        }
    }
}
