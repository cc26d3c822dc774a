import Logging
import NIOConcurrencyHelpers
import NIOCore
import TetherEvents

/// Opens and closes a session's signaling WebSockets, one connection generation each:
/// the real ``SignalingTransport``.
///
/// Each ``connect(_:to:joining:)`` opens the generation the caller names (a fresh
/// socket, codec and loss latch) and joins over it. The client does not decide which
/// generation counts: the ``Reconnector`` does, and the runner tells the client which
/// one to close. A late success of a cancelled attempt therefore never displaces, let
/// alone aborts, the generation the session accepted. What generations report after
/// their join goes to the receiver set with ``deliverNotices(to:)``, tagged with the
/// generation.
public final class SignalingClient: SignalingTransport {
    public let dialect: any SignalingDialect
    /// Nil before ``deliverNotices(to:)`` and after ``finish()``.
    private let receiver = NIOLockedValueBox<(@Sendable (GenerationNotice) -> Void)?>(nil)
    private let dialer: WebSocketDialer
    private let resolver: SFUAddressResolver
    private let policy: ReconnectPolicy
    private let generations = NIOLockedValueBox(Generations())

    private struct Generations {
        /// Every generation that joined and is not closed yet.
        var open: [GenerationID: ConnectionGeneration] = [:]
        /// Generations asked to close whose socket has not closed yet.
        var closing: [GenerationID: ConnectionGeneration] = [:]
        var finished = false
    }

    /// `addressPolicy` is checked on the resolved addresses of every dial; nil dials
    /// anything (the operator's own `tether connect`).
    public init(
        dialect: any SignalingDialect, policy: ReconnectPolicy, addressPolicy: SFUAddressPolicy?, eventLoopGroup: any EventLoopGroup,
        tls: TLSTrust = .system
    ) {
        self.dialect = dialect
        self.resolver = SFUAddressResolver(policy: addressPolicy)
        self.policy = policy
        self.dialer = WebSocketDialer(eventLoopGroup: eventLoopGroup, tls: tls)
    }

    public func deliverNotices(to receiver: @escaping @Sendable (GenerationNotice) -> Void) {
        self.receiver.withLockedValue { $0 = receiver }
    }

    public func connect(_ number: GenerationID, to url: String, joining parameters: JoinParameters) async throws -> JoinAnswer {
        let target = try SignalingURL(url)
        let dialect = self.dialect
        let policy = self.policy
        let receiver = self.receiver
        let (channel, handler) = try await dialer.dial(
            target, resolver: resolver, subprotocol: dialect.webSocketSubprotocol, connectTimeout: policy.connectTimeout
        ) { _ in
            SignalingChannelHandler(
                generation: number,
                codec: dialect.makeCodec(),
                healthCheckInterval: policy.healthCheckInterval,
                healthCheckTimeout: policy.healthCheckTimeout,
                notify: { notice in receiver.withLockedValue { $0 }?(notice) })
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
            return answer
        } catch {
            generation.abort()
            throw error
        }
    }

    public func close(_ number: GenerationID, leaving request: SignalRequest?) {
        let generation = generations.withLockedValue { state -> ConnectionGeneration? in
            guard let generation = state.open.removeValue(forKey: number) else { return nil }
            state.closing[number] = generation
            return generation
        }
        guard let generation else { return }
        generation.close(leaving: request)
        generation.closed.whenComplete { [generations] _ in
            _ = generations.withLockedValue { $0.closing.removeValue(forKey: number) }
        }
    }

    public func waitUntilClosed(_ number: GenerationID) async {
        let generation = generations.withLockedValue { $0.open[number] ?? $0.closing[number] }
        try? await generation?.closed.get()
    }

    public func finish() {
        let open = generations.withLockedValue { state -> [GenerationID] in
            state.finished = true
            return Array(state.open.keys)
        }
        for number in open { close(number, leaving: nil) }
        receiver.withLockedValue { $0 = nil }
    }
}
