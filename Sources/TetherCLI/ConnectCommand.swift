import ArgumentParser
import Foundation
import Logging
import NIOPosix
import TetherEngine
import TetherEvents
import UnixSignals

struct ConnectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract: "Run one session in the foreground and print every event as a JSON line.",
        discussion: """
            Joins the first --sfu URL, keeps the connection healthy and reconnects on its own \
            (FAST, then REJOIN; MIGRATE to the next --sfu URL on go_away). Each event is one JSON \
            object per line on stdout, with the field names the HTTP API uses.

            SIGINT or SIGTERM leaves cleanly (leave request, then close 1000).
            Exit status: 0 after a clean leave, 2 when the SFU ended the call, \
            1 when the join or the session failed, 64 for a usage error.
            """
    )

    @Option(name: .customLong("sfu"), help: "SFU signaling URL (ws:// or wss://). Repeat: the first is used, the rest are migration targets.")
    var sfuURLs: [String] = []

    @Option(help: ArgumentHelp("The SFU's token (a JWT). Falls back to $TETHER_SFU_TOKEN.", valueName: "jwt"))
    var token: String?

    @Option(help: "The call id, e.g. default:demo.")
    var call: String

    @Option(help: "The agent's user id.")
    var user: String

    @Option(help: "Tether's id for this session (default: a random UUID).")
    var sessionID: String?

    @Option(help: "How often to send a health check.")
    var healthCheckInterval = DurationArgument(ReconnectPolicy.default.healthCheckInterval)

    @Option(help: "How long without a health-check answer before the connection counts as lost.")
    var healthCheckTimeout = DurationArgument(ReconnectPolicy.default.healthCheckTimeout)

    @Option(help: "TCP connect plus WebSocket upgrade timeout, per attempt.")
    var connectTimeout = DurationArgument(ReconnectPolicy.default.connectTimeout)

    @Option(help: "How long to wait for the SFU's answer to a join, per attempt.")
    var joinTimeout = DurationArgument(ReconnectPolicy.default.joinTimeout)

    @Option(help: "How long a reconnection may take, from the loss, before the session fails with deadline_exceeded.")
    var disconnectionTimeout = DurationArgument(ReconnectPolicy.default.disconnectionTimeout)

    @Option(help: "First REJOIN retry delay bound (exponential backoff, full jitter).")
    var backoffInitial = DurationArgument(ReconnectPolicy.default.backoffInitial)

    @Option(help: "Largest REJOIN retry delay.")
    var backoffMax = DurationArgument(ReconnectPolicy.default.backoffMaximum)

    @Option(help: "Log level for stderr diagnostics (trace, debug, info, notice, warning, error, critical).")
    var logLevel: Logger.Level = .warning

    func validate() throws {
        if sfuURLs.isEmpty { throw ValidationError("give at least one --sfu URL") }
        for url in sfuURLs {
            do { _ = try SignalingURL(url) } catch { throw ValidationError("--sfu \(error)") }
        }
        if resolvedToken == nil { throw ValidationError("give --token or set TETHER_SFU_TOKEN") }
        let problems = policy.problems
        if !problems.isEmpty { throw ValidationError(problems.joined(separator: "; ")) }
    }

    var resolvedToken: String? {
        token ?? ProcessInfo.processInfo.environment["TETHER_SFU_TOKEN"]
    }

    var policy: ReconnectPolicy {
        ReconnectPolicy(
            healthCheckInterval: healthCheckInterval.duration,
            healthCheckTimeout: healthCheckTimeout.duration,
            connectTimeout: connectTimeout.duration,
            joinTimeout: joinTimeout.duration,
            disconnectionTimeout: disconnectionTimeout.duration,
            backoffInitial: backoffInitial.duration,
            backoffMaximum: backoffMax.duration)
    }

    @Option(name: .customLong("sfu-ca-file"), help: "PEM bundle of certificate authorities trusted for wss:// SFUs, besides the system's. (env TETHER_SFU_CA_FILE)")
    var sfuCAFile: String?

    func run() async throws {
        bootstrapLogging(level: logLevel)
        let tls: TLSTrust
        do {
            tls = try (sfuCAFile ?? ProcessInfo.processInfo.environment["TETHER_SFU_CA_FILE"]).map { try TLSTrust(caFile: $0) } ?? .system
        } catch {
            FileHandle.standardError.write(Data("tether connect: cannot load --sfu-ca-file: \(error)\n".utf8))
            throw ExitCode(64)
        }
        let printer = EventPrinter()
        let configuration = SessionConfiguration(
            id: sessionID ?? UUID().uuidString.lowercased(),
            callID: call, userID: user, token: resolvedToken!,
            sfuURLs: sfuURLs, policy: policy)
        let session = SessionRunner(
            configuration: configuration, dialect: StreamDialect(),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            tls: tls,
            record: { printer.print($0) })

        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let signalTask = Task {
            for await signal in signals {
                await session.leave(reason: signal == .sigint ? "sigint" : "sigterm")
            }
        }
        defer { signalTask.cancel() }

        do {
            try await session.start()
        } catch {
            throw ExitCode(1)
        }
        switch await session.waitUntilFinished() {
        case .left: return
        case .ended: throw ExitCode(2)
        default: throw ExitCode(1)
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
