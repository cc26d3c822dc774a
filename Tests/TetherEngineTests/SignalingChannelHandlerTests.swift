import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOSSL
import NIOWebSocket
import StreamSFUProtocol
import Testing
@testable import TetherEngine
import TetherEvents

/// The loss signal's three sites on an `EmbeddedChannel`: what each close, error and
/// protocol failure reports, exactly once.
@Suite(.timeLimit(.minutes(1))) struct SignalingChannelHandlerTests {
    final class Harness {
        let channel = EmbeddedChannel()
        let handler: SignalingChannelHandler
        let notices = NIOLockedValueBox<[GenerationNotice]>([])

        /// A joined generation (its join answered), health checks far in the future.
        init() throws {
            let notices = self.notices
            handler = SignalingChannelHandler(
                generation: 7, codec: StreamDialect().makeCodec(),
                healthCheckInterval: .seconds(600), healthCheckTimeout: .seconds(1200),
                notify: { notice in notices.withLockedValue { $0.append(notice) } })
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            let promise = channel.eventLoop.makePromise(of: JoinAnswer.self)
            handler.startJoin(JoinParameters(token: "t", callID: "c", userID: "u"), timeout: .seconds(600), promise: promise)
            var answer = SfuEvent()
            answer.joinResponse.reconnected = false
            try receive(.binary, try answer.serializedBytes())
            _ = try promise.futureResult.wait()
        }

        func receive(_ opcode: WebSocketOpcode, _ bytes: [UInt8]) throws {
            try channel.writeInbound(WebSocketFrame(fin: true, opcode: opcode, data: channel.allocator.buffer(bytes: bytes)))
        }

        func receiveClose(code: UInt16?, reason: String = "") throws {
            var buffer = channel.allocator.buffer(capacity: 32)
            if let code { buffer.writeInteger(code) }
            buffer.writeString(reason)
            try channel.writeInbound(WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer))
        }

        /// The losses reported, without the last-contact instant.
        var losses: [(LossReason, Int?, String?)] {
            notices.withLockedValue { $0 }.compactMap { notice in
                guard notice.generation == 7, case .lost(let reason, let code, let detail, _) = notice.kind else { return nil }
                return (reason, code, detail)
            }
        }

        /// Close frames this side sent, by code.
        func sentCloseCodes() throws -> [UInt16] {
            var codes: [UInt16] = []
            while let frame = try channel.readOutbound(as: WebSocketFrame.self) {
                // Outbound frames hold their payload as written; the encoder masks it.
                if frame.opcode == .connectionClose, let code = frame.data.getInteger(at: frame.data.readerIndex, as: UInt16.self) {
                    codes.append(code)
                }
            }
            return codes
        }
    }

    @Test(arguments: [(UInt16(4001), "kicked by test"), (1000, ""), (1011, "internal")])
    func aServerCloseFrameIsAnUnexpectedCloseWithItsCode(code: UInt16, reason: String) throws {
        let harness = try Harness()
        try harness.receiveClose(code: code, reason: reason)
        let losses = harness.losses
        #expect(losses.count == 1)
        #expect(losses.first?.0 == .unexpectedClose)
        #expect(losses.first?.1 == Int(code))
        #expect(losses.first?.2 == (reason.isEmpty ? nil : reason))
        #expect(try harness.sentCloseCodes().contains(1000), "the close is answered")
        #expect(!harness.channel.isActive)
    }

    @Test func aCloseFrameWithNoCodeReads1005() throws {
        let harness = try Harness()
        try harness.receiveClose(code: nil)
        #expect(harness.losses.map(\.1) == [1005])
    }

    @Test func endingWithNoCloseFrameIs1006() throws {
        let harness = try Harness()
        try harness.channel.close().wait()
        #expect(harness.losses.map(\.0) == [.unexpectedClose])
        #expect(harness.losses.map(\.1) == [1006])
    }

    @Test func anErrorThenACloseIsOneLoss() throws {
        let harness = try Harness()
        harness.channel.pipeline.fireErrorCaught(IOError(errnoCode: EIO, reason: "read"))
        try? harness.receiveClose(code: 4002)
        _ = try? harness.channel.close().wait()
        #expect(harness.losses.count == 1)
        #expect(harness.losses.first?.0 == .error)
    }

    @Test func anUndecodableFrameIsAnErrorLoss() throws {
        let harness = try Harness()
        try harness.receive(.binary, [0xff, 0xff, 0xff])
        #expect(harness.losses.map(\.0) == [.error])
    }

    @Test func aWebSocketProtocolErrorIsAnErrorLossWithItsDetailAnd1002() throws {
        let harness = try Harness()
        harness.channel.pipeline.fireErrorCaught(NIOWebSocketError.invalidFrameLength)
        #expect(harness.losses.map(\.0) == [.error])
        #expect(harness.losses.first?.2?.contains("WebSocket protocol error") == true)
        #expect(try harness.sentCloseCodes() == [1002])
    }

    @Test func aTLSUncleanShutdownIsAnUnexpectedClose() throws {
        let harness = try Harness()
        harness.channel.pipeline.fireErrorCaught(NIOSSLError.uncleanShutdown)
        #expect(harness.losses.map(\.0) == [.unexpectedClose])
        #expect(harness.losses.map(\.1) == [1006])
    }

    @Test func aResetIsAnUnexpectedClose() throws {
        let harness = try Harness()
        harness.channel.pipeline.fireErrorCaught(IOError(errnoCode: ECONNRESET, reason: "read"))
        #expect(harness.losses.map(\.0) == [.unexpectedClose])
    }

    @Test func aCloseWeAskedForIsNoLoss() throws {
        let harness = try Harness()
        harness.handler.requestClose(leaving: nil)
        try harness.receiveClose(code: 1000)
        _ = try? harness.channel.close().wait()
        #expect(harness.losses.isEmpty)
    }

    /// Issue 19: an SFU that floods pings and never reads. Pongs stop while the socket
    /// takes nothing, and the socket turning unwritable (Tether's queue for it past
    /// 256 KiB) is a loss, `error` "peer not reading", not a queue that grows for ever.
    @Test func aPeerThatStopsReadingGetsNoPongsAndIsALoss() throws {
        let harness = try Harness()
        _ = try harness.sentCloseCodes()  // drain the join
        try harness.receive(.ping, [1, 2, 3])
        let pong = try harness.channel.readOutbound(as: WebSocketFrame.self)
        #expect(pong?.opcode == .pong, "a readable peer gets its pong")
        harness.channel.isWritable = false
        try harness.receive(.ping, [4, 5, 6])
        #expect(try harness.channel.readOutbound(as: WebSocketFrame.self) == nil, "no pong is queued for a peer that does not read")
        harness.channel.pipeline.fireChannelWritabilityChanged()
        let losses = harness.losses
        #expect(losses.count == 1)
        #expect(losses.first?.0 == .error)
        #expect(losses.first?.2?.hasPrefix("peer not reading") == true, "\(losses)")
        #expect(!harness.channel.isActive)
    }
}
