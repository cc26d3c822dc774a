import Logging
import NIOConcurrencyHelpers
import NIOCore
import TetherEvents

/// Opens and closes a session's signaling WebSockets, one connection generation each.
///
/// Each ``connect(to:joining:)`` opens a new generation (a fresh socket, codec and loss
/// latch) and joins over it. The client does not decide which generation counts: the
/// session runner does, and tells it which one to close (``close(generation:leaving:)``).
/// A late success of an attempt the runner cancelled therefore never displaces, let
/// alone aborts, the generation the session accepted. What generations report after
/// their join arrives on ``notices``, tagged with the generation number.
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
        /// Every generation that joined and is not closed yet.
        var open: [UInt64: ConnectionGeneration] = [:]
        var finished = false
    }

    /// `addressPolicy` is checked on the resolved addresses of every dial; nil dials
    /// anything (the operator's own `tether connect`). Generation numbers continue
    /// after `firstGeneration` (a session resumed after a restart keeps counting).
    public init(
        dialect: any SignalingDialect, policy: ReconnectPolicy, addressPolicy: SFUAddressPolicy?, eventLoopGroup: any EventLoopGroup,
        generationsAfter firstGeneration: UInt64 = 0, tls: TLSTrust = .system
    ) {
        self.dialect = dialect
        self.resolver = SFUAddressResolver(policy: addressPolicy)
        self.policy = policy
        self.dialer = WebSocketDialer(eventLoopGroup: eventLoopGroup, tls: tls)
        (notices, continuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        generations.withLockedValue { $0.lastNumber = firstGeneration }
    }

    /// Opens a new generation to `url` and joins. Throws ``ConnectFailure`` or the
    /// SFU's ``SFUError``; a failed generation leaves nothing open. Cancelling the
    /// calling task closes the socket at once.
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
            let kept = generations.withLockedValue { state -> Bool in
                guard !state.finished else { return false }
                state.open[number] = generation
                return true
            }
            guard kept else {
                // The session ended while this join was in flight; it joined, so it
                // leaves (the SFU lets the participant go at once).
                generation.close(leaving: .leave(sessionID: answer.sfuSessionID, reason: "session_ended"))
                throw ConnectFailure(.cancelled, "the session ended while the join was in flight")
            }
            return (number, answer)
        } catch {
            generation.abort()
            throw error
        }
    }

    /// Closes `generation` without a loss, sending `request` (a leave) first; does not
    /// wait. Closing a generation that is gone does nothing.
    public func close(generation number: UInt64, leaving request: SignalRequest? = nil) {
        generations.withLockedValue { $0.open.removeValue(forKey: number) }?.close(leaving: request)
    }

    /// Like ``close(generation:leaving:)``, and returns once the socket is closed or
    /// its close grace has passed.
    public func closeAndWait(generation number: UInt64, leaving request: SignalRequest?) async {
        guard let generation = generations.withLockedValue({ $0.open.removeValue(forKey: number) }) else { return }
        generation.close(leaving: request)
        try? await generation.closed.get()
    }

    /// Closes every open generation and ends ``notices``; call once the session is over.
    public func finish() {
        let open = generations.withLockedValue { state -> [ConnectionGeneration] in
            state.finished = true
            defer { state.open.removeAll() }
            return Array(state.open.values)
        }
        for generation in open { generation.close(leaving: nil) }
        continuation.finish()
    }
}
