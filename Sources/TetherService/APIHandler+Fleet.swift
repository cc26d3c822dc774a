import TetherAPI

/// The fleet's side of `POST /v1/drain`: a rolling deploy's first step without a signal.
extension APIHandler {
    func drainInstance(_ instanceID: String, targetURL: String?) async throws -> Operations.drainNode.Output {
        guard targetURL == nil else {
            throw APIError.invalid("target_url goes with sfu_url; an instance's sessions go to whichever instances have room", code: "invalid_drain")
        }
        guard let fleetMember else {
            throw APIError(
                .conflict, code: "not_in_a_fleet",
                message: "this instance runs alone on SQLite: there is no other instance to hand its sessions to")
        }
        guard instanceID == fleetMember.fleet.instanceID else {
            throw APIError.invalid(
                "instance_id '\(String(instanceID.prefix(64)))' is not this instance ('\(fleetMember.fleet.instanceID)'): send the drain to that instance's own address (GET /v1/instances)",
                code: "not_this_instance")
        }
        switch await fleetMember.drain() {
        case .success(let handedOver):
            return .accepted(.init(body: .json(.init(moved: handedOver, skipped: []))))
        case .failure(.noRoom):
            // A conflict with the fleet's state, not a fault: nothing changed, and the same
            // drain succeeds once another instance has room.
            throw APIError(
                .conflict, code: "fleet_at_capacity",
                message: "no other serving instance has room for this instance's sessions; it keeps them")
        case .failure(.notServing(let phase)):
            throw APIError(
                .conflict, code: "instance_not_serving",
                message: "this instance is \(phase.rawValue), not serving: it has no sessions to hand over")
        case .failure(.failed(let error)):
            throw APIError(
                .serviceUnavailable, code: "fleet_unavailable",
                message: "the hand-over could not be recorded in the database (\(error)); sessions whose sockets closed are adopted once this instance's lease expires")
        }
    }
}
