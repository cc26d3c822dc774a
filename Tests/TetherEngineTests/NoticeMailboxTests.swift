import Synchronization
import Testing
@testable import TetherEngine

/// The mailbox between a session's connections and its actor: order kept, one drain at
/// a time, a drain only while notices wait, nothing after the session is over.
@Suite(.timeLimit(.minutes(1))) struct NoticeMailboxTests {
    static func notice(_ number: Int, generation: UInt64 = 1) -> GenerationNotice {
        GenerationNotice(generation: GenerationID(generation), kind: .suppressed(count: number))
    }

    @Test func onlyThePostThatFindsNoDrainStartsOneAndTheOrderHolds() {
        let mailbox = NoticeMailbox()
        #expect(mailbox.post(Self.notice(1)), "the first notice starts a drain")
        #expect(!mailbox.post(Self.notice(2)), "a drain is under way")
        #expect(mailbox.take() == Self.notice(1))
        #expect(!mailbox.post(Self.notice(3)), "still under way until take finds nothing")
        #expect(mailbox.take() == Self.notice(2))
        #expect(mailbox.take() == Self.notice(3))
        #expect(mailbox.take() == nil)
        #expect(mailbox.post(Self.notice(4)), "the drain ended: the next notice starts another")
        #expect(mailbox.take() == Self.notice(4))
    }

    @Test func closingDropsWhatWaitsAndRefusesMore() {
        let mailbox = NoticeMailbox()
        #expect(mailbox.post(Self.notice(1)))
        mailbox.close()
        #expect(mailbox.take() == nil)
        #expect(!mailbox.post(Self.notice(2)))
        #expect(mailbox.take() == nil)
    }

    final class Record: Sendable {
        let taken = Mutex<[GenerationNotice]>([])
        let drains = Mutex((running: 0, overlapped: false))
        let started = Mutex<[Task<Void, Never>]>([])
    }

    /// Four posters at once, each a generation of its own, against drains started the
    /// way the runner starts them: every notice taken once, each poster's in its order,
    /// and never two drains at a time.
    @Test func concurrentPostersLoseNothingAndKeepTheirOrder() async {
        let mailbox = NoticeMailbox()
        let record = Record()
        let perPoster = 5000
        await withTaskGroup(of: Void.self) { group in
            for poster in 1...4 {
                group.addTask {
                    for number in 0..<perPoster {
                        guard mailbox.post(Self.notice(number, generation: UInt64(poster))) else { continue }
                        let drain = Task {
                            record.drains.withLock { $0.running += 1; if $0.running > 1 { $0.overlapped = true } }
                            var batch: [GenerationNotice] = []
                            while let next = mailbox.take() { batch.append(next) }
                            // Recorded before the drain counts as over: a drain started
                            // after this one's take found nothing appends after it.
                            record.taken.withLock { $0 += batch }
                            record.drains.withLock { $0.running -= 1 }
                        }
                        record.started.withLock { $0.append(drain) }
                    }
                }
            }
        }
        for drain in record.started.withLock({ $0 }) { await drain.value }
        let all = record.taken.withLock { $0 }
        #expect(all.count == 4 * perPoster)
        #expect(!record.drains.withLock { $0.overlapped })
        for poster in 1...4 {
            let numbers = all.filter { $0.generation == GenerationID(UInt64(poster)) }.map { notice -> Int in
                if case .suppressed(let count) = notice.kind { return count }
                return -1
            }
            #expect(numbers == Array(0..<perPoster), "poster \(poster)'s notices out of order or lost")
        }
    }
}
