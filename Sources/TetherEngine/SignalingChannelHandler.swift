import Foundation
import NIOCore
import NIOSSL
import NIOWebSocket
import TetherEvents

/// Runs one connection generation on its event loop: writes the dialect's frames,
/// answers pings, drives the ``HealthMonitor`` and feeds the ``LossLatch`` from its
/// three sites. Everything it does happens on the channel's event loop.
final class SignalingChannelHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// How long to wait for the server's close reply before closing the socket anyway.
    static let closeGrace: TimeAmount = .milliseconds(500)

    let generation: GenerationID
    private var codec: any SignalingCodec
    private var latch = LossLatch()
    private var monitor: HealthMonitor?
    private let healthCheckInterval: Duration
    private let healthCheckTimeout: Duration
    private let notify: @Sendable (GenerationNotice) -> Void
    private var context: ChannelHandlerContext?
    private var joinPromise: EventLoopPromise<JoinAnswer>?
    private var joinTimer: Scheduled<Void>?
    /// The next health-check wake-up, in this event loop's shared wheel.
    private var healthTimer: (token: HealthTickWheel.Token, tick: NIODeadline)?
    private var wheel: HealthTickWheel?
    private var closeFrameSent = false
    /// Caps the SFU notices this connection records per second.
    private var noticeBudget = NoticeBudget()
    private var noticeWindowTimer: Scheduled<Void>?

    /// Bytes written to the SFU and not yet taken by its socket beyond which the peer
    /// counts as not reading: the connection is lost (`error`, "peer not reading")
    /// rather than holding an ever-growing queue of pongs and health checks.
    static let unsentHighWaterMark = 256 * 1024
    static let unsentLowWaterMark = 64 * 1024

    init(
        generation: GenerationID,
        codec: any SignalingCodec,
        healthCheckInterval: Duration,
        healthCheckTimeout: Duration,
        notify: @escaping @Sendable (GenerationNotice) -> Void
    ) {
        self.generation = generation
        self.codec = codec
        self.healthCheckInterval = healthCheckInterval
        self.healthCheckTimeout = healthCheckTimeout
        self.notify = notify
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        self.context = nil
    }

    // MARK: - Commands (called on the event loop through ConnectionGeneration)

    func startJoin(_ parameters: JoinParameters, timeout: Duration, promise: EventLoopPromise<JoinAnswer>) {
        guard let context, latch.phase == .handshaking else {
            promise.fail(ConnectFailure(.closedDuringJoin, "the connection closed before the join was sent"))
            return
        }
        joinPromise = promise
        joinTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout.timeAmount) { [self] in
            self.failJoin(ConnectFailure(.joinTimeout, "no answer to the join within \(timeout)"))
        }
        do {
            for frame in try codec.encode(.join(parameters)) { write(frame) }
            context.flush()
        } catch {
            failJoin(ConnectFailure(.closedDuringJoin, "could not encode the join: \(error)"))
        }
    }

    /// A close we asked for: optionally leave first, then a 1000 close frame.
    func requestClose(leaving request: SignalRequest?) {
        latch.userRequestedClose()
        cancelTimers()
        guard let context, context.channel.isActive else { return }
        if let request, let frames = try? codec.encode(request) {
            for frame in frames { write(frame) }
        }
        sendClose(code: .normalClosure)
        let channel = context.channel
        context.eventLoop.scheduleTask(in: Self.closeGrace) { channel.close(promise: nil) }
    }

    /// Closes at once with no close frame; used to abandon an attempt.
    func abort() {
        latch.userRequestedClose()
        cancelTimers()
        failJoin(ConnectFailure(.cancelled, "the attempt was cancelled"))
        context?.close(promise: nil)
    }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary:
            deliver(.binary(Array(frame.unmaskedData.readableBytesView)))
        case .text:
            var data = frame.unmaskedData
            deliver(.text(data.readString(length: data.readableBytes) ?? ""))
        case .ping:
            // Only while the peer takes what we write: a peer that floods pings and never
            // reads would otherwise fill memory with pongs (RFC 6455 lets an endpoint
            // answer only the latest ping).
            guard context.channel.isWritable else { return }
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readInteger(as: UInt16.self).map(Int.init) ?? 1005
            let reason = data.readString(length: data.readableBytes).flatMap { $0.isEmpty ? nil : $0 }
            observe(.closed(code: code, detail: reason))
            if !closeFrameSent { sendClose(code: .normalClosure) }
            context.close(promise: nil)
        default:
            break
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if !context.channel.isWritable {
            observe(.error("peer not reading: more than \(Self.unsentHighWaterMark / 1024) KiB written to it are unsent"))
            context.close(promise: nil)
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        observe(.closed(code: 1006, detail: "the connection ended with no close frame"))
        cancelTimers()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let io = error as? IOError, [ECONNRESET, EPIPE, ECONNABORTED].contains(io.errnoCode) {
            observe(.closed(code: 1006, detail: "the connection was reset (\(io.errnoCode == ECONNRESET ? "ECONNRESET" : "errno \(io.errnoCode)"))"))
        } else if let tls = error as? NIOSSLError, tls == .uncleanShutdown {
            // TCP ended under TLS without a close_notify: the same abrupt drop as a FIN
            // or RST on a plain socket, not a protocol error.
            observe(.closed(code: 1006, detail: "the connection ended with no close frame (TLS unclean shutdown)"))
        } else if let protocolError = error as? NIOWebSocketError {
            // An oversized frame, a bad opcode, an unmasked control frame...: NIO's
            // automatic handler is off so the latch sees these as what they are.
            observe(.error("WebSocket protocol error: \(protocolError)"))
            if !closeFrameSent { sendClose(code: .protocolError) }
        } else {
            observe(.error("transport error: \(error)"))
        }
        context.close(promise: nil)
    }

    // MARK: - Internals

    private func deliver(_ frame: WireFrame) {
        let outputs: [CodecOutput]
        do {
            outputs = try codec.decode(frame)
        } catch {
            observe(.error("\(error)"))
            if !closeFrameSent { sendClose(code: .protocolError) }
            context?.close(promise: nil)
            return
        }
        for output in outputs {
            switch output {
            case .send(let reply):
                write(reply)
                context?.flush()
            case .event(let event):
                handle(event)
            }
        }
    }

    private func handle(_ event: SignalEvent) {
        if let promise = joinPromise {
            switch event {
            case .joinAccepted(let answer):
                joinPromise = nil
                joinTimer?.cancel()
                latch.handshakeSucceeded()
                startHealthChecks(ceiling: answer.healthCheckCeiling)
                promise.succeed(answer)
                return
            case .sfuError(let error):
                // An error before the join succeeded fails the join, it is not a loss.
                failJoin(error)
                return
            default:
                break
            }
        }
        if case .healthCheckAnswered = event {
            monitor?.answerReceived(now: .now)
            return
        }
        guard latch.phase == .established, Self.concernsTheSession(event) else { return }
        if Self.isRecorded(event), case .suppress(let closeWindowAt) = noticeBudget.admit(now: .now) {
            if let closeWindowAt, let context {
                noticeWindowTimer = context.eventLoop.assumeIsolated().scheduleTask(
                    in: (closeWindowAt - .now).timeAmount
                ) { [self] in
                    self.reportSuppressed()
                }
            }
            return
        }
        notify(GenerationNotice(generation: generation, kind: .signal(event)))
    }

    /// False for what the session decides nothing on: another participant came or went.
    /// Dropped here, on the event loop, rather than carried across to the runner's actor
    /// for the reconnector to ignore. In a storm every rejoin is announced to each
    /// participant of its call already back, so those hops grew with the number back:
    /// 10,000 sessions in calls of 100 rejoined at ~1,000/s at first and ~560/s at the
    /// end (`tether bench storm`), and a hostile SFU could send them without limit.
    private static func concernsTheSession(_ event: SignalEvent) -> Bool {
        switch event {
        case .participantJoined, .participantLeft: false
        default: true
        }
    }

    /// Notices the session records one by one, and whose loss from the record changes
    /// no decision: an `error` asking for DISCONNECT ends the session, so it always passes.
    private static func isRecorded(_ event: SignalEvent) -> Bool {
        switch event {
        case .sfuError(let error): error.strategy != .disconnect
        case .goAway: true
        default: false
        }
    }

    private func reportSuppressed() {
        noticeWindowTimer = nil
        let count = noticeBudget.windowClosed(now: .now)
        guard count > 0, latch.phase == .established else { return }
        notify(GenerationNotice(generation: generation, kind: .suppressed(count: count)))
    }

    private func observe(_ observation: LossLatch.Observation) {
        switch latch.observe(observation) {
        case .ignore:
            break
        case .failHandshake(let message):
            failJoin(ConnectFailure(.closedDuringJoin, message))
        case .emitLoss(let reason, let closeCode, let detail):
            cancelTimers()
            let lastContact = monitor?.lastAnswerAt ?? .now
            notify(GenerationNotice(
                generation: generation,
                kind: .lost(reason: reason, closeCode: closeCode, detail: detail, lastContact: lastContact)))
        }
    }

    private func failJoin(_ error: any Error) {
        guard let promise = joinPromise else { return }
        joinPromise = nil
        joinTimer?.cancel()
        latch.userRequestedClose()
        promise.fail(error)
        context?.close(promise: nil)
    }

    /// `ceiling`: the SFU expires a session that stays quiet longer (Janus's
    /// `session-timeout`), so the interval never exceeds it, whatever the policy says.
    private func startHealthChecks(ceiling: Duration?) {
        let interval = ceiling.map { min($0, healthCheckInterval) } ?? healthCheckInterval
        monitor = HealthMonitor(interval: interval, timeout: healthCheckTimeout, now: .now)
        scheduleHealthTick()
    }

    /// Health-check wake-ups land on a 20 ms grid: thousands of connections on one event
    /// loop then share each wake-up instead of each waking the loop alone (measured:
    /// the context switches were the largest cost at 10,000 sessions), and share one
    /// scheduled task through the loop's ``HealthTickWheel``.
    static let healthTickGrid: Int64 = 20_000_000

    /// The first grid tick at or after `deadline`: never earlier, less than one tick
    /// later. So a health-check timeout is detected at most `timeout + 1 tick` after the
    /// last answer (the monitor's wake-up is the timeout's own instant).
    static func onTickGrid(_ deadline: NIODeadline) -> NIODeadline {
        let grid = UInt64(healthTickGrid)
        return .uptimeNanoseconds((deadline.uptimeNanoseconds + grid - 1) / grid * grid)
    }

    private func scheduleHealthTick() {
        guard let context, let monitor else { return }
        let delay = monitor.nextWakeUp - ContinuousClock.now
        let aligned = Self.onTickGrid(NIODeadline.now() + delay.timeAmount)
        let wheel = self.wheel ?? HealthTickWheel.on(context.eventLoop)
        self.wheel = wheel
        let token = wheel.schedule(at: aligned) { [self] in
            self.healthTimer = nil
            self.healthTick()
        }
        healthTimer = (token, aligned)
    }

    private func healthTick() {
        guard var monitor, let context else { return }
        let action = monitor.tick(now: .now)
        self.monitor = monitor
        switch action {
        case .timedOut:
            // Emit before closing, so the "we closed it" guard cannot swallow the loss.
            observe(.healthCheckTimedOut)
            if !closeFrameSent { sendClose(code: .goingAway) }
            context.close(promise: nil)
            return
        case .sendHealthCheck:
            if let frames = try? codec.encode(.healthCheck) {
                for frame in frames { write(frame) }
                context.flush()
            }
        case .wait:
            break
        }
        scheduleHealthTick()
    }

    private func write(_ frame: WireFrame) {
        guard let context else { return }
        let opcode: WebSocketOpcode
        var buffer: ByteBuffer
        switch frame {
        case .binary(let bytes):
            opcode = .binary
            buffer = context.channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
        case .text(let text):
            opcode = .text
            buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
            buffer.writeString(text)
        }
        let wsFrame = WebSocketFrame(fin: true, opcode: opcode, maskKey: .random(), data: buffer)
        context.write(wrapOutboundOut(wsFrame), promise: nil)
    }

    private func sendClose(code: WebSocketErrorCode) {
        guard let context, !closeFrameSent else { return }
        closeFrameSent = true
        var buffer = context.channel.allocator.buffer(capacity: 2)
        buffer.write(webSocketErrorCode: code)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: buffer)
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    private func cancelTimers() {
        if let healthTimer { wheel?.cancel(healthTimer.token, at: healthTimer.tick) }
        healthTimer = nil
        noticeWindowTimer?.cancel()
        noticeWindowTimer = nil
        joinTimer?.cancel()
        joinTimer = nil
    }
}
