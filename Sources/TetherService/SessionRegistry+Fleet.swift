import Foundation
import HTTPTypes
import Logging
import TetherEngine
import TetherEventLog
import TetherEvents
import TetherPostgresStore

/// The registry's part in a fleet: giving sessions up (fenced, lost, handed over),
/// adopting released ones, placing creates elsewhere, and passing requests for another
/// instance's sessions to their owner through the database.
extension SessionRegistry {
    /// How long a request waits for another instance to act on it.
    static let fleetAnswerBound: Duration = .seconds(10)

    func setFleetServing(_ serving: Bool) {
        fleetServing = serving
        guard serving else { return }
        fleetStarted = true
        let waiters = servingWaiters
        servingWaiters = [:]
        for waiter in waiters.values { waiter.resume() }
    }

    /// A create that arrives while this instance registers (its port opens first) waits
    /// for the lease, up to `bound`, rather than being placed elsewhere or refused with
    /// 503 by a fleet that has not met this instance yet. Later (a fence) it does not wait.
    func awaitFirstLease(upTo bound: Duration) async {
        guard fleet != nil, !fleetStarted, !fleetServing else { return }
        servingWaiterCount += 1
        let id = servingWaiterCount
        let timer = Task { [weak self] in
            try? await Task.sleep(for: bound)
            await self?.expireServingWaiter(id)
        }
        await withCheckedContinuation { servingWaiters[id] = $0 }
        timer.cancel()
    }

    private func expireServingWaiter(_ id: Int) {
        servingWaiters.removeValue(forKey: id)?.resume()
    }

    var liveSessionCount: Int { live.count }

    // MARK: - Giving sessions up

    /// Stops running every session without ending any (``SessionRunner/relinquish(leaving:)``),
    /// in parallel; returns their ids. `leaving`: say goodbye to the SFU first (a fence:
    /// the session will be adopted later), or nil to close only (a hand-over: the next
    /// owner takes the same SFU session over at once).
    func relinquishAll(leaving reason: String?) async -> [String] {
        let sessions = live.removeAll()
        for session in sessions { metrics.sessionGone(from: session.currentRecord.state) }
        await withTaskGroup(of: Void.self) { group in
            for runner in sessions.compactMap(\.runner) {
                group.addTask { await runner.relinquish(leaving: reason) }
            }
        }
        return sessions.map(\.id).sorted()
    }

    /// The writer found sessions whose row no longer names this instance under the epoch
    /// it wrote with: another instance runs them now. Each leaves the SFU at once.
    func ownershipLost(_ stale: [OwnershipFence.Stale]) {
        for write in stale {
            if write.droppedEvents > 0 { metrics.fleet("tether_fleet_stale_events_dropped_total", by: write.droppedEvents) }
            guard let session = live[write.sessionID], session.currentRecord.epoch == write.epoch else { continue }
            live[write.sessionID] = nil
            metrics.sessionGone(from: session.currentRecord.state)
            metrics.fleet("tether_fleet_ownership_lost_total")
            logger.warning(
                "lost ownership of a session (another instance adopted it); leaving its SFU",
                metadata: ["session_id": "\(write.sessionID)", "epoch": "\(write.epoch)"])
            if let runner = session.runner { Task { await runner.relinquish(leaving: "ownership_lost") } }
        }
    }

    // MARK: - Taking sessions on

