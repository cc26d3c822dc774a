import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// The number of open HTTP connections, shared by every connection's handler, and a
/// small reserve past the limit that only the probes (`/healthz`, `/readyz`) may use.
final class HTTPConnectionCount: Sendable {
    let limit: Int
    let probeReserve: Int
    private let open = Atomic<Int>(0)
    private let probes = Atomic<Int>(0)

    init(limit: Int, probeReserve: Int = 8) {
        self.limit = limit
        self.probeReserve = probeReserve
    }

    /// Counts one more connection; false when that one is over the limit.
    func admit() -> Bool {
        open.wrappingAdd(1, ordering: .relaxed).newValue <= limit
    }

    func release() { open.wrappingSubtract(1, ordering: .relaxed) }

    /// One of the reserved places for a probe on a connection over the limit.
    func admitProbe() -> Bool {
        if probes.wrappingAdd(1, ordering: .relaxed).newValue <= probeReserve { return true }
        probes.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    func releaseProbe() { probes.wrappingSubtract(1, ordering: .relaxed) }

    var current: Int { open.load(ordering: .relaxed) }
}

/// Answers a connection over `--max-connections` with one 503 and closes it, instead of
/// leaving it in the kernel's accept queue with no answer (what gating `accept` does);
/// and closes an admitted connection whose request (head through end) is not read in
/// full within `requestReadTimeout`, since Hummingbird's idle timer restarts on every
/// body part and a body sent a byte at a time would otherwise hold the connection.
///
/// Sits after the HTTP codec, so the refusal is a proper HTTP response; it waits for
/// the request head because NIO's server pipeline expects a request before a response.
/// Only the API's HTTP connections pass here: the SFU WebSockets are client sockets.
final class ConnectionLimitHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let count: HTTPConnectionCount
    private let requestReadTimeout: TimeAmount
    private var admitted = false
    private var refused = false
    /// Over the limit, but carrying a probe in a reserved place.
    private var probing = false
    /// The probe's request has been passed on whole; nothing more is.
    private var probeRequestRead = false
    private var requestTimer: Scheduled<Void>?

    init(count: HTTPConnectionCount, requestReadTimeout: TimeAmount) {
        self.count = count
        self.requestReadTimeout = requestReadTimeout
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        requestTimer?.cancel()
        requestTimer = nil
    }

    func handlerAdded(context: ChannelHandlerContext) {
        admitted = count.admit()
        let count = self.count
        let channel = context.channel
        channel.closeFuture.whenComplete { _ in count.release() }
        if !admitted {
            // One that never sends a request head gets no answer; it must not hold a
            // socket for the whole idle timeout either.
            channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !admitted else {
            switch unwrapInboundIn(data) {
            case .head:
                let channel = context.channel
                requestTimer?.cancel()
                requestTimer = context.eventLoop.scheduleTask(in: requestReadTimeout) { channel.close(promise: nil) }
            case .end:
                requestTimer?.cancel()
                requestTimer = nil
            case .body:
                break
            }
            return context.fireChannelRead(data)
        }
        switch unwrapInboundIn(data) {
        case .head(let head) where !refused && !probing && Self.isProbe(head) && count.admitProbe():
            // Probes must not read 503 because other clients hold every connection: a
            // few places past the limit are theirs, one request per connection.
            probing = true
            let count = self.count
            context.channel.closeFuture.whenComplete { _ in count.releaseProbe() }
            context.fireChannelRead(data)
        case .head:
            // A second request behind a probe is dropped: the connection closes once the
            // probe is answered.
            if !probing { refuse(context: context) }
        case .body:
            if probing && !probeRequestRead { context.fireChannelRead(data) }
        case .end:
            if probing && !probeRequestRead {
                probeRequestRead = true
                context.fireChannelRead(data)
            }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard probing, case .end = unwrapOutboundIn(data) else { return context.write(data, promise: promise) }
        // The probe is answered: its reserved place goes back at once.
        refused = true
        let channel = context.channel
        context.writeAndFlush(data).whenComplete { result in
            promise?.completeWith(result)
            channel.close(promise: nil)
        }
    }

    /// A probe, matched exactly: anything else over the limit is refused.
    static func isProbe(_ head: HTTPRequest) -> Bool {
        guard head.method == .get || head.method == .head, let path = head.path else { return false }
        let route = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return route == "/healthz" || route == "/readyz"
    }

    private func refuse(context: ChannelHandlerContext) {
        guard !refused else { return }
        refused = true
        let body = #"{"error":{"code":"too_many_connections","message":"the server is at its connection limit; retry later"}}"#
        var head = HTTPResponse(status: .serviceUnavailable)
        head.headerFields[.contentType] = "application/json; charset=utf-8"
        head.headerFields[.contentLength] = String(body.utf8.count)
        head.headerFields[.connection] = "close"
        head.headerFields[.retryAfter] = "1"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(string: body))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
