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

    /// Folds a runner snapshot into the row; returns the row and the state it left.
    func apply(_ snapshot: SessionSnapshot) -> (record: SessionRecord, previousState: String) {
        record.withLock { record in
            let previous = record.state
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            record.state = snapshot.state.rawValue
            record.sfuURL = snapshot.sfuURL
            record.sfuSessionID = snapshot.sfuSessionID ?? record.sfuSessionID
            record.generation = Int64(snapshot.generation)
            record.losses = snapshot.losses
            record.reconnects = snapshot.reconnects
            record.failedReconnects = snapshot.failedReconnects
            record.endReason = snapshot.endReason
            record.updatedAtMs = now
            if snapshot.state.isTerminal {
                if record.endedAtMs == nil { record.endedAtMs = now }
                // The token only served to rejoin; an ended session keeps no secret at rest.
                record.forgetSecrets()
            }
            return (record, previous)
        }
    }
}
