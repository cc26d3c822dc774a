import TetherEvents

/// What starts a reconnection (a loss, an SFU `error` with a strategy, a `go_away`, an
/// operator's MIGRATE) and what ends the session on the SFU's word (DISCONNECT, a kick).
extension Reconnector {
    /// The current generation's loss signal fired. `lastContact` is the last moment the
    /// SFU was heard from, which bounds how long it still holds the session.
    mutating func connectionLost(
        reason: LossReason, closeCode: Int?, detail: String?, lastContact: Instant, now: Instant
    ) -> [Action] {
        let lost = Action.emit(.connectionLost(reason: reason, closeCode: closeCode, detail: detail))
        switch state {
        case .joined:
            counters.losses += 1
            return [lost] + begin(trigger: .connectionLost, strategy: .fast, lastContact: lastContact, now: now)
        case .reconnecting, .migrating:
            counters.losses += 1
            if recovery?.makeBeforeBreak == true { recovery?.keptConnectionLost = true }
            // The lost socket (a make-before-break MIGRATE's kept one) is gone: closed.
            return [lost, .emit(.triggerMerged(trigger: .connectionLost, strategy: nil))] + closeCurrent()
        case .connecting, .left, .failed, .ended:
            return []
        }
    }

    mutating func sfuErrorReceived(_ error: SFUError, now: Instant) -> [Action] {
        let recorded = Action.emit(.sfuError(code: error.code, message: error.message, strategy: error.strategy))
        switch state {
        case .joined:
            switch error.strategy {
            case nil:
                return [recorded]
            case .disconnect:
                return [recorded] + closeCurrent(leaving: "sfu_disconnect") + finish(.left(reason: "sfu_disconnect"))
            case .fast, .rejoin, .migrate:
                return [recorded] + begin(trigger: .sfuError, strategy: error.strategy!, lastContact: now, now: now)
            }
        case .reconnecting, .migrating:
            if error.strategy == .disconnect {
                return [recorded] + finish(.left(reason: "sfu_disconnect"))
            }
            merge(error.strategy)
            return [recorded, .emit(.triggerMerged(trigger: .sfuError, strategy: error.strategy))]
        case .connecting, .left, .failed, .ended:
            return []
        }
    }

    mutating func goAwayReceived(reason: String, now: Instant) -> [Action] {
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
    mutating func migrationRequested(targetNode: Int?, now: Instant) -> [Action] {
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
    mutating func removedBySFU(code: String, message: String, now: Instant) -> [Action] {
        guard !state.isTerminal, state != .connecting else { return [] }
        let recorded = Action.emit(.sfuError(code: code, message: message, strategy: nil))
        if state == .joined {
            return [recorded] + closeCurrent(leaving: code) + finish(.left(reason: code))
        }
        return [recorded] + closeCurrent() + finish(.left(reason: code))
    }

    /// The stronger request wins: MIGRATE over REJOIN over FAST.
    mutating func merge(_ strategy: ReconnectStrategy?) {
        guard var recovery, let strategy else { return }
        let rank: [ReconnectStrategy: Int] = [.fast: 0, .rejoin: 1, .migrate: 2, .disconnect: 3]
        if rank[strategy]! > rank[recovery.mergedStrategy ?? .fast]! {
            recovery.mergedStrategy = strategy
        }
        self.recovery = recovery
    }
}
