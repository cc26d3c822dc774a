import Logging
import ServiceLifecycle
import TetherEventLog
import TetherEvents

/// The live tail of a fleet's shared history: every instance writes events, so this
/// instance's subscribers (SSE readers, the webhook dispatcher's wake-up) are fed by
/// reading the history in id order, not from this instance's own commits.
///
/// Woken by this instance's commits and by every other's (`NOTIFY … 'events'`), and at
/// least once a second without either, so a notification lost with a connection only
/// delays a tail. The writers take their event ids under one lock held to the commit,
/// so reading "ids after the last one seen" never passes an id that commits later.
final class FleetEventFeed: Service {
    private let log: EventLog
    private let logger: Logger
    private let signal = WakeSignal()
    static let page = 1000

    init(log: EventLog, logger: Logger) {
        self.log = log
        self.logger = logger
        log.onCommit { [signal] in signal.signal() }
    }

    /// Something was committed somewhere in the fleet.
    func wake() { signal.signal() }

    func run() async throws {
        var lastSeen: Int64?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                lastSeen = try await readOn(after: lastSeen)
            } catch {
                logger.debug("the live tail could not read the history; retrying", metadata: ["error": "\(error)"])
            }
            await signal.wait(timeout: .seconds(1))
        }
    }

    /// Publishes what was committed after `lastSeen`; returns the new last id seen.
    private func readOn(after lastSeen: Int64?) async throws -> Int64 {
        // Nobody listens: only keep up with the end. A subscriber that arrives reads its
        // own backlog after subscribing, so checking before and after the read leaves
        // no gap between that backlog and what this feed publishes next.
        guard let lastSeen, log.subscriberCount > 0 else {
            let subscribedBefore = log.subscriberCount > 0
            let latest = try await log.store.lastEventID()
            if let lastSeen, subscribedBefore || log.subscriberCount > 0 { return lastSeen }
            return latest
        }
        var after = lastSeen
        while true {
            let page = try await log.store.events(EventQuery(afterID: after, limit: Self.page))
            if let last = page.last?.id { after = last }
            log.publish(page)
            if page.count < Self.page { return after }
        }
    }
}
