import Foundation
import NIOCore
import NIOHTTP1

/// The simulator's fault controls: `POST /admin/<fault>?...` and `GET /admin/state`.
/// Parameters are query items; bodies are ignored. Answers are JSON.
final class AdminHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let simulator: SFUSimulator
    private var head: HTTPRequestHead?

    init(simulator: SFUSimulator) {
        self.simulator = simulator
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            let (status, body) = respond(to: head)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            let keepAlive = head.isKeepAlive
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }

    static let usage = """
        POST /admin/drop[?reset=1]  POST /admin/close?code=N[&reason=R]  POST /admin/freeze?ms=N  \
        POST /admin/error?code=N[&strategy=S][&message=M]  POST /admin/go-away[?reason=R]  \
        POST /admin/call-ended[?reason=R]  POST /admin/garbage[?close=N]  POST /admin/forget  \
        POST /admin/reject-joins?count=N[&code=N][&strategy=S]  POST /admin/delay-joins?count=N&ms=N  \
        POST /admin/drop-after-join?ms=N[&count=N]  POST /admin/error-flood?count=N&bytes=N  \
        POST /admin/ping-flood?count=N  GET /admin/state  GET /admin/participants; \
        faults on connections take an optional session=ID
        """

    private func respond(to head: HTTPRequestHead) -> (HTTPResponseStatus, String) {
        let components = URLComponents(string: head.uri)
        let path = components?.path ?? head.uri
        var query: [String: String] = [:]
        for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }

        if path == "/admin/state" {
            guard head.method == .GET else { return Self.error(.methodNotAllowed, "use GET") }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data = (try? encoder.encode(simulator.state)) ?? Data("{}".utf8)
            return (.ok, String(decoding: data, as: UTF8.self))
        }
        if path == "/admin/participants" {
            guard head.method == .GET else { return Self.error(.methodNotAllowed, "use GET") }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data = (try? encoder.encode(simulator.participants)) ?? Data("{}".utf8)
            return (.ok, String(decoding: data, as: UTF8.self))
        }
        guard path.hasPrefix("/admin/") else { return Self.error(.notFound, "not found; \(Self.usage)") }
        guard head.method == .POST else { return Self.error(.methodNotAllowed, "faults take POST") }

        func integer(_ name: String, default value: Int? = nil) throws -> Int {
            guard let text = query[name] else {
                if let value { return value }
                throw SFUSimulator.UnknownValue(description: "missing query parameter '\(name)'")
            }
            guard let number = Int(text) else { throw SFUSimulator.UnknownValue(description: "'\(name)' must be an integer, got '\(text)'") }
            return number
        }
        do {
            let fault: SimulatorFault
            switch path {
            case "/admin/drop":
                fault = .drop(reset: ["1", "true"].contains(query["reset"] ?? ""))
            case "/admin/close":
                let code = try integer("code")
                guard (1000...4999).contains(code) else { return Self.error(.badRequest, "code must be 1000...4999") }
                fault = .close(code: UInt16(code), reason: query["reason"] ?? "")
            case "/admin/freeze":
                fault = .freezeHealthChecks(milliseconds: try integer("ms"))
            case "/admin/error":
                fault = .error(code: try integer("code", default: 500), message: query["message"] ?? "injected error", strategy: query["strategy"])
            case "/admin/go-away":
                fault = .goAway(reason: query["reason"] ?? "shutting_down")
            case "/admin/call-ended":
                fault = .callEnded(reason: query["reason"] ?? "ended")
            case "/admin/garbage":
                fault = .garbage(thenCloseCode: try query["close"].map { _ in UInt16(try integer("close")) })
            case "/admin/forget":
                fault = .forgetSessions
            case "/admin/drop-after-join":
                fault = .dropAfterJoin(count: try integer("count", default: Int(Int32.max)), milliseconds: try integer("ms"))
            case "/admin/delay-joins":
                fault = .delayJoins(count: try integer("count"), milliseconds: try integer("ms"))
            case "/admin/error-flood":
                let bytes = try integer("bytes", default: 1_000_000)
                guard (0...1_040_000).contains(bytes) else { return Self.error(.badRequest, "bytes must be 0...1040000 (a frame is at most 1 MiB)") }
                fault = .errorFlood(count: try integer("count"), bytes: bytes)
            case "/admin/ping-flood":
                fault = .pingFlood(count: try integer("count"))
            case "/admin/reject-joins":
                fault = .rejectJoins(count: try integer("count"), code: try integer("code", default: 700), strategy: query["strategy"])
            default:
                return Self.error(.notFound, "unknown fault \(path); \(Self.usage)")
            }
            let at = SFUSimulator.bootTimeNanoseconds()
            let touched = try simulator.inject(fault, session: query["session"])
            return (.ok, #"{"ok":true,"connections":\#(touched),"at_ns":\#(at)}"#)
        } catch {
            return Self.error(.badRequest, "\(error)")
        }
    }

    static func error(_ status: HTTPResponseStatus, _ message: String) -> (HTTPResponseStatus, String) {
        let escaped = (try? JSONEncoder().encode(message)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
        return (status, #"{"error":{"code":"\#(status.code)","message":\#(escaped)}}"#)
    }
}
