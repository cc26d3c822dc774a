import TetherEvents

/// Reconnections: how one starts, what each attempt tries, how a failure escalates
/// (FAST → REJOIN, MIGRATE → REJOIN on the next node), the timers, and the deadline.
extension Reconnector {
    /// An attempt ended. A result for an attempt that is no longer the one in flight
    /// (cancelled, superseded) changes nothing, except that a socket it joined anyway is
    /// closed, and left properly when the session has ended (the SFU would keep it).
    public mutating func joinFinished(attempt id: AttemptID, result: AttemptResult, now: Instant, unitRandom: Double) -> [Action] {
        guard let inFlight, inFlight.id == id else {
            guard case .joined(let answer) = result else { return [] }
            let leaving: SignalRequest? = state.isTerminal
                ? .leave(sessionID: answer.sfuSessionID, reason: endReason?.text ?? "session_ended") : nil
            return [.close(id.generation, leaving: leaving)]
        }
        let early = earlyNotices
        earlyNotices = []
        var actions: [Action]
        if inFlight.plan.isFirstJoin {
            actions = firstJoinFinished(id, result: result)
        } else {
            switch result {
            case .joined(let answer): actions = attemptSucceeded(answer, now: now)
            case .failed(let failure): actions = attemptFailed(failure, unitRandom: unitRandom, now: now)
            case .fastRuledOut(let reason): actions = fastRuledOut(reason: reason, now: now)
            }
        }
        // What the new generation reported before its success was processed, in the
        // order it came, after it.
        if generation == id.generation {
            for notice in early { actions += noticeReceived(notice, now: now) }
        }
        return actions
    }

    /// A timer armed by an earlier action fired.
    public mutating func timerFired(_ timer: Timer, now: Instant, unitRandom: Double) -> [Action] {
        switch timer {
        case .deadline: deadlineFired(now: now)
        case .retry: retryTimerFired(now: now)
        case .fastWindow: fastWindowClosed(now: now)
        case .credentialsExpiry: expiryRefreshDue()
        }
    }

    // MARK: - Starting

