import TetherEvents

/// Something one connection generation reports to its session after the join.
public struct GenerationNotice: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case signal(SignalEvent)
        /// The generation's loss signal fired (at most once per generation).
        case lost(reason: LossReason, closeCode: Int?, detail: String?, lastContact: ContinuousClock.Instant)
        /// The connection passed on no more notices this window (``NoticeBudget``):
        /// `count` were acted on by nobody and recorded only as this number.
        case suppressed(count: Int)
    }

    public var generation: GenerationID
    public var kind: Kind

    public init(generation: GenerationID, kind: Kind) {
        self.generation = generation
        self.kind = kind
    }
}
