import ArgumentParser
import TetherBuildInfo

@main
struct Tether: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tether",
        abstract: "Keeps an agent's signaling WebSocket to its SFU alive, and explains every loss.",
        version: BuildInfo.description,
        subcommands: [
            ServeCommand.self, ConnectCommand.self, SFUCommand.self, BenchCommand.self,
            SessionsCommand.self, SessionCommand.self, EventsCommand.self, StatsCommand.self, InstancesCommand.self,
        ]
    )
}