    mutating func begin(
        trigger: ReconnectTrigger, strategy requested: ReconnectStrategy,
        lastContact: Instant, now: Instant, migrateTo: Int? = nil, makeBeforeBreak: Bool = false
    ) -> [Action] {
        let delay: Duration?
        switch damping(trigger: trigger, now: now) {
        case .flapping:
            return closeCurrent() + finish(.reconnectFailed(reason: "flapping"))
        case .wait(let duration):
            delay = duration
        case .none:
            delay = nil
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
            actions += closeCurrent(leaving: strategy == .migrate ? "migrating" : nil)
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
            recovery.targetNode = migrateTo.map { min(max($0, 0), nodes.count - 1) } ?? (nodeIndex + 1) % nodes.count
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

    mutating func startAttempt(now: Instant) -> [Action] {
        guard var recovery else { return [] }
        recovery.attempts += 1
        let targetsCurrentNode = recovery.strategy == .fast || recovery.targetNode == nodeIndex
        let namesStale = leavesStaleSessions && recovery.strategy != .fast && targetsCurrentNode && !recovery.leftPreviousNode
            && removedNode == nil
        let plan = AttemptPlan(
            strategy: recovery.strategy,
            attempt: recovery.attempts,
            nodeIndex: recovery.strategy == .fast ? nodeIndex : recovery.targetNode,
            resumeSessionID: recovery.strategy == .fast ? sfuSessionID : nil,
            previousSessionID: sfuSessionID,
            fromNodeIndex: recovery.strategy == .migrate ? nodeIndex : nil,
            trigger: recovery.trigger,
            staleSessionID: namesStale ? sfuSessionID : nil,
            resumeState: recovery.strategy == .fast ? resumeState : nil,
            staleResumeState: namesStale ? resumeState : nil,
            token: token)
        let id = mintAttempt()
        inFlight = InFlight(id: id, plan: plan)
        self.recovery = recovery
        if plan.strategy == .fast {
            return [.armTimer(.fastWindow, at: recovery.fastValidUntil), .startAttempt(id, plan)]
        }
        return [.startAttempt(id, plan)]
    }

    // MARK: - Outcomes

    mutating func attemptSucceeded(_ answer: JoinAnswer, now: Instant) -> [Action] {
        guard let recovery, let attempt = inFlight else { return [] }
        let plan = attempt.plan
        if plan.strategy == .fast, !answer.reconnected {
            // The SFU accepted the socket but did not resume the session: FAST failed,
            // and that socket never becomes the session's.
            return [.close(attempt.id.generation, leaving: nil)] + attemptFailed(
                AttemptFailure(
                    step: .resume, message: "the SFU answered the FAST join without reconnected=true", code: "not_resumed",
                    sessionUnknown: true),
                unitRandom: 0, now: now)
        }
        inFlight = nil
        self.recovery = nil
        let previousSessionID = sfuSessionID
        let previousResumeState = resumeState
        let keptConnection = recovery.makeBeforeBreak && !recovery.keptConnectionLost
        if !recovery.makeBeforeBreak {
            lastRecoveredAt = now
            recentRecoveries.append(now)
        }
        let previousNode = nodeIndex
        let replaced = generation
        let replacedOpen = !generationClosed
        activate(attempt.id.generation)
        nodeIndex = plan.nodeIndex
        sfuSessionID = answer.sfuSessionID
        resumeState = answer.resumeState
        fastWindow = bounded(answer.fastReconnectWindow)
        state = .joined
        counters.reconnects += 1
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
        actions += staleSessionsAfterMove(
            from: previousNode, to: plan.nodeIndex, previousSessionID: previousSessionID, previousResumeState: previousResumeState,
            leftPreviousNode: recovery.leftPreviousNode, keptConnection: keptConnection)
        applyPendingNodes()
        if replacedOpen {
            // Made before break: only now does the old node let the participant go.
            actions.append(.close(replaced, leaving: keptConnection ? previousSessionID.map { .leave(sessionID: $0, reason: "migrated") } : nil))
        }
        actions.append(.setState(.joined))
        return actions
    }

    /// The attempt in flight failed. `unitRandom` in [0, 1) draws the backoff jitter.
    mutating func attemptFailed(_ failure: AttemptFailure, unitRandom: Double, now: Instant) -> [Action] {
        guard var recovery, let attempt = inFlight else { return [] }
        let plan = attempt.plan
        inFlight = nil
        earlyNotices = []
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
            return actions + finish(.left(reason: "sfu_disconnect"))
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
        if plan.strategy == .fast, next == .rejoin, failure.sessionUnknown {
            // The SFU answered that it no longer knows the session: the REJOIN that needs
            // is not a second try of the same thing and has nothing to wait for (LiveKit's
            // first retry is at 0 ms). It still takes its place in the reconnect caps.
            self.recovery = recovery
            return actions + startAttempt(now: now)
        }
        // Every other retry waits, whatever the strategy: two nodes answering each other's
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
    mutating func fastRuledOut(reason: String, now: Instant) -> [Action] {
        guard var recovery, let attempt = inFlight, attempt.plan.strategy == .fast else { return [] }
        inFlight = nil
        earlyNotices = []
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

    // MARK: - Timers

    mutating func retryTimerFired(now: Instant) -> [Action] {
        guard recovery != nil, inFlight == nil else { return [] }
        return startAttempt(now: now)
    }

    /// The SFU's fast-reconnect window closed while a FAST attempt was still running.
    mutating func fastWindowClosed(now: Instant) -> [Action] {
        guard recovery != nil, let attempt = inFlight, attempt.plan.strategy == .fast else { return [] }
        return [.cancelAttempt(attempt.id)] + attemptFailed(
            AttemptFailure(step: .fastWindow, message: "the SFU's fast-reconnect window closed", code: "fast_window"),
            unitRandom: 0, now: now)
    }

    mutating func deadlineFired(now: Instant) -> [Action] {
        guard let recovery else { return [] }
        if recovery.makeBeforeBreak, !recovery.keptConnectionLost {
            // The target never answered in time; the session never left its node.
            var actions: [Action] = []
            if let attempt = inFlight {
                actions.append(.cancelAttempt(attempt.id))
                inFlight = nil
                earlyNotices = []
            }
            self.recovery = nil
            state = .joined
            return actions + [
                .cancelTimer(.retry), .cancelTimer(.fastWindow),
                .emit(.migrationFailed(to: nodes[recovery.targetNode], error: "no join within the disconnection deadline")),
                .setState(.joined),
            ]
        }
        return deadlineExceeded(now: now)
    }

    // MARK: - Internals

    /// The strategy of the next attempt. FAST only while it can still work: never after
    /// a FAST attempt failed and never once the SFU's fast-reconnect window has passed.
    func nextStrategy(
        after current: ReconnectStrategy, failure: AttemptFailure, merged: ReconnectStrategy?,
        recovery: Recovery, now: Instant
    ) -> ReconnectStrategy {
        let fastPossible = !recovery.fastFailed && now < recovery.fastValidUntil
        if let asked = failure.sfuStrategy, asked != .fast || fastPossible {
            return asked
        }
        if let merged, merged != .fast { return merged }
        return .rejoin
    }

    mutating func deadlineExceeded(now: Instant) -> [Action] {
        let recovery = self.recovery!
        return finish(
            .reconnectFailed(reason: "deadline_exceeded"), attempts: recovery.attempts,
            durationMs: (now - recovery.startedAt).wholeMilliseconds)
    }
}
