import Foundation
import GRDB
import Logging
import ServiceLifecycle
import Synchronization
import TetherEvents

/// The one writer of the history: events and session rows are queued, written in
/// batched transactions, and only then shown to live subscribers.
///
/// ``flush()`` returns once everything queued before it is committed, which is how the
/// API keeps its promise that an event any response has shown is on disk.
public final class EventLog: Service, Sendable {
    public enum Write: Sendable {
        /// An event and its JSON payload, encoded by the caller.
        case event(SessionEvent, payload: String)
        case session(SessionRecord)
    }

    public let store: EventStore
    /// The most writes one transaction takes.
    public let batchSize: Int
    private let logger: Logger
    private let state = Mutex(State())
    /// The newest stored event time: no event is stored earlier than it, so time order
    /// and id order agree (only the writer task touches it).
    private nonisolated(unsafe) var lastTimeMs: Int64 = 0
    private let payloadEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        // No .sortedKeys: sorting every event's keys is pure cost; the payload is only decoded.
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    private struct State: ~Copyable {
        var pending: [Write] = []
        var enqueued: UInt64 = 0
        var committed: UInt64 = 0
        var flushWaiters: [(target: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        var subscribers: [UInt64: Subscriber] = [:]
        var nextSubscriber: UInt64 = 0
        var wake: CheckedContinuation<Void, Never>?
        var stopping = false
    }

    public init(store: EventStore, batchSize: Int = 5000, logger: Logger = Logger(label: "tether.eventlog")) {
        self.store = store
        self.batchSize = batchSize
        self.logger = logger
    }

    // MARK: - Producers

    /// Queues `event`. Its JSON is encoded here, on the caller's thread: callers are
    /// many (every session), the writer is one, and encoding cost as much as the insert.
    public func append(_ event: SessionEvent) {
        let payload = (try? payloadEncoder.encode(event)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        enqueue(.event(event, payload: payload))
    }

    public func save(_ session: SessionRecord) { enqueue(.session(session)) }

    public func enqueue(_ write: Write) {
        let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.pending.append(write)
            state.enqueued += 1
            defer { state.wake = nil }
            return state.wake
        }
        wake?.resume()
    }

    /// Waits until every write queued before this call is committed.
    public func flush() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                if state.committed >= state.enqueued { return true }
                state.flushWaiters.append((state.enqueued, continuation))
                return false
            }
            if done { continuation.resume() }
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

    // MARK: - The writer

    /// Writes until graceful shutdown, then drains what is queued and returns.
    public func run() async throws {
        await withGracefulShutdownHandler {
            await writeLoop()
        } onGracefulShutdown: {
            self.stop()
        }
    }

    /// Ends ``run()`` after the queue is drained.
    public func stop() {
        let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.stopping = true
            defer { state.wake = nil }
            return state.wake
        }
        wake?.resume()
    }

    private func writeLoop() async {
        lastTimeMs = (try? store.lastEventTime()) ?? 0
        while true {
            // Take everything queued at once: removing a prefix from a long queue would
            // move the rest every time (measured: 45k events/s at 1M queued, before).
            let batch = state.withLock { state -> [Write]? in
                if state.pending.isEmpty { return state.stopping ? nil : [] }
                defer { state.pending = [] }
                return state.pending
            }
            guard let batch else { break }
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
                await write(batch[start..<end])
                start = end
            }
        }
        let subscribers = state.withLock { state -> [Subscriber] in
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.end() }
    }

    private func write(_ batch: ArraySlice<Write>) async {
        var stored: [SessionEvent] = []
        let startTime = lastTimeMs
        while true {
            do {
                stored = try await store.database.write { [startTime] db in
                    var lastTime = startTime
                    var stored: [SessionEvent] = []
                    stored.reserveCapacity(batch.count)
                    let statement = try db.cachedStatement(sql: EventStore.insertEventSQL)
                    for write in batch {
                        switch write {
                        case .event(var event, let payload):
                            // Appends from many sessions can reach the writer a hair out of
                            // order; never store a time earlier than the one before.
                            event.timeMs = max(event.timeMs, lastTime)
                            lastTime = event.timeMs
                            stored.append(try EventStore.insert(event, payload: payload, statement: statement, in: db))
                        case .session(let record):
                            try EventStore.upsert(record, in: db)
                        }
                    }
                    return stored
                }
                break
            } catch {
                // Never drop history: keep the batch and try again.
                logger.error("writing \(batch.count) history rows failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        if let newest = stored.last?.timeMs { lastTimeMs = max(lastTimeMs, newest) }
        let (waiters, subscribers) = state.withLock { state in
            state.committed += UInt64(batch.count)
            let committed = state.committed
            let ready = state.flushWaiters.filter { $0.target <= committed }.map(\.continuation)
            state.flushWaiters.removeAll { $0.target <= committed }
            return (ready, state.subscribers)
        }
        for (id, subscriber) in subscribers {
            for event in stored where !subscriber.deliver(event) {
                unsubscribe(id)
                break
            }
        }
        for waiter in waiters { waiter.resume() }
    }
}
