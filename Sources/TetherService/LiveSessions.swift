import Synchronization

/// The sessions this process runs, by id. The registry actor decides what goes in and
/// out; readers (`GET /v1/sessions/{id}`) look up without a hop onto that actor, so a
/// client polling its session does not queue behind creates, drains and batches.
final class LiveSessions: Sendable {
    private let byID = Mutex<[String: LiveSession]>([:])

    subscript(id: String) -> LiveSession? {
        get { byID.withLock { $0[id] } }
        set { byID.withLock { $0[id] = newValue } }
    }

    var count: Int { byID.withLock { $0.count } }

    /// A copy of the sessions at this moment.
    var all: [LiveSession] { byID.withLock { Array($0.values) } }

    /// Empties the table; returns what it held.
    func removeAll() -> [LiveSession] {
        byID.withLock { table in
            defer { table = [:] }
            return Array(table.values)
        }
    }
}
