import Foundation
import Testing
import TetherEvents
@testable import TetherService

/// Issue 13's filters over HTTP, against real sessions on two simulator nodes.
@Suite(.serialized, .timeLimit(.minutes(3))) struct QueryFilterAPITests {
    func ids(_ reply: LiveService.Reply, _ key: String = "sessions") -> [String] {
        (reply.json[key] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
    }

    @Test func sessionsEventsAndStatsFilterOverHTTP() async throws {
        try await withService(nodes: 2) { service, sfus in
            func create(node: Int, user: String, tenant: String) async throws -> String {
                let body = createBody(urls: [sfus[node].url], extra: ["user_id": user, "metadata": ["tenant": tenant, "tier": "gold"]])
                let reply = try await service.json(.POST, "/v1/sessions", body)
                try #require(reply.status == 201, "\(reply.text)")
                return try #require(reply.json["id"] as? String)
            }
            let a = try await create(node: 0, user: "u-a", tenant: "acme")
            let b = try await create(node: 1, user: "u-b", tenant: "acme")
            let c = try await create(node: 0, user: "u-c", tenant: "globex")
            try await sfus[0].inject("drop")
            try await service.waitForEvents(of: a) { $0.contains("reconnected") }
            try await service.waitForEvents(of: c) { $0.contains("reconnected") }

            #expect(ids(try await service.request(.GET, "/v1/sessions?metadata.tenant=acme")) == [b, a])
            #expect(ids(try await service.request(.GET, "/v1/sessions?metadata.tenant=acme&metadata.tier=gold&user_id=u-a")) == [a])
            #expect(ids(try await service.request(.GET, "/v1/sessions?metadata.tenant=acme&metadata.tier=silver")).isEmpty)
            #expect(ids(try await service.request(.GET, "/v1/sessions?metadata.tenant=ac%6De")) == [b, a], "percent-decoded")
            let encodedNode = sfus[0].url.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            #expect(ids(try await service.request(.GET, "/v1/sessions?sfu_url=\(encodedNode)")) == [c, a])
            let created = try #require(try await service.request(.GET, "/v1/sessions/\(b)").json["created_at_ms"] as? Int)
            #expect(ids(try await service.request(.GET, "/v1/sessions?created_since=\(created)")) == [c, b])
            #expect(ids(try await service.request(.GET, "/v1/sessions?created_until=\(created)")) == [a])

            let lossesOnNode = try await service.request(.GET, "/v1/events?type=connection_lost&sfu_url=\(encodedNode)")
            #expect(Set(lossesOnNode.json["events"].map { ($0 as? [[String: Any]] ?? []).compactMap { $0["session_id"] as? String } } ?? []) == [a, c])
            let two = try await service.request(.GET, "/v1/events?type=connection_lost&type=reconnected&user_id=u-a")
            #expect((two.json["events"] as? [[String: Any]])?.compactMap { $0["type"] as? String } == ["connection_lost", "reconnected"])
            let byReason = try await service.request(.GET, "/v1/events?reason=unexpected_close&strategy=fast")
            #expect(byReason.status == 200)
            #expect((byReason.json["events"] as? [[String: Any]])?.allSatisfy { $0["type"] as? String == "reconnect_started" } == true)

            let stats = try await service.request(.GET, "/v1/stats?group_by=sfu_url").json
            let groups = try #require(stats["groups"] as? [[String: Any]])
            #expect(groups.first?["key"] as? String == sfus[0].url)
            #expect(groups.first?["losses"] as? Int == 2)
            let quiet = try #require(groups.last)
            #expect(groups.count == 2 && quiet["key"] as? String == sfus[1].url, "the quiet node is listed too")
            #expect(quiet["joins"] as? Int == 1 && quiet["losses"] as? Int == 0)
            let histogram = try #require(stats["recovery_histogram"] as? [[String: Any]])
            #expect(histogram.compactMap { $0["count"] as? Int }.reduce(0, +) == 2)
            #expect(histogram.last?["le_ms"] == nil && histogram.first?["le_ms"] as? Int == 1)
            let ungrouped = try await service.request(.GET, "/v1/stats?user_id=u-b").json
            #expect(ungrouped["groups"] == nil)
            #expect((ungrouped["recovery_time"] as? [String: Any])?["count"] as? Int == 0)
        }
    }

    @Test func badFiltersAnswer400AndChangeNothing() async throws {
        try await withService { service, _ in
            for query in ["metadata.=x", "metadata.bad%20key=x", "metadata.k=1&metadata.k=2",
                          "metadata." + String(repeating: "k", count: 257) + "=x",
                          "metadata.k=" + String(repeating: "v", count: 1025)] {
                let reply = try await service.request(.GET, "/v1/sessions?" + query)
                #expect(reply.status == 400, "\(query)")
                #expect(reply.errorCode == "invalid_metadata_filter", "\(query): \(reply.text)")
            }
            let nine = (0..<9).map { "metadata.k\($0)=v" }.joined(separator: "&")
            #expect(try await service.request(.GET, "/v1/sessions?" + nine).errorCode == "invalid_metadata_filter")
            #expect(try await service.request(.GET, "/v1/sessions?created_since=-1").status == 400)
            #expect(try await service.request(.GET, "/v1/events?type=nonsense").status == 400)
            // type repeats at most 16 times (openapi.yaml's maxItems; schemathesis found it unchecked).
            let types = { (count: Int) in (0..<count).map { _ in "type=joined" }.joined(separator: "&") }
            #expect(try await service.request(.GET, "/v1/events?" + types(17)).errorCode == "invalid_filter")
            #expect(try await service.request(.GET, "/v1/events?" + types(16)).status == 200)
            #expect(try await service.request(.GET, "/v1/events?strategy=teleport").status == 400)
            #expect(try await service.request(.GET, "/v1/stats?group_by=tenant").status == 400)
            for (path, name, longest) in [("/v1/events", "reason", 200), ("/v1/events", "call_id", 256), ("/v1/sessions", "user_id", 256),
                                          ("/v1/sessions", "sfu_url", 2048), ("/v1/stats", "call_id", 256)] {
                let tooLong = try await service.request(.GET, "\(path)?\(name)=" + String(repeating: "a", count: longest + 1))
                #expect(tooLong.status == 400 && tooLong.errorCode == "invalid_filter", "\(path) \(name): \(tooLong.text)")
                let longestAllowed = try await service.request(.GET, "\(path)?\(name)=" + String(repeating: "a", count: longest))
                #expect(longestAllowed.status == 200, "\(path) \(name) at its limit: \(longestAllowed.text)")
            }
            #expect(try await service.request(.GET, "/v1/sessions?metadata.\(String(repeating: "k", count: 256))=x").status == 200)
            #expect(try await service.request(.GET, "/v1/sessions").status == 200)
        }
    }
}
