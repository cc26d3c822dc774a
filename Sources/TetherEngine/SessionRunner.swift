import Foundation
import Logging
import NIOCore
import Synchronization
import TetherEvents

/// Runs one session: feeds the ``Reconnector`` what happens (notices, attempt results,
/// timers, requests) and executes the actions it returns, synchronously, in order.
///
/// It keeps no fact of the session: the machine does. What it holds are handles — the
/// transport, the attempt and timer tasks keyed by what the machine named them, the
/// notice and refresh tasks, the close a leave waits for, and the continuations of
/// callers waiting for the session to join or end. Each batch's events and snapshot go
/// to `sink` at once, so the owner stores them as one unit.
public actor SessionRunner {
    public nonisolated let configuration: SessionConfiguration
    private var machine: Reconnector
    private let transport: any SignalingTransport
    private let executor: AttemptExecutor
    /// Where stale sessions go to be destroyed, with the transport that dials them.
    private let janitor: (janitor: StaleSessionJanitor, transport: any SignalingTransport)?
    private let clock: any SessionClock
    private let random: @Sendable () -> Double
    private let sink: @Sendable (SessionUpdate) -> Void
    private let logger: Logger
    private var timers: [Reconnector.Timer: Task<Void, Never>] = [:]
    private var attempts: [AttemptID: Task<Void, Never>] = [:]
    /// The admission of a FAST ruled out after it was admitted, for the attempt the
    /// machine starts next.
    private var handedOverAdmission: AdmissionTicket?
    /// What the transport reports, drained onto this actor only while notices wait.
    private let mailbox = NoticeMailbox()
    private var listening = false
    private var refreshTask: Task<Void, Never>?
    /// The socket close a leave waits for: every DELETE answers after the same one.
    private var leaveClose: Task<Void, Never>?
    /// Ownership moved away (``relinquish(leaving:)``): nothing more goes to `sink`.
    private var relinquished = false
    private var trace: ReconnectTrace
    private var settledWaiters: [CheckedContinuation<Void, Never>] = []
    /// The machine's attempt number after the last batch, readable without a hop onto
    /// this actor: a client polling its session must not queue behind the session's work.
    private let publishedAttempt = Atomic<Int>(0)
    private var terminalWaiters: [CheckedContinuation<SessionState, Never>] = []

    public init(
        configuration: SessionConfiguration, machine: Reconnector, transport: any SignalingTransport, executor: AttemptExecutor,
        janitor: (janitor: StaleSessionJanitor, transport: any SignalingTransport)? = nil,
        clock: any SessionClock = SystemSessionClock(), random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        logger: Logger = Logger(label: "tether.session"), sink: @escaping @Sendable (SessionUpdate) -> Void
    ) {
        self.configuration = configuration
        self.machine = machine
        self.transport = transport
        self.executor = executor
        self.janitor = janitor
        self.clock = clock
        self.random = random
        var logger = logger
        logger[metadataKey: "session_id"] = "\(configuration.id)"
        logger[metadataKey: "call_id"] = "\(configuration.callID)"
        self.logger = logger
        self.trace = ReconnectTrace(sessionID: configuration.id)
        self.sink = sink
    }

    public var snapshot: SessionSnapshot { machine.snapshot }
    /// The attempt of the reconnection under way (0 when none), as of the last batch.
    public nonisolated var currentAttempt: Int { publishedAttempt.load(ordering: .relaxed) }
    public var state: SessionState { machine.state }
    /// The nodes the session may use, primary first (replaced with new credentials).
    public var nodes: [String] { machine.nodes }

    // MARK: - Commands

    /// Records `session_created` and joins (over the node list when nodes refuse new
    /// sessions). Returns once joined, or once a DELETE ended the join; throws
    /// ``SessionJoinError`` (and the session is `failed`) when the join fails.
    public func start() async throws {
        listen()
        execute(machine.start(
            callID: configuration.callID, userID: configuration.userID, now: clock.now, wallNow: clock.wallNow, unitRandom: random()))
        if machine.state == .connecting { await withCheckedContinuation { settledWaiters.append($0) } }
        if case .joinFailed(let code, let message) = machine.endReason {
            throw SessionJoinError(code: code, message: message, rejectedBySFU: ConnectFailure.Kind(rawValue: code) == nil)
        }
    }

    /// Picks up a session that was live when the process stopped: records
    /// `resumed_after_restart` and rejoins it under the disconnection deadline.
    public func resumeAfterRestart(
        sfuSessionID: String?, resumeState: String? = nil, sfuURL: String, counters: SessionCounters, origin: ResumeOrigin = .restart
    ) {
        listen()
        execute(machine.resumeAfterRestart(
            sfuSessionID: sfuSessionID, resumeState: resumeState, sfuURL: sfuURL, counters: counters, origin: origin, now: clock.now,
            wallNow: clock.wallNow, unitRandom: random()))
    }

    /// Ends a session left live by the previous process without dialing.
    public func refuseResume(sfuSessionID: String?, sfuURL: String, reason: String, counters: SessionCounters) {
        execute(machine.resumeRefused(sfuSessionID: sfuSessionID, sfuURL: sfuURL, counters: counters, reason: reason))
    }

    /// Leaves cleanly (leave request, then close 1000) from any state; idempotent. Every
    /// call returns once the session has ended and the socket the leave went out on has
    /// closed (or its close grace passed).
    public func leave(reason: String = "requested") async {
        execute(machine.leaveRequested(reason: reason, now: clock.now))
        await leaveClose?.value
    }

    /// Stops running the session without ending it, because another process runs it
    /// now (or will): closes the socket — leaving first when `leaving` names a reason —
    /// and reports nothing more to the owner, not even this. Returns once the socket
    /// the leave went out on has closed (or its close grace passed).
    public func relinquish(leaving reason: String?) async {
        relinquished = true
        execute(machine.relinquished(leaving: reason))
        await leaveClose?.value
    }

    /// Moves the session to `targetURL` (or its next node) through MIGRATE; with
    /// `sourceURL` only if it is there. Checked and started in one step.
    public func migrate(to targetURL: String?, onlyFrom sourceURL: String? = nil) -> Reconnector.MigrationVerdict {
        let (verdict, actions) = machine.migrationRequested(to: targetURL, onlyFrom: sourceURL, now: clock.now)
        execute(actions)
        return verdict
    }

    /// Replaces the token (and the node list) for the next join; recorded, never the token.
    public func updateCredentials(token: String, urls: [String]?) {
        execute(machine.credentialsChanged(
            token: token, urls: urls, origin: .api, now: clock.now, wallNow: clock.wallNow, unitRandom: random()))
    }

    /// Waits until the session reaches `left`, `failed` or `ended`, and the socket a
    /// leave went out on has closed.
    public func waitUntilFinished() async -> SessionState {
        let state = machine.state.isTerminal ? machine.state : await withCheckedContinuation { terminalWaiters.append($0) }
        await leaveClose?.value
        return state
    }

    // MARK: - Inputs

    private func listen() {
        guard !listening else { return }
        listening = true
        let mailbox = self.mailbox
        // Weak: the transport keeps this receiver until the session releases it.
        transport.deliverNotices { [weak self] notice in
            guard mailbox.post(notice) else { return }
            Task { await self?.drainNotices() }
        }
    }

    private func drainNotices() {
        while let notice = mailbox.take() { handle(notice) }
    }

    func handle(_ notice: GenerationNotice) {
        execute(machine.noticeReceived(notice, now: clock.now))
    }

    private func attemptFinished(_ id: AttemptID, _ run: AttemptExecutor.Run) {
        attempts[id] = nil
        handedOverAdmission = run.handedOver
        if let result = run.result {
            execute(machine.joinFinished(attempt: id, result: result, now: clock.now, unitRandom: random()))
        }
        // Not taken by an attempt the machine started: the place goes back.
        handedOverAdmission = nil
    }

    private func timerFired(_ timer: Reconnector.Timer) {
        // A timer cancelled or re-armed after it woke is not this one any more.
        guard !Task.isCancelled else { return }
        timers[timer] = nil
        execute(machine.timerFired(timer, now: clock.now, unitRandom: random()))
    }

    private func learned(_ event: AttemptExecutor.Event) {
        switch event {
        case .credentialsFetched(let fresh, let reason):
            execute(machine.credentialsChanged(
                token: fresh.token, urls: fresh.urls, origin: .endpoint(reason: reason), now: clock.now, wallNow: clock.wallNow,
                unitRandom: random()))
        case .credentialsFailed(let reason, let error):
            execute(machine.credentialsRefreshFailed(reason: reason, error: error))
        }
    }

    private func staleSessionCleaned(at url: String, sfuSessionID: String) {
        execute(machine.staleSessionDestroyed(sfuURL: url, sfuSessionID: sfuSessionID))
    }

    // MARK: - Executing actions

    private func execute(_ actions: [Reconnector.Action]) {
        var update = SessionUpdate(events: [], snapshot: nil, credentials: nil)
        var attemptsStarted: [Reconnector.AttemptPlan] = []
        var attemptCancelled = false
        for action in actions {
            switch action {
            case .emit(let kind):
                update.events.append(SessionEvent(
                    sessionID: configuration.id, timeMs: Int64((clock.wallNow.timeIntervalSince1970 * 1000).rounded(.down)),
                    generation: machine.generation.value, kind: kind))
            case .setState(let state):
                if state != .connecting { resume(&settledWaiters) }
                if state.isTerminal { release() }
            case .close(let generation, let leaving):
                transport.close(generation, leaving: leaving)
                // A leave, or a hand-over's plain close, is waited for: the next owner
                // must not find the SFU still holding this socket.
                if leaving != nil || relinquished, machine.state.isTerminal {
                    leaveClose = Task { [transport] in await transport.waitUntilClosed(generation) }
                }
            case .startAttempt(let id, let plan):
                startAttempt(id, plan)
                attemptsStarted.append(plan)
            case .cancelAttempt(let id):
                attempts.removeValue(forKey: id)?.cancel()
                attemptCancelled = true
            case .armTimer(let timer, let instant):
                arm(timer, at: instant)
            case .cancelTimer(let timer):
                timers.removeValue(forKey: timer)?.cancel()
            case .destroyStaleSession(let url, let sfuSessionID, let resumeState):
                destroyStaleSession(at: url, sfuSessionID: sfuSessionID, resumeState: resumeState)
            case .storeCredentials(let token, let nodes):
                update.credentials = .init(token: token, nodes: nodes)
            case .refreshCredentials(let reason):
                refresh(reason: reason)
            }
        }
        update.snapshot = machine.takeSnapshotIfChanged()
        publishedAttempt.store(machine.currentAttempt, ordering: .relaxed)
        guard !relinquished else { return }
        // The events first (they open and close reconnections), then what the attempts
        // did (a started attempt belongs to the reconnection its batch opened).
        for event in update.events {
            if let line = event.logLine(atLeast: logger.logLevel) { logger.log(level: line.level, "\(line.message)", metadata: line.metadata) }
            trace.record(event)
        }
        if attemptCancelled { trace.attemptCancelled() }
        for plan in attemptsStarted {
            trace.attemptStarted(strategy: plan.strategy, attempt: plan.attempt, url: machine.nodes[plan.nodeIndex])
        }
        if !update.isEmpty { sink(update) }
    }

    private func startAttempt(_ id: AttemptID, _ plan: Reconnector.AttemptPlan) {
        let url = machine.nodes[plan.nodeIndex]
        let fromURL = plan.fromNodeIndex.map { machine.nodes[$0] }
        let admission = handedOverAdmission
        handedOverAdmission = nil
        attempts[id] = Task { [executor] in
            let run = await executor.run(id, plan: plan, url: url, fromURL: fromURL, admission: admission) { event in
                await self.learned(event)
            }
            self.attemptFinished(id, run)
        }
    }

    private func arm(_ timer: Reconnector.Timer, at instant: ContinuousClock.Instant) {
        timers.removeValue(forKey: timer)?.cancel()
        // The machine bounds what it arms; this bounds what it might arm wrongly: an
        // instant past Int64 nanoseconds traps inside Task.sleep and ends the process.
        let instant = min(instant, clock.now + .seconds(Self.longestTimerSeconds))
        timers[timer] = Task { [clock] in
            guard (try? await clock.sleep(until: instant)) != nil else { return }
            self.timerFired(timer)
        }
    }

    /// A year: longer than any deadline, window or backoff a valid policy allows.
    static let longestTimerSeconds: Int64 = 366 * 86_400

    /// One refresh at a time; its answer goes to the machine like any other.
    private func refresh(reason: String) {
        guard refreshTask == nil, let source = executor.credentials else { return }
        refreshTask = Task {
            let event: AttemptExecutor.Event?
            do {
                event = .credentialsFetched(try await source.fetch(reason), reason: reason)
            } catch is CancellationError {
                event = nil
            } catch {
                event = .credentialsFailed(reason: reason, error: "\(error)")
            }
            self.refreshFinished(event)
        }
    }

    private func refreshFinished(_ event: AttemptExecutor.Event?) {
        refreshTask = nil
        if let event { learned(event) }
    }

    private func destroyStaleSession(at url: String, sfuSessionID: String, resumeState: String?) {
        guard let janitor else {
            logger.notice("a stale SFU session is left to expire (no cleanup here)", metadata: ["sfu_url": "\(url)"])
            return
        }
        let parameters = JoinParameters(
            token: machine.token, callID: configuration.callID, userID: configuration.userID,
            staleSessionID: sfuSessionID, cleanupOnly: true, staleResumeState: resumeState)
        janitor.janitor.submit(.init(transport: janitor.transport, url: url, parameters: parameters) { outcome in
            // Gone already (expired meanwhile) is not worth a history entry.
            if outcome == .destroyed(found: true) { await self.staleSessionCleaned(at: url, sfuSessionID: sfuSessionID) }
        })
    }

    /// The session has ended: every handle goes, and whoever waits is told.
    private func release() {
        for timer in timers.values { timer.cancel() }
        timers.removeAll()
        for attempt in attempts.values { attempt.cancel() }
        attempts.removeAll()
        refreshTask?.cancel()
        transport.finish()
        mailbox.close()
        let state = machine.state
        for waiter in terminalWaiters { waiter.resume(returning: state) }
        terminalWaiters.removeAll()
    }

    private func resume(_ waiters: inout [CheckedContinuation<Void, Never>]) {
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }
}
