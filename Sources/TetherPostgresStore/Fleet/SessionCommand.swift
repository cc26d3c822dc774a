/// A request for a session that another instance owns, passed through the database:
/// the receiving instance writes it, the owner executes it and writes the answer.
public struct SessionCommand: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case delete, migrate, credentials
    }

    public enum Status: String, Sendable {
        case pending, done, failed
    }

    public var id: Int64
    public var sessionID: String
    public var kind: Kind
    /// The request's arguments, JSON.
    public var body: String

    public init(id: Int64, sessionID: String, kind: Kind, body: String) {
        self.id = id
        self.sessionID = sessionID
        self.kind = kind
        self.body = body
    }
}
