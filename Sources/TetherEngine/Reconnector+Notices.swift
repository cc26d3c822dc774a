import TetherEvents

/// What connection generations report: handled when it comes from the generation that
/// counts, buffered (in order, bounded) when it comes from the one whose join has
/// succeeded but is not processed yet, ignored from any other (a socket already replaced).
extension Reconnector {
    /// Notices an in-flight generation may report before its success is processed.
    static let maxEarlyNotices = 64

    public mutating func noticeReceived(_ notice: GenerationNotice, now: Instant) -> [Action] {
        if let inFlight, notice.generation == inFlight.id.generation {
            // Nothing is lost: a loss is a single notice, and the flood of anything
            // else is capped by the connection itself (NoticeBudget).
            if earlyNotices.count < Self.maxEarlyNotices || Self.isLoss(notice) { earlyNotices.append(notice) }
            return []
        }
        guard notice.generation == generation else { return [] }
        switch notice.kind {
        case .lost(let reason, let closeCode, let detail, let lastContact):
            return connectionLost(reason: reason, closeCode: closeCode, detail: detail, lastContact: lastContact, now: now)
        case .signal(.sfuError(let error)):
            return sfuErrorReceived(error, now: now)
        case .signal(.goAway(let reason)):
            return goAwayReceived(reason: reason, now: now)
        case .signal(.callEnded(let reason)):
            return callEnded(reason: reason, now: now)
        case .signal(.removed(let code, let message)):
            return removedBySFU(code: code, message: message, now: now)
        case .suppressed(let count):
            return note(.sfuErrorsSuppressed(count: count))
        case .signal(.participantJoined), .signal(.participantLeft), .signal(.healthCheckAnswered), .signal(.joinAccepted):
            return []
        }
    }

    private static func isLoss(_ notice: GenerationNotice) -> Bool {
        if case .lost = notice.kind { return true }
        return false
    }
}
