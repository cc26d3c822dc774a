import Foundation
import NIOConcurrencyHelpers
import Testing

/// One real Janus process (Debian package `janus`) for a test: its own config folder,
/// free ports, a reclaim timeout above 0, nanomsg and the other shared transports off.
/// The HTTP transport is disabled outright: loaded with no server, it segfaults on
/// start about four times in five here.
/// Stopped by PID when the test ends, including a failed test.
public final class JanusInstance: Sendable {
    public let folder: URL
    public let webSocketPort: Int
    public let adminPort: Int
    public let adminSecret = "tether-test-admin"
    public let sessionTimeout: Int
    public let reclaimTimeout: Int
    public let security: Security
    private let process = NIOLockedValueBox<Process?>(nil)

    public static let binary = "/usr/bin/janus"

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    /// How a deployed Janus locks itself down.
    public struct Security: Sendable {
        /// `token_auth`: every request needs a token added through the admin API.
        public var tokenAuth = false
        /// `api_secret`: every request needs `apisecret`.
        public var apiSecret: String?
        /// The videoroom plugin's `admin_key`: creating rooms needs it.
        public var adminKey: String?
        /// The videoroom plugin's `string_ids`: room ids are strings.
        public var stringRoomIDs = false
        public init(tokenAuth: Bool = false, apiSecret: String? = nil, adminKey: String? = nil, stringRoomIDs: Bool = false) {
            self.tokenAuth = tokenAuth
            self.apiSecret = apiSecret
            self.adminKey = adminKey
            self.stringRoomIDs = stringRoomIDs
        }
    }

    public var url: String { "ws://127.0.0.1:\(webSocketPort)" }
    public var adminURL: String { "ws://127.0.0.1:\(adminPort)" }
    public var pid: Int32? { process.withLockedValue { $0?.processIdentifier } }

