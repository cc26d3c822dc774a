/// Learns that an SFU node restarted, from a few sessions' refused FAST resumes or from
/// a changed server identity, so the node's other sessions skip FAST and go straight to
/// REJOIN.
///
/// A restarted node has forgotten every session, so without this each of its sessions
/// would spend a FAST attempt learning that on its own. Pure: time is an input. Memory
/// is bounded: evidence older than the window is dropped on every input for its node,
/// and at most `maxTrackedNodes` nodes are remembered.
public struct NodeRestartDetector: Sendable, Equatable {
    public typealias Instant = ContinuousClock.Instant

    public struct Configuration: Sendable, Equatable {
        /// Distinct sessions whose FAST resume a node refused as "session unknown"
        /// within `evidenceWindow` before the node counts as restarted. More than one
        /// by default: a single session can be unknown for its own reasons (it outlived
        /// the node's resume window, or the node dropped just that one).
        public let evidenceThreshold: Int
        /// How close together the refusals must be: a restart makes its sessions fail
        /// together, while refusals far apart are ordinary, unrelated expiries.
        public let evidenceWindow: Duration
        /// How long a node stays marked restarted: long enough for the storm of
        /// reconnections a restart causes to see the verdict, short enough not to send
        /// sessions that lose their connection much later to REJOIN needlessly.
        public let verdictLifetime: Duration
        /// Nodes remembered at once; past it the least recently active is forgotten.
        public let maxTrackedNodes: Int

        /// Traps on a value that cannot work rather than throwing: these are the
        /// service's own settings, checked where flags are read (as `AdmissionSchedule`
        /// traps on `perSecond < 1`), so a bad one here is a bug, not an input error
        /// every caller should handle.
        public init(
            evidenceThreshold: Int = 3,
            evidenceWindow: Duration = .seconds(2),
            verdictLifetime: Duration = .seconds(10),
            maxTrackedNodes: Int = 1024
        ) {
            precondition(evidenceThreshold >= 1, "evidenceThreshold must be at least 1")
            precondition(evidenceWindow > .zero, "evidenceWindow must be positive")
            precondition(verdictLifetime > .zero, "verdictLifetime must be positive")
            precondition(maxTrackedNodes >= 1, "maxTrackedNodes must be at least 1")
            self.evidenceThreshold = evidenceThreshold
            self.evidenceWindow = evidenceWindow
            self.verdictLifetime = verdictLifetime
            self.maxTrackedNodes = maxTrackedNodes
        }
    }

    /// What a refused FAST resume changed.
    public enum RefusalOutcome: Sendable, Equatable {
        /// Counted; `evidence` distinct sessions are refused within the window, fewer
        /// than the threshold.
        case noted(evidence: Int)
        /// This refusal completed the evidence: the node is marked restarted from now.
        case markedRestarted(evidence: Int)
        /// The node is already marked; the refusal is the same restart seen again.
        case alreadyMarked
    }

    /// What an identity answered at a join changed.
    public enum IdentityOutcome: Sendable, Equatable {
        /// The first identity seen for the node: kept to compare later answers with.
        case remembered
        /// The identity kept: the node has not restarted since.
        case unchanged
        /// A new identity: the node restarted, and is marked so from now.
        case markedRestarted(previous: String)
        /// A new identity while the node is already marked: the same restart seen
        /// again. The new identity is kept; the verdict's start is not moved.
        case alreadyMarked(previous: String)
    }

    private struct Refusal: Sendable, Equatable {
        var session: String
        var at: Instant
    }

    private struct NodeRecord: Sendable, Equatable {
        var identity: String?
        /// Distinct sessions refused within the window, each at its latest refusal.
        /// Never reaches the threshold: reaching it marks the node and clears them.
        var refusals: [Refusal] = []
        var markedAt: Instant?
        var lastActivity: Instant

