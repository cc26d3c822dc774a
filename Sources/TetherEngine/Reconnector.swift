import TetherEvents

/// Decides what a session does after a loss: FAST, then REJOIN, MIGRATE on `go_away`,
/// nothing after DISCONNECT or `call_ended`, all under one disconnection deadline.
///
/// A pure state machine: no I/O, time and randomness are inputs, and every method
/// returns the actions for ``SessionRunner`` to execute, in order.
public struct Reconnector: Sendable {
    public typealias Instant = ContinuousClock.Instant

    public enum Timer: Sendable, Hashable {
        /// The disconnection deadline of the running reconnection.
        case deadline
        /// The backoff before the next REJOIN attempt.
        case retry
        /// The end of the SFU's fast-reconnect window for a FAST attempt in flight.
        case fastWindow
    }

    /// One attempt for the executor to run: dial `nodeIndex`, join with these details.
    public struct AttemptPlan: Sendable, Equatable {
        public var strategy: ReconnectStrategy
        /// 1-based count of attempts in this reconnection.
        public var attempt: Int
        public var nodeIndex: Int
        /// The SFU session to resume (FAST only).
        public var resumeSessionID: String?
        public var previousSessionID: String?
        /// The node being left (MIGRATE only).
        public var fromNodeIndex: Int?
        public var trigger: ReconnectTrigger
        /// Our session from before the loss, still held by this node (the dialect leaves
        /// stale sessions): to destroy before joining anew.
        public var staleSessionID: String?
    }

    public enum Action: Sendable, Equatable {
        case emit(SessionEventKind)
        case setState(SessionState)
        /// Close the current connection generation without a loss (we asked).
        case retireConnection
        /// Leave the current node (its leave request, then close 1000) without waiting,
        /// before moving elsewhere, so the old node lets the participant go at once.
        case retireConnectionLeaving(reason: String)
        /// Send the dialect's leave, then close with 1000.
        case leave(reason: String)
        /// A make-before-break MIGRATE joined its target: leave the generation it
        /// replaced (on the old node, SFU session `sfuSessionID`).
        case leaveReplaced(sfuSessionID: String, reason: String)
        case startAttempt(AttemptPlan)
        /// Stop the attempt in flight and close whatever socket it opened.
        case cancelAttempt
        case armTimer(Timer, at: Instant)
        case cancelTimer(Timer)
        /// The session moved on without leaving `sfuSessionID` on `sfuURL` (that node was
        /// unreachable, or left the list): destroy it there as soon as it answers, and
        /// report back through ``staleSessionDestroyed(sfuURL:sfuSessionID:)``. A URL, not
        /// an index: the node list may change meanwhile.
        case destroyStaleSession(sfuURL: String, sfuSessionID: String)
    }

    /// Why an attempt failed, as the executor saw it.
    public struct AttemptFailure: Sendable, Equatable {
        public var step: AttemptStep
        public var message: String
        /// The strategy an SFU `error` asked for, if it named one.
        public var sfuStrategy: ReconnectStrategy?
        /// The node accepts no new sessions: the next attempt goes to another node.
        public var nodeRefused: Bool

        public init(step: AttemptStep, message: String, sfuStrategy: ReconnectStrategy? = nil, nodeRefused: Bool = false) {
            self.step = step
            self.message = message
            self.sfuStrategy = sfuStrategy
            self.nodeRefused = nodeRefused
        }
    }

    struct Recovery: Sendable, Equatable {
        var startedAt: Instant
        var deadline: Instant
        var trigger: ReconnectTrigger
        var strategy: ReconnectStrategy
        var attempts = 0
        /// Failed attempts so far: the n-th retry waits backoff(n), whatever the strategy.
        var retries = 0
        /// A FAST attempt failed in this reconnection: FAST is never tried again.
        var fastFailed = false
        var inFlight: AttemptPlan?
        /// The node the next attempt dials.
        var targetNode: Int
        /// A strategy asked for by a trigger merged into this reconnection.
        var mergedStrategy: ReconnectStrategy?
        /// Until when the SFU still holds our session for FAST.
        var fastValidUntil: Instant
        /// An operator's MIGRATE that keeps the current connection until the target
        /// has joined; if the target fails, the session stays where it is.
        var makeBeforeBreak = false
        /// The connection kept by a make-before-break MIGRATE was lost meanwhile: a
        /// failure then falls back to the usual escalation.
        var keptConnectionLost = false
        /// The node we were on was told we leave (a MIGRATE's leave on a live socket), so
        /// it holds no stale session of ours.
        var leftPreviousNode = false
    }

