import Synchronization

/// Values derived from stored text that never changes for a given key, kept by that key:
/// a page read again (a console polling its list of sessions or events) derives nothing
/// again. Bounded: past `capacity` entries it starts over, so a scan of a long history
/// costs no more memory than `capacity` values; a key `keeps` refuses (a large one) is
/// derived every time and never kept.
final class DecodedMemo<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let table = Mutex<[Key: Value]>([:])
    let capacity: Int
    private let keeps: @Sendable (Key) -> Bool

    init(capacity: Int, keeps: @escaping @Sendable (Key) -> Bool = { _ in true }) {
        self.capacity = capacity
        self.keeps = keeps
    }

    func value(for key: Key, derive: (Key) throws -> Value) rethrows -> Value {
        guard keeps(key) else { return try derive(key) }
        if let hit = table.withLock({ $0[key] }) { return hit }
        let value = try derive(key)
        table.withLock { table in
            if table.count >= capacity { table.removeAll(keepingCapacity: true) }
            table[key] = value
        }
        return value
    }
}
