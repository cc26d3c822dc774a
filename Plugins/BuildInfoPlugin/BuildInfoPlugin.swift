import Foundation
import PackagePlugin

/// Writes the version, git commit and build date into `TetherBuildInfo` before every
/// build (a prebuild command runs each time, so an incremental build after a new commit
/// shows the new commit). The work is `scripts/build-info`, a shell script: a prebuild
/// command may run only programs that exist before the build.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "generated")
        let package = context.package.directoryURL
        // Builds without a git checkout (the Dockerfile's) pass what git would say.
        let passed = ["TETHER_BUILD_COMMIT", "TETHER_BUILD_DATE"]
        let environment = ProcessInfo.processInfo.environment.filter { passed.contains($0.key) }
        return [
            .prebuildCommand(
                displayName: "Stamping the version, commit and build date",
                executable: URL(filePath: "/bin/sh"),
                arguments: [package.appending(path: "scripts/build-info").path, package.path, output.path],
                environment: environment,
                outputFilesDirectory: output)
        ]
    }
}
