import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore

/// Reads the `/v1` API of a running service for the ops commands.
struct OpsClient: Sendable {
    var baseURL: String
    var token: String?

    /// Fails at once when nothing listens, rather than retrying the connect until the
    /// request's deadline (AsyncHTTPClient's default): a script wants exit 4 promptly.
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(5))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// An answer the commands turn into a message and an exit code.
    struct Failure: Error, CustomStringConvertible {
        var description: String
        var exitCode: Int32
    }

    func request(_ path: String, query: [(String, String?)] = []) -> HTTPClientRequest {
        var components = URLComponents(string: baseURL + path)
        // Percent-encoded here, `+` included: the service reads a bare `+` as a space.
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "+&=")
        func encode(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text }
        let items = query.compactMap { name, value in value.map { URLQueryItem(name: encode(name), value: encode($0)) } }
        if !items.isEmpty { components?.percentEncodedQueryItems = items }
        var request = HTTPClientRequest(url: components?.string ?? baseURL + path)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        return request
    }

    /// GETs `path` and returns its JSON object; API errors become ``Failure`` with the
    /// API's code.
    func get(_ path: String, query: [(String, String?)] = []) async throws -> [String: Any] {
        let response: HTTPClientResponse
        do {
            response = try await Self.http.execute(request(path, query: query), timeout: .seconds(30))
        } catch {
            throw Failure(description: "cannot reach \(baseURL): \(error)", exitCode: OpsExit.unreachable)
        }
        let body = try await response.body.collect(upTo: 64 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
        guard (200..<300).contains(response.status.code) else {
            let error = object["error"] as? [String: Any]
            let code = error?["code"] as? String ?? "http_\(response.status.code)"
            let message = error?["message"] as? String ?? String(buffer: body)
            throw Failure(
                description: "\(response.status.code) \(code): \(message)",
                exitCode: response.status.code == 404 ? OpsExit.notFound : OpsExit.apiError)
        }
        return object
    }

    /// Runs `body`, printing a ``Failure`` to stderr and exiting with its code.
    static func run(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as Failure {
            FileHandle.standardError.write(Data("tether: \(failure.description)\n".utf8))
            throw ExitCode(failure.exitCode)
        }
    }
}

/// Printing helpers shared by the ops commands.
enum OpsPrint {
    static func json(_ object: Any) {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }

    /// Columns padded to their widest cell.
    static func table(_ header: [String], _ rows: [[String]]) {
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        print(([line(header)] + rows.map(line)).joined(separator: "\n"))
    }

    static func time(_ ms: Any?) -> String {
        guard let ms = (ms as? NSNumber)?.doubleValue else { return "-" }
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss.SSS"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: ms / 1000))
    }

    static func age(sinceMs ms: Any?) -> String {
        guard let ms = (ms as? NSNumber)?.doubleValue else { return "-" }
        let seconds = Int(max(0, Date().timeIntervalSince1970 - ms / 1000))
        if seconds < 120 { return "\(seconds)s" }
        if seconds < 7200 { return "\(seconds / 60)m" }
        if seconds < 172_800 { return "\(seconds / 3600)h" }
        return "\(seconds / 86400)d"
    }

    /// An event's fields beyond the common ones, as `key=value`.
    static func details(_ event: [String: Any]) -> String {
        let common: Set<String> = ["id", "type", "session_id", "time_ms", "generation"]
        return event.keys.filter { !common.contains($0) }.sorted().map { "\($0)=\(event[$0].map { "\($0)" } ?? "")" }.joined(separator: " ")
    }

    static func short(_ id: Any?) -> String {
        String((id as? String ?? "-").prefix(8))
    }
}