    public let policy: ReconnectPolicy
    public private(set) var nodes: [String]
    /// Operator MIGRATEs join the target before leaving (the dialect allows it).
    public let makeBeforeBreak: Bool
    /// The node the session is on left the list: its next reconnection cannot resume
    /// there, and the session it holds there is stale. Holds that node's URL.
    private var removedNode: String?
    /// A node list that arrived while an attempt was in flight: applied once it is
    /// settled, so no plan's indexes ever point into a different list.
    private var pendingNodes: [String]?
    /// After a restart, FAST is tried first (the SFU resumes a session from any socket).
    public let resumesAcrossRestarts: Bool
    /// The SFU keeps a lost session in the call until it is destroyed or expires: every
    /// new join must first get rid of the one we left behind.
    public let leavesStaleSessions: Bool
    public private(set) var state: SessionState = .connecting
    public private(set) var nodeIndex = 0
    public private(set) var sfuSessionID: String?
    private var fastWindow: Duration
    private var recovery: Recovery?
    /// When the last reconnection succeeded, to tell a flap from a stable connection.
    private var lastRecoveredAt: Instant?
    /// Successful recoveries within the flap window, oldest first.
    private var recentRecoveries: [Instant] = []
    /// Consecutive losses that came within `stableAfter` of a recovery.
    private var flaps = 0

    public init(
        policy: ReconnectPolicy, nodes: [String], makeBeforeBreak: Bool = false, resumesAcrossRestarts: Bool = false,
        leavesStaleSessions: Bool = false
    ) {
        precondition(!nodes.isEmpty, "a session needs at least one SFU node")
        self.policy = policy
        self.nodes = nodes
        self.makeBeforeBreak = makeBeforeBreak
        self.resumesAcrossRestarts = resumesAcrossRestarts
        self.leavesStaleSessions = leavesStaleSessions
        self.fastWindow = policy.fastReconnectWindow
    }

    /// The attempt count of the reconnection in progress (0 when none runs).
    public var currentAttempt: Int { recovery?.attempts ?? 0 }
    public var currentNode: String { nodes[nodeIndex] }

    // MARK: - The first join

    public mutating func initialJoinSucceeded(
        sfuSessionID: String, fastReconnectWindow: Duration?, valueProblems: [String] = []
    ) -> [Action] {
        guard state == .connecting else { return [] }
        self.sfuSessionID = sfuSessionID
        fastWindow = bounded(fastReconnectWindow)
        state = .joined
        return [.setState(.joined), .emit(.joined(sfuURL: currentNode, sfuSessionID: sfuSessionID))]
            + Self.badValues(valueProblems)
    }

    /// The SFU's window, or the policy's when it did not say; never past
    /// ``PeerLimits/maxFastReconnectWindowSeconds`` whoever decoded it, since it is added
    /// to an instant that becomes a timer.
    private func bounded(_ window: Duration?) -> Duration {
        min(max(window ?? policy.fastReconnectWindow, .zero), .seconds(PeerLimits.maxFastReconnectWindowSeconds))
    }

    /// Numbers the SFU sent out of range, recorded once each as `sfu_error{bad_value}`.
    private static func badValues(_ problems: [String]) -> [Action] {
        problems.map { .emit(.sfuError(code: "bad_value", message: $0, strategy: nil)) }
    }

    /// The first join's node accepts no new sessions: move to the next node of the list,
    /// recording why. Returns nil when no node is left to try (the join then fails).
    public mutating func initialNodeRefused(code: String, message: String) -> [Action]? {
        guard state == .connecting, nodeIndex + 1 < nodes.count else { return nil }
        let refusing = currentNode
        nodeIndex += 1
        return [.emit(.sfuError(code: code, message: "\(refusing) accepts no new sessions (\(message)); trying \(currentNode)", strategy: nil))]
    }

    public mutating func initialJoinFailed(code: String, message: String) -> [Action] {
        guard state == .connecting else { return [] }
        state = .failed
        return [.emit(.joinFailed(code: code, message: message)), .setState(.failed)]
    }

