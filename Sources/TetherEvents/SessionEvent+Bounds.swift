extension SessionEvent {
    /// The most a free-text field (a message, a reason, a code, an SFU session id) takes
    /// in an event's JSON, escapes included: 1 KiB.
    public static let maxTextBytes = 1024
    /// The most a URL field takes: the create request's own limit for SFU URLs.
    public static let maxURLBytes = 2048

    /// This event with every text field cut to ``maxTextBytes`` (URLs to ``maxURLBytes``)
    /// of JSON, and ``truncated`` set when anything was cut.
    ///
    /// Most of an event's text comes from peers (an SFU's error message, a close reason,
    /// a Janus participant id), so what an SFU can make Tether store is bounded here, in
    /// one place, whatever path the text took: with at most five such fields, every
    /// stored event stays well under 8 KiB of JSON.
    public func bounded() -> SessionEvent {
        var cut = false
        func text(_ value: String) -> String { Self.cut(value, limit: Self.maxTextBytes, &cut) }
        func url(_ value: String) -> String { Self.cut(value, limit: Self.maxURLBytes, &cut) }
        let kind: SessionEventKind
        switch self.kind {
        case .sessionCreated(let callID, let userID, let sfuURL):
            kind = .sessionCreated(callID: text(callID), userID: text(userID), sfuURL: url(sfuURL))
        case .joined(let sfuURL, let sfuSessionID):
            kind = .joined(sfuURL: url(sfuURL), sfuSessionID: text(sfuSessionID))
        case .joinFailed(let code, let message):
            kind = .joinFailed(code: text(code), message: text(message))
        case .connectionLost(let reason, let closeCode, let detail):
            kind = .connectionLost(reason: reason, closeCode: closeCode, detail: detail.map(text))
        case .reconnectAttemptFailed(let strategy, let attempt, let step, let error):
            kind = .reconnectAttemptFailed(strategy: strategy, attempt: attempt, step: step, error: text(error))
        case .strategyEscalated(let from, let to, let reason):
            kind = .strategyEscalated(from: from, to: to, reason: text(reason))
        case .reconnected(let strategy, let attempts, let durationMs, let sfuURL, let sfuSessionID):
            kind = .reconnected(
                strategy: strategy, attempts: attempts, durationMs: durationMs, sfuURL: url(sfuURL), sfuSessionID: text(sfuSessionID))
        case .reconnectFailed(let reason, let attempts, let durationMs):
            kind = .reconnectFailed(reason: text(reason), attempts: attempts, durationMs: durationMs)
        case .sfuError(let code, let message, let strategy):
            kind = .sfuError(code: text(code), message: text(message), strategy: strategy)
        case .goAway(let reason):
            kind = .goAway(reason: text(reason))
        case .migrated(let from, let to):
            kind = .migrated(from: url(from), to: url(to))
        case .migrationFailed(let to, let error):
            kind = .migrationFailed(to: url(to), error: text(error))
        case .callEnded(let reason):
            kind = .callEnded(reason: text(reason))
        case .left(let reason):
            kind = .left(reason: text(reason))
        case .resumedAfterRestart(let sfuURL, let previous):
            kind = .resumedAfterRestart(sfuURL: url(sfuURL), previousSFUSessionID: previous.map(text))
        case .reconnectDelayed(let reason, let delayMs):
            kind = .reconnectDelayed(reason: text(reason), delayMs: delayMs)
        case .staleSessionDestroyed(let sfuURL, let sfuSessionID):
            kind = .staleSessionDestroyed(sfuURL: url(sfuURL), sfuSessionID: text(sfuSessionID))
        case .roomRejoined(let reason):
            kind = .roomRejoined(reason: text(reason))
        case .credentialsUpdated(let reason):
            kind = .credentialsUpdated(reason: text(reason))
        case .credentialsRefreshed(let reason):
            kind = .credentialsRefreshed(reason: text(reason))
        case .credentialsRefreshFailed(let reason, let error):
            kind = .credentialsRefreshFailed(reason: text(reason), error: text(error))
        case .adopted(let from, let to, let epoch):
            kind = .adopted(fromInstance: text(from), toInstance: text(to), epoch: epoch)
        case .handedOver(let from, let to, let epoch):
            kind = .handedOver(fromInstance: text(from), toInstance: text(to), epoch: epoch)
        case .reconnectStarted, .triggerMerged, .eventsDropped, .clockJump, .sfuErrorsSuppressed:
            kind = self.kind
        }
        guard cut else { return self }
        var bounded = self
        bounded.kind = kind
        bounded.truncated = true
        return bounded
    }

    /// `value` if its JSON string body fits in `limit` bytes; otherwise its longest
    /// prefix of whole characters that fits with a trailing "…", and `cut` set.
    static func cut(_ value: String, limit: Int, _ cut: inout Bool) -> String {
        // No byte costs more than 6 escaped: most strings end here.
        if value.utf8.count * 6 <= limit { return value }
        if jsonLength(value.utf8, atMost: limit) <= limit { return value }
        cut = true
        let budget = limit - "…".utf8.count
        var used = 0
        var kept = ""
        for character in value {
            used += jsonLength(character.utf8, atMost: budget)
            if used > budget { break }
            kept.append(character)
        }
        return kept + "…"
    }

    /// Bytes `utf8` takes inside a JSON string as `JSONEncoder` writes it (slashes
    /// unescaped, non-ASCII as raw UTF-8), counting no further than just past `atMost`.
    private static func jsonLength(_ utf8: some Sequence<UInt8>, atMost: Int) -> Int {
        var total = 0
        for byte in utf8 {
            switch byte {
            case 0x22, 0x5C, 0x08, 0x0C, 0x0A, 0x0D, 0x09: total += 2
            case 0..<0x20: total += 6
            default: total += 1
            }
            if total > atMost { return total }
        }
        return total
    }
}
