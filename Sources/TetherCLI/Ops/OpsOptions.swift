import ArgumentParser
import Foundation

/// Where the ops commands find a running `tether serve`, and how they print.
struct OpsOptions: ParsableArguments {
    @Option(help: "The service's base URL. (env TETHER_URL, default http://127.0.0.1:8080)")
    var url: String?

    @Option(help: "A bearer token (a read token suffices). (env TETHER_API_TOKEN)")
    var token: String?

    @Flag(help: "Print the API's JSON (one object, or one event per line) instead of tables.")
    var json = false

    var client: OpsClient {
        let env = ProcessInfo.processInfo.environment
        let base = url ?? env["TETHER_URL"] ?? "http://127.0.0.1:8080"
        return OpsClient(baseURL: base.hasSuffix("/") ? String(base.dropLast()) : base, token: token ?? env["TETHER_API_TOKEN"])
    }
}

/// Exit codes scripts can rely on.
enum OpsExit {
    /// The API answered with an error (its code is printed).
    static let apiError: Int32 = 1
    /// No such session (404).
    static let notFound: Int32 = 3
    /// The service could not be reached.
    static let unreachable: Int32 = 4
}
