import Foundation
import Testing
import TetherTestSupport

/// The version stamp: `scripts/build-info` (what the build plugin runs before every
/// build) on throwaway git repositories, and the `tether` built from this checkout.
@Suite(.serialized, .timeLimit(.minutes(2))) struct BuildInfoTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs `program` with `arguments`; its stdout, trimmed; fails on a non-zero exit.
    @discardableResult
    static func run(_ program: String, _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        if let directory { process.currentDirectoryURL = directory }
        var env = ProcessInfo.processInfo.environment
        for key in ["TETHER_BUILD_COMMIT", "TETHER_BUILD_DATE"] { env[key] = nil }
        process.environment = env.merging(environment) { $1 }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "\(program) \(arguments) exited \(process.terminationStatus)")
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A package directory with a VERSION file, optionally a git repository of its own.
    func makePackage(git: Bool, inside parent: URL? = nil) throws -> URL {
        let base = parent ?? FileManager.default.temporaryDirectory.appendingPathComponent("tether-stamp-\(UUID().uuidString)")
        let package = base.appendingPathComponent("pkg")
        try FileManager.default.createDirectory(at: package, withIntermediateDirectories: true)
        try "1.2.3\n".write(to: package.appendingPathComponent("VERSION"), atomically: true, encoding: .utf8)
        if git {
            try Self.run("git", ["init", "-q"], in: package)
            try commit(package, "first")
        }
        return package
    }

    func commit(_ package: URL, _ message: String) throws {
        try message.write(to: package.appendingPathComponent("file.txt"), atomically: true, encoding: .utf8)
        try Self.run("git", ["add", "-A"], in: package)
        try Self.run("git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", message], in: package)
    }

    /// The stamp's three values, read back from the generated Swift.
    func stamp(_ package: URL, environment: [String: String] = [:]) throws -> (version: String, commit: String, date: String, file: URL) {
        let out = package.appendingPathComponent(".stamp")
        try Self.run("sh", [Self.root.appendingPathComponent("scripts/build-info").path, package.path, out.path], environment: environment)
        let file = out.appendingPathComponent("BuildInfo+Stamp.swift")
        let text = try String(contentsOf: file, encoding: .utf8)
        func value(_ name: String) throws -> String {
            let match = try #require(text.firstMatch(of: try Regex("static let \(name) = \"([^\"]*)\"")), "\(text)")
            return String(try #require(match.output[1].substring))
        }
        return (try value("version"), try value("commit"), try value("buildDate"), file)
    }

    @Test func aNewCommitIsStampedAndAnUnchangedTreeIsNotRewritten() async throws {
        let package = try makePackage(git: true)
        defer { try? FileManager.default.removeItem(at: package.deletingLastPathComponent()) }
        let first = try stamp(package)
        #expect(first.version == "1.2.3")
        #expect(first.commit == (try Self.run("git", ["rev-parse", "HEAD"], in: package)))
        #expect(first.date.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/) != nil, "\(first.date)")
        let written = try FileManager.default.attributesOfItem(atPath: first.file.path)[.modificationDate] as? Date

        // Unchanged: the file is left alone, so the build recompiles nothing.
        try await Task.sleep(for: .milliseconds(1100))
        _ = try stamp(package)
        #expect(try FileManager.default.attributesOfItem(atPath: first.file.path)[.modificationDate] as? Date == written)

        try commit(package, "second")
        let second = try stamp(package)
        #expect(second.commit == (try Self.run("git", ["rev-parse", "HEAD"], in: package)))
        #expect(second.commit != first.commit)

        // A tracked file changed and not committed: the binary is not that commit.
        try "edited".write(to: package.appendingPathComponent("file.txt"), atomically: true, encoding: .utf8)
        #expect(try stamp(package).commit == second.commit + "-dirty")
    }

    @Test func outsideGitItSaysUnknownNotAWrongValue() throws {
        let plain = try makePackage(git: false)
        defer { try? FileManager.default.removeItem(at: plain.deletingLastPathComponent()) }
        #expect(try stamp(plain).commit == "unknown")

        // A source tree unpacked inside someone else's repository: that repository's
        // commit is not this build's.
        let outer = FileManager.default.temporaryDirectory.appendingPathComponent("tether-outer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: outer, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: outer) }
        try Self.run("git", ["init", "-q"], in: outer)
        try commit(outer, "outer")
        let nested = try makePackage(git: false, inside: outer)
        #expect(try stamp(nested).commit == "unknown")

        // What a build without .git is told (the Dockerfile's build arguments) wins;
        // a value that could break out of the Swift literal is refused.
        let told = try stamp(plain, environment: ["TETHER_BUILD_COMMIT": "0123abcd", "TETHER_BUILD_DATE": "2026-12-01T10:00:00Z"])
        #expect(told.commit == "0123abcd")
        #expect(told.date == "2026-12-01T10:00:00Z")
        #expect(try stamp(plain, environment: ["TETHER_BUILD_COMMIT": "x\"; fatalError(); \""]).commit == "unknown")
        try "not a version".write(to: plain.appendingPathComponent("VERSION"), atomically: true, encoding: .utf8)
        #expect(try stamp(plain).version == "unknown")
    }

    @Test func theDockerfileStampsTheBuildAndLabelsItsFinalStage() throws {
        let dockerfile = try String(contentsOf: Self.root.appendingPathComponent("Dockerfile"), encoding: .utf8)
        let version = try String(contentsOf: Self.root.appendingPathComponent("VERSION"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(dockerfile.contains("ARG TETHER_VERSION=\(version)\n"), "the Dockerfile's TETHER_VERSION is not the VERSION file's \(version)")
        // What the build plugin needs is in the build context it copies.
        for copied in ["VERSION", "./Plugins", "scripts/build-info"] {
            #expect(dockerfile.contains(copied), "the build stage does not copy \(copied)")
        }
        #expect(dockerfile.contains("TETHER_BUILD_COMMIT=\"$TETHER_COMMIT\""))
        let finalStage = try #require(dockerfile.components(separatedBy: "\nFROM ").last)
        for annotation in ["version", "revision", "source"] {
            #expect(finalStage.contains("org.opencontainers.image.\(annotation)="), "no \(annotation) label in the final stage")
        }
    }

    @Test func theBinaryAndHealthzSayThisCheckoutsVersionAndCommit() async throws {
        let version = try String(contentsOf: Self.root.appendingPathComponent("VERSION"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let head = try Self.run("git", ["rev-parse", "HEAD"], in: Self.root)
        let line = try Self.run(ChildProcess.tetherBinary.path, ["--version"])
        #expect(line.hasPrefix("\(version) (commit \(head.prefix(12))"), "\(line)")

        let database = FileManager.default.temporaryDirectory.appendingPathComponent("tether-version-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: database + suffix) } }
        let serve = try ChildProcess(["serve", "--port", "0", "--db", database, "--log-level", "warning"])
        let base = try await serve.waitForServeAddress()
        let health = try await callURL(.GET, base + "/healthz").1
        let stamped = try #require(health["version"] as? [String: Any], "\(health)")
        #expect(stamped["version"] as? String == version)
        #expect((stamped["commit"] as? String)?.hasPrefix(head) == true, "\(stamped)")
        #expect(stamped["build_date"] as? String != "unknown")
        await serve.stop()
    }
}
