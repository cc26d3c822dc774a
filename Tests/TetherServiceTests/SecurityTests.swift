import Foundation
import NIOHTTP1
import Testing
import TetherEvents
import TetherTestSupport
@testable import TetherEventLog
@testable import TetherService

/// Issue 8: who may call what (decided on the matched route), where sessions may dial
/// (decided on resolved addresses), and what no single client can exhaust.
@Suite(.serialized, .timeLimit(.minutes(3))) struct SecurityTests {
    static let fullToken = "full-token-0123456789abcdef"
    static let readToken = "read-token-0123456789abcdef"

    enum Caller: String, CaseIterable, Sendable { case anonymous, reader, writer }

    struct Row: Sendable, CustomTestStringConvertible {
        var method: HTTPMethod
        var path: String
        var body: String?
        /// Expected status for anonymous, reader, writer.
        var expected: [Int]
        var testDescription: String { "\(method) \(path)" }
    }

    /// A create whose URL the default loopback list refuses: a writer gets as far as the
    /// handler (422 from the address check) without putting an agent anywhere.
    static let refusedCreate = #"{"call_id":"c","user_id":"u","sfu":{"dialect":"stream","urls":["ws://10.0.0.1:9/ws"],"token":"t"}}"#
    static let drain = #"{"sfu_url":"ws://127.0.0.1:9/ws"}"#

    static let rows: [Row] = [
        Row(method: .GET, path: "/v1/sessions", expected: [401, 200, 200]),
        Row(method: .GET, path: "//v1/sessions", expected: [401, 200, 200]),
        Row(method: .GET, path: "/v1//sessions", expected: [401, 200, 200]),
        Row(method: .GET, path: "///v1/events", expected: [401, 200, 200]),
        Row(method: .GET, path: "/v1/events?limit=1", expected: [401, 200, 200]),
        Row(method: .GET, path: "/v1/stats", expected: [401, 200, 200]),
        Row(method: .GET, path: "/metrics", expected: [401, 200, 200]),
        Row(method: .GET, path: "//metrics", expected: [401, 200, 200]),
        Row(method: .GET, path: "/%2Fv1/sessions", expected: [404, 404, 404]),
        Row(method: .GET, path: "/%2fv1%2fsessions", expected: [404, 404, 404]),
        Row(method: .GET, path: "/v1/%73essions", expected: [404, 404, 404]),
        Row(method: .GET, path: "/./v1/sessions", expected: [404, 404, 404]),
        Row(method: .GET, path: "/v1/sessions/nope", expected: [401, 404, 404]),
        Row(method: .GET, path: "//v1/sessions/nope", expected: [401, 404, 404]),
        Row(method: .HEAD, path: "/v1/sessions/nope", expected: [401, 404, 404]),
        Row(method: .GET, path: "//v1/sessions/nope/events", expected: [401, 404, 404]),
        Row(method: .POST, path: "/v1/sessions", body: refusedCreate, expected: [401, 403, 422]),
        Row(method: .POST, path: "//v1/sessions", body: refusedCreate, expected: [401, 403, 422]),
        Row(method: .POST, path: "/v1//sessions", body: refusedCreate, expected: [401, 403, 422]),
        Row(method: .DELETE, path: "/v1/sessions/nope", expected: [401, 403, 404]),
        Row(method: .DELETE, path: "//v1/sessions/nope", expected: [401, 403, 404]),
        Row(method: .POST, path: "/v1/sessions/nope/migrate", expected: [401, 403, 404]),
        Row(method: .POST, path: "/v1/drain", body: drain, expected: [401, 403, 202]),
        Row(method: .POST, path: "//v1/drain", body: drain, expected: [401, 403, 202]),
        Row(method: .HEAD, path: "/v1/sessions", expected: [401, 200, 200]),
        Row(method: .HEAD, path: "//metrics", expected: [401, 200, 200]),
        Row(method: .PATCH, path: "/v1/sessions", expected: [405, 405, 405]),
        Row(method: .GET, path: "/healthz", expected: [200, 200, 200]),
        Row(method: .GET, path: "/readyz", expected: [200, 200, 200]),
        Row(method: .GET, path: "//healthz", expected: [200, 200, 200]),
    ]

    @Test(arguments: [
        ("127.0.0.1", true), ("127.1", true), ("127.255.0.9", true), ("::1", true), ("::ffff:127.0.0.1", true),
        ("localhost", true), ("LOCALHOST", true),
        ("127.example.com", false), ("0.0.0.0", false), ("::", false), ("10.0.0.1", false), ("example.com", false),
    ])
    func bindingOffLoopbackNeedsATokenJudgedOnTheAddress(host: String, loopback: Bool) throws {
        let open = ServiceConfiguration(host: host, databasePath: "/unused")
        #expect(open.bindsLoopbackOnly == loopback)
        if loopback {
            try open.validate()
        } else {
            #expect(throws: ServiceConfiguration.Invalid.self) { try open.validate() }
            try ServiceConfiguration(host: host, databasePath: "/unused", apiTokens: [Self.fullToken]).validate()
        }
    }

    @Test func shortTokensAndBadAllowEntriesAreRefusedAtStart() {
        #expect(throws: ServiceConfiguration.Invalid.self) {
            try ServiceConfiguration(apiTokens: [Self.fullToken], readTokens: ["short"]).validate()
        }
        #expect(throws: ServiceConfiguration.Invalid.self) {
            try ServiceConfiguration(allowedSFUHosts: ["10.0.0.0/33"]).validate()
        }
    }

    @Test func everyGuardedRouteNeedsATokenHoweverThePathIsSpelled() async throws {
        try await withService(apiTokens: [Self.fullToken], nodes: 0, configure: { $0.readTokens = [Self.readToken] }) { service, _ in
            var table: [String] = []
            for row in Self.rows {
                var answers: [Int] = []
                for caller in Caller.allCases {
                    let headers: [(String, String)] = switch caller {
                    case .anonymous: []
                    case .reader: [("Authorization", "Bearer \(Self.readToken)")]
                    case .writer: [("Authorization", "Bearer \(Self.fullToken)")]
                    }
                    let reply = try await service.request(
                        row.method, row.path, body: row.body.map { Data($0.utf8) }, headers: headers, authorize: false)
                    answers.append(reply.status)
                    #expect(!reply.text.contains(Self.fullToken) && !reply.text.contains(Self.readToken), "\(row.method) \(row.path) echoes no token")
                    if reply.status == 403 { #expect(reply.errorCode == "forbidden") }
                    if reply.status == 401, row.method != .HEAD { #expect(reply.errorCode == "unauthorized") }
                }
                table.append("\(row.method) \(row.path): \(answers)")
                #expect(answers == row.expected, "\(row.method) \(row.path)")
            }
            print("path/role table (anonymous, read, full):\n" + table.joined(separator: "\n"))
            try await service.app.log.flush()
            #expect(try await service.app.log.store.sessions(.init(limit: 10)).isEmpty, "no session was created by any row")
        }
    }

    @Test func theLiveTailIsGuardedToo() async throws {
        try await withService(apiTokens: [Self.fullToken], nodes: 0, configure: { $0.readTokens = [Self.readToken] }) { service, _ in
            for (path, token, status) in [
                ("//v1/events/stream", nil, "401"), ("/v1/events/stream", nil, "401"),
                ("//v1/events/stream", Self.readToken, "200"), ("/v1/events/stream", Self.fullToken, "200"),
            ] {
                let connection = try RawConnection(port: service.port)
                let auth = token.map { "Authorization: Bearer \($0)\r\n" } ?? ""
                try connection.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(auth)\r\n")
                let head = try await connection.read(until: "\r\n", timeout: .seconds(10))
                #expect(head.hasPrefix("HTTP/1.1 \(status)"), "\(path) with \(token == nil ? "no token" : "a token"): \(head.prefix(40))")
                connection.close()
            }
        }
    }

    @Test func aRefusedAddressAnswers422AndDialsNothing() async throws {
        try await withSimulator { simulator in
            let port = try #require(simulator.simulator.port)
            // `*` is what an operator sets inside Docker; it must still never open loopback.
            try await withService(nodes: 0, configure: { $0.allowedSFUHosts = ["*"] }) { service, _ in
                for host in ["127.0.0.1", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "0.0.0.0", "[::1]", "[::ffff:127.0.0.1]", "localhost"] {
                    let reply = try await service.json(.POST, "/v1/sessions", createBody(urls: ["ws://\(host):\(port)/ws"]))
                    #expect(reply.status == 422, "\(host): \(reply.text)")
                    #expect(reply.errorCode == "sfu_address_not_allowed", "\(host): \(reply.text)")
                }
                #expect(simulator.simulator.state.counters.connectionsAccepted == 0, "nothing was dialed")
            }
            // An explicit CIDR opens loopback, in any spelling the resolver takes.
            try await withService(nodes: 0, configure: { $0.allowedSFUHosts = ["*", "127.0.0.0/8"] }) { opened, _ in
                let reply = try await opened.json(.POST, "/v1/sessions", createBody(urls: ["ws://127.1:\(port)/ws"]))
                #expect(reply.status == 201, "\(reply.text)")
                #expect(simulator.simulator.state.counters.connectionsAccepted == 1)
            }
        }
    }

    @Test func aSessionResumedAfterARestartIsCheckedAgainstTheNarrowedList() async throws {
        try await withSimulator { simulator in
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("tether-narrowed-\(UUID().uuidString).sqlite").path
            // A row the previous process left live, on an address it was allowed to dial.
            try await seed([previousProcessRow(id: "left-live", state: "joined", url: simulator.url, sfuSessionID: "sfu-1")], at: path)
            // The new process only allows a range the simulator is not in.
            try await withService(nodes: 0, databasePath: path, configure: { $0.allowedSFUHosts = ["10.0.0.0/8"] }) { service, _ in
                let types = try await service.waitForEvents(of: "left-live") { $0.contains("reconnect_failed") }
                #expect(types == ["resumed_after_restart", "reconnect_failed"])
                let events = try await service.events(of: "left-live")
                #expect(events.last?["reason"] as? String == "sfu_address_not_allowed")
                let session = try await service.request(.GET, "/v1/sessions/left-live")
                #expect(session.json["state"] as? String == "failed")
                try await service.app.log.flush()
                #expect(try await service.app.log.store.session(id: "left-live")?.sfuToken == "", "the ended session keeps no token")
                #expect(simulator.simulator.state.counters.connectionsAccepted == 0, "nothing was dialed")
            }
        }
    }

    @Test func halfSentRequestsAreClosedAfterTheIdleTimeout() async throws {
        try await withService(nodes: 0, configure: { $0.httpIdleTimeout = .seconds(1) }) { service, _ in
            var connections: [RawConnection] = []
            for _ in 0..<50 {
                let connection = try RawConnection(port: service.port)
                try connection.send("GET /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                connections.append(connection)
            }
            for (index, connection) in connections.enumerated() {
                #expect(try await connection.waitUntilClosed(timeout: .seconds(15)), "half-sent request \(index) was closed")
            }
            // A body sent a byte at a time does not hold a connection either.
            let dribbler = try RawConnection(port: service.port)
            try dribbler.send("POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            let started = ContinuousClock.now
            var closed = false
            while !closed, ContinuousClock.now - started < .seconds(15) {
                try? dribbler.send("1\r\n{\r\n")
                try await Task.sleep(for: .milliseconds(300))
                if case .closed = dribbler.readAvailable() { closed = true }
            }
            #expect(closed, "a slowly sent body is cut off after the timeout")
            // The server still answers everyone else.
            #expect(try await service.request(.GET, "/healthz").status == 200)
        }
    }

    @Test func connectionsBeyondTheLimitAreRefusedPromptly() async throws {
        try await withService(nodes: 0, configure: { $0.maxConnections = 4 }) { service, _ in
            var held: [RawConnection] = []
            for _ in 0..<4 { held.append(try RawConnection(port: service.port)) }
            // Let the server accept the held ones before the extra one arrives.
            let (extra, answer) = try await pollUntil(timeout: .seconds(10)) { () async throws -> (RawConnection, String)? in
                let probe = try RawConnection(port: service.port)
                try probe.send("GET /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                // Both a 200 and the 503 carry a JSON body; read into it.
                let answer = try await probe.read(until: "}", timeout: .seconds(5))
                return answer.hasPrefix("HTTP/1.1 503") ? (probe, answer) : nil
            }
            #expect(answer.contains("too_many_connections"), "\(answer)")
            #expect(try await extra.waitUntilClosed(timeout: .seconds(5)), "the refused connection is closed")
            // The probes still answer: a few places past the limit are theirs.
            for path in ["/healthz", "/readyz"] {
                let probe = try RawConnection(port: service.port)
                try probe.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                let reply = try await probe.read(until: "}", timeout: .seconds(5))
                #expect(reply.hasPrefix("HTTP/1.1 200"), "\(path) over the limit: \(reply)")
                #expect(try await probe.waitUntilClosed(timeout: .seconds(5)), "a probe over the limit gets one answer, then the close")
            }
            // Free a slot: a new connection gets through.
            held.removeLast().close()
            let admitted = try await pollUntil(timeout: .seconds(10)) { () async throws -> Bool? in
                let probe = try RawConnection(port: service.port)
                try probe.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                return try await probe.read(until: "\r\n", timeout: .seconds(5)).hasPrefix("HTTP/1.1 200") ? true : nil
            }
            #expect(admitted)
            held.forEach { $0.close() }
        }
    }

    @Test func theStreamCapAnswers503() async throws {
        try await withService(nodes: 0, configure: { $0.maxEventStreams = 2 }) { service, _ in
            var open: [RawConnection] = []
            for _ in 0..<2 {
                let connection = try RawConnection(port: service.port)
                try connection.send("GET /v1/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                try await connection.read(until: ": live", timeout: .seconds(10))
                open.append(connection)
            }
            let third = try await service.request(.GET, "/v1/events/stream")
            #expect(third.status == 503)
            #expect(third.errorCode == "too_many_streams")
            open.removeLast().close()
            let freed = try await pollUntil(timeout: .seconds(10)) { () async throws -> Bool? in
                let connection = try RawConnection(port: service.port)
                try connection.send("GET /v1/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                let head = try await connection.read(until: "\r\n", timeout: .seconds(5))
                connection.close()
                return head.hasPrefix("HTTP/1.1 200") ? true : nil
            }
            #expect(freed, "a closed stream frees its slot")
            open.forEach { $0.close() }
        }
    }

    @Test func aStalledReaderIsDisconnectedAndMemoryStaysBounded() async throws {
        try await withService(nodes: 0, configure: { $0.eventStreamBuffer = 200 }) { service, _ in
            let reader = try RawConnection(port: service.port, receiveBuffer: 4096)
            try reader.send("GET /v1/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            try await reader.read(until: ": live", timeout: .seconds(10))
            // The reader now stops reading. 20,000 events of ~12 KB each: buffered
            // without a bound that would be ~240 MB.
            let residentBefore = residentBytes()
            let detail = String(repeating: "x", count: 12_000)
            for index in 0..<20_000 {
                service.app.log.append(SessionEvent(
                    sessionID: "stall", timeMs: Int64(Date().timeIntervalSince1970 * 1000), generation: 1,
                    kind: .connectionLost(reason: .error, closeCode: nil, detail: "\(index) \(detail)")))
                if index % 1000 == 999 { try await service.app.log.flush() }
            }
            try await service.app.log.flush()
            let growth = residentBytes() - residentBefore
            print("stalled SSE reader: resident memory grew \(growth / 1_048_576) MiB while 20,000 events (~240 MB) were written")
            #expect(growth < 128 * 1_048_576, "memory does not grow with a stalled reader")
            #expect(try await reader.waitUntilClosed(timeout: .seconds(30)), "the stalled reader is disconnected")
            let released = try await pollUntil(timeout: .seconds(10)) { () async -> Bool? in
                service.app.eventStreams.inUse == 0 ? true : nil
            }
            #expect(released, "the stream's slot and subscription are gone")
        }
    }
}

/// Resident set size of this process, from /proc.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
          let pages = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Calls `probe` until it returns a value; fails the test past `timeout`.
func pollUntil<T>(
    timeout: Duration, sourceLocation: SourceLocation = #_sourceLocation, _ probe: () async throws -> T?
) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let value = try await probe() { return value }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("condition not met within \(timeout)", sourceLocation: sourceLocation)
    throw CancellationError()
}