    /// The process restarted while this session was live on `nodeIndex`: resume it
    /// (FAST where the SFU lets another socket claim the session, else REJOIN).
    public mutating func resumeAfterRestart(sfuSessionID: String?, nodeIndex: Int, now: Instant) -> [Action] {
        guard state == .connecting else { return [] }
        self.sfuSessionID = sfuSessionID
        self.nodeIndex = min(max(nodeIndex, 0), nodes.count - 1)
        let strategy: ReconnectStrategy = resumesAcrossRestarts && sfuSessionID != nil ? .fast : .rejoin
        return [.emit(.resumedAfterRestart(sfuURL: currentNode, previousSFUSessionID: sfuSessionID))]
            + begin(trigger: .restart, strategy: strategy, lastContact: now, now: now)
    }

    /// The process restarted while this session was live, but it may not be resumed
    /// (its SFU address is no longer allowed): record why and end it, dialing nothing.
    public mutating func resumeRefused(sfuSessionID: String?, nodeIndex: Int, reason: String) -> [Action] {
        guard state == .connecting else { return [] }
        self.sfuSessionID = sfuSessionID
        self.nodeIndex = min(max(nodeIndex, 0), nodes.count - 1)
        return [.emit(.resumedAfterRestart(sfuURL: currentNode, previousSFUSessionID: sfuSessionID))]
            + finish(state: .failed, event: .reconnectFailed(reason: reason, attempts: 0, durationMs: 0))
    }

    // MARK: - Triggers

    /// The current generation's loss signal fired. `lastContact` is the last moment the
    /// SFU was heard from, which bounds how long it still holds the session.
    public mutating func connectionLost(
        reason: LossReason, closeCode: Int?, detail: String?, lastContact: Instant, now: Instant
    ) -> [Action] {
        let lost = Action.emit(.connectionLost(reason: reason, closeCode: closeCode, detail: detail))
        switch state {
        case .joined:
            return [lost] + begin(trigger: .connectionLost, strategy: .fast, lastContact: lastContact, now: now)
        case .reconnecting, .migrating:
            if recovery?.makeBeforeBreak == true { recovery?.keptConnectionLost = true }
            return [lost, .emit(.triggerMerged(trigger: .connectionLost, strategy: nil))]
        case .connecting, .left, .failed, .ended:
            return []
        }
    }

    public mutating func sfuErrorReceived(_ error: SFUError, now: Instant) -> [Action] {
        let recorded = Action.emit(.sfuError(code: error.code, message: error.message, strategy: error.strategy))
        switch state {
        case .joined:
            switch error.strategy {
            case nil:
                return [recorded]
            case .disconnect:
                state = .left
                return [recorded, .leave(reason: "sfu_disconnect"), .emit(.left(reason: "sfu_disconnect")), .setState(.left)]
            case .fast, .rejoin, .migrate:
                return [recorded] + begin(trigger: .sfuError, strategy: error.strategy!, lastContact: now, now: now)
            }
        case .reconnecting, .migrating:
            if error.strategy == .disconnect {
                return [recorded] + finish(state: .left, event: .left(reason: "sfu_disconnect"))
            }
            merge(error.strategy)
            return [recorded, .emit(.triggerMerged(trigger: .sfuError, strategy: error.strategy))]
        case .connecting, .left, .failed, .ended:
            return []
        }
    }

    public mutating func goAwayReceived(reason: String, now: Instant) -> [Action] {
        let recorded = Action.emit(.goAway(reason: reason))
        switch state {
        case .joined:
            return [recorded] + begin(trigger: .goAway, strategy: .migrate, lastContact: now, now: now)
        case .reconnecting, .migrating:
            merge(.migrate)
            return [recorded, .emit(.triggerMerged(trigger: .goAway, strategy: .migrate))]
        case .connecting, .left, .failed, .ended:
            return []
        }
    }

    /// An operator asked to move the session to `targetNode` (or the next node).
    public mutating func migrationRequested(targetNode: Int?, now: Instant) -> [Action] {
        switch state {
        case .joined:
            return begin(
                trigger: .operatorRequest, strategy: .migrate, lastContact: now, now: now, migrateTo: targetNode,
                makeBeforeBreak: makeBeforeBreak)
        case .reconnecting, .migrating:
            merge(.migrate)
            return [.emit(.triggerMerged(trigger: .operatorRequest, strategy: .migrate))]
        case .connecting, .left, .failed, .ended:
            return []
        }
    }

