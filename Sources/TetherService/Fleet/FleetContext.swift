import TetherEngine
import TetherPostgresStore

/// What the session registry of a fleet instance needs from the fleet: its statements,
/// its wake-ups, and how many sessions this instance runs at most.
struct FleetContext: Sendable {
    let fleet: PostgresFleet
    let signals: FleetSignals
    let capacity: Int
    /// Until when this instance may dial: moved by the lease keeper.
    let permit: ActingPermit

    var instanceID: String { fleet.instanceID }
}