    /// Starts Janus; throws (never skips) when it is not installed or does not come up.
    public static func start(sessionTimeout: Int = 60, reclaimTimeout: Int = 30, security: Security = Security()) async throws -> JanusInstance {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw Unavailable(description: "janus is not installed at \(binary): run scripts/test (it installs the Debian package) or apt-get install janus")
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("janus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let ports = try FreePorts.pick(2)
        let instance = JanusInstance(
            folder: folder, webSocketPort: ports[0], adminPort: ports[1],
            sessionTimeout: sessionTimeout, reclaimTimeout: reclaimTimeout, security: security)
        do {
            try instance.writeConfiguration()
            try await instance.launch()
        } catch {
            await instance.stop()
            try? FileManager.default.removeItem(at: folder)
            throw error
        }
        return instance
    }

    private init(folder: URL, webSocketPort: Int, adminPort: Int, sessionTimeout: Int, reclaimTimeout: Int, security: Security) {
        self.security = security
        self.folder = folder
        self.webSocketPort = webSocketPort
        self.adminPort = adminPort
        self.sessionTimeout = sessionTimeout
        self.reclaimTimeout = reclaimTimeout
    }

    private func writeConfiguration() throws {
        let lib = "/usr/lib/x86_64-linux-gnu/janus"
        let files: [String: String] = [
            "janus.jcfg": """
                general: {
                    configs_folder = "\(folder.path)"
                    plugins_folder = "\(lib)/plugins"
                    transports_folder = "\(lib)/transports"
                    events_folder = "\(lib)/events"
                    loggers_folder = "\(lib)/loggers"
                    debug_level = 4
                    admin_secret = "\(adminSecret)"
                    session_timeout = \(sessionTimeout)
                    reclaim_session_timeout = \(reclaimTimeout)
                    token_auth = \(security.tokenAuth)
                    \(security.apiSecret.map { "api_secret = \"\($0)\"" } ?? "")
                }
                nat: { ice_enforce_list = "lo" }
                media: {}
                plugins: {
                    disable = "libjanus_audiobridge.so,libjanus_duktape.so,libjanus_echotest.so,libjanus_lua.so,libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_streaming.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_voicemail.so"
                }
                transports: {
                    disable = "libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so,libjanus_http.so"
                }
                loggers: { disable = "libjanus_jsonlog.so" }
                events: { broadcast = false }
                """,
            "janus.transport.websockets.jcfg": """
                general: {
                    json = "plain"
                    ws = true
                    ws_port = \(webSocketPort)
                    ws_ip = "127.0.0.1"
                }
                admin: {
                    admin_ws = true
                    admin_ws_port = \(adminPort)
                    admin_ws_ip = "127.0.0.1"
                }
                """,
            "janus.plugin.videoroom.jcfg": """
                general: {
                    \(security.adminKey.map { "admin_key = \"\($0)\"" } ?? "")
                    string_ids = \(security.stringRoomIDs)
                }
                """,
        ]
        for (name, text) in files {
            try text.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
    }

    private func launch() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["-F", folder.path, "-C", folder.appendingPathComponent("janus.jcfg").path, "-o", "-L", folder.appendingPathComponent("janus.log").path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        // Anything Janus writes to its working directory (a core dump) stays in its folder.
        process.currentDirectoryURL = folder
        try process.run()
        self.process.withLockedValue { $0 = process }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if !process.isRunning {
                throw Unavailable(description: "janus exited with status \(process.terminationStatus); log: \(log.suffix(2000))")
            }
            if FreePorts.listener(of: webSocketPort) == process.processIdentifier,
               FreePorts.listener(of: adminPort) == process.processIdentifier {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        await stop()
        throw Unavailable(description: "janus did not listen on \(webSocketPort)/\(adminPort) within 10 s (or another process owns a port); log: \(log.suffix(2000))")
    }

    public var log: String {
        (try? String(contentsOf: folder.appendingPathComponent("janus.log"), encoding: .utf8)) ?? ""
    }

    public func signal(_ signal: Int32) {
        if let pid { kill(pid, signal) }
    }

    /// `kill -9`, then start again on the same ports and config (a crash and restart).
    public func crashAndRestart() async throws {
        signal(SIGKILL)
        process.withLockedValue { $0 }?.waitUntilExit()
        try await launch()
    }

    /// `kill -9` and stay down.
    public func crash() {
        signal(SIGKILL)
        process.withLockedValue { $0 }?.waitUntilExit()
    }

    /// SIGTERM, then SIGKILL after 3 s; removes the config folder.
    public func stop() async {
        guard let process = process.withLockedValue({ $0 }) else { return }
        if process.isRunning {
            kill(process.processIdentifier, SIGCONT)
            kill(process.processIdentifier, SIGTERM)
            let deadline = ContinuousClock.now + .seconds(3)
            while process.isRunning, ContinuousClock.now < deadline {
                do { try await Task.sleep(for: .milliseconds(20)) } catch { break }
            }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
        try? FileManager.default.removeItem(at: folder)
    }
}

/// Free TCP ports, and who listens on one.
public enum FreePorts {
    /// Ports the kernel just handed out as free (bound to port 0, then released).
    public static func pick(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { sockets.forEach { close($0) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                    bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
                }
            }
            guard bound else { throw JanusInstance.Unavailable(description: "no free port") }
            sockets.append(fd)
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }

    /// The PID listening on 127.0.0.1:`port`, read from /proc (socket inode → process).
    public static func listener(of port: Int) -> Int32? {
        guard let table = try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8) else { return nil }
        let hexPort = String(format: "%04X", port)
        let inode = table.split(separator: "\n").dropFirst().compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 9, fields[1].hasSuffix(":" + hexPort), fields[3] == "0A" else { return nil }
            return String(fields[9])
        }.first
        guard let inode else { return nil }
        let target = "socket:[\(inode)]"
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry) else { continue }
            let fdFolder = "/proc/\(entry)/fd"
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: fdFolder)) ?? [] {
                if (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fdFolder)/\(fd)")) == target { return pid }
            }
        }
        return nil
    }
}
