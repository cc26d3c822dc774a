import Logging
import Synchronization

/// The service-wide ``NodeRestartDetector``, shared by every session's runner: each
/// reports how its FAST resumes went, and asks before dialing one whether the node
/// is known to have restarted (then the resume is pointless and REJOIN goes first).
public final class NodeRestartWatch: Sendable {
    private let detector: Mutex<NodeRestartDetector>
    private let logger: Logger

    public init(configuration: NodeRestartDetector.Configuration = .init(), logger: Logger = Logger(label: "tether.nodes")) {
        self.detector = Mutex(NodeRestartDetector(configuration: configuration))
        self.logger = logger
    }

    public var configuration: NodeRestartDetector.Configuration { detector.withLock { $0.configuration } }

    /// `node` refused to resume `session` as unknown to it.
    public func fastRefused(node: String, session: String) {
        let outcome = detector.withLock { $0.fastRefused(node: node, session: session, now: .now) }
        if case .markedRestarted(let evidence) = outcome {
            logger.notice("SFU node restarted: its sessions skip FAST", metadata: ["sfu_url": "\(node)", "evidence": "\(evidence)"])
        }
    }

    /// `node` resumed a session: it still holds sessions.
    public func fastSucceeded(node: String) {
        if detector.withLock({ $0.fastSucceeded(node: node, now: .now) }) {
            logger.notice("SFU node resumed a session: FAST allowed again", metadata: ["sfu_url": "\(node)"])
        }
    }

    public func shouldSkipFast(node: String) -> Bool {
        detector.withLock { $0.shouldSkipFast(node: node, now: .now) }
    }
}