    /// Runs sessions this instance just claimed: adopted ones resume as after a restart
    /// (a hand-over resumes the same SFU session), placed ones make their first join,
    /// an adopted one whose create was never answered ends as after a restart.
    func adopt(_ claimed: [ClaimedSession]) {
        guard let fleet else { return }
        let resolver = addressResolver
        let logger = logger
        for claim in claimed where live[claim.record.id] == nil {
            let record = claim.record
            metrics.fleet("tether_fleet_adopted_total", dimensions: [("release", claim.release?.rawValue ?? "dead")])
            if record.state == SessionState.connecting.rawValue {
                if claim.release == .placement {
                    startPlaced(record, fleet: fleet)
                } else {
                    end(record, .joinFailed(
                        code: "interrupted_by_restart",
                        message: "the instance running this session's create stopped before it was answered; it was not redialed"))
                }
                continue
            }
            guard let (runner, urls, policy) = runnable(record) else { continue }
            let from = claim.releasedFrom ?? "unknown"
            let origin: ResumeOrigin =
                switch claim.release {
                case .handover: .handedOver(fromInstance: from, toInstance: fleet.instanceID, epoch: record.epoch)
                case .restart where from == fleet.instanceID: .restart
                default: .adopted(fromInstance: from, toInstance: fleet.instanceID, epoch: record.epoch)
                }
            Task { await Self.resume(runner, record: record, urls: urls, policy: policy, origin: origin, resolver: resolver, logger: logger) }
        }
    }

    /// A create another instance placed here: join it, then wake the instance that waits
    /// to answer it.
    private func startPlaced(_ record: SessionRecord, fleet: FleetContext) {
        guard let (runner, _, _) = runnable(record) else { return }
        let log = log
        Task {
            try? await runner.start()
            try? await log.flush()
            try? await fleet.fleet.notify(.settled(session: record.id))
        }
    }

    // MARK: - Creates

    /// This instance has no room (or no lease): the session is stored unowned for an
    /// instance with room to claim, and the answer waits for its first join to settle
    /// there. 503 `fleet_at_capacity` when no instance has room.
    func placeElsewhere(_ record: SessionRecord, policy: ReconnectPolicy) async -> Result<SessionRecord, APIError> {
        guard let fleet else { return .failure(Self.fleetAtCapacity) }
        do {
            let (free, _) = try await fleet.fleet.capacity(within: .seconds(3))
            guard free > 0 else { return .failure(Self.fleetAtCapacity) }
            try await fleet.fleet.place(record)
        } catch {
            return .failure(.storageUnavailable("the session could not be placed on another instance (\(error)); no session was created"))
        }
        let bound = policy.connectTimeout + policy.joinTimeout + Self.fleetAnswerBound
        let deadline = ContinuousClock.now + bound
        while ContinuousClock.now < deadline {
            let stored: SessionRecord?
            do { stored = try await log.store.session(id: record.id) } catch { stored = nil }
            if let stored, stored.state != SessionState.connecting.rawValue {
                if let code = stored.joinFailureCode {
                    return .failure(Self.joinFailure(code: code, message: stored.endReason ?? "the join failed", sessionID: stored.id))
                }
                return .success(stored)
            }
            await fleet.signals.wait(for: .settled(session: record.id), upTo: .milliseconds(500))
        }
        // No instance took it in time: end it unless one did just now (the write is
        // fenced by the epoch it was placed with).
        end(record, .joinFailed(code: "placement_timeout", message: "no instance with room took the session within \(bound)"))
        try? await log.flush()
        return .failure(APIError(
            .gatewayTimeout, code: "placement_timeout",
            message: "this instance is full and no other instance joined the session within \(bound)", sessionID: record.id))
    }

    static let fleetAtCapacity = APIError(
        .serviceUnavailable, code: "fleet_at_capacity",
        message: "every instance of the fleet runs as many sessions as it may (--max-sessions); no session was created")

    // MARK: - Requests for another instance's sessions

    /// DELETE of a session this instance does not run. Its owner, if alive, is asked
    /// and the answer waits for it; with no live owner the session ends here, fenced by
    /// the epoch read, so it is never adopted afterwards. False when no such session.
    func deleteInFleet(_ id: String, fleet: FleetContext) async throws -> Bool {
        for _ in 0..<3 {
            try await log.flush()
            guard let (record, ownerLive) = try await fleet.fleet.owner(of: id) else { return false }
            guard record.isLive else { return true }
            if let owner = record.ownerInstance, ownerLive, owner != fleet.instanceID {
                try await command(.delete, id, owner: owner, body: [:], fleet: fleet)
                return true
            }
            end(record, .left(reason: "requested"))
            try await log.flush()
            // Refused when an instance claimed it meanwhile: then ask that one.
            if let after = try await log.store.session(id: id), !after.isLive { return true }
        }
        throw APIError(.serviceUnavailable, code: "owner_changing", message: "session '\(id)' is changing owner; retry in a few seconds")
    }

