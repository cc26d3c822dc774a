import NIOConcurrencyHelpers

/// Waiting on PostgreSQL with a bound that holds even when the connection is dead.
enum Race {
    /// `operation`'s result, or `fallback` once `limit` has passed — without waiting for
    /// the operation to end. Not a task group: a query on a dead connection heeds no
    /// cancellation, and a group would wait for it.
    static func firstOf<T: Sendable>(
        _ operation: @escaping @Sendable () async throws -> T, orAfter limit: Duration, _ fallback: T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let pending = NIOLockedValueBox<CheckedContinuation<T, any Error>?>(continuation)
            @Sendable func finish(_ result: Result<T, any Error>) {
                pending.withLockedValue { waiting in
                    waiting?.resume(with: result)
                    waiting = nil
                }
            }
            let timer = Task {
                // Cancelled means the operation finished: it answers, not the fallback
                // (the cancel comes just before its answer, and must not race it).
                guard (try? await Task.sleep(for: limit)) != nil else { return }
                finish(.success(fallback))
            }
            Task {
                let result: Result<T, any Error>
                do { result = .success(try await operation()) } catch { result = .failure(error) }
                timer.cancel()
                finish(result)
            }
        }
    }
}
