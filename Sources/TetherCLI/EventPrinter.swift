import Foundation
import NIOConcurrencyHelpers
import TetherEvents

/// Writes each event to stdout as one JSON object per line, flushed at once so a
/// pipe sees it immediately.
final class EventPrinter: Sendable {
    private let lock = NIOLock()

    func print(_ event: SessionEvent) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var line = try? encoder.encode(event) else { return }
        line.append(UInt8(ascii: "\n"))
        lock.withLock { FileHandle.standardOutput.write(line) }
    }
}
