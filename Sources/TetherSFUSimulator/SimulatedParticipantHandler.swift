import NIOCore
import NIOWebSocket
import StreamSFUProtocol

/// One participant's WebSocket on the simulated SFU: the first frame must be a join;
/// after it, health checks and a leave. A frame it cannot decode closes with 1002.
final class SimulatedParticipantHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let simulator: SFUSimulator
    private var link: ParticipantLink?
    private var joined = false

    init(simulator: SFUSimulator) {
        self.simulator = simulator
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let link = ParticipantLink(id: ObjectIdentifier(self), channel: context.channel)
        self.link = link
        simulator.connected(link)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let link { simulator.disconnected(link) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let link else { return }
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .text:
            // Stream's own Python SDK sends its SfuRequests in text frames; the SFU reads
            // the protobuf either way (and answers in binary), so the simulator does too.
            let request: SfuRequest
            do {
                request = try SfuRequest(serializedBytes: Array(frame.unmaskedData.readableBytesView))
            } catch {
                link.close(code: 1002, reason: "not an SfuRequest")
                return
            }
            handle(request, link: link, context: context)
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            var buffer = context.channel.allocator.buffer(capacity: 2)
            buffer.write(webSocketErrorCode: .normalClosure)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer)))
                .whenComplete { _ in channel.close(promise: nil) }
        default:
            break
        }
    }

    private func handle(_ request: SfuRequest, link: ParticipantLink, context: ChannelHandlerContext) {
        switch request.requestPayload {
        case .joinRequest(let join):
            let (answer, closeAfter) = simulator.join(join, from: link)
            if case .joinResponse = answer.eventPayload {
                joined = true
                if let after = simulator.takeDropAfterJoin() {
                    context.eventLoop.scheduleTask(in: .milliseconds(Int64(after))) { link.drop(reset: false) }
                }
            }
            if let delay = simulator.takeJoinDelay() {
                context.eventLoop.scheduleTask(in: .milliseconds(Int64(delay))) {
                    link.send(answer)
                    if closeAfter { link.close(code: 1008, reason: "unauthenticated") }
                }
                return
            }
            link.send(answer)
            if closeAfter { link.close(code: 1008, reason: "unauthenticated") }
        case .healthCheckRequest:
            guard joined else { return }
            if let answer = simulator.healthCheck(from: link) { link.send(answer) }
        case .leaveCallRequest(let leave):
            simulator.leave(leave, from: link)
            joined = false
        case nil:
            if !joined {
                link.send(SFUSimulator.errorEvent(.requestValidationFailed, "the first frame must be a join_request", strategy: .unspecified))
            }
        }
    }
}
