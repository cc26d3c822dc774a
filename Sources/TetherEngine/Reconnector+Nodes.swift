import TetherEvents

/// The node list (replaced with new credentials), operator migrations and drains, and
/// the sessions left behind on nodes the session moved away from.
extension Reconnector {
    /// Moves the session to `targetURL` (or its next node) through MIGRATE, after
    /// checking the request against the node list it will act on: nothing can change
    /// between the check and the act. With `sourceURL` (a drain), a session on another
    /// node is refused with `not_on_node`.
    public mutating func migrationRequested(
        to targetURL: String?, onlyFrom sourceURL: String? = nil, now: Instant
    ) -> (verdict: MigrationVerdict, actions: [Action]) {
        guard !state.isTerminal else {
            return (.refused(code: "session_not_live", message: "the session has ended; only a live session can move"), [])
        }
        if let sourceURL, currentNode != sourceURL {
            return (.refused(code: "not_on_node", message: "the session is on \(currentNode), not \(sourceURL)"), [])
        }
        var target: Int?
        if let targetURL {
            guard let index = nodes.firstIndex(of: targetURL) else {
                return (.refused(code: "unknown_target", message: "target_url '\(targetURL)' is not one of the session's sfu_urls \(nodes)"), [])
            }
            guard targetURL != currentNode else {
                return (.refused(code: "already_there", message: "the session is already on \(targetURL)"), [])
            }
            target = index
        } else if nodes.count < 2 {
            return (.refused(code: "no_other_node", message: "the session has a single SFU URL; there is nowhere to move it"), [])
        }
        let merging = state == .reconnecting || state == .migrating
        return (merging ? .merged : .started, migrationRequested(targetNode: target, now: now))
    }

    /// The node list was replaced (new credentials). The session stays where it is; if
    /// its node is gone from the list, the next reconnection rejoins the new primary.
    mutating func nodesReplaced(_ urls: [String]) -> [Action] {
        guard !urls.isEmpty, !state.isTerminal else { return [] }
        pendingNodes = urls
        if inFlight == nil { applyPendingNodes() }
        return []
    }

    mutating func applyPendingNodes() {
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

    /// After a reconnection joined `to`, coming from `from`: the move is recorded, and a
    /// session of ours left on a node that was never told we left (it was unreachable,
    /// or it left the list) is handed to the cleanup.
    mutating func staleSessionsAfterMove(
        from previousNode: Int, to newNode: Int, previousSessionID: String?, previousResumeState: String?, leftPreviousNode: Bool,
        keptConnection: Bool
    ) -> [Action] {
        if let removed = removedNode {
            // The node the session was on left the list: what it holds there is stale.
            removedNode = nil
            if leavesStaleSessions, !leftPreviousNode, let previousSessionID {
                return [.destroyStaleSession(sfuURL: removed, sfuSessionID: previousSessionID, resumeState: previousResumeState)]
            }
            return []
        }
        guard previousNode != newNode else { return [] }
        var actions: [Action] = [.emit(.migrated(from: nodes[previousNode], to: nodes[newNode]))]
        if leavesStaleSessions, !leftPreviousNode, !keptConnection, let previousSessionID {
            // The old node was never told we left (it was unreachable): our session
            // there still holds the agent in the room until it expires.
            actions.append(.destroyStaleSession(sfuURL: nodes[previousNode], sfuSessionID: previousSessionID, resumeState: previousResumeState))
        }
        return actions
    }

    /// A stale session named by ``Action/destroyStaleSession(sfuURL:sfuSessionID:)`` is
    /// gone from its node. Recorded whatever the session's state: it is history.
    public func staleSessionDestroyed(sfuURL: String, sfuSessionID: String) -> [Action] {
        [.emit(.staleSessionDestroyed(sfuURL: sfuURL, sfuSessionID: sfuSessionID))]
    }
}
