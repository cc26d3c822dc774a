import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import Testing
import TetherEvents

/// The SSE live tail: a client that disconnects and resumes with Last-Event-ID misses nothing.
@Suite(.serialized, .timeLimit(.minutes(2))) struct EventStreamTests {
    /// Reads SSE frames until `stop` says enough; returns the event ids seen.
    /// A read that does not reach `stop` within 10 s fails the test.
    func read(
        _ service: LiveService, lastEventID: Int?, sourceLocation: SourceLocation = #_sourceLocation,
        until stop: @escaping @Sendable ([Int]) -> Bool
    ) async throws -> [Int] {
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
            if stop(ids) { return ids }
            // The test service sends a heartbeat every 200 ms, so this is checked often.
            if ContinuousClock.now > deadline {
                Issue.record("the stream did not deliver what was expected within 10 s; got \(ids)", sourceLocation: sourceLocation)
                throw CancellationError()
            }
        }
        Issue.record("the stream ended early; got \(ids)", sourceLocation: sourceLocation)
        throw CancellationError()
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

    @Test func eventsCommittedWhileTheStreamSwitchesFromBacklogToLiveArriveExactlyOnce() async throws {
        try await withService { service, _ in
            // A steady stream of commits, before, during and after the client connects:
            // some land between the subscription and the backlog query.
            let total = 3000
            let writer = Task {
                for index in 0..<total {
                    service.app.log.append(SessionEvent(
                        sessionID: "handover", timeMs: Int64(Date().timeIntervalSince1970 * 1000), generation: 1,
                        kind: .left(reason: "\(index)")))
                    if index % 50 == 49 { try await service.app.log.flush() }
                }
                try await service.app.log.flush()
            }
            let received = try await read(service, lastEventID: 0) { $0.count >= total }
            try await writer.value
            #expect(received == Array(1...total), "every id once, in order (got \(received.count))")
        }
    }

    @Test func aSessionFilterOnlySendsThatSessionInTheBacklogAndLive() async throws {
        try await withService { service, sfus in
            let a = try #require(try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url])).json["id"] as? String)
            let b = try #require(try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url])).json["id"] as? String)
            var request = HTTPClientRequest(url: service.baseURL + "/v1/events/stream?after=0&session_id=\(a)")
            request.method = .GET
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            var text = ""
            var deleted = false
            let deadline = ContinuousClock.now + .seconds(10)
            for try await chunk in response.body {
                text += String(buffer: chunk)
                if text.contains(": live"), !deleted {
                    // Live: b leaves first, then a; only a's `left` may arrive.
                    deleted = true
                    _ = try await service.request(.DELETE, "/v1/sessions/\(b)")
                    _ = try await service.request(.DELETE, "/v1/sessions/\(a)")
                }
                if text.contains("event: left") { break }
                if ContinuousClock.now > deadline {
                    Issue.record("a's live `left` did not arrive within 10 s: \(text)")
                    break
                }
            }
            let types = text.components(separatedBy: "\n").filter { $0.hasPrefix("event: ") }
            #expect(types == ["event: session_created", "event: joined", "event: left"], "\(types)")
            #expect(!text.contains(b), "nothing of the other session, backlog or live")
        }
    }
}
