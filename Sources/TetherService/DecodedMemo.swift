import Synchronization

/// Values derived from stored text that never changes for a given key, kept by that key:
/// a page read again (a console polling its list of sessions or events) derives nothing
/// again. Bounded: past `capacity` entries it starts over, so a scan of a long history
/// costs no more memory than `capacity` values; keys longer than `maxKeyLength` are not
/// kept at all.
final class DecodedMemo<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let table = Mutex<[Key: Value]>([:])
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    func value(for key: Key, derive: (Key) throws -> Value) rethrows -> Value {
        if let hit = table.withLock({ $0[key] }) { return hit }
        let value = try derive(key)
        table.withLock { table in
            if table.count >= capacity { table.removeAll(keepingCapacity: true) }
            table[key] = value
        }
        return value
    }
}
