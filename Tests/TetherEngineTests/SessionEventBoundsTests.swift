import Foundation
import Testing
import TetherEvents

/// What an SFU can make Tether store is bounded: text cut to 1 KiB of JSON, whatever
/// the characters (escapes count), with a `truncated` flag.
@Suite(.timeLimit(.minutes(1))) struct SessionEventBoundsTests {
    func encoded(_ event: SessionEvent) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return try encoder.encode(event)
    }

    func event(_ kind: SessionEventKind) -> SessionEvent {
        SessionEvent(sessionID: "s", timeMs: 1, generation: 1, kind: kind)
    }

    @Test func shortTextIsKeptAsItIs() {
        let original = event(.sfuError(code: "500", message: "injected error", strategy: nil))
        #expect(original.bounded() == original)
        #expect(!original.bounded().truncated)
    }

    @Test(arguments: ["e", "\u{0}", "\"", "é", "😀", "\\", "\n"])
    func aMegabyteMessageIsCutToAKilobyteOfJSON(character: String) throws {
        let huge = String(repeating: character, count: 1_000_000)
        let bounded = event(.sfuError(code: huge, message: huge, strategy: .rejoin)).bounded()
        #expect(bounded.truncated)
        guard case .sfuError(let code, let message, let strategy) = bounded.kind else {
            Issue.record("kind changed")
            return
        }
        #expect(strategy == .rejoin)
        #expect(message.hasSuffix("…") && code.hasSuffix("…"))
        #expect(message.hasPrefix(character))
        let json = try encoded(bounded)
        #expect(json.count < 8 * 1024, "\(json.count) bytes")
        let decoded = try JSONDecoder().decode(SessionEvent.self, from: json)
        #expect(decoded.truncated)
        #expect(decoded.kind == bounded.kind)
    }

    @Test func everyKindWithTextStaysUnder8KiB() throws {
        let text = String(repeating: "\u{1}", count: 50_000)
        let url = "ws://" + String(repeating: "h", count: 50_000)
        let kinds: [SessionEventKind] = [
            .sessionCreated(callID: text, userID: text, sfuURL: url),
            .joined(sfuURL: url, sfuSessionID: text),
            .joinFailed(code: text, message: text),
            .connectionLost(reason: .error, closeCode: 1006, detail: text),
            .reconnectAttemptFailed(strategy: .fast, attempt: 1, step: .join, error: text),
            .strategyEscalated(from: .fast, to: .rejoin, reason: text),
            .reconnected(strategy: .fast, attempts: 1, durationMs: 1, sfuURL: url, sfuSessionID: text),
            .reconnectFailed(reason: text, attempts: 1, durationMs: 1),
            .sfuError(code: text, message: text, strategy: nil),
            .goAway(reason: text), .migrated(from: url, to: url), .migrationFailed(to: url, error: text),
            .callEnded(reason: text), .left(reason: text),
            .resumedAfterRestart(sfuURL: url, previousSFUSessionID: text),
            .reconnectDelayed(reason: text, delayMs: 1),
            .staleSessionDestroyed(sfuURL: url, sfuSessionID: text),
            .roomRejoined(reason: text), .credentialsUpdated(reason: text), .credentialsRefreshed(reason: text),
            .credentialsRefreshFailed(reason: text, error: text),
        ]
        for kind in kinds {
            let bounded = event(kind).bounded()
            #expect(bounded.truncated, "\(kind.type)")
            let size = try encoded(bounded).count
            #expect(size < 8 * 1024, "\(kind.type): \(size) bytes")
        }
    }

    @Test func textAtTheLimitIsNotCut() {
        let exact = String(repeating: "a", count: SessionEvent.maxTextBytes)
        #expect(!event(.left(reason: exact)).bounded().truncated)
        #expect(event(.left(reason: exact + "a")).bounded().truncated)
    }
}
