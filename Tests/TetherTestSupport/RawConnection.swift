import Glibc
import Foundation

/// A plain TCP client socket for tests that must misbehave the way a hostile or broken
/// HTTP client does: send half a request, never read, hold a connection open.
///
/// Non-blocking after connect, so waiting never blocks a thread of the cooperative
/// pool the server under test may be running on; every wait has a bound.
public final class RawConnection: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private var descriptor: Int32

    /// Connects to 127.0.0.1:`port`; `receiveBuffer` shrinks the kernel's receive buffer
    /// (set before connecting, so the window is small from the start).
    public init(port: Int, receiveBuffer: Int32? = nil) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "socket() failed: errno \(errno)") }
        if var size = receiveBuffer {
            setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 else {
            _ = Glibc.close(descriptor)
            throw Failure(description: "connect to 127.0.0.1:\(port) failed: errno \(errno)")
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
    }

    deinit { close() }

    public func close() {
        if descriptor >= 0 {
            _ = Glibc.close(descriptor)
            descriptor = -1
        }
    }

    public func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { usleep(1000); continue }
                throw Failure(description: "send failed: errno \(errno)")
            }
            offset += written
        }
    }

    public enum ReadResult: Equatable {
        case data([UInt8])
        case nothingYet
        /// The peer closed (EOF) or reset the connection.
        case closed
    }

    public func readAvailable(max: Int = 65536) -> ReadResult {
        var buffer = [UInt8](repeating: 0, count: max)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        if count > 0 { return .data(Array(buffer[0..<count])) }
        if count == 0 { return .closed }
        if errno == EAGAIN || errno == EWOULDBLOCK { return .nothingYet }
        return .closed
    }

    /// Reads until `text` has arrived; returns everything read. Throws past `timeout`
    /// or when the peer closes first.
    @discardableResult
    public func read(until text: String, timeout: Duration) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        var received: [UInt8] = []
        while ContinuousClock.now < deadline {
            switch readAvailable() {
            case .data(let bytes):
                received += bytes
                let string = String(decoding: received, as: UTF8.self)
                if string.contains(text) { return string }
            case .nothingYet:
                try await Task.sleep(for: .milliseconds(10))
            case .closed:
                throw Failure(description: "closed before '\(text)' arrived; got: \(String(decoding: received, as: UTF8.self).prefix(300))")
            }
        }
        throw Failure(description: "'\(text)' did not arrive within \(timeout); got: \(String(decoding: received, as: UTF8.self).prefix(300))")
    }

    /// Reads (and discards) until the peer closes; false when it is still open after `timeout`.
    public func waitUntilClosed(timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            switch readAvailable() {
            case .closed: return true
            case .data: continue
            case .nothingYet: try await Task.sleep(for: .milliseconds(20))
            }
        }
        return false
    }
}
