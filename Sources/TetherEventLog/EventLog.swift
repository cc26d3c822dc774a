import Foundation
import GRDB
import Logging
import ServiceLifecycle
import Synchronization
import TetherEvents

/// The one writer of the history: events and session rows are queued, written in
/// batched transactions (each one fsynced: `synchronous=FULL`), and only then shown to
/// live subscribers.
///
/// ``flush(within:)`` returns once everything queued before it is committed, which is
/// how the API keeps its promise that an event any response has shown is on disk; it
/// throws ``StorageUnavailable`` instead of waiting past its bound.
///
/// Every queue is bounded. When storage fails (disk full, read-only, I/O error) the
/// writer keeps the batch and retries with backoff, readiness reports the failure, and
/// new events beyond the queue limit are counted per session instead of kept; once
/// storage recovers each affected session gets an `events_dropped{count}` event.
/// Session rows are never dropped: a newer row of the same session replaces a queued
/// one, so they are bounded by the number of sessions.
public final class EventLog: Service, Sendable {
    public enum Write: Sendable {
        /// An event and its JSON payload, encoded by the caller.
        case event(SessionEvent, payload: String)
        case session(SessionRecord)
        /// One session's events and the row that says so, committed in one transaction:
        /// no crash can leave a terminal event without its terminal row, or a row ahead
        /// of its history.
        case unit([EncodedEvent], row: SessionRecord)
        /// An empty commit that proves the disk still takes writes while nothing else is queued.
        case probe
    }

    /// A write could not be committed in time; the API answers 503 `storage_unavailable`.
    public struct StorageUnavailable: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public struct Limits: Sendable {
        /// Queued events beyond which new events are counted, not kept.
        public var maxQueuedEvents: Int
        /// Queued payload bytes beyond which new events are counted, not kept.
        public var maxQueuedBytes: Int
        /// How often an idle writer proves the disk takes writes.
        public var probeInterval: Duration

        public init(maxQueuedEvents: Int = 200_000, maxQueuedBytes: Int = 128 << 20, probeInterval: Duration = .seconds(5)) {
            self.maxQueuedEvents = maxQueuedEvents
            self.maxQueuedBytes = maxQueuedBytes
            self.probeInterval = probeInterval
        }
    }

    /// What readiness and metrics report about the writer.
    public struct Health: Sendable, Equatable {
        /// The last write error while the writer is failing; nil when commits succeed.
        public var failure: String?
        public var queuedWrites: Int
        public var writeErrors: Int
        public var droppedEvents: Int
    }

    public let store: any HistoryStore
    /// The most writes one transaction takes. With `synchronous=FULL` each transaction
    /// is one fsync and one WAL append; 20,000 instead of 5,000 raised the insert rate
    /// from 56–62k to 67–81k events/s on the same machine and run (BENCHMARKS.md).
    public let batchSize: Int
    public let limits: Limits
    /// The fleet instance writing (PostgreSQL store): stamped on every event as
    /// `instance_id`. Nil on the single-owner SQLite store.
    public let instanceID: String?
    public let liveSource: LiveSource
    private let logger: Logger
    private let commitListener = Mutex<(@Sendable () -> Void)?>(nil)
    private let state = Mutex(State())
    private let payloadEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        // No .sortedKeys: sorting every event's keys is pure cost; the payload is only decoded.
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    private struct State: ~Copyable {
        var pending: [Write] = []
        /// Where each session's queued row sits in `pending`, to replace it in place.
        var pendingSessionRows: [String: Int] = [:]
        var pendingEvents = 0
        var pendingBytes = 0
        var enqueued: UInt64 = 0
        var committed: UInt64 = 0
        var flushWaiters: [UInt64: (target: UInt64, continuation: CheckedContinuation<Bool, Never>)] = [:]
        var nextWaiter: UInt64 = 0
        /// Flushes whose bound passed before they registered as waiters.
        var expiredWaiters: Set<UInt64> = []
        var subscribers: [UInt64: Subscriber] = [:]
        var nextSubscriber: UInt64 = 0
        var wake: CheckedContinuation<Void, Never>?
        var stopping = false
        var failure: String?
        /// When the write in flight was sent to the store; nil between writes.
        var writeStartedAt: ContinuousClock.Instant?
        var writeErrors = 0
        var droppedTotal = 0
        /// Events not kept since the last recovery, per session.
        var droppedBySession: [String: Int] = [:]
        /// A queued row dropped or replaced a secret: its old bytes must leave the disk.
        var secretsRetired = false
    }

