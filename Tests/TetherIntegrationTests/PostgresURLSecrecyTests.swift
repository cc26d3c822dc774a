import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TetherTestSupport

/// A PostgreSQL password given to `tether serve` never comes back out: not in its log
/// (at debug level), not from any endpoint, not in its error messages.
@Suite(.serialized, .timeLimit(.minutes(3))) struct PostgresURLSecrecyTests {
    static let apiToken = "secrecy-test-api-token-0123"
    /// The test cluster trusts every local connection, so the server ignores it; the
    /// point is what Tether does with it.
    static let password = "pw-never-shown-5d1c9e"

    static func withPassword(_ url: String) throws -> String {
        var components = try #require(URLComponents(string: url))
        components.password = password
        return try #require(components.string)
    }

    @Test func thePasswordIsNeitherLoggedNorServed() async throws {
        let database = try PostgresCluster.createDatabase()
        defer { PostgresCluster.dropDatabase(database) }
        let serve = try ChildProcess([
            "serve", "--port", "0", "--db", try Self.withPassword(database), "--log-level", "debug", "--api-token", Self.apiToken,
        ], capturesStandardError: true)
        do {
            let base = try await serve.waitForServeAddress()
            for path in ["/healthz", "/readyz", "/metrics", "/v1/sessions", "/v1/events", "/v1/stats", "/v1/webhooks/endpoints", "/v1/webhooks/deliveries"] {
                var request = URLRequest(url: URL(string: base + path)!)
                request.setValue("Bearer \(Self.apiToken)", forHTTPHeaderField: "Authorization")
                let (body, response) = try await URLSession.shared.data(for: request)
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                #expect(status == 200, "\(path): \(status)")
                #expect(!String(decoding: body, as: UTF8.self).contains(Self.password), "\(path) shows the password")
            }
        } catch {
            await serve.stop()
            throw error
        }
        await serve.stop()
        let output = serve.output.joined(separator: "\n")
        #expect(output.contains("postgres://tether@127.0.0.1:"), "the log names the database without its password:\n\(output.prefix(2000))")
        #expect(!output.contains(Self.password), "the log shows the password")
    }

    @Test func aBadURLIsRefusedWithoutRepeatingIt() async throws {
        for (url, expected) in [
            ("postgres://tether:\(Self.password)@127.0.0.1:1/db?sslmode=sometimes", "sslmode must be"),
            ("postgres://tether:\(Self.password)@127.0.0.1:1/db?application_name=x", "only sslmode"),
            ("postgres://tether:\(Self.password)@127.0.0.1:1/", "database"),
        ] {
            let serve = try ChildProcess(["serve", "--port", "0", "--db", url], capturesStandardError: true)
            let status = await serve.waitForExit(timeout: .seconds(30))
            let output = serve.output.joined(separator: "\n")
            #expect(status != 0, "\(url) was accepted")
            #expect(output.contains(expected), "\(url): \(output)")
            #expect(!output.contains(Self.password), "the refusal repeats the password: \(output)")
        }
    }

    @Test func anUnreachableDatabaseFailsTheStartPromptlyAndNamesItWithoutThePassword() async throws {
        // Port 1: nothing listens there, the connection is refused at once.
        let port = 1
        let serve = try ChildProcess([
            "serve", "--port", "0", "--db", "postgres://tether:\(Self.password)@127.0.0.1:\(port)/tether",
        ], capturesStandardError: true)
        let status = await serve.waitForExit(timeout: .seconds(60))
        let output = serve.output.joined(separator: "\n")
        #expect(status != 0)
        #expect(output.contains("postgres://tether@127.0.0.1:\(port)/tether"), "\(output)")
        #expect(!output.contains(Self.password), "\(output)")
    }

    @Test func thePasswordFileMustBeReadable() async throws {
        let serve = try ChildProcess([
            "serve", "--port", "0", "--db", "postgres://tether@127.0.0.1:1/tether", "--db-password-file", "/nonexistent/tether-password",
        ], capturesStandardError: true)
        let status = await serve.waitForExit(timeout: .seconds(30))
        #expect(status != 0)
        #expect(serve.output.joined(separator: "\n").contains("cannot read --db-password-file /nonexistent/tether-password"))
    }
}
