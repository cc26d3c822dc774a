import TetherEvents

/// What one batch of a session's actions changed, handed to its owner at once: the
/// events it recorded, the snapshot when it changed, credentials to keep. The owner
/// stores the events and the row that says so as one unit (one transaction), so no
/// crash can leave one without the other.
public struct SessionUpdate: Sendable {
    public var events: [SessionEvent]
    public var snapshot: SessionSnapshot?
    public var credentials: Credentials?

    public struct Credentials: Sendable, Equatable {
        public var token: String
        public var nodes: [String]
    }

    public var isEmpty: Bool { events.isEmpty && snapshot == nil && credentials == nil }
}
