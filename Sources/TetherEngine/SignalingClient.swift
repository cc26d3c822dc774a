import Logging
import NIOConcurrencyHelpers
import NIOCore
import TetherEvents

/// Owns a session's signaling WebSocket, one connection generation at a time.
///
/// Each ``connect(to:joining:)`` opens a new generation (a fresh socket, codec and loss
/// latch) and joins over it. What generations report after their join arrives on
/// ``notices``, tagged with the generation number, so the session can ignore a late
/// report from a socket it has already replaced.
public final class SignalingClient: Sendable {
    public let dialect: any SignalingDialect
    public let notices: AsyncStream<GenerationNotice>
    private let continuation: AsyncStream<GenerationNotice>.Continuation
    private let dialer: WebSocketDialer
    private let resolver: SFUAddressResolver
    private let policy: ReconnectPolicy
    private let generations = NIOLockedValueBox(Generations())

    private struct Generations {
        var lastNumber: UInt64 = 0
        var current: ConnectionGeneration?
    }

    /// `addressPolicy` is checked on the resolved addresses of every dial; nil dials
    /// anything (the operator's own `tether connect`).
    public init(
        dialect: any SignalingDialect, policy: ReconnectPolicy, addressPolicy: SFUAddressPolicy?, eventLoopGroup: any EventLoopGroup,
        generationsAfter firstGeneration: UInt64 = 0
    ) {
        self.dialect = dialect
        self.resolver = SFUAddressResolver(policy: addressPolicy)
        self.policy = policy
        self.dialer = WebSocketDialer(eventLoopGroup: eventLoopGroup)
        (notices, continuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        generations.withLockedValue { $0.lastNumber = firstGeneration }
    }

    /// The number of the generation that joined last (0 before the first join).
    public var currentGeneration: UInt64 {
        generations.withLockedValue { $0.current?.number ?? 0 }
    }

    /// Opens a new generation to `url` and joins; the new generation becomes current.
    /// Throws ``ConnectFailure`` or the SFU's ``SFUError``; a failed generation leaves
    /// nothing open. Cancelling the calling task closes the socket at once.
    public func connect(to url: String, joining parameters: JoinParameters) async throws -> (generation: UInt64, answer: JoinAnswer) {
        let target = try SignalingURL(url)
        let number = generations.withLockedValue { state -> UInt64 in
            state.lastNumber += 1
            return state.lastNumber
        }
        let dialect = self.dialect
        let policy = self.policy
        let continuation = self.continuation
        let (channel, handler) = try await dialer.dial(
            target, resolver: resolver, subprotocol: dialect.webSocketSubprotocol, connectTimeout: policy.connectTimeout
        ) { _ in
            SignalingChannelHandler(
                generation: number,
                codec: dialect.makeCodec(),
                healthCheckInterval: policy.healthCheckInterval,
                healthCheckTimeout: policy.healthCheckTimeout,
                notify: { continuation.yield($0) })
        }
        let generation = ConnectionGeneration(number: number, channel: channel, handler: handler)
        do {
            let answer = try await generation.join(parameters, timeout: policy.joinTimeout)
            let replaced = generations.withLockedValue { state -> ConnectionGeneration? in
                defer { state.current = generation }
                return state.current
            }
            replaced?.abort()
            return (number, answer)
        } catch {
            generation.abort()
            throw error
        }
    }

    /// Closes the current generation without a loss; `request` (a leave) is sent first.
    /// Returns once the socket is closed or the close grace has passed.
    public func closeCurrent(leaving request: SignalRequest?) async {
        guard let current = generations.withLockedValue({ state -> ConnectionGeneration? in
            defer { state.current = nil }
            return state.current
        }) else { return }
        current.close(leaving: request)
        try? await current.closed.get()
    }

    /// Closes the current generation without waiting; `request` (a leave) is sent first.
    public func retireCurrent(leaving request: SignalRequest? = nil) {
        generations.withLockedValue { state -> ConnectionGeneration? in
            defer { state.current = nil }
            return state.current
        }?.close(leaving: request)
    }

    /// Closes `generation` without a loss if it is still the current one.
    public func retire(generation number: UInt64) {
        generations.withLockedValue { state -> ConnectionGeneration? in
            guard let current = state.current, current.number == number else { return nil }
            state.current = nil
            return current
        }?.close(leaving: nil)
    }

    /// Ends ``notices``; call once the session is over.
    public func finish() {
        retireCurrent()
        continuation.finish()
    }
}