    /// Where live subscribers' events come from.
    public enum LiveSource: Sendable {
        /// This log's own commits: it is the history's one writer (SQLite).
        case ownCommits
        /// A feed that reads the shared history in id order and hands it to ``publish(_:)``
        /// (a fleet on PostgreSQL: other instances write too). This log's commits only
        /// wake that feed (``onCommit(_:)``).
        case sharedHistory
    }

    public init(
        store: any HistoryStore, batchSize: Int = 20_000, limits: Limits = Limits(), instanceID: String? = nil,
        liveSource: LiveSource = .ownCommits, logger: Logger = Logger(label: "tether.eventlog")
    ) {
        self.store = store
        self.instanceID = instanceID
        self.liveSource = liveSource
        self.batchSize = batchSize
        self.limits = limits
        self.logger = logger
    }

    // MARK: - Producers

    /// Queues `event`. Its JSON is encoded here, on the caller's thread: callers are
    /// many (every session), the writer is one, and encoding cost as much as the insert.
    /// Text fields are cut first (``SessionEvent/bounded()``): most of them come from
    /// SFUs, and what a peer can make Tether store must be bounded.
    public func append(_ event: SessionEvent) {
        let encoded = encode(event)
        enqueue(.event(encoded.event, payload: encoded.payload))
    }

    public func save(_ session: SessionRecord) { enqueue(.session(session)) }

    /// Queues `events` and `row` as one unit (``Write/unit(_:row:)``). `retiresSecrets`:
    /// the row blanks or replaces a secret (an SFU token, Janus secrets); once it is
    /// committed the writer also wipes the old bytes from the disk
    /// (``EventStore/wipeRetiredSecrets()``), at most once every ``secretWipeInterval``
    /// and always at shutdown. Asked in the same step as the enqueue, so no batch can be
    /// taken between the two.
    public func commit(_ events: [SessionEvent], row: SessionRecord, retiresSecrets: Bool = false) {
        enqueue(events.isEmpty ? .session(row) : .unit(events.map { encode($0) }, row: row), retiresSecrets: retiresSecrets)
    }

    /// An event and its JSON, as the writer inserts it.
    public struct EncodedEvent: Sendable {
        public var event: SessionEvent
        public var payload: String
    }

    private func encode(_ event: SessionEvent) -> EncodedEvent {
        var event = event.bounded()
        event.instanceID = instanceID
        return EncodedEvent(event: event, payload: (try? payloadEncoder.encode(event)).map { String(decoding: $0, as: UTF8.self) } ?? "{}")
    }

    /// The least time between two wipes: each is a WAL checkpoint and two fsyncs.
    public static let secretWipeInterval: Duration = .seconds(1)

