import Testing
@testable import TetherEngine
import TetherEvents

@Suite(.timeLimit(.minutes(1))) struct GenerationTests {
    @Test func aLateReportFromAReplacedGenerationIsIgnored() async throws {
        try await withJoinedSession { session, recorder, nodes in
            try await nodes[0].inject("drop")
            try await recorder.waitFor("reconnected")
            let current = await session.snapshot.generation
            #expect(current == 2)
            // Generation 1's socket is gone; a close it reports now must change nothing.
            await session.handle(GenerationNotice(
                generation: 1, kind: .lost(reason: .unexpectedClose, closeCode: 1006, detail: "late", lastContact: .now)))
            await session.handle(GenerationNotice(generation: 1, kind: .signal(.goAway(reason: "late"))))
            #expect(recorder.count(of: "connection_lost") == 1)
            #expect(recorder.count(of: "go_away") == 0)
            #expect(await session.state == .joined)
            // The same report from the current generation is a loss.
            await session.handle(GenerationNotice(
                generation: GenerationID(current), kind: .lost(reason: .unexpectedClose, closeCode: 1006, detail: "now", lastContact: .now)))
            #expect(recorder.count(of: "connection_lost") == 2)
        }
    }
}
