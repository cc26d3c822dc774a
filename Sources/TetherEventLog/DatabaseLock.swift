import Foundation
#if canImport(Glibc)
import Glibc
#endif
import ServiceLifecycle
import Synchronization

/// One owner per database: an exclusive `flock` on `<database>.lock`, taken before the
/// database is opened and held for the life of the service.
///
/// Two processes on one database would both resume every live session (duplicate
/// agents), and a DELETE sent to the one that does not run the session could not be
/// honoured. The kernel drops the lock when the process dies, `kill -9` included, so a
/// crashed owner never blocks its successor.
public final class DatabaseLock: Service, Sendable {
    public let lockPath: String
    private let descriptor: Int32

    public struct Held: Error, CustomStringConvertible {
        public var description: String
    }

    /// Takes the lock at once or throws ``Held`` naming the file and the holder's PID.
    public init(databasePath: String) throws {
        lockPath = databasePath + ".lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw Held(description: "cannot open the lock file \(lockPath): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.readPID(descriptor)
            close(descriptor)
            throw Held(description: """
                the database \(databasePath) is owned by another tether serve\(holder.map { " (pid \($0))" } ?? "") \
                holding \(lockPath); one database has one owner. Stop that process first, or use another --db.
                """)
        }
        // The holder's PID, for the message a second process prints.
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        self.descriptor = descriptor
    }

    /// Holds the lock until graceful shutdown; listed first among the services, so it
    /// is the last to stop, after the history is flushed.
    public func run() async throws {
        try? await gracefulShutdown()
        release()
    }

    private let released = Mutex(false)

    /// Gives the lock up (idempotent); the process keeps running without an owner claim.
    public func release() {
        let first = released.withLock { released -> Bool in
            defer { released = true }
            return !released
        }
        if first {
            _ = flock(descriptor, LOCK_UN)
            close(descriptor)
        }
    }

    deinit { release() }

    private static func readPID(_ descriptor: Int32) -> Int? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return Int(String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
