import Foundation
import TetherEvents

extension ClockGuard {
    /// What one event becomes on its way into a store: the event with its stored time,
    /// and, when the wall clock jumped, the `clock_jump` marker that goes before it.
    public struct Stamped {
        public var event: SessionEvent
        public var marker: (event: SessionEvent, payload: String)?
        /// A backward jump starts a new clock segment at the marker.
        public var startsSegment: Bool
    }

    /// Stamps `event` (``stamp(_:monotonicNow:)``) and builds its marker: both stores
    /// write the same rows for the same jumps.
    public mutating func stampWithMarker(_ event: SessionEvent, monotonicNow: Duration) throws -> Stamped {
        var event = event
        let (storedMs, jump) = stamp(event.timeMs, monotonicNow: monotonicNow)
        var stamped = Stamped(event: event, marker: nil, startsSegment: false)
        if let jump {
            let (from, to, backward) = switch jump {
            case .backward(let from, let to): (from, to, true)
            case .forward(let from, let to): (from, to, false)
            }
            let marker = SessionEvent(
                sessionID: event.sessionID, timeMs: storedMs, generation: event.generation, kind: .clockJump(fromMs: from, toMs: to))
            stamped.marker = (marker, String(decoding: try JSONEncoder().encode(marker), as: UTF8.self))
            stamped.startsSegment = backward
        }
        event.timeMs = storedMs
        stamped.event = event
        return stamped
    }
}