    /// The SFU removed us on someone's decision (a moderator's kick): that decision
    /// stands. Recorded as an `sfu_error`, then the session leaves with the code as reason.
    public mutating func removedBySFU(code: String, message: String, now: Instant) -> [Action] {
        guard !state.isTerminal, state != .connecting else { return [] }
        let recorded = Action.emit(.sfuError(code: code, message: message, strategy: nil))
        if state == .joined {
            state = .left
            return [recorded, .leave(reason: code), .emit(.left(reason: code)), .setState(.left)]
        }
        return [recorded, .retireConnection] + finish(state: .left, event: .left(reason: code))
    }

    /// A stale session named by ``Action/destroyStaleSession(sfuURL:sfuSessionID:)`` is
    /// gone from its node. Recorded whatever the session's state: it is history.
    public func staleSessionDestroyed(sfuURL: String, sfuSessionID: String) -> [Action] {
        [.emit(.staleSessionDestroyed(sfuURL: sfuURL, sfuSessionID: sfuSessionID))]
    }

    /// Records `event` (credential changes and other facts with no decision attached)
    /// while the session lives.
    public func note(_ event: SessionEventKind) -> [Action] {
        state.isTerminal ? [] : [.emit(event)]
    }

    /// The node list was replaced (new credentials). The session stays where it is; if
    /// its node is gone from the list, the next reconnection rejoins the new primary.
    public mutating func nodesReplaced(_ urls: [String]) -> [Action] {
        guard !urls.isEmpty, !state.isTerminal else { return [] }
        pendingNodes = urls
        if recovery?.inFlight == nil { applyPendingNodes() }
        return []
    }

    private mutating func applyPendingNodes() {
        guard let urls = pendingNodes else { return }
        pendingNodes = nil
        let current = currentNode
        let target = recovery.map { nodes[$0.targetNode] }
        nodes = urls
        if let index = urls.firstIndex(of: current) {
            nodeIndex = index
        } else {
            nodeIndex = 0
            removedNode = current
        }
        if var recovery, let target {
            recovery.targetNode = urls.firstIndex(of: target) ?? nodeIndex
            self.recovery = recovery
        }
    }

    public mutating func callEnded(reason: String, now: Instant) -> [Action] {
        guard !state.isTerminal, state != .connecting else { return [] }
        return [.retireConnection] + finish(state: .ended, event: .callEnded(reason: reason))
    }

    /// DELETE, shutdown or a signal: leave cleanly from wherever we are.
    public mutating func leaveRequested(reason: String, now: Instant) -> [Action] {
        switch state {
        case .joined:
            state = .left
            return [.leave(reason: reason), .emit(.left(reason: reason)), .setState(.left)]
        case .migrating where recovery?.makeBeforeBreak == true && recovery?.keptConnectionLost == false:
            // The kept connection is alive and joined: it leaves properly.
            return [.retireConnectionLeaving(reason: reason)] + finish(state: .left, event: .left(reason: reason))
        case .connecting, .reconnecting, .migrating:
            return [.retireConnection] + finish(state: .left, event: .left(reason: reason))
        case .left, .failed, .ended:
            return []
        }
    }

    // MARK: - Attempt outcomes and timers

