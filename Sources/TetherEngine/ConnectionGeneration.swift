import NIOCore

/// A handle on one connection generation: one socket, one loss latch. Commands hop
/// to the channel's event loop, where ``SignalingChannelHandler`` does the work.
public final class ConnectionGeneration: Sendable {
    public let number: GenerationID
    let channel: any Channel
    private let handler: NIOLoopBound<SignalingChannelHandler>

    init(number: GenerationID, channel: any Channel, handler: NIOLoopBound<SignalingChannelHandler>) {
        self.number = number
        self.channel = channel
        self.handler = handler
    }

    /// Sends the join and waits for the SFU's first answer, up to `timeout`.
    func join(_ parameters: JoinParameters, timeout: Duration) async throws -> JoinAnswer {
        let promise = channel.eventLoop.makePromise(of: JoinAnswer.self)
        let handler = self.handler
        channel.eventLoop.execute { handler.value.startJoin(parameters, timeout: timeout, promise: promise) }
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            channel.eventLoop.execute { handler.value.abort() }
        }
    }

    /// Leaves (if `request` is given) and closes with 1000; never fires the loss signal.
    func close(leaving request: SignalRequest?) {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.requestClose(leaving: request) }
    }

    /// Closes now with no close frame; never fires the loss signal.
    func abort() {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.abort() }
    }

    /// Completes when the socket is closed.
    var closed: EventLoopFuture<Void> { channel.closeFuture }
}
