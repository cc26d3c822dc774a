import ArgumentParser
import Foundation
import Logging
import NIOPosix
import TetherSFUSimulator
import UnixSignals

struct SFUCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sfu",
        abstract: "Run a stream-dialect SFU simulator with fault controls.",
        discussion: """
            Serves signaling at ws://HOST:PORT/ws and fault controls on the same port:
              POST /admin/drop[?reset=1]                 end every connection with no close frame (FIN, or RST)
              POST /admin/close?code=N[&reason=R]        send a close frame with code N
              POST /admin/freeze?ms=N                    stop answering health checks for N ms
              POST /admin/error?code=N[&strategy=S]      send an SFU error (S: fast, rejoin, migrate, disconnect)
              POST /admin/go-away[?reason=R]             send go_away (shutting_down, rebalance)
              POST /admin/call-ended[?reason=R]          send call_ended (ended, live_ended, kicked, session_ended)
              POST /admin/garbage[?close=N]              send a frame that is not an SfuEvent (then close with N)
              POST /admin/forget                         forget every session and drop every connection (a restart)
              POST /admin/reject-joins?count=N[&code=N][&strategy=S]   answer the next N joins with an error
              POST /admin/delay-joins?count=N&ms=N       hold the answer to the next N joins for N ms (a stall)
              POST /admin/drop-after-join?ms=N[&count=N] drop the next N joined connections N ms after their join (a flapping node)
              GET  /admin/state                          sessions, connections and counters as JSON
            Connection faults take an optional session=ID to hit one session only.
            The call and user come from the token's JWT claims call_cid and user_id; the \
            signature is checked only when --secret is given. Prints the bound address, then \
            runs until SIGINT or SIGTERM.
            """
    )

    @Option(help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(help: "Port to bind; 0 picks a free port.")
    var port = 8765

    @Option(help: "This node's name in /admin/state (default: sfu-PORT).")
    var nodeID: String?

    @Option(help: "HS256 secret; when set, tokens with a bad signature or past their exp claim are refused (UNAUTHENTICATED), as Stream's SFU does.")
    var secret: String?

    @Option(help: "Seconds a lost session stays resumable by FAST (sent as fast_reconnect_deadline_seconds).")
    var fastReconnectDeadline = 10

    @Flag(help: "Accept tokens without call_cid/user_id claims as an anonymous participant (for fuzzing; ignored with --secret).")
    var anonymousTokens = false

    @Option(name: .customLong("tls-cert"), help: "PEM certificate (chain): with --tls-key, serve wss:// (and https:// admin).")
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert.")
    var tlsKey: String?

    @Option(help: "Log level for stderr diagnostics.")
    var logLevel: Logger.Level = .warning

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        guard fastReconnectDeadline >= 0 else { throw ValidationError("--fast-reconnect-deadline must be >= 0") }
        guard (tlsCertificate == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
    }

    func run() async throws {
        bootstrapLogging(level: logLevel)
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let simulator = SFUSimulator(configuration: .init(
            host: host, port: port, nodeID: nodeID ?? "sfu-\(port)", tokenSecret: secret,
            fastReconnectDeadlineSeconds: fastReconnectDeadline, acceptAnonymousTokens: anonymousTokens,
            tlsCertificatePath: tlsCertificate, tlsKeyPath: tlsKey))
        do {
            try await simulator.start()
        } catch {
            FileHandle.standardError.write(Data("tether sfu: cannot listen on \(host):\(port): \(error)\n".utf8))
            throw ExitCode(1)
        }
        FileHandle.standardOutput.write(Data("tether sfu listening on \(simulator.signalingURL) admin \(simulator.adminURL)\n".utf8))
        for await _ in signals { break }
        await simulator.stop()
    }
}
