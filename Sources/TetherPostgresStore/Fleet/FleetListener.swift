import Logging
import PostgresNIO

/// `LISTEN`s on the fleet's channel on a connection of its own and hands each
/// notification to `receive`, reconnecting after a loss. Notifications are wake-ups,
/// never the only way a change is seen: every waiter also re-reads on a period, so a
/// notification lost with a connection costs at most that period.
public struct FleetListener: Sendable {
    let configuration: PostgresConnection.Configuration
    let logger: Logger

    public init(url: PostgresURL, logger: Logger) throws {
        var configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
            tls: try url.connectionTLS())
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = [("application_name", "tether fleet listener")]
        self.configuration = configuration
        self.logger = logger
    }

    /// Listens until the task is cancelled. `connected` is called each time the
    /// listener is (again) in place: what was missed meanwhile should be re-read then.
    public func run(connected: @escaping @Sendable () async -> Void, receive: @escaping @Sendable (PostgresFleet.Notification) async -> Void) async {
        var id = 0
        while !Task.isCancelled {
            id += 1
            var current: PostgresConnection?
            do {
                let connection = try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
                current = connection
                try await withTaskCancellationHandler {
                    try await connection.listen(on: PostgresFleet.channel) { notifications in
                        await connected()
                        for try await notification in notifications {
                            if let known = PostgresFleet.Notification(payload: notification.payload) { await receive(known) }
                        }
                    }
                } onCancel: {
                    Task { try? await connection.close() }
                }
            } catch {
                if !Task.isCancelled {
                    logger.debug("the fleet listener's connection failed; listening again", metadata: ["error": "\(String(reflecting: error))"])
                }
            }
            if let current { Task { try? await current.close() } }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
