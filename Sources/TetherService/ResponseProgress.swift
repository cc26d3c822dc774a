import NIOCore

/// What one HTTP connection owes its client, and whether it is still paying: requests
/// read and not yet answered, writes handed to the socket and not yet taken.
///
/// A pure machine (time is an input) behind ``ResponseProgressHandler``. Two bounds:
/// - a connection whose writes make no progress for `writeTimeout` is closed: the
///   idle timer skips a connection with a response in flight, so without this a
///   client that never reads holds its socket (and its send queue) for ever;
/// - at most `maxPipelined` requests wait for an answer; reading stops at the cap, and
///   a request beyond it (already decoded from the same packet) is dropped and the
///   connection closed once the ones before it are answered.
struct ResponseProgress: Sendable, Equatable {
    let writeTimeout: TimeAmount
    let maxPipelined: Int
    private(set) var unanswered = 0
    private(set) var pendingWrites = 0
    private var lastProgress: NIODeadline
    /// A request past the cap arrived: nothing more is read or passed on.
    private(set) var overflowed = false
    /// A `read` held back at the cap, to issue once below it.
    private var heldRead = false

    init(writeTimeout: TimeAmount, maxPipelined: Int, now: NIODeadline) {
        self.writeTimeout = writeTimeout
        self.maxPipelined = maxPipelined
        self.lastProgress = now
    }

    enum RequestVerdict: Equatable {
        case pass
        /// Over the cap: drop it (and everything after it on this connection).
        case drop
    }

    mutating func requestHeadRead() -> RequestVerdict {
        if overflowed || unanswered >= maxPipelined {
            overflowed = true
            return .drop
        }
        unanswered += 1
        return .pass
    }

    /// Later parts of a request are dropped with its head.
    var dropsInbound: Bool { overflowed }

    enum ReadVerdict: Equatable {
        case read
        case hold
    }

    mutating func readRequested() -> ReadVerdict {
        if overflowed || unanswered >= maxPipelined {
            heldRead = true
            return .hold
        }
        return .read
    }

    enum AnsweredAction: Equatable {
        case nothing
        /// Below the cap again: issue the read held back.
        case read
        /// Every request before the dropped one is answered: close.
        case close
    }

    mutating func responseEnded() -> AnsweredAction {
        unanswered = max(0, unanswered - 1)
        if overflowed { return unanswered == 0 ? .close : .nothing }
        if heldRead, unanswered < maxPipelined {
            heldRead = false
            return .read
        }
        return .nothing
    }

    /// A write was handed on; returns when to check for a stall, if none is scheduled.
    mutating func writeStarted(now: NIODeadline) -> NIODeadline? {
        pendingWrites += 1
        guard pendingWrites == 1 else { return nil }
        lastProgress = now
        return now + writeTimeout
    }

    mutating func writeFinished(now: NIODeadline) {
        pendingWrites = max(0, pendingWrites - 1)
        lastProgress = now
    }

    enum CheckAction: Equatable {
        case nothing
        case checkAgain(at: NIODeadline)
        case closeStalled
    }

    func stallCheck(now: NIODeadline) -> CheckAction {
        guard pendingWrites > 0 else { return .nothing }
        let due = lastProgress + writeTimeout
        return now >= due ? .closeStalled : .checkAgain(at: due)
    }
}