    public func enqueue(_ write: Write, retiresSecrets: Bool = false) {
        let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if retiresSecrets { state.secretsRetired = true }
            switch write {
            case .event(let event, let payload):
                guard Self.room(for: 1, bytes: payload.utf8.count, in: state, limits: limits) else {
                    state.droppedBySession[event.sessionID, default: 0] += 1
                    state.droppedTotal += 1
                    return nil
                }
                state.pendingEvents += 1
                state.pendingBytes += payload.utf8.count
                Self.append(write, to: &state)
            case .unit(let events, let row):
                let bytes = events.reduce(0) { $0 + $1.payload.utf8.count }
                guard Self.room(for: events.count, bytes: bytes, in: state, limits: limits) else {
                    // The events are counted, not kept; the row never is dropped.
                    state.droppedBySession[row.id, default: 0] += events.count
                    state.droppedTotal += events.count
                    guard Self.queue(row: row, in: &state) else { return nil }
                    break
                }
                state.pendingEvents += events.count
                state.pendingBytes += bytes
                // A row queued alone before this unit is older than the unit's: a later
                // row must land after the unit, not in that earlier slot.
                state.pendingSessionRows[row.id] = nil
                Self.append(write, to: &state)
            case .session(let record):
                guard Self.queue(row: record, in: &state) else { return nil }
            case .probe:
                Self.append(write, to: &state)
            }
            defer { state.wake = nil }
            return state.wake
        }
        wake?.resume()
    }

    private static func room(for events: Int, bytes: Int, in state: borrowing State, limits: Limits) -> Bool {
        state.pendingEvents + events <= limits.maxQueuedEvents && state.pendingBytes + bytes <= limits.maxQueuedBytes
    }

    private static func append(_ write: Write, to state: inout State) {
        state.pending.append(write)
        state.enqueued += 1
    }

    /// Queues a row alone; false when it replaced a queued one (nothing new to wake for).
    private static func queue(row: SessionRecord, in state: inout State) -> Bool {
        if let index = state.pendingSessionRows[row.id] {
            // Replacing a queued row: the newer one says everything the older did.
            state.pending[index] = .session(row)
            return false
        }
        state.pendingSessionRows[row.id] = state.pending.count
        append(.session(row), to: &state)
        return true
    }

    /// True when a write queued now would wait on a failing disk: callers about to do
    /// something that must be recorded (join an SFU, leave one) refuse instead.
    public var isFailing: Bool { state.withLock { $0.failure != nil } }

    public var health: Health {
        let now = ContinuousClock.now
        return state.withLock {
            // A write that does not return (a database gone silent, a connection that
            // took the query and never answers) is a failure as much as one that throws:
            // nothing it holds is confirmed, and no flush can be.
            var failure = $0.failure
            if failure == nil, let started = $0.writeStartedAt, now - started > Self.stalledWrite {
                failure = "a history write has not returned for \(now - started)"
            }
            return Health(failure: failure, queuedWrites: $0.pending.count, writeErrors: $0.writeErrors, droppedEvents: $0.droppedTotal)
        }
    }

    /// How long one write may run before readiness reports the writer as failing: past
    /// the API's 4 s flush bound.
    public static let stalledWrite: Duration = .seconds(5)

    /// Waits until every write queued before this call is committed, at most `timeout`.
    public func flush(within timeout: Duration = .seconds(4)) async throws(StorageUnavailable) {
        let (id, done) = state.withLock { state -> (UInt64, Bool) in
            state.nextWaiter += 1
            return (state.nextWaiter, state.committed >= state.enqueued)
        }
        if done { return }
        let timer = Task {
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            // The bound passed: fail the waiter, or, if it has not registered yet, make
            // sure it does not wait when it does.
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                if let waiter = state.flushWaiters.removeValue(forKey: id) { return waiter.continuation }
                state.expiredWaiters.insert(id)
                return nil
            }
            waiter?.resume(returning: false)
        }
        let committed = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let outcome = state.withLock { state -> Bool? in
                if state.committed >= state.enqueued { return true }
                if state.expiredWaiters.remove(id) != nil { return false }
                state.flushWaiters[id] = (state.enqueued, continuation)
                return nil
            }
            if let outcome { continuation.resume(returning: outcome) }
        }
        timer.cancel()
        // A timer that fired just as the flush completed leaves no mark behind.
        _ = state.withLock { $0.expiredWaiters.remove(id) }
        guard committed else {
            let failure = state.withLock { $0.failure }
            throw StorageUnavailable(description: failure.map { "the history cannot be written: \($0)" }
                ?? "the history writer did not commit within \(timeout)")
        }
    }

    // MARK: - Live subscribers

    /// Someone who wants committed events as they are written, with their ids.
    public struct Subscriber: Sendable {
        /// Takes one event; false means "stop sending to me" (a reader that fell
        /// behind), and the log forgets the subscriber at once.
        public var deliver: @Sendable (SessionEvent) -> Bool
        /// The log stopped; nothing more will come.
        public var end: @Sendable () -> Void

        public init(deliver: @escaping @Sendable (SessionEvent) -> Bool, end: @escaping @Sendable () -> Void) {
            self.deliver = deliver
            self.end = end
        }
    }

    /// Sends committed events to `subscriber` from now on. End it with `unsubscribe`.
    /// The writer calls `deliver` inline, so it must only hand the event on (to a
    /// bounded buffer); it is never awaited.
    public func subscribe(_ subscriber: Subscriber) -> UInt64 {
        state.withLock { state -> UInt64 in
            state.nextSubscriber += 1
            state.subscribers[state.nextSubscriber] = subscriber
            return state.nextSubscriber
        }
    }

    public func unsubscribe(_ id: UInt64) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
    }

    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// With ``LiveSource/sharedHistory``: called after each of this log's commits.
    public func onCommit(_ listener: @escaping @Sendable () -> Void) {
        commitListener.withLock { $0 = listener }
    }

    /// With ``LiveSource/sharedHistory``: hands committed events, in id order, to the
    /// subscribers.
    public func publish(_ events: [SessionEvent]) {
        deliver(events, to: state.withLock { $0.subscribers })
    }

    private func deliver(_ events: [SessionEvent], to subscribers: [UInt64: Subscriber]) {
        for (id, subscriber) in subscribers {
            for event in events where !subscriber.deliver(event) {
                unsubscribe(id)
                break
            }
        }
    }

    // MARK: - The writer

    /// Writes until graceful shutdown, then drains what is queued and returns.
    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.writeLoop() }
                group.addTask { await self.probeLoop() }
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }

    /// Ends ``run()`` after the queue is drained (or, on a failing disk, after a last
    /// bounded try: the process must still exit).
    public func stop() {
        let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.stopping = true
            defer { state.wake = nil }
            return state.wake
        }
        wake?.resume()
    }

    /// Queues a probe whenever the writer has been idle for a probe interval, so a disk
    /// that filled up (or went read-only) while nothing was written shows in readiness.
    private func probeLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: limits.probeInterval)
            let idle = state.withLock { $0.pending.isEmpty && !$0.stopping }
            if idle { enqueue(.probe) }
        }
    }

    private func writeLoop() async {
        let started = ContinuousClock.now
        var clock = ClockGuard(lastStoredTimeMs: try? await store.lastEventTime())
        var wipe = SecretWipe()
        while true {
            // Take everything queued at once: removing a prefix from a long queue would
            // move the rest every time (measured: 45k events/s at 1M queued, before).
            // The wipe request is taken with it, so it never runs before its rows.
            let taken = state.withLock { state -> (batch: [Write], retired: Bool)? in
                if state.pending.isEmpty { return state.stopping ? nil : ([], false) }
                defer {
                    state.pending = []
                    state.pendingSessionRows = [:]
                    state.pendingEvents = 0
                    state.pendingBytes = 0
                    state.secretsRetired = false
                }
                return (state.pending, state.secretsRetired)
            }
            guard let (batch, retired) = taken else { break }
            if retired { wipe.owed = true }
            if batch.isEmpty {
                await withCheckedContinuation { continuation in
                    let ready = state.withLock { state -> Bool in
                        if !state.pending.isEmpty || state.stopping { return true }
                        state.wake = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
                continue
            }
            var start = 0
            while start < batch.count {
                let end = min(start + batchSize, batch.count)
                guard await write(batch[start..<end], clock: &clock, monotonicNow: ContinuousClock.now - started) else {
                    logger.critical("shutting down with the disk failing: \(batch.count - start) queued history rows are lost")
                    await finalWipe(&wipe)
                    return
                }
                start = end
            }
            if wipe.isDue(now: .now) { await wipeRetiredSecrets(&wipe) }
        }
        await finalWipe(&wipe)
        let subscribers = state.withLock { state -> [Subscriber] in
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.end() }
    }

    /// Commits `batch`, retrying with backoff while storage fails. False only when the
    /// service is stopping and storage still fails after a last grace period.
    private func write(_ batch: ArraySlice<Write>, clock: inout ClockGuard, monotonicNow: Duration) async -> Bool {
        var stored: [SessionEvent] = []
        var backoff = Duration.milliseconds(100)
        var stopDeadline: ContinuousClock.Instant?
        while true {
            state.withLock { $0.writeStartedAt = .now }
            do {
                defer { state.withLock { $0.writeStartedAt = nil } }
                (stored, clock) = try await store.write(batch, clock: clock, monotonicNow: monotonicNow)
                break
            } catch {
                let (firstFailure, stopping) = state.withLock { state -> (Bool, Bool) in
                    defer {
                        state.failure = "\(error)"
                        state.writeErrors += 1
                    }
                    return (state.failure == nil, state.stopping)
                }
                if firstFailure {
                    logger.error("writing \(batch.count) history rows failed; keeping them and retrying", metadata: ["error": "\(error)"])
                }
                // A cancelled writer cannot write (the store refuses a cancelled task) nor
                // wait between tries: it ends now rather than spin.
                if Task.isCancelled { return false }
                if stopping {
                    let deadline = stopDeadline ?? ContinuousClock.now + .seconds(2)
                    stopDeadline = deadline
                    if ContinuousClock.now >= deadline { return false }
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
        let (waiters, subscribers, recovered) = state.withLock { state in
            state.committed += UInt64(batch.count)
            let committed = state.committed
            let ready = state.flushWaiters.filter { $0.value.target <= committed }
            for id in ready.keys { state.flushWaiters.removeValue(forKey: id) }
            var recovered: [String: Int] = [:]
            if state.failure != nil || !state.droppedBySession.isEmpty {
                state.failure = nil
                recovered = state.droppedBySession
                state.droppedBySession = [:]
            }
            return (ready.values.map(\.continuation), state.subscribers, recovered)
        }
        if !recovered.isEmpty {
            logger.notice("history storage recovered; recording the events that did not fit the queue")
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            // Past the queue's limits: the queue refilled while the writer retried, and a
            // dropped count that is itself dropped would leave a gap no event tells of.
            // One small event per affected session: bounded by the sessions.
            let counts = recovered.sorted(by: { $0.key < $1.key }).map { sessionID, count in
                encode(SessionEvent(sessionID: sessionID, timeMs: now, generation: 0, kind: .eventsDropped(count: count)))
            }
            let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
                for encoded in counts {
                    state.pendingEvents += 1
                    state.pendingBytes += encoded.payload.utf8.count
                    Self.append(.event(encoded.event, payload: encoded.payload), to: &state)
                }
                defer { state.wake = nil }
                return state.wake
            }
            wake?.resume()
        }
        switch liveSource {
        case .ownCommits: deliver(stored, to: subscribers)
        case .sharedHistory: if !stored.isEmpty { commitListener.withLock { $0 }?() }
        }
        for waiter in waiters { waiter.resume(returning: true) }
        return true
    }

    /// Whether committed rows retired secrets whose bytes are still on disk, and when
    /// they were last wiped.
    private struct SecretWipe {
        var owed = false
        var lastWipe: ContinuousClock.Instant?

        func isDue(now: ContinuousClock.Instant) -> Bool {
            owed && (lastWipe.map { now - $0 >= EventLog.secretWipeInterval } ?? true)
        }
    }

    /// Whatever was retired goes now, even within the interval: the process ends. (A
    /// retirement asked for after the last batch was taken counts too.)
    private func finalWipe(_ wipe: inout SecretWipe) async {
        if wipe.owed || state.withLock({ $0.secretsRetired }) { await wipeRetiredSecrets(&wipe) }
    }

    private func wipeRetiredSecrets(_ wipe: inout SecretWipe) async {
        wipe.lastWipe = .now
        do {
            try await store.wipeRetiredSecrets()
            wipe.owed = false
        } catch {
            // Readers on an old snapshot, or a failing disk: the next batch tries again.
            logger.debug("wiping retired secrets from the WAL failed; will retry", metadata: ["error": "\(error)"])
        }
    }
}