    public mutating func attemptSucceeded(_ answer: JoinAnswer, now: Instant) -> [Action] {
        guard var recovery, let plan = recovery.inFlight else { return [] }
        if plan.strategy == .fast, !answer.reconnected {
            // The SFU accepted the socket but did not resume the session: FAST failed.
            return [.retireConnection] + attemptFailed(
                AttemptFailure(step: .resume, message: "the SFU answered the FAST join without reconnected=true"),
                unitRandom: 0, now: now)
        }
        recovery.inFlight = nil
        self.recovery = nil
        let previousSessionID = sfuSessionID
        let keptConnection = recovery.makeBeforeBreak && !recovery.keptConnectionLost
        if !recovery.makeBeforeBreak {
            lastRecoveredAt = now
            recentRecoveries.append(now)
        }
        let previousNode = nodeIndex
        nodeIndex = plan.nodeIndex
        sfuSessionID = answer.sfuSessionID
        fastWindow = bounded(answer.fastReconnectWindow)
        state = .joined
        var actions: [Action] = [.cancelTimer(.deadline), .cancelTimer(.fastWindow), .cancelTimer(.retry)]
        actions += Self.badValues(answer.valueProblems)
        if answer.staleSessionDestroyed != nil, let stale = plan.staleSessionID {
            actions.append(.emit(.staleSessionDestroyed(sfuURL: nodes[plan.nodeIndex], sfuSessionID: stale)))
        }
        if answer.rejoinedRoom {
            actions.append(.emit(.roomRejoined(reason: "not_in_room_after_resume")))
        }
        actions.append(.emit(.reconnected(
            strategy: plan.strategy, attempts: recovery.attempts,
            durationMs: (now - recovery.startedAt).wholeMilliseconds,
            sfuURL: nodes[plan.nodeIndex], sfuSessionID: answer.sfuSessionID)))
        if let removed = removedNode {
            // The node the session was on left the list: what it holds there is stale.
            removedNode = nil
            if leavesStaleSessions, !recovery.leftPreviousNode, let previousSessionID {
                actions.append(.destroyStaleSession(sfuURL: removed, sfuSessionID: previousSessionID))
            }
        } else if previousNode != plan.nodeIndex {
            actions.append(.emit(.migrated(from: nodes[previousNode], to: nodes[plan.nodeIndex])))
            if leavesStaleSessions, !recovery.leftPreviousNode, !keptConnection, let previousSessionID {
                // The old node was never told we left (it was unreachable): our session
                // there still holds the agent in the room until it expires.
                actions.append(.destroyStaleSession(sfuURL: nodes[previousNode], sfuSessionID: previousSessionID))
            }
        }
        applyPendingNodes()
        if keptConnection, let previousSessionID {
            // Made before break: only now does the old node let the participant go.
            actions.append(.leaveReplaced(sfuSessionID: previousSessionID, reason: "migrated"))
        }
        actions.append(.setState(.joined))
        return actions
    }

    /// The attempt in flight failed. `unitRandom` in [0, 1) draws the backoff jitter.
    public mutating func attemptFailed(_ failure: AttemptFailure, unitRandom: Double, now: Instant) -> [Action] {
        guard var recovery, let plan = recovery.inFlight else { return [] }
        recovery.inFlight = nil
        let planURL = nodes[plan.nodeIndex]
        if pendingNodes != nil {
            // Settle the new node list first; this plan's indexes refer to the old one.
            self.recovery = recovery
            applyPendingNodes()
            recovery = self.recovery!
        }
        let planNode = nodes.firstIndex(of: planURL) ?? nodeIndex
        var actions: [Action] = [
            .cancelTimer(.fastWindow),
            .emit(.reconnectAttemptFailed(
                strategy: plan.strategy, attempt: plan.attempt, step: failure.step, error: failure.message)),
        ]
        if recovery.makeBeforeBreak, !recovery.keptConnectionLost {
            // The target failed us (in time or not), but the session never left its
            // node: stay there.
            self.recovery = nil
            state = .joined
            return actions + [
                .cancelTimer(.deadline), .cancelTimer(.retry),
                .emit(.migrationFailed(to: planURL, error: failure.message)),
                .setState(.joined),
            ]
        }
        if now >= recovery.deadline {
            self.recovery = recovery
            return actions + deadlineExceeded(now: now)
        }
        if failure.sfuStrategy == .disconnect {
            self.recovery = recovery
            return actions + finish(state: .left, event: .left(reason: "sfu_disconnect"))
        }
        if recovery.makeBeforeBreak {
            // The kept connection is gone too: recover the usual way, from the node we were on.
            recovery.makeBeforeBreak = false
            recovery.targetNode = nodeIndex
        }

        if plan.strategy == .fast { recovery.fastFailed = true }
        let next = nextStrategy(after: plan.strategy, failure: failure, merged: recovery.mergedStrategy, recovery: recovery, now: now)
        recovery.mergedStrategy = nil
        switch plan.strategy {
        case .migrate:
            // The node we tried to move to failed us: rejoin on the node after it.
            recovery.targetNode = (planNode + 1) % nodes.count
        case .rejoin where (failure.step == .connect || failure.nodeRefused) && nodes.count > 1:
            // That node is unreachable, or takes no new sessions; another may not be.
            recovery.targetNode = (planNode + 1) % nodes.count
        default:
            break
        }
        if next != plan.strategy {
            actions.append(.emit(.strategyEscalated(from: plan.strategy, to: next, reason: failure.step.rawValue)))
            recovery.strategy = next
            if next == .migrate {
                recovery.targetNode = (nodeIndex + 1) % nodes.count
            }
            state = next == .migrate ? .migrating : .reconnecting
            actions.append(.setState(state))
        }
        // Every retry waits, whatever the strategy: two nodes answering each other's
        // strategy hints must not turn into a tight loop of connections.
        recovery.retries += 1
        let backoff = RejoinBackoff(initial: policy.backoffInitial, maximum: policy.backoffMaximum)
        let delay = backoff.delay(forRetry: recovery.retries, unitRandom: unitRandom)
        self.recovery = recovery
        return actions + [.armTimer(.retry, at: now + delay)]
    }

