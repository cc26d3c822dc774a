import TetherEvents
import Tracing

/// A session's reconnections as spans: `tether.reconnect` from `reconnect_started` to
/// `reconnected` or `reconnect_failed` (attributes: strategy, trigger, attempts,
/// outcome, duration), and each attempt a child `tether.reconnect.attempt` (strategy,
/// attempt, SFU URL; step and error when it failed). Fed the session's events in order,
/// then the attempts it starts; with no tracer bootstrapped the spans are no-ops.
///
/// A reconnection is its own trace (a top-level span): it belongs to no request.
public struct ReconnectTrace {
    let sessionID: String
    /// The process's bootstrapped tracer unless a test gives its own.
    private let tracer: any Tracer
    private var reconnect: (any Span)?
    private var attempt: (any Span)?

    public init(sessionID: String, tracer: any Tracer = InstrumentationSystem.tracer) {
        self.sessionID = sessionID
        self.tracer = tracer
    }

    public mutating func record(_ event: SessionEvent) {
        switch event.kind {
        case .reconnectStarted(let strategy, let trigger):
            finish(outcome: "superseded")
            let span = tracer.startSpan("tether.reconnect", context: .topLevel)
            span.attributes["tether.session_id"] = sessionID
            span.attributes["tether.strategy"] = strategy.rawValue
            span.attributes["tether.trigger"] = trigger.rawValue
            span.attributes["tether.generation"] = Int64(clamping: event.generation)
            reconnect = span
        case .strategyEscalated(let from, let to, let reason):
            reconnect?.attributes["tether.strategy"] = to.rawValue
            reconnect?.addEvent(SpanEvent(name: "strategy_escalated", attributes: [
                "tether.from": .string(from.rawValue), "tether.to": .string(to.rawValue), "tether.reason": .string(reason),
            ]))
        case .triggerMerged(let trigger, _):
            reconnect?.addEvent(SpanEvent(name: "trigger_merged", attributes: ["tether.trigger": .string(trigger.rawValue)]))
        case .reconnectAttemptFailed(_, _, let step, let error):
            if let attempt {
                attempt.attributes["tether.step"] = step.rawValue
                attempt.attributes["tether.error"] = error
                attempt.setStatus(SpanStatus(code: .error, message: error))
                attempt.end()
                self.attempt = nil
            }
        case .reconnected(let strategy, let attempts, let durationMs, let sfuURL, _):
            attempt?.end()
            attempt = nil
            reconnect?.attributes["tether.strategy"] = strategy.rawValue
            reconnect?.attributes["tether.attempts"] = attempts
            reconnect?.attributes["tether.duration_ms"] = durationMs
            reconnect?.attributes["tether.sfu_url"] = sfuURL
            finish(outcome: "succeeded")
        case .reconnectFailed(let reason, let attempts, let durationMs):
            reconnect?.attributes["tether.attempts"] = attempts
            reconnect?.attributes["tether.duration_ms"] = durationMs
            reconnect?.attributes["tether.reason"] = reason
            reconnect?.setStatus(SpanStatus(code: .error, message: reason))
            finish(outcome: "failed")
        case .left, .callEnded, .joinFailed:
            finish(outcome: "ended")
        default:
            break
        }
    }

    /// An attempt the machine started: a child of the open reconnection (the first
    /// join's attempts belong to no reconnection and are not traced here).
    public mutating func attemptStarted(strategy: ReconnectStrategy, attempt number: Int, url: String) {
        guard let reconnect else { return }
        attempt?.end()
        let span = tracer.startSpan("tether.reconnect.attempt", context: reconnect.context)
        span.attributes["tether.strategy"] = strategy.rawValue
        span.attributes["tether.attempt"] = number
        span.attributes["tether.sfu_url"] = url
        attempt = span
    }

    public mutating func attemptCancelled() {
        attempt?.attributes["tether.outcome"] = "cancelled"
        attempt?.end()
        attempt = nil
    }

    private mutating func finish(outcome: String) {
        attempt?.end()
        attempt = nil
        guard let reconnect else { return }
        reconnect.attributes["tether.outcome"] = outcome
        reconnect.end()
        self.reconnect = nil
    }
}
