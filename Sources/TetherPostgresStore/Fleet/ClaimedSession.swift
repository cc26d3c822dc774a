import TetherEventLog

/// A live session this instance just took ownership of, and how it came to be free.
public struct ClaimedSession: Sendable {
    public enum Release: String, Sendable {
        /// Its owner's lease expired and a sweep declared it dead.
        case dead
        /// Its owner handed it over on shutdown or drain, after closing its socket.
        case handover
        /// Its owner restarted (or rejoined after fencing) under the same id.
        case restart
        /// Created on an instance with no room: placed here for its first join.
        case placement
    }

    /// The row as claimed: `ownerInstance` is this instance, `epoch` the new one.
    public var record: SessionRecord
    public var releasedFrom: String?
    public var release: Release?
}
