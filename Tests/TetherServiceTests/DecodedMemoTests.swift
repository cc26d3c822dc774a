import Synchronization
import Testing
@testable import TetherService

@Suite(.timeLimit(.minutes(1))) struct DecodedMemoTests {
    @Test func aKeyIsDerivedOnceAndTheTableStartsOverPastItsCapacity() throws {
        let memo = DecodedMemo<Int, String>(capacity: 3)
        let derivations = Mutex(0)
        func value(_ key: Int) -> String {
            memo.value(for: key) { key in
                derivations.withLock { $0 += 1 }
                return "v\(key)"
            }
        }
        #expect(value(1) == "v1" && value(1) == "v1" && value(2) == "v2")
        #expect(derivations.withLock { $0 } == 2, "a kept key is not derived again")
        _ = value(3)
        _ = value(4)  // the fourth key: the table starts over with it
        #expect(derivations.withLock { $0 } == 4)
        #expect(value(4) == "v4" && derivations.withLock { $0 } == 4)
        #expect(value(1) == "v1" && derivations.withLock { $0 } == 5, "a key dropped by the start-over is derived again")
    }

    @Test func aKeyTheMemoDoesNotKeepIsDerivedEveryTime() throws {
        let memo = DecodedMemo<String, Int>(capacity: 8) { $0.count <= 3 }
        let derivations = Mutex(0)
        func value(_ key: String) -> Int {
            memo.value(for: key) { key in
                derivations.withLock { $0 += 1 }
                return key.count
            }
        }
        #expect(value("abc") == 3 && value("abc") == 3)
        #expect(derivations.withLock { $0 } == 1, "a kept key is derived once")
        #expect(value("abcd") == 4 && value("abcd") == 4)
        #expect(derivations.withLock { $0 } == 3, "a refused key is derived each time")
    }

    @Test func aFailedDerivationIsNotKept() throws {
        struct Refused: Error {}
        let memo = DecodedMemo<String, Int>(capacity: 8)
        #expect(throws: Refused.self) { try memo.value(for: "bad") { _ in throw Refused() } }
        #expect(memo.value(for: "bad") { _ in 7 } == 7)
    }
}
