import Foundation
import Logging
import ServiceLifecycle
import TetherEngine
import TetherEventLog
import TetherPostgresStore

/// This instance's membership of the fleet: it registers, keeps its lease, fences
/// itself when the lease may be gone, sweeps for dead peers, claims released sessions,
/// executes commands for the sessions it runs, and on shutdown hands its sessions to
/// the others. A thin actor: when to fence is ``FleetLease``'s decision.
///
/// Four loops run side by side, so that none waits on another: the lease (register,
/// renew every `ttl / 5`), the watchdog (fences at the lease's deadline, even while a
/// renewal hangs on a dead connection), the work (sweep, claim, commands; every period
/// and on each wake-up), and the `LISTEN` connection that brings the wake-ups.
actor FleetMember: Service {
    let fleet: PostgresFleet
    let listener: FleetListener
    /// Woken by other instances' commits: the live tail reads on.
    let feed: FleetEventFeed?
    let registry: SessionRegistry
    let log: EventLog
    let context: FleetContext
    let metrics: TetherMetrics
    let address: BoundAddress
    let logger: Logger
    /// Adoption waits this long past a lease's expiry on the database's clock.
    let grace: Duration
    private var lease: FleetLease
    private var incarnation: Int64?
    private var workWake: CheckedContinuation<Void, Never>?
    private var workPending = false
    private var renewalFailures = 0
    private var heldReported = false
    /// Sessions a drain closed but could not release yet: released on the next work turn
    /// (the lease keeps being renewed, so they would otherwise never be adopted).
    private var unreleased: [String] = []
    /// `POST /v1/drain` ran: draining until this process stops, through fences too.
    private var drained = false

    init(
        fleet: PostgresFleet, listener: FleetListener, registry: SessionRegistry, log: EventLog, feed: FleetEventFeed?, context: FleetContext,
        metrics: TetherMetrics, address: BoundAddress, ttl: Duration, margin: Duration, logger: Logger
    ) {
        self.fleet = fleet
        self.listener = listener
        self.feed = feed
        self.registry = registry
        self.log = log
        self.context = context
        self.metrics = metrics
        self.address = address
        self.logger = logger
        self.grace = margin
        self.lease = FleetLease(ttl: ttl, margin: margin)
    }

    var phase: FleetLease.Phase { lease.phase }

    /// How long one fleet statement may take: a renewal period, but at least 3 s (a
    /// busy machine opens connections slowly, and a statement's answer waits for a free
    /// thread behind every session's work) and at most half the lease. A slow renewal
    /// costs nothing but its own extension: the fence counts from sends.
    private var statementBound: Duration { min(max(lease.renewalPeriod, .seconds(3)), lease.ttl / 2) }

    func run() async throws {
        let loops = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.leaseLoop() }
                group.addTask { await self.watchdogLoop() }
                group.addTask { await self.workLoop() }
                group.addTask {
                    await self.listener.run(connected: { await self.wakeWork() }, receive: { await self.received($0) })
                }
            }
        }
        try? await gracefulShutdown()
        await handOver()
        loops.cancel()
        await loops.value
        fleet.close()
    }

    // MARK: - The lease

    private func leaseLoop() async {
        while !Task.isCancelled {
            switch lease.phase {
            case .joining, .fenced:
                if await !register() { try? await Task.sleep(for: lease.renewalPeriod) }
            case .serving, .draining:
                await renew()
                try? await Task.sleep(for: lease.renewalPeriod)
            }
        }
    }

    /// True once registered.
    private func register() async -> Bool {
        do {
            // Rejoining after a fence: only once this instance can write again.
            if incarnation != nil { try await fleet.storeAnswers(within: statementBound) }
        } catch {
            logger.warning("the database answers the fleet, not yet the store's pools; rejoining once they do", metadata: ["error": "\(error)"])
            return false
        }
        let sent = ContinuousClock.now
        do {
            switch try await fleet.register(
                address: address.current, capacity: context.capacity, ttl: lease.ttl, previous: incarnation, within: statementBound)
            {
            case .registered(let incarnation):
                let rejoined = self.incarnation != nil
                self.incarnation = incarnation
                lease.registered(sentAt: sent)
                if let deadline = lease.fenceDeadline { context.permit.extend(to: deadline) }
                heldReported = false
                renewalFailures = 0
                if drained {
                    // Drained before a fence: it stays out of the fleet's placements until it stops.
                    lease.draining()
                    try? await fleet.markDraining(incarnation: incarnation, within: statementBound)
                } else {
                    await registry.setFleetServing(true)
                }
                logger.notice(
                    "\(rejoined ? "rejoined the fleet" : "joined the fleet") as instance \(fleet.instanceID) (incarnation \(incarnation), lease \(lease.ttl), capacity \(context.capacity))")
                wakeWork()
                return true
            case .held(let untilMs):
                if !heldReported {
                    heldReported = true
                    logger.warning(
                        "instance id \(fleet.instanceID) is held by a live instance (its lease runs until \(Date(timeIntervalSince1970: Double(untilMs) / 1000))); waiting for it to stop or expire")
                }
                return false
            }
        } catch {
            logger.warning("cannot register with the fleet yet; retrying", metadata: ["error": "\(error)"])
            return false
        }
    }

    private func renew() async {
        guard let incarnation else { return }
        let sent = ContinuousClock.now
        do {
            let load = await registry.liveSessionCount
            if try await fleet.renew(incarnation: incarnation, ttl: lease.ttl, load: load, address: address.current, within: statementBound) {
                lease.renewed(sentAt: sent)
                if lease.phase == .serving || lease.phase == .draining, let deadline = lease.fenceDeadline {
                    context.permit.extend(to: deadline)
                }
                if renewalFailures > 0 { logger.notice("lease renewed again after \(renewalFailures) failed renewal(s)") }
                renewalFailures = 0
            } else {
                await apply(lease.renewalRefused())
            }
        } catch {
            renewalFailures += 1
            if renewalFailures == 1, let deadline = lease.fenceDeadline {
                logger.warning(
                    "lease renewal failed; this instance fences in \(deadline - .now) unless one succeeds",
                    metadata: ["error": "\(error)"])
            }
        }
    }

    private func watchdogLoop() async {
        while !Task.isCancelled {
            let now = ContinuousClock.now
            let next = min(lease.fenceDeadline ?? now + lease.renewalPeriod, now + lease.renewalPeriod)
            try? await Task.sleep(until: next, clock: .continuous)
            await apply(lease.tick(now: .now))
        }
    }

    private func apply(_ actions: [FleetLease.Action]) async {
        for action in actions {
            switch action {
            case .fence(let reason):
                // First the permit: no attempt may dial from here on, whatever runs next.
                context.permit.revoke()
                await registry.setFleetServing(false)
                metrics.fleet("tether_fleet_fenced_total")
                logger.critical("fencing: this instance stops acting as an agent: \(reason)")
                let left = await registry.relinquishAll(leaving: "fenced")
                logger.notice("fenced: left \(left.count) session(s); they will be adopted; registering again")
            }
        }
    }

    // MARK: - Sweep, claim, commands

    private func workLoop() async {
        while !Task.isCancelled {
            await work()
            await waitForWork(upTo: lease.renewalPeriod)
        }
    }

    private func work() async {
        let bound = statementBound
        if let incarnation, !unreleased.isEmpty, lease.phase == .draining {
            if let released = try? await fleet.handOver(unreleased, incarnation: incarnation, leaving: false, within: bound) {
                logger.notice("handed \(released) session(s) over to the fleet (after a failed try)")
                unreleased = []
            }
        }
        guard let incarnation, lease.phase == .serving else { return }
        do {
            let dead = try await fleet.sweep(grace: grace, within: bound)
            if !dead.isEmpty { logger.warning("declared dead (lease expired): \(dead.joined(separator: ", ")); their sessions are released") }
            let room = context.capacity - (await registry.liveSessionCount)
            if room > 0 {
                let (free, unowned) = try await fleet.capacity(within: bound)
                if unowned > 0 {
                    // Each instance takes its share of what waits, by its free room: the
                    // least loaded take the most; SKIP LOCKED keeps claims apart.
                    let share = free > 0 ? Int((Double(unowned) * Double(room) / Double(free)).rounded(.up)) : unowned
                    let claimed = try await fleet.claim(incarnation: incarnation, limit: min(room, max(1, share), 1000), within: bound)
                    if !claimed.isEmpty {
                        logger.notice("claimed \(claimed.count) session(s)")
                        await registry.adopt(claimed)
                        if claimed.count == min(room, max(1, share), 1000) { wakeWork() }
                    }
                }
            }
            for command in try await fleet.pendingCommands() {
                let (status, result) = await registry.execute(command)
                try await fleet.answer(command.id, status: status, result: result)
            }
        } catch {
            logger.debug("fleet work failed; retrying next period", metadata: ["error": "\(error)"])
        }
    }

    private func received(_ notification: PostgresFleet.Notification) {
        switch notification {
        case .claimable:
            wakeWork()
        case .command(let owner) where owner == fleet.instanceID:
            wakeWork()
        case .command:
            break
        case .answered, .settled:
            context.signals.post(notification)
        case .events:
            feed?.wake()
        }
    }

    private func wakeWork() {
        if let wake = workWake {
            workWake = nil
            wake.resume()
        } else {
            workPending = true
        }
    }

    private func waitForWork(upTo bound: Duration) async {
        if workPending {
            workPending = false
            return
        }
        let timer = Task {
            try? await Task.sleep(for: bound)
            self.wakeWork()
        }
        await withCheckedContinuation { workWake = $0 }
        workPending = false
        timer.cancel()
    }

    // MARK: - Shutdown

    /// Why a drain handed nothing over.
    enum DrainRefusal: Error {
        /// This instance holds no lease (joining, fenced) or is draining already.
        case notServing(FleetLease.Phase)
        /// No other serving instance has a free place.
        case noRoom
        case failed(String)
    }

    /// `POST /v1/drain` with this instance's id: hands every session to the others at
    /// once, as on `SIGTERM`, and stays up, `draining` — it answers requests and claims
    /// nothing — until it stops. Returns the sessions handed over.
    func drain() async -> Result<[String], DrainRefusal> {
        let result = await handOver(leavingFleet: false)
        // Also after a failure that closed the sessions already: they are released later.
        if case .success = result { drained = true } else if !unreleased.isEmpty { drained = true }
        return result
    }

    /// On shutdown: hands the sessions over (unless a drain did already) and leaves the fleet.
    private func handOver() async {
        switch await handOver(leavingFleet: true) {
        case .success, .failure(.noRoom): break
        case .failure(.notServing(.draining)):
            // Drained earlier: nothing left to hand over; only the row says goodbye.
            guard let incarnation else { return }
            let bound = statementBound
            _ = try? await retrying(until: .now + .seconds(5)) {
                try await self.fleet.handOver([], incarnation: incarnation, leaving: true, within: bound)
            }
        case .failure(let refusal):
            logger.error("the hand-over failed; the sessions will be adopted once the lease expires", metadata: ["error": "\(refusal)"])
        }
    }

    /// Hands every session to the other instances: each socket closes without a leave,
    /// the last writes land under the old epoch, then one transaction releases them as
    /// `handover` and wakes the claimers, who take the same SFU sessions over. With no
    /// other instance having room nothing is handed over: on shutdown the sessions then
    /// leave as a lone instance's do (the registry, next to stop); a drain is refused.
    private func handOver(leavingFleet: Bool) async -> Result<[String], DrainRefusal> {
        guard let incarnation, lease.phase == .serving else { return .failure(.notServing(lease.phase)) }
        // Within the shutdown grace; each step is retried while the database is slow.
        let deadline = ContinuousClock.now + .seconds(10)
        let bound = statementBound
        do {
            let (free, _) = try await retrying(until: deadline) { try await self.fleet.capacity(othersOnly: true, within: bound) }
            guard free > 0 else {
                if leavingFleet {
                    logger.notice("no other instance has room: sessions leave instead of being handed over")
                    lease.draining()
                    await registry.setFleetServing(false)
                    try await retrying(until: deadline) { try await self.fleet.handOver([], incarnation: incarnation, leaving: true, within: bound) }
                }
                return .failure(.noRoom)
            }
            lease.draining()
            await registry.setFleetServing(false)
            try await retrying(until: deadline) { try await self.fleet.markDraining(incarnation: incarnation, within: bound) }
            let ids = await registry.relinquishAll(leaving: nil)
            try? await log.flush(within: .seconds(5))
            let released: Int
            do {
                released = try await retrying(until: deadline + .seconds(5)) {
                    try await self.fleet.handOver(ids, incarnation: incarnation, leaving: leavingFleet, within: bound)
                }
            } catch {
                if !leavingFleet { unreleased = ids }
                throw error
            }
            logger.notice("handed \(released) session(s) over to the fleet\(leavingFleet ? "" : "; draining until stopped")")
            return .success(ids)
        } catch {
            return .failure(.failed("\(error)"))
        }
    }

    /// `step`, tried again after a failure until `deadline`.
    private func retrying<T: Sendable>(until deadline: ContinuousClock.Instant, _ step: @Sendable () async throws -> T) async throws -> T {
        while true {
            do {
                return try await step()
            } catch {
                guard ContinuousClock.now + .milliseconds(200) < deadline else { throw error }
                logger.warning("fleet step failed during shutdown; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }
}
