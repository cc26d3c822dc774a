import InMemoryTracing
import Testing
import TetherEngine
import TetherEvents
import Tracing

/// The spans a session's events make, on an in-memory tracer: outcomes the end-to-end
/// test (`OpenTelemetryTests`, which sees only recoveries) does not reach.
@Suite(.timeLimit(.minutes(1))) struct ReconnectTraceTests {
    func event(_ kind: SessionEventKind, generation: UInt64 = 1) -> SessionEvent {
        SessionEvent(sessionID: "s-1", timeMs: 0, generation: generation, kind: kind)
    }

    func attribute(_ span: FinishedInMemorySpan, _ key: String) -> String? {
        switch span.attributes[key]?.toSpanAttribute() {
        case .string(let value): value
        case .int64(let value): String(value)
        default: nil
        }
    }

    @Test func aReconnectionThatGivesUpEndsFailedWithItsAttemptsAsChildren() {
        let tracer = InMemoryTracer()
        var trace = ReconnectTrace(sessionID: "s-1", tracer: tracer)
        trace.record(event(.connectionLost(reason: .unexpectedClose, closeCode: 1006, detail: nil)))
        trace.record(event(.reconnectStarted(strategy: .fast, trigger: .connectionLost)))
        trace.attemptStarted(strategy: .fast, attempt: 1, url: "ws://a/ws")
        trace.record(event(.reconnectAttemptFailed(strategy: .fast, attempt: 1, step: .connect, error: "refused")))
        trace.record(event(.strategyEscalated(from: .fast, to: .rejoin, reason: "retries exhausted")))
        trace.attemptStarted(strategy: .rejoin, attempt: 2, url: "ws://b/ws")
        trace.record(event(.reconnectFailed(reason: "deadline_exceeded", attempts: 2, durationMs: 30_000)))

        let spans = tracer.finishedSpans
        #expect(tracer.activeSpans.isEmpty, "every span ended")
        let reconnect = try! #require(spans.first { $0.operationName == "tether.reconnect" })
        #expect(attribute(reconnect, "tether.outcome") == "failed")
        #expect(attribute(reconnect, "tether.strategy") == "rejoin")
        #expect(attribute(reconnect, "tether.reason") == "deadline_exceeded")
        #expect(attribute(reconnect, "tether.attempts") == "2")
        #expect(reconnect.status?.code == .error)
        #expect(reconnect.parentSpanID == nil, "a reconnection is a trace of its own")
        #expect(reconnect.events.map(\.name) == ["strategy_escalated"])
        let attempts = spans.filter { $0.operationName == "tether.reconnect.attempt" }
        #expect(attempts.count == 2)
        #expect(attempts.allSatisfy { $0.parentSpanID == reconnect.spanID && $0.traceID == reconnect.traceID })
        let refused = try! #require(attempts.first { attribute($0, "tether.strategy") == "fast" })
        #expect(attribute(refused, "tether.step") == "connect")
        #expect(attribute(refused, "tether.error") == "refused")
        #expect(refused.status?.code == .error)
    }

    @Test func aSessionThatLeavesMidReconnectionEndsItAndTheFirstJoinIsNotTraced() {
        let tracer = InMemoryTracer()
        var trace = ReconnectTrace(sessionID: "s-1", tracer: tracer)
        // The first join's attempt belongs to no reconnection.
        trace.attemptStarted(strategy: .rejoin, attempt: 1, url: "ws://a/ws")
        trace.record(event(.joined(sfuURL: "ws://a/ws", sfuSessionID: "x")))
        #expect(tracer.finishedSpans.isEmpty && tracer.activeSpans.isEmpty)

        trace.record(event(.reconnectStarted(strategy: .fast, trigger: .connectionLost)))
        trace.attemptStarted(strategy: .fast, attempt: 1, url: "ws://a/ws")
        trace.attemptCancelled()
        trace.record(event(.left(reason: "requested")))
        #expect(tracer.activeSpans.isEmpty)
        let reconnect = try! #require(tracer.finishedSpans.first { $0.operationName == "tether.reconnect" })
        #expect(attribute(reconnect, "tether.outcome") == "ended")
        let attempt = try! #require(tracer.finishedSpans.first { $0.operationName == "tether.reconnect.attempt" })
        #expect(attribute(attempt, "tether.outcome") == "cancelled")
    }
}
