import Foundation
import TetherEvents

/// How a session begins (its first join over the node list, or a resume after a
/// restart) and how it is asked to end.
extension Reconnector {
    // MARK: - The first join

    /// Records `session_created` and starts the first join on the primary node.
    public mutating func start(callID: String, userID: String, now: Instant, wallNow: Date, unitRandom: Double) -> [Action] {
        guard state == .connecting, inFlight == nil, endReason == nil else { return [] }
        return [.emit(.sessionCreated(callID: callID, userID: userID, sfuURL: currentNode))]
            + startFirstJoin()
            + scheduleExpiryRefresh(now: now, wallNow: wallNow, unitRandom: unitRandom)
    }

    mutating func startFirstJoin() -> [Action] {
        let id = mintAttempt()
        let plan = AttemptPlan(
            strategy: .rejoin, attempt: nodeIndex + 1, nodeIndex: nodeIndex, resumeSessionID: nil, previousSessionID: nil,
            fromNodeIndex: nil, trigger: nil, staleSessionID: nil, isFirstJoin: true, token: token)
        inFlight = InFlight(id: id, plan: plan)
        return [.startAttempt(id, plan)]
    }

    /// The first join's attempt ended.
    mutating func firstJoinFinished(_ id: AttemptID, result: AttemptResult) -> [Action] {
        inFlight = nil
        // A node list that came during the join applies once it is settled.
        defer { applyPendingNodes() }
        switch result {
        case .joined(let answer):
            activate(id.generation)
            resumeState = answer.resumeState
            return initialJoinSucceeded(
                sfuSessionID: answer.sfuSessionID, fastReconnectWindow: answer.fastReconnectWindow,
                valueProblems: answer.valueProblems)
        case .failed(let failure) where failure.nodeRefused:
            // This node takes no new sessions: the next one of the list may.
            guard let moved = initialNodeRefused(code: failure.code, message: failure.message) else {
                return initialJoinFailed(code: failure.code, message: failure.message)
            }
            return moved + startFirstJoin()
        case .failed(let failure):
            return initialJoinFailed(code: failure.code, message: failure.message)
        case .fastRuledOut(let reason):
            return initialJoinFailed(code: "connect_failed", message: reason)
        }
    }

    func initialJoinSucceededActions(valueProblems: [String]) -> [Action] {
        [.setState(.joined), .emit(.joined(sfuURL: currentNode, sfuSessionID: sfuSessionID ?? ""))] + Self.badValues(valueProblems)
    }

    mutating func initialJoinSucceeded(
        sfuSessionID: String, fastReconnectWindow: Duration?, valueProblems: [String] = []
    ) -> [Action] {
        guard state == .connecting else { return [] }
        self.sfuSessionID = sfuSessionID
        fastWindow = bounded(fastReconnectWindow)
        state = .joined
        return initialJoinSucceededActions(valueProblems: valueProblems)
    }

    /// The first join's node accepts no new sessions: move to the next node of the list,
    /// recording why. Returns nil when no node is left to try (the join then fails).
    mutating func initialNodeRefused(code: String, message: String) -> [Action]? {
        guard state == .connecting, nodeIndex + 1 < nodes.count else { return nil }
        let refusing = currentNode
        nodeIndex += 1
        return [.emit(.sfuError(code: code, message: "\(refusing) accepts no new sessions (\(message)); trying \(currentNode)", strategy: nil))]
    }

    mutating func initialJoinFailed(code: String, message: String) -> [Action] {
        guard state == .connecting else { return [] }
        return finish(.joinFailed(code: code, message: message))
    }

    /// The SFU's window, or the policy's when it did not say; never past
    /// ``PeerLimits/maxFastReconnectWindowSeconds`` whoever decoded it, since it is added
    /// to an instant that becomes a timer.
    func bounded(_ window: Duration?) -> Duration {
        min(max(window ?? policy.fastReconnectWindow, .zero), .seconds(PeerLimits.maxFastReconnectWindowSeconds))
    }

