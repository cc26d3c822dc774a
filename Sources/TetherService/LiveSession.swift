import Foundation
import Synchronization
import TetherEngine
import TetherEventLog
import TetherEvents

/// A session this process runs: its runner, and the row that mirrors it.
final class LiveSession: Sendable {
    let id: String
    let record: Mutex<SessionRecord>
    private let runnerBox = Mutex<SessionRunner?>(nil)

    init(record: SessionRecord) {
        self.id = record.id
        self.record = Mutex(record)
    }

    var runner: SessionRunner? {
        get { runnerBox.withLock { $0 } }
        set { runnerBox.withLock { $0 = newValue } }
    }

    var currentRecord: SessionRecord { record.withLock { $0 } }

    /// Folds a batch's changes into the row; returns the row and the state it left.
    /// A row that cannot take them (its node list would not encode) keeps the old ones:
    /// the events still say what happened.
    func apply(_ update: SessionUpdate) -> (record: SessionRecord, previousState: String) {
        record.withLock { record in
            let previous = record.state
            var updated = record
            do {
                try updated.apply(update, atMs: Int64(Date().timeIntervalSince1970 * 1000))
                record = updated
            } catch {
                // Only a node list that would not encode as JSON can fail here; the
                // row keeps the last one it could store.
            }
            return (record, previous)
        }
    }
}
