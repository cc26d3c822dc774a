import Foundation
import TetherEventLog

extension SessionRecord {
    /// Clears what only served to (re)join: the SFU token and the Janus secrets. An
    /// ended session keeps no secret at rest.
    mutating func forgetSecrets() {
        sfuToken = ""
        guard let stored = dialectOptions else { return }
        guard let options = try? JSONDecoder().decode(JanusOptions.self, from: Data(stored.utf8)) else {
            // Options this version cannot read may hold secrets it cannot strip: drop them.
            dialectOptions = nil
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding four plain fields cannot fail; if it ever did, drop the options whole
        // rather than keep the secrets.
        dialectOptions = (try? encoder.encode(options.withoutSecrets)).map { String(decoding: $0, as: UTF8.self) }
    }
}
