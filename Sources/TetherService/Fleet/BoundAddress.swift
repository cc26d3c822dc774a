import Synchronization

/// Where this instance's API is, for the fleet's `instances` table: the configured
/// `--advertise-address`, else `http://<host>:<port>` with the port actually bound
/// (`--port 0` is known only once the server runs).
final class BoundAddress: Sendable {
    private let value: Mutex<String>
    private let configured: Bool
    private let host: String

    init(configured: String?, host: String, port: Int) {
        self.configured = configured != nil
        self.host = host.contains(":") ? "[\(host)]" : host
        value = Mutex(configured ?? "http://\(host.contains(":") ? "[\(host)]" : host):\(port)")
    }

    var current: String { value.withLock { $0 } }

    func bound(port: Int) {
        guard !configured else { return }
        value.withLock { $0 = "http://\(host):\(port)" }
    }
}
