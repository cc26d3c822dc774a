import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes

/// Executes ``ResponseProgress`` on one HTTP connection: closes it when its writes
/// stall for `--http-write-timeout`, and caps the requests it may have waiting.
///
/// Sits after the HTTP codec, where each response part's write promise completes when
/// its bytes are taken by the socket, so "no write completed" means the client is not
/// reading.
final class ResponseProgressHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    static let defaultMaxPipelined = 16

    private var progress: ResponseProgress
    private var stallTimer: Scheduled<Void>?
    private let logger: Logger
    private var inputClosed = false
    private var inputClosedWatchers: [@Sendable () -> Void] = []

    init(writeTimeout: TimeAmount, maxPipelined: Int = ResponseProgressHandler.defaultMaxPipelined, logger: Logger) {
        self.progress = ResponseProgress(writeTimeout: writeTimeout, maxPipelined: maxPipelined, now: .now())
        self.logger = logger
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stallTimer?.cancel()
        stallTimer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            if progress.requestHeadRead() == .drop { return }
        } else if progress.dropsInbound {
            return
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            // The server allows half-closure, so a client that left shows only as this
            // event (the channel stays open until a write fails): tell whoever streams.
            inputClosed = true
            let watchers = inputClosedWatchers
            inputClosedWatchers = []
            for watcher in watchers { watcher() }
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Calls `watcher` once the client has closed its side of `channel` (at once if it
    /// already has): how a streaming response learns that its reader is gone.
    static func whenInputClosed(on channel: any Channel, _ watcher: @escaping @Sendable () -> Void) {
        channel.eventLoop.execute {
            guard let handler = try? channel.pipeline.syncOperations.handler(type: ResponseProgressHandler.self) else { return }
            if handler.inputClosed { watcher() } else { handler.inputClosedWatchers.append(watcher) }
        }
    }

    func read(context: ChannelHandlerContext) {
        if progress.readRequested() == .read { context.read() }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let isEnd: Bool
        if case .end = unwrapOutboundIn(data) { isEnd = true } else { isEnd = false }
        let written = promise ?? context.eventLoop.makePromise()
        if let checkAt = progress.writeStarted(now: .now()) { scheduleCheck(context: context, at: checkAt) }
        written.futureResult.hop(to: context.eventLoop).assumeIsolated().whenComplete { [self] _ in
            self.progress.writeFinished(now: .now())
        }
        context.write(data, promise: written)
        guard isEnd else { return }
        switch progress.responseEnded() {
        case .nothing: break
        case .read: context.read()
        case .close:
            // The requests dropped past the cap get no answer: closing tells the client
            // to send them again on a new connection.
            context.flush()
            written.futureResult.hop(to: context.eventLoop).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    private func scheduleCheck(context: ChannelHandlerContext, at deadline: NIODeadline) {
        stallTimer?.cancel()
        stallTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            self.stallTimer = nil
            let buffered = try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)
            switch self.progress.stallCheck(now: .now(), buffered: buffered) {
            case .nothing:
                break
            case .checkAgain(let next):
                self.scheduleCheck(context: context, at: next)
            case .closeStalled:
                self.logger.notice(
                    "closing an HTTP connection whose client stopped reading",
                    metadata: ["remote": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")"])
                context.close(promise: nil)
            }
        }
    }
}
