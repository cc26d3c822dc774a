/// What this binary is: its version (the `VERSION` file), the git commit it was built
/// from and when, stamped at build time by `BuildInfoPlugin`. Each is `unknown` when
/// the build could not know it (a tree outside git, with no `TETHER_BUILD_COMMIT`).
public enum BuildInfo {
    /// Dotted, e.g. `0.3.0`.
    public static let version = Stamp.version
    /// The full commit hash, `-dirty` appended when tracked files differed from it.
    public static let commit = Stamp.commit
    /// UTC, ISO 8601: when this commit was first built in this build directory.
    public static let buildDate = Stamp.buildDate

    /// `0.3.0 (commit 1a2b3c4d5e6f, built 2026-12-07T14:00:00Z)`.
    public static var description: String {
        let shortCommit = commit == "unknown" ? commit : String(commit.prefix(12)) + (commit.hasSuffix("-dirty") ? "-dirty" : "")
        return "\(version) (commit \(shortCommit), built \(buildDate))"
    }
}
