import Foundation
import TetherEventLog
import TetherEvents

/// Remembers `Idempotency-Key`s, so a retried create never puts a second agent into a
/// call, and a different request reusing a key is refused.
///
/// A key is held, with the request's fingerprint, from the moment its first request
/// arrives: a concurrent request with the same key and the same body waits for and
/// gets the same result; one with another body gets 422 at once, without waiting for
/// the first join. Once answered, the key lives on in the session's row for `ttl`
/// (after that it is released and may name a new session). A database error while
/// looking a key up is a 503, never a second session.
actor IdempotencyKeys {
    private let log: EventLog
    private let ttl: Duration
    private var inFlight: [String: (fingerprint: String, task: Task<Result<SessionRecord, APIError>, Never>)] = [:]

    init(log: EventLog, ttl: Duration) {
        self.log = log
        self.ttl = ttl
    }

    /// Runs `create` at most once per key and fingerprint; see the type's comment.
    func run(
        key: String, fingerprint: String,
        create: @escaping @Sendable () async -> Result<SessionRecord, APIError>
    ) async throws(APIError) -> SessionRecord {
        if let running = inFlight[key] {
            guard running.fingerprint == fingerprint else { throw Self.reused(key) }
            return try await running.task.value.get()
        }
        let log = self.log
        let ttl = self.ttl
        let task = Task { () -> Result<SessionRecord, APIError> in
            let existing: SessionRecord?
            do {
                // A session answered with a 503 may still have its row in the queue:
                // look only once everything before this request is committed.
                try await log.flush()
                existing = try await log.store.session(idempotencyKey: key)
            } catch {
                return .failure(.storageUnavailable("the Idempotency-Key could not be looked up (\(error)); no session was created"))
            }
            if var existing {
                let ageMs = Int64(Date().timeIntervalSince1970 * 1000) - existing.createdAtMs
                // A key is released only once its session has ended and the TTL passed;
                // an ended row never changes again, so writing it back loses nothing.
                guard ageMs > ttl.wholeMilliseconds, !existing.isLive else {
                    return Self.replay(existing, key: key, fingerprint: fingerprint)
                }
                existing.idempotencyKey = nil
                existing.requestFingerprint = nil
                log.save(existing)
            }
            return await create()
        }
        inFlight[key] = (fingerprint, task)
        let result = await task.value
        inFlight[key] = nil
        return try result.get()
    }

    private static func replay(_ existing: SessionRecord, key: String, fingerprint: String) -> Result<SessionRecord, APIError> {
        guard existing.requestFingerprint == fingerprint else { return .failure(reused(key)) }
        if let code = existing.joinFailureCode {
            return .failure(SessionRegistry.joinFailure(code: code, message: "the join of this session failed", sessionID: existing.id))
        }
        return .success(existing)
    }

    private static func reused(_ key: String) -> APIError {
        APIError.invalid("Idempotency-Key '\(key)' was used for a different request", code: "idempotency_key_reused")
    }
}
