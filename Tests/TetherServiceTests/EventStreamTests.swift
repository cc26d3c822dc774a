import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import Testing

/// The SSE live tail: a client that disconnects and resumes with Last-Event-ID misses nothing.
@Suite(.serialized) struct EventStreamTests {
    /// Reads SSE frames until `stop` says enough; returns the event ids seen.
    func read(_ service: LiveService, lastEventID: Int?, until stop: @escaping @Sendable ([Int]) -> Bool) async throws -> [Int] {
        var request = HTTPClientRequest(url: service.baseURL + "/v1/events/stream")
        if let lastEventID { request.headers.add(name: "Last-Event-ID", value: String(lastEventID)) } else {
            request.headers.add(name: "Last-Event-ID", value: "0")
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        #expect(response.status == .ok)
        #expect(response.headers.first(name: "Content-Type") == "text/event-stream")
        var ids: [Int] = []
        var pending = ""
        let deadline = ContinuousClock.now + .seconds(10)
        for try await chunk in response.body {
            pending += String(buffer: chunk)
            while let range = pending.range(of: "\n\n") {
                let frame = pending[..<range.lowerBound]
                pending.removeSubrange(..<range.upperBound)
                if let idLine = frame.split(separator: "\n").first(where: { $0.hasPrefix("id: ") }), let id = Int(idLine.dropFirst(4)) {
                    ids.append(id)
                }
            }
            if stop(ids) || ContinuousClock.now > deadline { break }
        }
        return ids
    }

    @Test func aClientThatResumesWithLastEventIDMissesNoEvent() async throws {
        try await withService { service, sfus in
            let first = try #require(try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url])).json["id"] as? String)
            // First connection: read the backlog (two events), then go away.
            let seen = try await read(service, lastEventID: 0) { $0.count >= 2 }
            #expect(seen == [1, 2])
            // While no one listens: a loss and its recovery, and a second session.
            try await sfus[0].inject("drop")
            try await service.waitForEvents(of: first) { $0.contains("reconnected") }
            _ = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url]))
            let stored = try #require(try await service.request(.GET, "/v1/events?limit=1000").json["events"] as? [[String: Any]])
            let storedIDs = stored.compactMap { $0["id"] as? Int }
            // Resume from the last id seen: the backlog, then live events.
            let target = storedIDs.count + 1
            let resumed = Task {
                try await read(service, lastEventID: seen.last) { ids in (ids.last ?? 0) >= target + 3 }
            }
            try await Task.sleep(for: .milliseconds(300))
            _ = try await service.request(.DELETE, "/v1/sessions/\(first)")
            try await sfus[0].inject("drop")
            let second = try await resumed.value
            let all = try #require(try await service.request(.GET, "/v1/events?limit=1000").json["events"] as? [[String: Any]])
            let allIDs = all.compactMap { $0["id"] as? Int }
            let received = seen + second
            #expect(received == Array(allIDs.prefix(received.count)), "no gap, no duplicate, in order")
            #expect(received.count > storedIDs.count, "live events arrived after the backlog")
        }
    }

    @Test func aSessionFilterOnlySendsThatSession() async throws {
        try await withService { service, sfus in
            let a = try #require(try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url])).json["id"] as? String)
            _ = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url]))
            var request = HTTPClientRequest(url: service.baseURL + "/v1/events/stream?after=0&session_id=\(a)")
            request.method = .GET
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            var text = ""
            for try await chunk in response.body {
                text += String(buffer: chunk)
                if text.contains(": live") { break }
            }
            #expect(text.components(separatedBy: "event: ").count - 1 == 2)
            #expect(!text.contains("\"session_id\":\"") || text.components(separatedBy: a).count - 1 == 2)
        }
    }
}