    /// Numbers the SFU sent out of range, recorded once each as `sfu_error{bad_value}`.
    static func badValues(_ problems: [String]) -> [Action] {
        problems.map { .emit(.sfuError(code: "bad_value", message: $0, strategy: nil)) }
    }

    /// Makes `generation` the one that counts.
    mutating func activate(_ joined: GenerationID) {
        generation = joined
        generationClosed = false
    }

    // MARK: - After a restart

    /// The process restarted while this session was live on `sfuURL`: resume it (FAST
    /// where the SFU lets another socket claim the session, else REJOIN), with the
    /// counters the previous process left.
    public mutating func resumeAfterRestart(
        sfuSessionID: String?, resumeState: String? = nil, sfuURL: String, counters: SessionCounters, origin: ResumeOrigin = .restart,
        now: Instant, wallNow: Date, unitRandom: Double
    ) -> [Action] {
        guard state == .connecting, inFlight == nil, endReason == nil else { return [] }
        self.counters = counters
        self.resumeState = resumeState
        return resumeAfterRestart(sfuSessionID: sfuSessionID, nodeIndex: nodes.firstIndex(of: sfuURL) ?? 0, origin: origin, now: now)
            + scheduleExpiryRefresh(now: now, wallNow: wallNow, unitRandom: unitRandom)
    }

    mutating func resumeAfterRestart(sfuSessionID: String?, nodeIndex: Int, origin: ResumeOrigin = .restart, now: Instant) -> [Action] {
        guard state == .connecting else { return [] }
        self.sfuSessionID = sfuSessionID
        self.nodeIndex = min(max(nodeIndex, 0), nodes.count - 1)
        // A hand-over takes the SFU session its previous owner just closed, within any
        // SFU's resume window; after a restart or an adoption the window may be gone,
        // and only dialects whose SFU keeps sessions long (Janus) try to resume.
        let resumes = origin.isHandOver || resumesAcrossRestarts
        let strategy: ReconnectStrategy = resumes && sfuSessionID != nil ? .fast : .rejoin
        return [.emit(origin.event(sfuURL: currentNode, previousSFUSessionID: sfuSessionID))]
            + begin(trigger: .restart, strategy: strategy, lastContact: now, now: now)
    }

    /// The process restarted while this session was live, but it may not be resumed
    /// (its SFU address is no longer allowed): record why and end it, dialing nothing.
    public mutating func resumeRefused(sfuSessionID: String?, sfuURL: String, counters: SessionCounters, reason: String) -> [Action] {
        guard state == .connecting, inFlight == nil, endReason == nil else { return [] }
        self.counters = counters
        return resumeRefused(sfuSessionID: sfuSessionID, nodeIndex: nodes.firstIndex(of: sfuURL) ?? 0, reason: reason)
    }

    mutating func resumeRefused(sfuSessionID: String?, nodeIndex: Int, reason: String) -> [Action] {
        guard state == .connecting else { return [] }
        self.sfuSessionID = sfuSessionID
        self.nodeIndex = min(max(nodeIndex, 0), nodes.count - 1)
        return [.emit(.resumedAfterRestart(sfuURL: currentNode, previousSFUSessionID: sfuSessionID))]
            + finish(.reconnectFailed(reason: reason))
    }

    // MARK: - Ending on request

    /// DELETE, shutdown or a signal: leave cleanly from wherever we are.
    public mutating func leaveRequested(reason: String, now: Instant) -> [Action] {
        switch state {
        case .joined:
            return closeCurrent(leaving: reason) + finish(.left(reason: reason))
        case .migrating where recovery?.makeBeforeBreak == true && recovery?.keptConnectionLost == false:
            // The kept connection is alive and joined: it leaves properly.
            return closeCurrent(leaving: reason) + finish(.left(reason: reason))
        case .connecting, .reconnecting, .migrating:
            return closeCurrent() + finish(.left(reason: reason))
        case .left, .failed, .ended:
            return []
        }
    }

    /// The SFU ended the call: the session ends without reconnecting.
    mutating func callEnded(reason: String, now: Instant) -> [Action] {
        guard !state.isTerminal, state != .connecting else { return [] }
        return closeCurrent() + finish(.ended(reason: reason))
    }
}
