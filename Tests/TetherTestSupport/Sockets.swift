import Foundation

/// Finding and killing one TCP socket from outside its process, with iproute2's `ss`
/// (root): how a test resets Tether's connection without touching the server.
public enum Sockets {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Local ports of established loopback connections to `remotePort`.
    public static func localPorts(connectedTo remotePort: Int) throws -> [Int] {
        let output = try run(["-Htn", "state", "established", "( dport = :\(remotePort) )"])
        return output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 4 else { return nil }
            return fields[2].split(separator: ":").last.flatMap { Int($0) }
        }
    }

    /// Destroys the established socket `localPort` → `remotePort` (`ss -K`).
    public static func kill(localPort: Int, remotePort: Int) throws {
        _ = try run(["-K", "state", "established", "( sport = :\(localPort) and dport = :\(remotePort) )"])
    }

    private static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ss")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { throw Failure(description: "cannot run ss (iproute2): \(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "ss \(arguments.joined(separator: " ")) failed: \(String(decoding: data, as: UTF8.self))")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
