import DequeModule
import Synchronization

/// A session's notices in the order they arrived, for its runner's actor to take one by
/// one. The runner drains it with a task that exists only while notices wait: an idle
/// session keeps no task listening (a suspended `for await` over a stream held ~2.3 KB
/// per session: the task and two slabs of its async stack).
///
/// ``post(_:)`` says whether the caller must start that drain: true only when no drain
/// is under way, so at most one runs at a time and the order holds. A drain ends when
/// ``take()`` finds nothing (in the same step it is no longer under way, so a notice
/// posted just after starts a new one).
final class NoticeMailbox: Sendable {
    private struct State: ~Copyable {
        var queue = Deque<GenerationNotice>()
        var draining = false
        var closed = false
    }

    private let state = Mutex(State())

    /// Queues `notice`; true when the caller must start a drain.
    func post(_ notice: GenerationNotice) -> Bool {
        state.withLock { state in
            guard !state.closed else { return false }
            state.queue.append(notice)
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
    }

    /// The oldest notice, or nil (and the drain is over) when none waits.
    func take() -> GenerationNotice? {
        state.withLock { state in
            if let notice = state.queue.popFirst() { return notice }
            state.draining = false
            return nil
        }
    }

    /// The session is over: what waits is dropped and nothing more is taken in.
    func close() {
        state.withLock { state in
            state.closed = true
            state.queue.removeAll()
        }
    }
}
