import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// A fake Janus over real sockets (NIO's WebSocket server), for what the real one never
/// does: announce absurd windows, or drop a session on command. It answers the videoroom
/// join the way Janus does (`info`, `create`, `attach`, room `create`, `join`), acks
/// keepalives, and accepts `claim`, `destroy` and `leave`.
public final class HostileJanus: Sendable {
    /// What `{"janus":"info"}` is answered with, besides `janus` and `transaction`:
    /// JSON text, so a test can send numbers no Swift type holds (`1e300`).
    public let infoFields: String
    private let group: any EventLoopGroup
    private let server = NIOLockedValueBox<(any Channel)?>(nil)
    private let connections = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
    private let received = NIOLockedValueBox<[String]>([])

    /// False: close frames go unanswered, so each close waits out the client's grace (a
    /// slow leave).
    public let answersClose: Bool

    public init(infoFields: String, answersClose: Bool = true, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.infoFields = infoFields
        self.answersClose = answersClose
        self.group = eventLoopGroup
    }

    public var url: String { "ws://127.0.0.1:\(server.withLockedValue { $0?.localAddress?.port ?? 0 })" }

    /// Every text frame received, in order.
    public var requests: [String] { received.withLockedValue { $0 } }

    public func start() async throws {
        let janus = self
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let upgrader = NIOTypedWebSocketServerUpgrader<Void>(
                    maxFrameSize: 1 << 20,
                    shouldUpgrade: { channel, _ in
                        var headers = HTTPHeaders()
                        headers.add(name: "Sec-WebSocket-Protocol", value: "janus-protocol")
                        return channel.eventLoop.makeSucceededFuture(headers)
                    },
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            janus.connections.withLockedValue { $0[ObjectIdentifier(channel)] = channel }
                            channel.closeFuture.whenComplete { _ in
                                _ = janus.connections.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(channel)) }
                            }
                            try channel.pipeline.syncOperations.addHandler(FakeJanusHandler(janus: janus))
                        }
                    })
                return channel.eventLoop.makeCompletedFuture {
                    _ = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                        configuration: .init(upgradeConfiguration: .init(
                            upgraders: [upgrader], notUpgradingCompletionHandler: { $0.close() })))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        server.withLockedValue { $0 = channel }
    }

    /// Ends every connection with no close frame, as a network drop would.
    public func dropConnections() {
        for channel in connections.withLockedValue({ Array($0.values) }) { channel.close(promise: nil) }
    }

    public var connectionCount: Int { connections.withLockedValue { $0.count } }

    public func stop() async {
        let channel = server.withLockedValue { value -> (any Channel)? in
            defer { value = nil }
            return value
        }
        try? await channel?.close()
        dropConnections()
    }

    fileprivate func record(_ text: String) { received.withLockedValue { $0.append(text) } }

    /// The answers to one request, as JSON texts.
    fileprivate func answers(to text: String, ids: inout Int64) -> [String] {
        guard let message = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
              let kind = message["janus"] as? String, let transaction = message["transaction"] as? String
        else { return [] }
        func reply(_ fields: String) -> String { #"{"transaction":"\#(transaction)",\#(fields)}"# }
        let session = (message["session_id"] as? NSNumber)?.int64Value ?? 0
        switch kind {
        case "info":
            return [reply(#""janus":"server_info""# + (infoFields.isEmpty ? "" : "," + infoFields))]
        case "create", "attach":
            ids += 1
            return [reply(#""janus":"success","data":{"id":\#(ids)}"#)]
        case "claim", "destroy", "detach":
            return [reply(#""janus":"success""#)]
        case "keepalive":
            return [reply(#""janus":"ack""#)]
        case "message":
            let body = message["body"] as? [String: Any] ?? [:]
            let sender = (message["handle_id"] as? NSNumber)?.int64Value ?? 0
            switch body["request"] as? String {
            case "create":
                return [reply(#""janus":"success","session_id":\#(session),"plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"created"}}"#)]
            case "join":
                return [
                    reply(#""janus":"ack""#),
                    reply(#""janus":"event","session_id":\#(session),"sender":\#(sender),"plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"joined","id":\#(sender + 1000),"publishers":[],"attendees":[]}}"#),
                ]
            case "listparticipants":
                return [reply(#""janus":"success","plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"participants","participants":[]}}"#)]
            default:
                return [reply(#""janus":"ack""#)]
            }
        default:
            return [reply(#""janus":"ack""#)]
        }
    }
}

private final class FakeJanusHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let janus: HostileJanus
    private var ids: Int64 = 7_000

    init(janus: HostileJanus) { self.janus = janus }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            var payload = frame.unmaskedData
            let text = payload.readString(length: payload.readableBytes) ?? ""
            janus.record(text)
            for answer in janus.answers(to: text, ids: &ids) {
                let buffer = context.channel.allocator.buffer(string: answer)
                context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: buffer)), promise: nil)
            }
            context.flush()
        case .connectionClose:
            if janus.answersClose { context.close(promise: nil) }
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        default:
            break
        }
    }
}
