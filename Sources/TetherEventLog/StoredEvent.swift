import Foundation
import TetherEvents

/// An event row as the store holds it: its id, its stored time and its payload's JSON,
/// not yet decoded. An event never changes once committed, so a reader that keeps what
/// it derives from a row by id (the service's event pages) decodes only the rows it has
/// not seen before.
public struct StoredEvent: Sendable, Equatable {
    public var id: Int64
    public var timeMs: Int64
    public var payload: String

    public init(id: Int64, timeMs: Int64, payload: String) {
        self.id = id
        self.timeMs = timeMs
        self.payload = payload
    }

    /// The event, with the row's id and its stored time (which the writer keeps from
    /// going backwards) over whatever the payload says.
    public func decoded(with decoder: JSONDecoder = JSONDecoder()) throws -> SessionEvent {
        var event = try decoder.decode(SessionEvent.self, from: Data(payload.utf8))
        event.id = id
        event.timeMs = timeMs
        return event
    }
}