    /// The FAST attempt in flight was not dialed: its node is known to have restarted
    /// (``NodeRestartDetector``), so it holds no session to resume. REJOIN starts at
    /// once, as the same attempt: nothing was tried, so nothing waits or counts.
    public mutating func fastRuledOut(reason: String, now: Instant) -> [Action] {
        guard var recovery, let plan = recovery.inFlight, plan.strategy == .fast else { return [] }
        recovery.inFlight = nil
        recovery.attempts -= 1
        recovery.fastFailed = true
        recovery.strategy = .rejoin
        recovery.targetNode = nodeIndex
        self.recovery = recovery
        applyPendingNodes()
        state = .reconnecting
        return [
            .cancelTimer(.fastWindow),
            .emit(.strategyEscalated(from: .fast, to: .rejoin, reason: reason)),
            .setState(.reconnecting),
        ] + startAttempt(now: now)
    }

    public mutating func retryTimerFired(now: Instant) -> [Action] {
        guard let recovery, recovery.inFlight == nil else { return [] }
        return startAttempt(now: now)
    }

    /// The SFU's fast-reconnect window closed while a FAST attempt was still running.
    public mutating func fastWindowClosed(now: Instant) -> [Action] {
        guard let recovery, let plan = recovery.inFlight, plan.strategy == .fast else { return [] }
        return [.cancelAttempt] + attemptFailed(
            AttemptFailure(step: .fastWindow, message: "the SFU's fast-reconnect window closed"),
            unitRandom: 0, now: now)
    }

    public mutating func deadlineFired(now: Instant) -> [Action] {
        guard let recovery else { return [] }
        if recovery.makeBeforeBreak, !recovery.keptConnectionLost {
            // The target never answered in time; the session never left its node.
            self.recovery = nil
            state = .joined
            return [
                .cancelAttempt, .cancelTimer(.retry), .cancelTimer(.fastWindow),
                .emit(.migrationFailed(to: nodes[recovery.targetNode], error: "no join within the disconnection deadline")),
                .setState(.joined),
            ]
        }
        return deadlineExceeded(now: now)
    }

    // MARK: - Internals

    private mutating func begin(
        trigger: ReconnectTrigger, strategy requested: ReconnectStrategy,
        lastContact: Instant, now: Instant, migrateTo: Int? = nil, makeBeforeBreak: Bool = false
    ) -> [Action] {
        // Damping across recoveries: a loss soon after the last recovery is a flap.
        // An operator's request is not a loss, and a restart starts afresh.
        var delay: Duration?
        if trigger != .operatorRequest, trigger != .restart {
            let window = policy.flapWindow
            recentRecoveries.removeAll { now - $0 > window }
            if recentRecoveries.count >= policy.flapLimit {
                return [.retireConnection] + finish(
                    state: .failed,
                    event: .reconnectFailed(reason: "flapping", attempts: 0, durationMs: 0))
            }
            if let last = lastRecoveredAt, now - last < policy.stableAfter {
                flaps += 1
                delay = RejoinBackoff(initial: policy.backoffInitial, maximum: policy.backoffMaximum).ceiling(forRetry: flaps)
            } else {
                flaps = 0
            }
        }
        var strategy = requested
        var recovery = Recovery(
            startedAt: now, deadline: now + policy.disconnectionTimeout, trigger: trigger,
            strategy: strategy, targetNode: nodeIndex, fastValidUntil: lastContact + fastWindow)
        recovery.makeBeforeBreak = makeBeforeBreak
        var actions: [Action] = [
            .emit(.reconnectStarted(strategy: strategy, trigger: trigger)),
            .armTimer(.deadline, at: recovery.deadline),
        ]
        if !makeBeforeBreak {
            actions.append(strategy == .migrate ? .retireConnectionLeaving(reason: "migrating") : .retireConnection)
            recovery.leftPreviousNode = strategy == .migrate
        }
        if strategy == .fast, removedNode != nil {
            actions.append(.emit(.strategyEscalated(from: .fast, to: .rejoin, reason: "node_removed")))
            strategy = .rejoin
        } else if strategy == .fast, now >= recovery.fastValidUntil {
            // The SFU has already let the session go: resuming it cannot work.
            actions.append(.emit(.strategyEscalated(from: .fast, to: .rejoin, reason: "fast_reconnect_deadline_passed")))
            strategy = .rejoin
        }
        if strategy == .migrate {
            let target = migrateTo.map { min(max($0, 0), nodes.count - 1) } ?? (nodeIndex + 1) % nodes.count
            recovery.targetNode = target
        }
        recovery.strategy = strategy
        state = strategy == .migrate ? .migrating : .reconnecting
        self.recovery = recovery
        if let delay {
            return [.setState(state)] + actions + [
                .emit(.reconnectDelayed(reason: "flapping", delayMs: delay.wholeMilliseconds)),
                .armTimer(.retry, at: now + delay),
            ]
        }
        return [.setState(state)] + actions + startAttempt(now: now)
    }

