import Foundation
import NIOCore
import Synchronization
import TetherEngine
import TetherEventLog
import TetherEvents

/// A session this process runs: its runner, the row that mirrors it, and that row as
/// `GET /v1/sessions/{id}` answers it.
final class LiveSession: Sendable {
    let id: String
    private let state: Mutex<State>
    private let runnerBox = Mutex<SessionRunner?>(nil)

    private struct State {
        var record: SessionRecord
        /// Bumped by every change of `record`: the key of the encoded body.
        var version: UInt64 = 0
        var body: EncodedBody?
    }

    /// The response body for one version of the row and one attempt number.
    private struct EncodedBody {
        var version: UInt64
        var currentAttempt: Int
        var bytes: ByteBuffer
    }

    init(record: SessionRecord) {
        self.id = record.id
        self.state = Mutex(State(record: record))
    }

    var runner: SessionRunner? {
        get { runnerBox.withLock { $0 } }
        set { runnerBox.withLock { $0 = newValue } }
    }

    var currentRecord: SessionRecord { state.withLock { $0.record } }

    /// Folds a batch's changes into the row; returns the row and the state it left.
    /// A row that cannot take them (its node list would not encode) keeps the old ones:
    /// the events still say what happened.
    func apply(_ update: SessionUpdate) -> (record: SessionRecord, previousState: String) {
        state.withLock { state in
            let previous = state.record.state
            var updated = state.record
            do {
                try updated.apply(update, atMs: Int64(Date().timeIntervalSince1970 * 1000))
                state.record = updated
                state.version &+= 1
            } catch {
                // Only a node list that would not encode as JSON can fail here; the
                // row keeps the last one it could store.
            }
            return (state.record, previous)
        }
    }

    /// The session's JSON for `currentAttempt`: encoded once per change of the row, so a
    /// client polling a quiet session costs no decoding of the row's stored parts and
    /// no encoding. Encoded outside the lock: a batch applying meanwhile is not held up
    /// (its newer version simply is not cached by this reader).
    func responseBody(currentAttempt: Int) throws -> ByteBuffer {
        let (record, version, cached) = state.withLock { ($0.record, $0.version, $0.body) }
        if let cached, cached.version == version, cached.currentAttempt == currentAttempt { return cached.bytes }
        let bytes = try SessionBody.encode(record, currentAttempt: currentAttempt)
        state.withLock { state in
            if state.version == version { state.body = EncodedBody(version: version, currentAttempt: currentAttempt, bytes: bytes) }
        }
        return bytes
    }
}
