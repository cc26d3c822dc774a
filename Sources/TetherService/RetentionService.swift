import Foundation
import Logging
import ServiceLifecycle
import TetherEventLog
import TetherEvents

/// Deletes events (and finished webhook deliveries) older than the retention period,
/// every `interval`.
struct RetentionService: Service {
    let store: any HistoryStore
    let retention: Duration
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            let cutoff = Int64(Date().timeIntervalSince1970 * 1000) - retention.wholeMilliseconds
            do {
                let removed = try await store.prune(eventsBefore: cutoff)
                if removed > 0 { logger.info("pruned \(removed) events past retention") }
                // Finished webhook deliveries go with their events; pending ones stay.
                let deliveries = try await store.pruneDeliveries(before: cutoff)
                if deliveries > 0 { logger.info("pruned \(deliveries) finished webhook deliveries past retention") }
            } catch {
                logger.error("pruning old events failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}

extension Task where Success == Never, Failure == Never {
    static var isCancelledOrShuttingDown: Bool { isCancelled || isShuttingDownGracefully }
}