    /// Passes a migrate or credentials request to the session's owner; returns the row
    /// once the owner has acted.
    func forward(
        _ kind: SessionCommand.Kind, _ id: String, body: [String: Any], fleet: FleetContext
    ) async throws -> SessionRecord {
        try await log.flush()
        guard let (record, ownerLive) = try await fleet.fleet.owner(of: id) else { throw APIError.notFound(session: id) }
        guard record.isLive else {
            throw kind == .credentials
                ? APIError(.conflict, code: "session_not_live", message: "session '\(id)' has ended; its credentials cannot change")
                : Self.notLive(id)
        }
        guard let owner = record.ownerInstance, ownerLive, owner != fleet.instanceID else {
            throw APIError(
                .serviceUnavailable, code: "owner_changing",
                message: "session '\(id)' has no live owner right now (it is being adopted); retry in a few seconds")
        }
        try await command(kind, id, owner: owner, body: body, fleet: fleet)
        return try await log.store.session(id: id) ?? record
    }

    /// Writes a command for `owner` and waits, bounded, for its answer.
    private func command(
        _ kind: SessionCommand.Kind, _ id: String, owner: String, body: [String: Any], fleet: FleetContext
    ) async throws {
        let text = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        let commandID = try await fleet.fleet.submit(kind, sessionID: id, owner: owner, body: text)
        let deadline = ContinuousClock.now + Self.fleetAnswerBound
        while ContinuousClock.now < deadline {
            if let (status, result) = try await fleet.fleet.commandOutcome(commandID), status != .pending {
                if status == .failed { throw Self.apiError(fromCommandResult: result) }
                return
            }
            await fleet.signals.wait(for: .answered(command: commandID), upTo: .milliseconds(500))
        }
        throw APIError(
            .gatewayTimeout, code: "owner_unresponsive",
            message: "instance '\(owner)', which runs session '\(id)', did not act within \(Self.fleetAnswerBound)")
    }

    /// Executes a command another instance passed on for a session this one runs.
    func execute(_ command: SessionCommand) async -> (SessionCommand.Status, String) {
        guard live[command.sessionID] != nil else {
            return Self.commandFailure(APIError(
                .serviceUnavailable, code: "owner_changing",
                message: "session '\(command.sessionID)' changed owner before its request was acted on; retry"))
        }
        let body = (try? JSONSerialization.jsonObject(with: Data(command.body.utf8))) as? [String: Any] ?? [:]
        do {
            switch command.kind {
            case .delete:
                _ = try await delete(id: command.sessionID)
            case .migrate:
                _ = try await migrate(id: command.sessionID, to: body["to"] as? String)
            case .credentials:
                guard let token = body["token"] as? String else {
                    return Self.commandFailure(.invalid("the forwarded credentials carry no token"))
                }
                _ = try await updateCredentials(id: command.sessionID, token: token, urls: body["urls"] as? [String])
            }
            return (.done, "{}")
        } catch let error as APIError {
            return Self.commandFailure(error)
        } catch {
            return Self.commandFailure(.storageUnavailable("the owner could not act (\(error))"))
        }
    }

    private static func commandFailure(_ error: APIError) -> (SessionCommand.Status, String) {
        let object: [String: Any] = ["status": Int(error.status.code), "code": error.code, "message": error.message]
        let text = (try? JSONSerialization.data(withJSONObject: object)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return (.failed, text)
    }

    private static func apiError(fromCommandResult result: String?) -> APIError {
        let object = result.flatMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] } ?? [:]
        let status = (object["status"] as? Int).map { HTTPResponse.Status(code: $0) } ?? .badGateway
        return APIError(
            status, code: object["code"] as? String ?? "owner_failed",
            message: object["message"] as? String ?? "the session's owner could not act")
    }
}