    private mutating func startAttempt(now: Instant) -> [Action] {
        guard var recovery else { return [] }
        recovery.attempts += 1
        let targetsCurrentNode = recovery.strategy == .fast || recovery.targetNode == nodeIndex
        let plan = AttemptPlan(
            strategy: recovery.strategy,
            attempt: recovery.attempts,
            nodeIndex: recovery.strategy == .fast ? nodeIndex : recovery.targetNode,
            resumeSessionID: recovery.strategy == .fast ? sfuSessionID : nil,
            previousSessionID: sfuSessionID,
            fromNodeIndex: recovery.strategy == .migrate ? nodeIndex : nil,
            trigger: recovery.trigger,
            staleSessionID: leavesStaleSessions && recovery.strategy != .fast && targetsCurrentNode && !recovery.leftPreviousNode
                && removedNode == nil ? sfuSessionID : nil
        )
        recovery.inFlight = plan
        self.recovery = recovery
        if plan.strategy == .fast {
            return [.armTimer(.fastWindow, at: recovery.fastValidUntil), .startAttempt(plan)]
        }
        return [.startAttempt(plan)]
    }

    /// The strategy of the next attempt. FAST only while it can still work: never after
    /// a FAST attempt failed and never once the SFU's fast-reconnect window has passed.
    private func nextStrategy(
        after current: ReconnectStrategy, failure: AttemptFailure, merged: ReconnectStrategy?,
        recovery: Recovery, now: Instant
    ) -> ReconnectStrategy {
        let fastPossible = !recovery.fastFailed && now < recovery.fastValidUntil
        if let asked = failure.sfuStrategy, asked != .fast || fastPossible {
            return asked
        }
        if let merged, merged != .fast { return merged }
        switch current {
        case .fast, .migrate, .rejoin, .disconnect: return .rejoin
        }
    }

    private mutating func merge(_ strategy: ReconnectStrategy?) {
        guard var recovery, let strategy else { return }
        // The stronger request wins: MIGRATE over REJOIN over FAST.
        let rank: [ReconnectStrategy: Int] = [.fast: 0, .rejoin: 1, .migrate: 2, .disconnect: 3]
        if rank[strategy]! > rank[recovery.mergedStrategy ?? .fast]! {
            recovery.mergedStrategy = strategy
        }
        self.recovery = recovery
    }

    private mutating func deadlineExceeded(now: Instant) -> [Action] {
        let recovery = self.recovery!
        return finish(
            state: .failed,
            event: .reconnectFailed(
                reason: "deadline_exceeded", attempts: recovery.attempts,
                durationMs: (now - recovery.startedAt).wholeMilliseconds))
    }

    private mutating func finish(state final: SessionState, event: SessionEventKind) -> [Action] {
        var actions: [Action] = []
        if recovery?.inFlight != nil { actions.append(.cancelAttempt) }
        if recovery != nil {
            actions += [.cancelTimer(.deadline), .cancelTimer(.retry), .cancelTimer(.fastWindow)]
        }
        recovery = nil
        state = final
        return actions + [.emit(event), .setState(final)]
    }
}
