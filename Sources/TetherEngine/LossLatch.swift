import TetherEvents

/// The loss signal of one connection generation: fires at most once, and only for a
/// loss nobody asked for.
///
/// Three sites feed it (an unexpected close, an error after the handshake, a
/// health-check timeout); a user-initiated close disarms it. A new generation gets
/// a new latch, so the "once" is per generation.
public struct LossLatch: Sendable, Equatable {
    public enum Phase: Sendable, Equatable {
        /// The join has not been answered yet: failures fail the join instead.
        case handshaking
        /// Joined: an unasked-for loss fires the signal.
        case established
        /// We asked to close: nothing fires any more.
        case closingByRequest
        /// The signal fired (or the join failed); everything after is the same loss.
        case spent
    }

    /// What the transport observed.
    public enum Observation: Sendable, Equatable {
        /// A close frame arrived, or TCP ended with no close frame (1006).
        case closed(code: Int, detail: String?)
        /// A transport or protocol error.
        case error(String)
        /// No health-check answer within the timeout.
        case healthCheckTimedOut
    }

    public enum Action: Sendable, Equatable {
        case emitLoss(LossReason, closeCode: Int?, detail: String?)
        case failHandshake(String)
        case ignore
    }

    public private(set) var phase: Phase = .handshaking

    public init() {}

    public mutating func handshakeSucceeded() {
        if phase == .handshaking { phase = .established }
    }

    public mutating func userRequestedClose() {
        if phase == .handshaking || phase == .established { phase = .closingByRequest }
    }

    public mutating func observe(_ observation: Observation) -> Action {
        switch phase {
        case .closingByRequest, .spent:
            return .ignore
        case .handshaking:
            phase = .spent
            switch observation {
            case .closed(let code, let detail):
                return .failHandshake("connection closed during the join (code \(code)\(detail.map { ": \($0)" } ?? ""))")
            case .error(let message):
                return .failHandshake(message)
            case .healthCheckTimedOut:
                return .failHandshake("health check timed out during the join")
            }
        case .established:
            phase = .spent
            switch observation {
            case .closed(let code, let detail):
                return .emitLoss(.unexpectedClose, closeCode: code, detail: detail)
            case .error(let message):
                return .emitLoss(.error, closeCode: nil, detail: message)
            case .healthCheckTimedOut:
                return .emitLoss(.healthCheckTimeout, closeCode: nil, detail: nil)
            }
        }
    }
}
