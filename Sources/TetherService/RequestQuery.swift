import Foundation

/// The raw query string of the request being handled, for the few parameters
/// `openapi.yaml` cannot declare (`metadata.KEY=VALUE` on `GET /v1/sessions`, whose
/// names are open-ended). Set by ``GuardedRouteTransport`` around every generated
/// handler; the generated code calls ``APIHandler`` in the same task.
enum RequestQuery {
    @TaskLocal static var raw: String?

    /// The query items of `path` (`/v1/sessions?a=b`), form-decoded: `+` is a space,
    /// then percent escapes. Items whose escapes are malformed are kept undecoded.
    static func items(ofPath path: String) -> [(name: String, value: String)] {
        guard let mark = path.firstIndex(of: "?") else { return [] }
        return path[path.index(after: mark)...].split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }
}
