import Foundation
import NIOHTTP1
import Testing
@testable import TetherService

/// Every bad input gets a clear 4xx with the JSON error shape and changes nothing.
@Suite(.serialized, .timeLimit(.minutes(5))) struct BadInputTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var method: HTTPMethod
        var path: String
        var body: String?
        var headers: [(String, String)] = []
        var authorize = true
        var status: Int
        var code: String
        var testDescription: String { name }
    }

    static let token = "test-token-0123456789"
    static let sfu = "ws://127.0.0.1:9/ws"

    static func body(_ mutate: (inout [String: Any]) -> Void) -> String {
        var body = createBody(urls: [sfu])
        mutate(&body)
        return String(decoding: try! JSONSerialization.data(withJSONObject: body), as: UTF8.self)
    }

    static let cases: [Case] = [
        Case(name: "malformed JSON", method: .POST, path: "/v1/sessions", body: #"{"call_id": "x", "#, status: 400, code: "bad_request"),
        Case(name: "not JSON at all", method: .POST, path: "/v1/sessions", body: "call_id=x", status: 400, code: "bad_request"),
        Case(name: "wrong type", method: .POST, path: "/v1/sessions", body: body { $0["call_id"] = 42 }, status: 400, code: "bad_request"),
        Case(name: "missing field", method: .POST, path: "/v1/sessions", body: body { $0["sfu"] = nil }, status: 400, code: "bad_request"),
        Case(name: "unknown field", method: .POST, path: "/v1/sessions", body: body { $0["agent"] = "x" }, status: 400, code: "bad_request"),
        Case(name: "unknown dialect", method: .POST, path: "/v1/sessions",
             body: body { $0["sfu"] = ["dialect": "webrtc", "urls": [sfu], "token": "t"] }, status: 400, code: "bad_request"),
        Case(name: "non-ws URL", method: .POST, path: "/v1/sessions",
             body: body { $0["sfu"] = ["dialect": "stream", "urls": ["http://127.0.0.1:9/ws"], "token": "t"] }, status: 422, code: "invalid_sfu_url"),
        Case(name: "host not allowed", method: .POST, path: "/v1/sessions",
             body: body { $0["sfu"] = ["dialect": "stream", "urls": ["ws://sfu.example.com/ws"], "token": "t"] }, status: 422, code: "sfu_address_unresolvable"),
        Case(name: "no SFU URL", method: .POST, path: "/v1/sessions",
             body: body { $0["sfu"] = ["dialect": "stream", "urls": [String](), "token": "t"] }, status: 422, code: "validation_failed"),
        Case(name: "empty call id", method: .POST, path: "/v1/sessions", body: body { $0["call_id"] = "" }, status: 422, code: "validation_failed"),
        Case(name: "policy out of range", method: .POST, path: "/v1/sessions",
             body: body { $0["policy"] = ["health_check_interval_ms": 1] }, status: 422, code: "validation_failed"),
        Case(name: "timeout shorter than interval", method: .POST, path: "/v1/sessions",
             body: body { $0["policy"] = ["health_check_interval_ms": 5000, "health_check_timeout_ms": 1000] }, status: 422, code: "validation_failed"),
        Case(name: "oversized body", method: .POST, path: "/v1/sessions",
             body: body { $0["metadata"] = ["blob": String(repeating: "x", count: 70_000)] }, status: 413, code: "body_too_large"),
        Case(name: "bad cursor", method: .GET, path: "/v1/events?cursor=not-a-cursor", status: 400, code: "invalid_cursor"),
        Case(name: "cursor out of range", method: .GET, path: "/v1/sessions?cursor=99999999999999999999", status: 400, code: "invalid_cursor"),
        Case(name: "negative time", method: .GET, path: "/v1/stats?since=-1", status: 400, code: "invalid_time"),
        Case(name: "limit 0", method: .GET, path: "/v1/events?limit=0", status: 400, code: "invalid_limit"),
        Case(name: "limit 1001", method: .GET, path: "/v1/sessions?limit=1001", status: 400, code: "invalid_limit"),
        Case(name: "limit not a number", method: .GET, path: "/v1/events?limit=abc", status: 400, code: "bad_request"),
        Case(name: "unknown state filter", method: .GET, path: "/v1/sessions?state=sleeping", status: 400, code: "bad_request"),
        Case(name: "unknown event type", method: .GET, path: "/v1/events?type=exploded", status: 400, code: "bad_request"),
        Case(name: "PUT on a session", method: .PUT, path: "/v1/sessions/nope", body: "{}", status: 405, code: "method_not_allowed"),
        Case(name: "TRACE on healthz", method: .TRACE, path: "/healthz", authorize: false, status: 405, code: "method_not_allowed"),
        Case(name: "bad Last-Event-ID", method: .GET, path: "/v1/events/stream", headers: [("Last-Event-ID", "abc")], status: 400, code: "invalid_last_event_id"),
        Case(name: "unknown id (GET)", method: .GET, path: "/v1/sessions/nope", status: 404, code: "session_not_found"),
        Case(name: "unknown id (DELETE)", method: .DELETE, path: "/v1/sessions/nope", status: 404, code: "session_not_found"),
        Case(name: "unknown id (events)", method: .GET, path: "/v1/sessions/nope/events", status: 404, code: "session_not_found"),
        Case(name: "unknown route", method: .GET, path: "/v1/nothing", status: 404, code: "not_found"),
        Case(name: "missing token", method: .GET, path: "/v1/sessions", authorize: false, status: 401, code: "unauthorized"),
        Case(name: "wrong token", method: .GET, path: "/v1/sessions", headers: [("Authorization", "Bearer wrong-token-0123456789")], authorize: false, status: 401, code: "unauthorized"),
        Case(name: "not a bearer token", method: .POST, path: "/v1/sessions", body: body { _ in }, headers: [("Authorization", "Basic dXNlcjpwYXNz")], authorize: false, status: 401, code: "unauthorized"),
    ]

    @Test func everyBadInputIsAClear4xxAndChangesNothing() async throws {
        try await withService(apiTokens: [Self.token]) { service, sfus in
            // One real session, so "changes nothing" has something to keep.
            let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url]))
            let id = try #require(created.json["id"] as? String)
            let sessionsBefore = try await service.app.log.store.sessions(.init(limit: 1000))
            let eventsBefore = try await service.app.log.store.events(.init(limit: 1000))
            for testCase in Self.cases {
                let reply = try await service.request(
                    testCase.method, testCase.path, body: testCase.body.map { Data($0.utf8) },
                    headers: testCase.headers, authorize: testCase.authorize)
                #expect(reply.status == testCase.status, "\(testCase.name): \(reply.text)")
                #expect(reply.errorCode == testCase.code, "\(testCase.name): \(reply.text)")
                #expect((reply.json["error"] as? [String: Any])?["message"] is String, "\(testCase.name) explains itself")
                #expect(reply.headers.first(name: "Content-Type")?.hasPrefix("application/json") == true, "\(testCase.name)")
                #expect(!reply.text.contains(Self.token), "\(testCase.name) never echoes the API token")
            }
            try await service.app.log.flush()
            let sessionsAfter = try await service.app.log.store.sessions(.init(limit: 1000))
            #expect(sessionsAfter.map(\.id) == sessionsBefore.map(\.id))
            #expect(sessionsAfter.map(\.state) == sessionsBefore.map(\.state))
            #expect(try await service.app.log.store.events(.init(limit: 1000)).map(\.id) == eventsBefore.map(\.id))
            #expect(try await service.request(.GET, "/v1/sessions/\(id)").json["state"] as? String == "joined")
        }
    }
}
