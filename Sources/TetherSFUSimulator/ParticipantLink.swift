#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOWebSocket
import StreamSFUProtocol

/// A Sendable handle on one participant's WebSocket; every call hops to its event loop.
struct ParticipantLink: Sendable {
    let id: ObjectIdentifier
    let channel: any Channel

    func send(_ event: SfuEvent) {
        guard let bytes: [UInt8] = try? event.serializedBytes() else { return }
        sendBinary(bytes)
    }

    func sendBinary(_ bytes: [UInt8]) {
        let channel = self.channel
        channel.eventLoop.execute {
            var buffer = channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .binary, data: buffer), promise: nil)
        }
    }

    /// Sends `count` frames of `payload`, each once the previous one was taken by the
    /// socket (so a client that reads slowly slows the flood, and nothing piles up here).
    func flood(opcode: WebSocketOpcode, payload: [UInt8], count: Int) {
        let channel = self.channel
        let buffer = channel.allocator.buffer(bytes: payload)
        Task {
            for _ in 0..<count {
                let frame = WebSocketFrame(fin: true, opcode: opcode, data: buffer)
                do { try await channel.writeAndFlush(frame).get() } catch { return }
            }
        }
    }

    /// Reads nothing more from the participant: what it sends stays in the socket
    /// buffers, which shrink to a few KiB (loopback's autotuned 32 MiB would otherwise
    /// absorb a whole flood of pongs before the client's own queue saw any of it).
    func stopReading() {
        channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        channel.setOption(ChannelOptions.socketOption(.so_rcvbuf), value: 4096).whenFailure { _ in }
    }

    /// A close frame with `code`, then the socket closes.
    func close(code: UInt16, reason: String) {
        let channel = self.channel
        channel.eventLoop.execute {
            var buffer = channel.allocator.buffer(capacity: 2 + reason.utf8.count)
            buffer.writeInteger(code)
            buffer.writeString(reason)
            let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer)
            channel.writeAndFlush(frame).whenComplete { _ in
                channel.eventLoop.scheduleTask(in: .milliseconds(200)) { channel.close(promise: nil) }
            }
        }
    }

    /// Ends the TCP connection with no close frame: FIN, or RST when `reset`.
    func drop(reset: Bool) {
        let channel = self.channel
        channel.eventLoop.execute {
            // SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            if reset, let provider = channel as? any SocketOptionProvider {
                provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
            } else {
                channel.close(promise: nil)
            }
        }
    }
}