        /// Drops refusals older than the window and a verdict past its lifetime.
        mutating func prune(now: Instant, _ configuration: Configuration) {
            refusals.removeAll { now - $0.at >= configuration.evidenceWindow }
            if let markedAt, now - markedAt >= configuration.verdictLifetime {
                self.markedAt = nil
            }
        }
    }

    public let configuration: Configuration
    private var nodes: [String: NodeRecord] = [:]

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Nodes remembered now (at most `configuration.maxTrackedNodes`).
    public var trackedNodeCount: Int { nodes.count }

    /// Counts a FAST resume to `node` refused as "session unknown"; marks the node
    /// restarted once enough distinct sessions were refused within the window.
    public mutating func fastRefused(node: String, session: String, now: Instant) -> RefusalOutcome {
        var record = activeRecord(for: node, now: now)
        defer { nodes[node] = record }
        if record.markedAt != nil { return .alreadyMarked }
        // A session refused again counts once, as of its latest refusal.
        record.refusals.removeAll { $0.session == session }
        record.refusals.append(Refusal(session: session, at: now))
        let evidence = record.refusals.count
        guard evidence >= configuration.evidenceThreshold else { return .noted(evidence: evidence) }
        record.refusals = []
        record.markedAt = now
        return .markedRestarted(evidence: evidence)
    }

    /// Compares the identity `node` answered a join with against the first one seen;
    /// a different one is direct evidence of a restart, so one observation suffices.
    public mutating func identityObserved(node: String, identity: String, now: Instant) -> IdentityOutcome {
        var record = activeRecord(for: node, now: now)
        defer { nodes[node] = record }
        guard let previous = record.identity else {
            record.identity = identity
            return .remembered
        }
        if previous == identity { return .unchanged }
        // The new instance becomes the baseline for the next restart; the refusals
        // gathered so far were about the old instance.
        record.identity = identity
        record.refusals = []
        if record.markedAt != nil { return .alreadyMarked(previous: previous) }
        record.markedAt = now
        return .markedRestarted(previous: previous)
    }

    /// Withdraws the evidence and any verdict for `node`: a FAST resume to it worked, so
    /// it still holds sessions. Returns whether a live verdict was withdrawn.
    public mutating func fastSucceeded(node: String, now: Instant) -> Bool {
        // An unknown node has nothing to withdraw; tracking it would only spend memory.
        guard var record = nodes[node] else { return false }
        record.prune(now: now, configuration)
        let withdrewVerdict = record.markedAt != nil
        record.refusals = []
        record.markedAt = nil
        record.lastActivity = now
        nodes[node] = record
        return withdrewVerdict
    }

    /// Whether a session about to reconnect to `node` should skip FAST: true while a
    /// restart verdict for it is alive.
    public func shouldSkipFast(node: String, now: Instant) -> Bool {
        markedRestartedAt(node: node, now: now) != nil
    }

    /// When `node` was marked restarted, while that verdict is alive; nil otherwise.
    public func markedRestartedAt(node: String, now: Instant) -> Instant? {
        guard let markedAt = nodes[node]?.markedAt,
              now - markedAt < configuration.verdictLifetime else { return nil }
        return markedAt
    }

    /// The record for `node`, pruned as of `now` and touched; a new one when the node
    /// is not tracked, making room first if the bound is reached.
    private mutating func activeRecord(for node: String, now: Instant) -> NodeRecord {
        guard var record = nodes[node] else {
            if nodes.count >= configuration.maxTrackedNodes { forgetLeastRecentlyActiveNode() }
            return NodeRecord(lastActivity: now)
        }
        record.prune(now: now, configuration)
        record.lastActivity = now
        return record
    }

    /// A linear scan, run only when a new node arrives at the bound; ties go to the
    /// smaller name so the choice does not depend on dictionary order.
    private mutating func forgetLeastRecentlyActiveNode() {
        let oldest = nodes.min { ($0.value.lastActivity, $0.key) < ($1.value.lastActivity, $1.key) }
        if let oldest { nodes[oldest.key] = nil }
    }
}
