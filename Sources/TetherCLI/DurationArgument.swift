import ArgumentParser
import TetherEvents

/// A duration flag: `500ms`, `5s`, `1.5s`, `2m`; a bare number is milliseconds.
struct DurationArgument: ExpressibleByArgument, Sendable {
    var duration: Duration

    init?(argument: String) {
        guard let duration = Duration(parsing: argument), duration > .zero else { return nil }
        self.duration = duration
    }

    init(_ duration: Duration) { self.duration = duration }

    var defaultValueDescription: String { duration.shortDescription }
}
