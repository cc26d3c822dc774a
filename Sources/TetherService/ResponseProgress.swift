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
    /// The channel's buffered outbound bytes at the last stall check.
    private var lastBuffered: Int?

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
        lastBuffered = nil
        return now + checkInterval
    }

    mutating func writeFinished(now: NIODeadline) {
        pendingWrites = max(0, pendingWrites - 1)
        lastProgress = now
    }

    /// Checks run a few times per timeout, so a large write that the socket takes
    /// slowly (its promise completes only at the end) shows its progress in bytes.
    var checkInterval: TimeAmount { .nanoseconds(max(writeTimeout.nanoseconds / 4, 25_000_000)) }

    enum CheckAction: Equatable {
        case nothing
        case checkAgain(at: NIODeadline)
        case closeStalled
    }

    /// `buffered`: the bytes the channel still holds for the socket now; fewer than at
    /// the last check means the client is reading, however slowly.
    mutating func stallCheck(now: NIODeadline, buffered: Int?) -> CheckAction {
        guard pendingWrites > 0 else { return .nothing }
        if let buffered, let last = lastBuffered, buffered < last { lastProgress = now }
        lastBuffered = buffered
        if now >= lastProgress + writeTimeout { return .closeStalled }
        return .checkAgain(at: now + checkInterval)
    }
}
