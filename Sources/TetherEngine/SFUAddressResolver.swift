#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Turns an SFU URL's host into the addresses Tether will dial, and checks them.
///
/// Resolving first and dialing the very addresses that passed the check is what makes
/// the policy hold: a name cannot resolve to a public address for the check and to an
/// internal one for the connect (DNS rebinding), and an IPv4 literal is read the way
/// the resolver reads it (`127.1`, `2130706433`, `0x7f000001` are all 127.0.0.1).
public struct SFUAddressResolver: Sendable {
    /// Nil dials whatever the host resolves to (`tether connect`, run by the operator).
    public let policy: SFUAddressPolicy?

    public init(policy: SFUAddressPolicy?) {
        self.policy = policy
    }

    /// The addresses to dial for `url`, in the resolver's order, each already checked.
    /// Throws ``ConnectFailure`` `sfu_address_not_allowed` or `resolve_failed`.
    public func addresses(for url: SignalingURL, timeout: Duration) async throws -> [SocketAddress] {
        let resolved: [IPAddress]
        if let literal = IPAddress(parsing: url.host) {
            resolved = [literal]
        } else {
            resolved = try await Self.resolve(host: url.host, timeout: timeout)
        }
        if let policy, case .refused(let why) = policy.evaluate(host: url.host, port: url.port, addresses: resolved) {
            throw ConnectFailure(.addressNotAllowed, why)
        }
        return try resolved.map { try SocketAddress(ipAddress: $0.unmapped.description, port: url.port) }
    }

    /// Lookups get threads of their own: `getaddrinfo` can block for the resolver's
    /// whole retry budget, and NIO's shared pool (one thread per core) also serves the
    /// file I/O of other parts; slow names must not queue everything else behind them.
    static let lookupPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 16)
        pool.start()
        return pool
    }()

    /// `getaddrinfo` on a pool of its own, bounded by `timeout`: whichever of the
    /// lookup and the timer finishes first resumes the caller, once. A resolver that
    /// hangs keeps its pool thread until glibc gives up, but never the caller.
    static func resolve(host: String, timeout: Duration) async throws -> [IPAddress] {
        let outcome = NIOLockedValueBox<CheckedContinuation<[IPAddress], any Error>?>(nil)
        @Sendable func finish(_ result: Result<[IPAddress], any Error>) {
            outcome.withLockedValue { state -> CheckedContinuation<[IPAddress], any Error>? in
                defer { state = nil }
                return state
            }?.resume(with: result)
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                outcome.withLockedValue { $0 = continuation }
                // Cancelled before the continuation was stored: answer now.
                if Task.isCancelled { finish(.failure(ConnectFailure(.cancelled, "the attempt was cancelled"))) }
                let timer = Task {
                    guard (try? await Task.sleep(for: timeout)) != nil else { return }
                    finish(.failure(ConnectFailure(.resolveFailed, "resolving '\(host)' took longer than \(timeout)")))
                }
                Task {
                    do {
                        let addresses = try await lookupPool.runIfActive { try lookUp(host) }
                        finish(.success(addresses))
                    } catch {
                        finish(.failure(error))
                    }
                    timer.cancel()
                }
            }
        } onCancel: {
            // A DELETE or deadline must not wait for the resolver.
            finish(.failure(ConnectFailure(.cancelled, "the attempt was cancelled")))
        }
    }

    private static func lookUp(_ host: String) throws -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let list else {
            throw ConnectFailure(.resolveFailed, "cannot resolve '\(host)': \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var addresses: [IPAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = list
        while let entry = cursor {
            if let address = entry.pointee.ai_addr {
                switch entry.pointee.ai_family {
                case AF_INET:
                    let bytes = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                        withUnsafeBytes(of: pointer.pointee.sin_addr) { Array($0) }
                    }
                    if let ip = IPAddress(bytes: bytes), !addresses.contains(ip) { addresses.append(ip) }
                case AF_INET6:
                    let bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                        withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
                    }
                    if let ip = IPAddress(bytes: bytes), !addresses.contains(ip) { addresses.append(ip) }
                default:
                    break
                }
            }
            cursor = entry.pointee.ai_next
        }
        guard !addresses.isEmpty else { throw ConnectFailure(.resolveFailed, "'\(host)' resolved to no address") }
        return addresses
    }
}
