import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import TetherEngine

/// Asks the operator's `--credentials-url` for fresh SFU credentials: a POST of
/// `{session_id, call_id, user_id, metadata, reason}`, answered with `{token, urls?}`.
///
/// Signed with a secret of its own (`--credentials-secret`):
/// `Tether-Signature: t=<unix s>,v1=<hex HMAC-SHA256(key, "credentials.<t>.<body>")>`,
/// so no webhook signature passes as one. Gentle with the endpoint in a storm: at most
/// `concurrency` requests at once service-wide (the rest wait, cancellably), one fetch
/// at a time per session (a second caller joins the first), and a circuit breaker that
/// stops asking an endpoint that keeps failing. Callers ask inside their reconnect
/// admission (``AttemptExecutor``), so the reconnect caps bound the storm first.
final class CredentialsClient: Sendable {
    let url: String
    let signature: WebhookSignature
    let concurrency: Int
    static let timeout: TimeAmount = .seconds(5)
    private let http: HTTPClient
    private let state = Mutex(State())

    private struct State {
        var inFlight = 0
        var peak = 0
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextWaiter: UInt64 = 0
        var breaker = CircuitBreaker(threshold: 5, initialPause: .seconds(1), maxPause: .seconds(30))
        /// The fetch running for each session, which a second caller joins, and how many
        /// callers wait for it.
        var bySession: [String: (task: Task<CredentialsSource.Credentials, any Error>, users: Int)] = [:]
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init(url: String, secret: WebhookSecret, concurrency: Int) {
        self.url = url
        self.signature = WebhookSignature(secret: secret, prefix: "credentials.")
        self.concurrency = concurrency
        var configuration = HTTPClient.Configuration()
        // Never follows a redirect: a 3xx would re-send the signed body somewhere else.
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: Self.timeout, read: Self.timeout)
        // One connection per request that may run: none waits for a connection here.
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// The most requests that were in flight at once (for tests and metrics).
    var peakInFlight: Int { state.withLock { $0.peak } }

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
            try await self.fetchOnce(
                for: sessionID, Request(session_id: sessionID, call_id: callID, user_id: userID, metadata: metadata, reason: reason))
        }
    }

    /// One fetch per session at a time: a caller that finds one running waits for it.
    private func fetchOnce(for session: String, _ body: Request) async throws -> CredentialsSource.Credentials {
        let task = state.withLock { state -> Task<CredentialsSource.Credentials, any Error> in
            if let running = state.bySession[session] {
                state.bySession[session]?.users += 1
                return running.task
            }
            let task = Task { try await self.admitted { try await self.fetch(body) } }
            state.bySession[session] = (task, 1)
            return task
        }
        let left = Mutex(false)
        let leave = { @Sendable in
            // Once per caller. The last caller to leave ends the fetch (it runs on while
            // another waits).
            guard !left.withLock({ done in defer { done = true }; return done }) else { return false }
            let last = self.state.withLock { state -> Bool in
                guard let entry = state.bySession[session], entry.task == task else { return false }
                if entry.users <= 1 {
                    state.bySession[session] = nil
                    return true
                }
                state.bySession[session]?.users -= 1
                return false
            }
            return last
        }
        return try await withTaskCancellationHandler {
            defer { _ = leave() }
            return try await task.value
        } onCancel: {
            if leave() { task.cancel() }
        }
    }

    /// Runs `work` within the concurrency cap and behind the breaker.
    private func admitted<T: Sendable>(_ work: @Sendable () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        guard state.withLock({ $0.breaker.admits(1, now: .now) }) == 1 else {
            throw Failure(description: "the credentials endpoint keeps failing; not asked again yet (circuit open)")
        }
        do {
            let value = try await work()
            state.withLock { $0.breaker.succeeded() }
            return value
        } catch is CancellationError {
            state.withLock { $0.breaker.succeeded() }
            throw CancellationError()
        } catch {
            state.withLock { $0.breaker.failed(now: .now) }
            throw error
        }
    }

    private func acquire() async throws {
        let (admitted, id) = state.withLock { state -> (Bool, UInt64) in
            if state.inFlight < concurrency {
                state.inFlight += 1
                state.peak = max(state.peak, state.inFlight)
                return (true, 0)
            }
            state.nextWaiter += 1
            return (false, state.nextWaiter)
        }
        guard !admitted else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                state.withLock { $0.waiters.append((id, continuation)) }
                if Task.isCancelled { cancelWaiter(id) }
            }
        } onCancel: {
            cancelWaiter(id)
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            guard !state.waiters.isEmpty else {
                state.inFlight -= 1
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        next?.resume()
    }

    private func cancelWaiter(_ id: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index).continuation
        }
        waiter?.resume(throwing: CancellationError())
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
        let response = try await http.execute(request, timeout: Self.timeout)
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
