import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Testing
import TetherEvents
import TetherSFUSimulator
import TetherTestSupport
@testable import TetherEventLog
@testable import TetherService

/// `tether serve` in this process on a free port, with its own SQLite file, stopped
/// through graceful shutdown when the test is done.
final class LiveService: Sendable {
    let app: TetherApplication
    let port: Int
    /// `--db`: the SQLite file, or the PostgreSQL URL.
    let databasePath: String
    let store: StoreKind
    let token: String?
    private let dropDatabase: @Sendable () -> Void
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    static func start(
        store: StoreKind = .sqlite,
        databasePath: String? = nil,
        apiTokens: [String] = [],
        policy: ReconnectPolicy = servicePolicy,
        maxBodyBytes: Int = 64 * 1024,
        sseHeartbeat: Duration = .milliseconds(200),
        historyBatchSize: Int = 20_000,
        configure: (inout ServiceConfiguration) -> Void = { _ in }
    ) async throws -> LiveService {
        let path: String
        let drop: @Sendable () -> Void
        if let given = databasePath {
            // A database the caller made is removed with the service, as before (tests
            // reopen SQLite files by path; a PostgreSQL database is the caller's).
            path = given
            let removesFiles = store == .sqlite
            drop = {
                guard removesFiles else { return }
                for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: given + suffix) }
            }
        } else {
            let made = try store.makeDatabase()
            path = made.db
            drop = made.cleanup
        }
        var configuration = ServiceConfiguration(
            host: "127.0.0.1", port: 0, databasePath: path, apiTokens: apiTokens,
            defaultPolicy: policy, maxBodyBytes: maxBodyBytes)
        configure(&configuration)
        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "tether.test")
        logger.logLevel = .warning
        let app = try await buildApplication(configuration: configuration, logger: logger, sseHeartbeat: sseHeartbeat, historyBatchSize: historyBatchSize) { port in
            portContinuation.yield(port)
        }
        let group = ServiceGroup(configuration: .init(services: [app.application], logger: logger))
        let task = Task { try await group.run() }
        var port = 0
        for await bound in portStream {
            port = bound
            break
        }
        return LiveService(
            app: app, port: port, databasePath: path, store: store, token: apiTokens.first, group: group, task: task, dropDatabase: drop)
    }

    private init(
        app: TetherApplication, port: Int, databasePath: String, store: StoreKind, token: String?, group: ServiceGroup,
        task: Task<Void, any Error>, dropDatabase: @escaping @Sendable () -> Void
    ) {
        self.app = app
        self.port = port
        self.databasePath = databasePath
        self.store = store
        self.dropDatabase = dropDatabase
        self.token = token
        self.group = group
        self.task = task
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    /// Deletes the SQLite file and its WAL companions, or drops the PostgreSQL database.
    func removeDatabase() { dropDatabase() }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    struct Reply: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: Data
        var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
        var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func request(
        _ method: HTTPMethod, _ path: String, body: Data? = nil, headers: [(String, String)] = [], authorize: Bool = true
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        if authorize, let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let collected = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return Reply(status: Int(response.status.code), headers: response.headers, body: Data(buffer: collected))
    }

    func json(_ method: HTTPMethod, _ path: String, _ object: Any, headers: [(String, String)] = []) async throws -> Reply {
        try await request(method, path, body: try JSONSerialization.data(withJSONObject: object), headers: headers)
    }

    /// The history of one session, in order.
    func events(of sessionID: String) async throws -> [[String: Any]] {
        let reply = try await request(.GET, "/v1/sessions/\(sessionID)/events?limit=1000")
        return reply.json["events"] as? [[String: Any]] ?? []
    }

    /// The whole history of one session, page after page.
    func allEvents(of sessionID: String) async throws -> [[String: Any]] {
        var events: [[String: Any]] = []
        var cursor: String?
        repeat {
            let page = try await request(.GET, "/v1/sessions/\(sessionID)/events?limit=1000" + (cursor.map { "&cursor=\($0)" } ?? "")).json
            events += page["events"] as? [[String: Any]] ?? []
            cursor = page["next_cursor"] as? String
        } while cursor != nil
        return events
    }

    func eventTypes(of sessionID: String) async throws -> [String] {
        try await events(of: sessionID).compactMap { $0["type"] as? String }
    }

    /// Polls the history until `condition` holds.
    @discardableResult
    func waitForEvents(
        of sessionID: String, timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation,
        until condition: ([String]) -> Bool
    ) async throws -> [String] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let types = try await eventTypes(of: sessionID)
            if condition(types) { return types }
            try await Task.sleep(for: .milliseconds(20))
        }
        let types = try await eventTypes(of: sessionID)
        Issue.record("timed out waiting on the history of \(sessionID): \(types)", sourceLocation: sourceLocation)
        throw CancellationError()
    }
}

/// Service tests are about the API and histories, not detection speed.
let servicePolicy = steadyTestPolicy

let sfuToken = SimulatorToken.make(callCID: "default:demo", userID: "agent-7")

func createBody(urls: [String], extra: [String: Any] = [:]) -> [String: Any] {
    var body: [String: Any] = [
        "call_id": "default:demo", "user_id": "agent-7",
        "sfu": ["dialect": "stream", "urls": urls, "token": sfuToken],
    ]
    for (key, value) in extra { body[key] = value }
    return body
}

/// A simulator on a free port, and its admin surface.
struct Simulator: Sendable {
    let simulator: SFUSimulator

    static func start(port: Int = 0) async throws -> Simulator {
        let simulator = SFUSimulator(configuration: .init(port: port))
        try await simulator.start()
        return Simulator(simulator: simulator)
    }

    var url: String { simulator.signalingURL }

    func inject(_ fault: String) async throws {
        var request = HTTPClientRequest(url: simulator.adminURL + "/" + fault)
        request.method = .POST
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        #expect(response.status == .ok, "admin \(fault)")
    }

    func stop() async { await simulator.stop() }
}

/// A row as a previous `tether serve` would have left it for a session on `url`.
func previousProcessRow(
    id: String, state: String, url: String, userID: String = "agent-7", sfuSessionID: String? = nil
) throws -> SessionRecord {
    var record = SessionRecord(
        id: id, state: state, callID: "default:demo", userID: userID, dialect: "stream",
        sfuURLs: #"["\#(url)"]"#, sfuToken: SimulatorToken.make(callCID: "default:demo", userID: userID), dialectOptions: nil,
        policy: String(decoding: try JSONEncoder().encode(PolicyDocument(servicePolicy)), as: UTF8.self),
        metadata: "{}", sfuURL: url, idempotencyKey: nil, requestFingerprint: nil, createdAtMs: 1)
    record.sfuSessionID = sfuSessionID
    return record
}

/// Writes `rows` into the database at `path` (creating it), before a service opens it.
func seed(_ rows: [SessionRecord], at path: String) async throws {
    let store = try EventStore.open(path: path)
    try await store.database.write { db in for row in rows { try EventStore.upsert(row, in: db) } }
}

/// Starts a simulator, runs `body`, and stops it whatever happens: for tests that need
/// the simulator's address before the service starts (to seed rows that name it).
func withSimulator(_ body: (Simulator) async throws -> Void) async throws {
    let simulator = try await Simulator.start()
    do {
        try await body(simulator)
    } catch {
        await simulator.stop()
        throw error
    }
    await simulator.stop()
}
