import Logging
import ServiceLifecycle
import Synchronization

/// Destroys sessions the engine left behind on nodes it moved away from (a Janus
/// session keeps the agent in the room until it expires): dials the node until it
/// answers, with backoff, and gives up after a while (the SFU expires the session
/// itself by then). A service: its cleanups are child tasks of ``run()``, cancelled at
/// shutdown, and at most `maxPending` wait; more are dropped and logged.
public final class StaleSessionJanitor: Service, Sendable {
    public struct Job: Sendable {
        /// Dials the node with the session's dialect (a transport of its own, so the
        /// cleanup outlives the session).
        public var transport: any SignalingTransport
        public var url: String
        /// A join with `cleanupOnly` and the stale session's id.
        public var parameters: JoinParameters
        public var onFinished: @Sendable (Outcome) async -> Void

        public init(transport: any SignalingTransport, url: String, parameters: JoinParameters, onFinished: @escaping @Sendable (Outcome) async -> Void) {
            self.transport = transport
            self.url = url
            self.parameters = parameters
            self.onFinished = onFinished
        }
    }

    public enum Outcome: Sendable, Equatable {
        /// The node answered; `found` when it still held the session.
        case destroyed(found: Bool)
        /// The node never answered within the limit.
        case gaveUp
    }

    public let initialBackoff: Duration
    public let maxBackoff: Duration
    public let giveUpAfter: Duration
    public let maxPending: Int
    private let jobs: AsyncStream<Job>
    private let continuation: AsyncStream<Job>.Continuation
    private let generations = Atomic<UInt64>(0)
    private let logger: Logger

    public init(
        initialBackoff: Duration = .seconds(1), maxBackoff: Duration = .seconds(15), giveUpAfter: Duration = .seconds(300),
        maxPending: Int = 4096, logger: Logger = Logger(label: "tether.janitor")
    ) {
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.giveUpAfter = giveUpAfter
        self.maxPending = maxPending
        self.logger = logger
        (jobs, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingOldest(maxPending))
    }

    /// Queues a cleanup; false when the queue is full or the janitor has stopped.
    @discardableResult
    public func submit(_ job: Job) -> Bool {
        switch continuation.yield(job) {
        case .enqueued: return true
        case .dropped:
            logger.warning("stale-session cleanup queue full; not destroying a session", metadata: ["sfu_url": "\(job.url)"])
            return false
        case .terminated: return false
        @unknown default: return false
        }
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            for await job in jobs.cancelOnGracefulShutdown() {
                group.addTask { await self.clean(job) }
            }
            // Shutting down: what is still dialing stops.
            group.cancelAll()
        }
        continuation.finish()
    }

    /// Dials until the node answers, with backoff from `initialBackoff` to
    /// `maxBackoff`, for at most `giveUpAfter`.
    func clean(_ job: Job) async {
        let giveUpAt = ContinuousClock.now + giveUpAfter
        var delay = initialBackoff
        while !Task.isCancelled, ContinuousClock.now < giveUpAt {
            let generation = GenerationID(generations.wrappingAdd(1, ordering: .relaxed).newValue)
            do {
                let answer = try await job.transport.connect(generation, to: job.url, joining: job.parameters)
                job.transport.close(generation, leaving: nil)
                await job.onFinished(.destroyed(found: answer.staleSessionDestroyed != nil))
                return
            } catch {
                logger.debug("stale session cleanup failed; retrying", metadata: ["sfu_url": "\(job.url)", "error": "\(error)"])
            }
            let wait = min(delay, giveUpAt - ContinuousClock.now)
            guard wait > .zero, (try? await Task.sleep(for: wait)) != nil else { break }
            delay = min(delay * 2, maxBackoff)
        }
        if Task.isCancelled { return }
        logger.warning("gave up destroying a stale SFU session", metadata: ["sfu_url": "\(job.url)"])
        await job.onFinished(.gaveUp)
    }
}
