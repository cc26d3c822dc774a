import Foundation
import Testing
import TetherTestSupport

/// `--otel-endpoint`: a real `tether serve` exports to a real OTLP/HTTP receiver
/// (`Tests/Support/otlp_receiver.py`, decoding with PyPI `opentelemetry-proto`). A drop
/// (FAST) and an SFU that forgot its sessions (FAST refused, then REJOIN) each become
/// one `tether.reconnect` span with its attempts as children; the create is a span
/// under the request's; metrics arrive under the names `/metrics` uses.
@Suite(.serialized, .timeLimit(.minutes(3))) struct OpenTelemetryTests {
    @Test func aDropAndARejoinExportTheirSpansAttemptsAndMetrics() async throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Support/otlp_receiver.py")
        let receiver = try ChildProcess(["python3", script.path], executable: URL(fileURLWithPath: "/usr/bin/env"))
        let line = try await receiver.waitForLine(timeout: .seconds(20)) { $0.hasPrefix("listening ") }
        let port = try #require(Int(line.dropFirst("listening ".count)))

        let database = FileManager.default.temporaryDirectory.appendingPathComponent("tether-otel-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: database + suffix) } }
        let sfu = try await Simulator.start()
        defer { Task { try? await sfu.simulator.stop() } }
        let serve = try ChildProcess(
            ["serve", "--port", "0", "--db", database, "--log-level", "warning", "--otel-endpoint", "http://127.0.0.1:\(port)"],
            // Exports within a second rather than the SDK's 5 s (spans) and 60 s (metrics).
            environment: ["OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_METRIC_EXPORT_INTERVAL": "500", "OTEL_SERVICE_NAME": "tether-under-test"])
        let base = try await serve.waitForServeAddress()

        let (status, session) = try await callURL(.POST, base + "/v1/sessions", json: createBody(urls: [sfu.url]))
        #expect(status == 201)
        let id = try #require(session["id"] as? String)
        try await sfu.inject("drop")
        try await waitForTypes(base, id) { $0.filter { $0 == "reconnected" }.count == 1 }
        try await sfu.inject("forget")
        try await waitForTypes(base, id) { $0.filter { $0 == "reconnected" }.count == 2 }

        let spans = try await pollUntil(timeout: .seconds(20)) { () -> [[String: Any]]? in
            let spans = receiver.jsonLines.filter { $0["span"] != nil }
            let reconnects = spans.filter { $0["span"] as? String == "tether.reconnect" }
            let creates = spans.filter { $0["span"] as? String == "tether.session.create" }
            return reconnects.count >= 2 && !creates.isEmpty ? spans : nil
        }
        #expect(receiver.jsonLines.allSatisfy { $0["error"] == nil }, "the receiver could not decode: \(receiver.jsonLines)")
        #expect(spans.allSatisfy { $0["service"] as? String == "tether-under-test" })
        func attributes(_ span: [String: Any]) -> [String: Any] { span["attributes"] as? [String: Any] ?? [:] }
        func children(of parent: [String: Any]) -> [[String: Any]] {
            spans.filter { $0["parent_span_id"] as? String == parent["span_id"] as? String && $0["trace_id"] as? String == parent["trace_id"] as? String }
        }

        let reconnects = spans.filter { $0["span"] as? String == "tether.reconnect" }
        for reconnect in reconnects {
            // Each reconnection is its own trace: a root span.
            #expect(reconnect["parent_span_id"] as? String == "", "\(reconnect)")
            let attrs = attributes(reconnect)
            #expect(attrs["tether.session_id"] as? String == id)
            #expect(attrs["tether.trigger"] as? String == "connection_lost")
            #expect(attrs["tether.outcome"] as? String == "succeeded")
            #expect(attrs["tether.duration_ms"] != nil && attrs["tether.attempts"] != nil, "\(attrs)")
        }
        let fast = try #require(reconnects.first { attributes($0)["tether.strategy"] as? String == "fast" }, "\(reconnects)")
        let fastAttempts = children(of: fast)
        #expect(fastAttempts.count == 1 && fastAttempts.allSatisfy { $0["span"] as? String == "tether.reconnect.attempt" }, "\(fastAttempts)")
        #expect(attributes(fastAttempts.first ?? [:])["tether.strategy"] as? String == "fast")

        // The forgotten session: FAST refused as unknown, then REJOIN, in one span.
        let rejoin = try #require(reconnects.first { attributes($0)["tether.strategy"] as? String == "rejoin" }, "\(reconnects)")
        let rejoinAttempts = children(of: rejoin)
        let refused = try #require(rejoinAttempts.first { attributes($0)["tether.strategy"] as? String == "fast" }, "\(rejoinAttempts)")
        #expect(refused["status"] as? Int == 2, "an error status: \(refused)")
        #expect(attributes(refused)["tether.step"] as? String != nil && attributes(refused)["tether.error"] as? String != nil, "\(refused)")
        #expect(rejoinAttempts.contains { attributes($0)["tether.strategy"] as? String == "rejoin" && $0["status"] as? Int != 2 }, "\(rejoinAttempts)")

        // The create: a child of the HTTP request's server span (Hummingbird's tracing).
        let create = try #require(spans.first { $0["span"] as? String == "tether.session.create" })
        #expect(attributes(create)["tether.session_id"] as? String == id)
        let request = try #require(spans.first { $0["span_id"] as? String == create["parent_span_id"] as? String }, "no parent span for \(create)")
        #expect(request["kind"] as? Int == 2, "a SERVER span: \(request)")
        #expect(request["trace_id"] as? String == create["trace_id"] as? String)
        #expect(request["span"] as? String == "/v1/sessions", "named by the matched route: \(request)")
        #expect(attributes(request)["http.request.method"] as? String == "POST" && attributes(request)["http.route"] as? String == "/v1/sessions")
        #expect(attributes(request)["http.response.status_code"] as? Int == 201, "\(request)")

        let metrics = try await pollUntil(timeout: .seconds(20)) { () -> Set<String>? in
            let names = Set(receiver.jsonLines.compactMap { $0["metric"] as? String })
            return names.contains("tether_losses_total") && names.contains("tether_reconnects_total") ? names : nil
        }
        #expect(metrics.contains("tether_sessions"), "\(metrics.sorted())")
        #expect(metrics.contains("tether_http_requests_total"), "\(metrics.sorted())")

        serve.signal(SIGTERM)
        #expect(await serve.waitForExit(timeout: .seconds(20)) == 0)
        await receiver.stop()
    }

    func waitForTypes(_ base: String, _ id: String, until done: @escaping ([String]) -> Bool) async throws {
        _ = try await pollUntil(timeout: .seconds(20)) { () async throws -> Bool? in
            let events = try await callURL(.GET, base + "/v1/sessions/\(id)/events").1["events"] as? [[String: Any]] ?? []
            return done(events.compactMap { $0["type"] as? String }) ? true : nil
        }
    }
}
