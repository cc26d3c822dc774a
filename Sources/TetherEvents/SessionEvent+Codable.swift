extension SessionEvent: Codable {
    enum CodingKeys: String, CodingKey {
        case id, type, generation, truncated, reason, detail, strategy, trigger, attempt, attempts, step, error
        case from, to, code, message, count
        case fromMs = "from_ms", toMs = "to_ms", delayMs = "delay_ms"
        case sessionID = "session_id"
        case timeMs = "time_ms"
        case closeCode = "close_code"
        case durationMs = "duration_ms"
        case callID = "call_id"
        case userID = "user_id"
        case sfuURL = "sfu_url"
        case sfuSessionID = "sfu_session_id"
        case instanceID = "instance_id"
        case fromInstance = "from_instance", toInstance = "to_instance", epoch
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(id, forKey: .id)
        try c.encode(type, forKey: .type)
        try c.encode(sessionID, forKey: .sessionID)
        try c.encode(timeMs, forKey: .timeMs)
        try c.encode(generation, forKey: .generation)
        if truncated { try c.encode(true, forKey: .truncated) }
        try c.encodeIfPresent(instanceID, forKey: .instanceID)
        switch kind {
        case .sessionCreated(let callID, let userID, let sfuURL):
            try c.encode(callID, forKey: .callID)
            try c.encode(userID, forKey: .userID)
            try c.encode(sfuURL, forKey: .sfuURL)
        case .joined(let sfuURL, let sfuSessionID):
            try c.encode(sfuURL, forKey: .sfuURL)
            try c.encode(sfuSessionID, forKey: .sfuSessionID)
        case .joinFailed(let code, let message):
            try c.encode(code, forKey: .code)
            try c.encode(message, forKey: .message)
        case .connectionLost(let reason, let closeCode, let detail):
            try c.encode(reason, forKey: .reason)
            try c.encodeIfPresent(closeCode, forKey: .closeCode)
            try c.encodeIfPresent(detail, forKey: .detail)
        case .reconnectStarted(let strategy, let trigger):
            try c.encode(strategy, forKey: .strategy)
            try c.encode(trigger, forKey: .trigger)
        case .triggerMerged(let trigger, let strategy):
            try c.encode(trigger, forKey: .trigger)
            try c.encodeIfPresent(strategy, forKey: .strategy)
        case .reconnectAttemptFailed(let strategy, let attempt, let step, let error):
            try c.encode(strategy, forKey: .strategy)
            try c.encode(attempt, forKey: .attempt)
            try c.encode(step, forKey: .step)
            try c.encode(error, forKey: .error)
        case .strategyEscalated(let from, let to, let reason):
            try c.encode(from.rawValue, forKey: .from)
            try c.encode(to.rawValue, forKey: .to)
            try c.encode(reason, forKey: .reason)
        case .reconnected(let strategy, let attempts, let durationMs, let sfuURL, let sfuSessionID):
            try c.encode(strategy, forKey: .strategy)
            try c.encode(attempts, forKey: .attempts)
            try c.encode(durationMs, forKey: .durationMs)
            try c.encode(sfuURL, forKey: .sfuURL)
            try c.encode(sfuSessionID, forKey: .sfuSessionID)
        case .reconnectFailed(let reason, let attempts, let durationMs):
            try c.encode(reason, forKey: .reason)
            try c.encode(attempts, forKey: .attempts)
            try c.encode(durationMs, forKey: .durationMs)
        case .sfuError(let code, let message, let strategy):
            try c.encode(code, forKey: .code)
            try c.encode(message, forKey: .message)
            try c.encodeIfPresent(strategy, forKey: .strategy)
        case .goAway(let reason), .callEnded(let reason), .left(let reason):
            try c.encode(reason, forKey: .reason)
        case .migrated(let from, let to):
            try c.encode(from, forKey: .from)
            try c.encode(to, forKey: .to)
        case .migrationFailed(let to, let error):
            try c.encode(to, forKey: .to)
            try c.encode(error, forKey: .error)
        case .resumedAfterRestart(let sfuURL, let previous):
            try c.encode(sfuURL, forKey: .sfuURL)
            try c.encodeIfPresent(previous, forKey: .sfuSessionID)
        case .eventsDropped(let count), .sfuErrorsSuppressed(let count):
            try c.encode(count, forKey: .count)
        case .reconnectDelayed(let reason, let delayMs):
            try c.encode(reason, forKey: .reason)
            try c.encode(delayMs, forKey: .delayMs)
        case .clockJump(let fromMs, let toMs):
            try c.encode(fromMs, forKey: .fromMs)
            try c.encode(toMs, forKey: .toMs)
        case .staleSessionDestroyed(let sfuURL, let sfuSessionID):
            try c.encode(sfuURL, forKey: .sfuURL)
            try c.encode(sfuSessionID, forKey: .sfuSessionID)
        case .roomRejoined(let reason), .credentialsUpdated(let reason), .credentialsRefreshed(let reason):
            try c.encode(reason, forKey: .reason)
        case .credentialsRefreshFailed(let reason, let error):
            try c.encode(reason, forKey: .reason)
            try c.encode(error, forKey: .error)
        case .adopted(let from, let to, let epoch), .handedOver(let from, let to, let epoch):
            try c.encode(from, forKey: .fromInstance)
            try c.encode(to, forKey: .toInstance)
            try c.encode(epoch, forKey: .epoch)
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decodeIfPresent(Int64.self, forKey: .id)
        sessionID = try c.decode(String.self, forKey: .sessionID)
        timeMs = try c.decode(Int64.self, forKey: .timeMs)
        generation = try c.decode(UInt64.self, forKey: .generation)
        truncated = try c.decodeIfPresent(Bool.self, forKey: .truncated) ?? false
        instanceID = try c.decodeIfPresent(String.self, forKey: .instanceID)
        let type = try c.decode(String.self, forKey: .type)
        func string(_ key: CodingKeys) throws -> String { try c.decode(String.self, forKey: key) }
        func strategy(_ key: CodingKeys) throws -> ReconnectStrategy { try c.decode(ReconnectStrategy.self, forKey: key) }
        switch type {
        case "session_created":
            kind = .sessionCreated(callID: try string(.callID), userID: try string(.userID), sfuURL: try string(.sfuURL))
        case "joined":
            kind = .joined(sfuURL: try string(.sfuURL), sfuSessionID: try string(.sfuSessionID))
        case "join_failed":
            kind = .joinFailed(code: try string(.code), message: try string(.message))
        case "connection_lost":
            kind = .connectionLost(
                reason: try c.decode(LossReason.self, forKey: .reason),
                closeCode: try c.decodeIfPresent(Int.self, forKey: .closeCode),
                detail: try c.decodeIfPresent(String.self, forKey: .detail)
            )
        case "reconnect_started":
            kind = .reconnectStarted(strategy: try strategy(.strategy), trigger: try c.decode(ReconnectTrigger.self, forKey: .trigger))
        case "trigger_merged":
            kind = .triggerMerged(
                trigger: try c.decode(ReconnectTrigger.self, forKey: .trigger),
                strategy: try c.decodeIfPresent(ReconnectStrategy.self, forKey: .strategy)
            )
        case "reconnect_attempt_failed":
            kind = .reconnectAttemptFailed(
                strategy: try strategy(.strategy),
                attempt: try c.decode(Int.self, forKey: .attempt),
                step: try c.decode(AttemptStep.self, forKey: .step),
                error: try string(.error)
            )
        case "strategy_escalated":
            kind = .strategyEscalated(from: try strategy(.from), to: try strategy(.to), reason: try string(.reason))
        case "reconnected":
            kind = .reconnected(
                strategy: try strategy(.strategy),
                attempts: try c.decode(Int.self, forKey: .attempts),
                durationMs: try c.decode(Int64.self, forKey: .durationMs),
                sfuURL: try string(.sfuURL),
                sfuSessionID: try string(.sfuSessionID)
            )
        case "reconnect_failed":
            kind = .reconnectFailed(
                reason: try string(.reason),
                attempts: try c.decode(Int.self, forKey: .attempts),
                durationMs: try c.decode(Int64.self, forKey: .durationMs)
            )
        case "sfu_error":
            kind = .sfuError(
                code: try string(.code),
                message: try string(.message),
                strategy: try c.decodeIfPresent(ReconnectStrategy.self, forKey: .strategy)
            )
        case "go_away": kind = .goAway(reason: try string(.reason))
        case "migrated": kind = .migrated(from: try string(.from), to: try string(.to))
        case "migration_failed": kind = .migrationFailed(to: try string(.to), error: try string(.error))
        case "call_ended": kind = .callEnded(reason: try string(.reason))
        case "left": kind = .left(reason: try string(.reason))
        case "resumed_after_restart":
            kind = .resumedAfterRestart(sfuURL: try string(.sfuURL), previousSFUSessionID: try c.decodeIfPresent(String.self, forKey: .sfuSessionID))
        case "events_dropped": kind = .eventsDropped(count: try c.decode(Int.self, forKey: .count))
        case "sfu_errors_suppressed": kind = .sfuErrorsSuppressed(count: try c.decode(Int.self, forKey: .count))
        case "reconnect_delayed":
            kind = .reconnectDelayed(reason: try string(.reason), delayMs: try c.decode(Int64.self, forKey: .delayMs))
        case "clock_jump":
            kind = .clockJump(fromMs: try c.decode(Int64.self, forKey: .fromMs), toMs: try c.decode(Int64.self, forKey: .toMs))
        case "stale_session_destroyed":
            kind = .staleSessionDestroyed(sfuURL: try string(.sfuURL), sfuSessionID: try string(.sfuSessionID))
        case "room_rejoined": kind = .roomRejoined(reason: try string(.reason))
        case "credentials_updated": kind = .credentialsUpdated(reason: try string(.reason))
        case "credentials_refreshed": kind = .credentialsRefreshed(reason: try string(.reason))
        case "credentials_refresh_failed":
            kind = .credentialsRefreshFailed(reason: try string(.reason), error: try string(.error))
        case "adopted":
            kind = .adopted(fromInstance: try string(.fromInstance), toInstance: try string(.toInstance), epoch: try c.decode(Int64.self, forKey: .epoch))
        case "handed_over":
            kind = .handedOver(
                fromInstance: try string(.fromInstance), toInstance: try string(.toInstance), epoch: try c.decode(Int64.self, forKey: .epoch))
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "unknown event type '\(type)'")
        }
    }
}
