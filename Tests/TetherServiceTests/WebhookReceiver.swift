import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

/// The frontend's side of webhooks and credentials: a real HTTP server on a free port
/// that records every request, checks each signature with its own HMAC code (not
/// Tether's), and answers from a script.
final class WebhookReceiver: Sendable {
    struct Received: Sendable {
        var path: String
        var eventID: String?
        var signatureValid: Bool
        var status: Int
        var json: [String: any Sendable]
        var body: String
        var arrivedAtMs: Int64
    }

    let secret: String
    /// What credentials requests are signed with (`credentials.<t>.<body>`).
    let credentialsSecret: String
    private let received = Mutex<[Received]>([])
    /// Statuses to answer webhook POSTs with, in order; 200 once it runs out.
    private let script = Mutex<[Int]>([])
    /// What `/credentials` answers (the JSON body); 500 when nil.
    private let credentials = Mutex<[String: any Sendable]?>(nil)
    /// How the receiver behaves beyond the script: delays, Retry-After, and how many
    /// requests it held at once (per path).
    private let behaviour = Mutex(Behaviour())

    struct Behaviour {
        var hookDelay: Duration = .zero
        var credentialsDelay: Duration = .zero
        var credentialsStatus: Int?
        var retryAfter: String?
        var current: [String: Int] = [:]
        var peak: [String: Int] = [:]
    }
    private let task: Task<Void, any Error>
    let port: Int

    var url: String { "http://127.0.0.1:\(port)/hook" }
    /// An endpoint that takes 30 s to answer (past Tether's 15 s timeout): a dead one.
    var stallingURL: String { "http://127.0.0.1:\(port)/stall" }
    var credentialsURL: String { "http://127.0.0.1:\(port)/credentials" }

    static func start(secret: String, credentialsSecret: String = "credentials-secret-for-tests", answering script: [Int] = []) async throws -> WebhookReceiver {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let box = Mutex<WebhookReceiver?>(nil)
        let router = Router()
        router.post("/{kind}") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            guard let receiver = box.withLock({ $0 }) else { return Response(status: .serviceUnavailable) }
            let path = request.uri.path
            receiver.entered(path)
            defer { receiver.left(path) }
            if path == "/stall" { try await Task.sleep(for: .seconds(30)) }
            let delay = receiver.behaviour.withLock { path == "/credentials" ? $0.credentialsDelay : $0.hookDelay }
            if delay > .zero { try await Task.sleep(for: delay) }
            return receiver.handle(path: path, headers: request.headers, body: String(buffer: body))
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) })
        let task = Task { try await app.runService() }
        var port = 0
        for await bound in ports {
            port = bound
            break
        }
        let receiver = WebhookReceiver(secret: secret, credentialsSecret: credentialsSecret, script: script, task: task, port: port)
        box.withLock { $0 = receiver }
        return receiver
    }

    private init(secret: String, credentialsSecret: String, script: [Int], task: Task<Void, any Error>, port: Int) {
        self.secret = secret
        self.credentialsSecret = credentialsSecret
        self.script.withLock { $0 = script }
        self.task = task
        self.port = port
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }

    func answer(webhooksWith statuses: [Int]) { script.withLock { $0 = statuses } }
    func delay(webhooks: Duration = .zero, credentials: Duration = .zero) {
        behaviour.withLock {
            $0.hookDelay = webhooks
            $0.credentialsDelay = credentials
        }
    }
    func answer(credentialsWith status: Int?) { behaviour.withLock { $0.credentialsStatus = status } }
    func answer(retryAfter: String?) { behaviour.withLock { $0.retryAfter = retryAfter } }
    /// The most requests to `path` the receiver held at once.
    func peak(_ path: String) -> Int { behaviour.withLock { $0.peak[path] ?? 0 } }

    fileprivate func entered(_ path: String) {
        behaviour.withLock {
            $0.current[path, default: 0] += 1
            $0.peak[path] = max($0.peak[path] ?? 0, $0.current[path] ?? 0)
        }
    }

    fileprivate func left(_ path: String) { behaviour.withLock { $0.current[path, default: 0] -= 1 } }
    func answer(credentials: [String: any Sendable]?) { self.credentials.withLock { $0 = credentials } }

    var requests: [Received] { received.withLock { $0 } }
    var hooks: [Received] { requests.filter { $0.path == "/hook" } }
    /// Webhooks answered 2xx, in arrival order.
    var delivered: [Received] { hooks.filter { (200..<300).contains($0.status) } }

    private func handle(path: String, headers: HTTPFields, body: String) -> Response {
        let signature = headers[HTTPField.Name("Tether-Signature")!] ?? ""
        let valid = path == "/credentials"
            ? Self.verify(signature: signature, body: body, secret: credentialsSecret, prefix: "credentials.")
            : Self.verify(signature: signature, body: body, secret: secret)
        let json = ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]) ?? [:]
        var status = 200
        var answer = ""
        let (forcedStatus, retryAfter) = behaviour.withLock { ($0.credentialsStatus, $0.retryAfter) }
        if path == "/credentials", let forcedStatus {
            status = forcedStatus
        } else if path == "/credentials" {
            if let credentials = credentials.withLock({ $0 }), valid,
               let data = try? JSONSerialization.data(withJSONObject: credentials) {
                answer = String(decoding: data, as: UTF8.self)
            } else {
                status = valid ? 500 : 401
            }
        } else {
            status = script.withLock { $0.isEmpty ? 200 : $0.removeFirst() }
        }
        received.withLock {
            $0.append(Received(
                path: path, eventID: headers[HTTPField.Name("Tether-Event-Id")!], signatureValid: valid, status: status,
                json: json.mapValues { "\($0)" }, body: body, arrivedAtMs: Int64(Date().timeIntervalSince1970 * 1000)))
        }
        var response = Response(status: .init(code: status), body: .init(byteBuffer: ByteBuffer(string: answer)))
        response.headers[.contentType] = "application/json"
        if let retryAfter, path != "/credentials", !(200..<300).contains(status) { response.headers[.retryAfter] = retryAfter }
        return response
    }

    /// `t=<seconds>,v1=<hex>` over "<prefix><t>.<body>", computed here independently,
    /// and a timestamp no older than 5 minutes.
    static func verify(signature: String, body: String, secret: String, prefix: String = "") -> Bool {
        var fields: [String: String] = [:]
        for part in signature.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        guard let t = fields["t"], let seconds = Int64(t), let given = fields["v1"] else { return false }
        guard abs(Int64(Date().timeIntervalSince1970) - seconds) <= 300 else { return false }
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(prefix)\(t).\(body)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        let expected = mac.map { String(format: "%02x", $0) }.joined()
        return expected == given
    }
}
