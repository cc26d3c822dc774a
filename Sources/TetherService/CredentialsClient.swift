import AsyncHTTPClient
import Foundation
import NIOCore
import TetherEngine

/// Asks the operator's `--credentials-url` for fresh SFU credentials: a POST signed like
/// webhooks (`Tether-Signature`), `{session_id, call_id, user_id, metadata, reason}`,
/// answered with `{token, urls?}` within 5 s.
struct CredentialsClient: Sendable {
    let url: String
    let signature: WebhookSignature
    static let timeout: TimeAmount = .seconds(5)
    /// Never follows a redirect: a 3xx would re-send the signed body somewhere else.
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: timeout, read: timeout)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private struct Request: Encodable {
        var session_id: String
        var call_id: String
        var user_id: String
        var metadata: [String: String]
        var reason: String
    }

    private struct Answer: Decodable {
        var token: String
        var urls: [String]?
    }

    /// The source one session's runner calls.
    func source(sessionID: String, callID: String, userID: String, metadata: [String: String]) -> CredentialsSource {
        CredentialsSource { reason in
            try await fetch(Request(session_id: sessionID, call_id: callID, user_id: userID, metadata: metadata, reason: reason))
        }
    }

    private func fetch(_ body: Request) async throws -> CredentialsSource.Credentials {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let text = String(decoding: try encoder.encode(body), as: UTF8.self)
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "tether-credentials")
        request.headers.add(name: "Tether-Signature", value: signature.header(body: text, timestamp: Int64(Date().timeIntervalSince1970)))
        request.body = .bytes(ByteBuffer(string: text))
        let response = try await Self.http.execute(request, timeout: Self.timeout)
        let data = try await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(response.status.code) else {
            throw Failure(description: "the credentials endpoint answered \(response.status.code)")
        }
        let answer: Answer
        do {
            answer = try JSONDecoder().decode(Answer.self, from: Data(buffer: data))
        } catch {
            throw Failure(description: "the credentials endpoint's answer is not {token, urls?}: \(error)")
        }
        guard !answer.token.isEmpty, answer.token.count <= 8192 else {
            throw Failure(description: "the credentials endpoint answered an empty or oversized token")
        }
        if let urls = answer.urls {
            guard (1...16).contains(urls.count) else { throw Failure(description: "the credentials endpoint answered \(urls.count) urls (1 to 16)") }
            for url in urls {
                do { _ = try SignalingURL(url) } catch { throw Failure(description: "the credentials endpoint answered a bad url: \(error)") }
            }
        }
        return .init(token: answer.token, urls: answer.urls)
    }
}
