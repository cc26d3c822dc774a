import Foundation

/// What the `janus` dialect needs to claim, leave or destroy one Janus session: its
/// ids. Owned by the dialect: the engine carries it as opaque JSON text
/// (``JoinAnswer/resumeState``, stored with the session) and never looks inside. The
/// SFU session id the API shows (`session:handle:participant`) is for people; it is
/// read back only for a row written before resume states existed.
struct JanusResumeState: Codable, Equatable, Sendable {
    var session: Int64
    var handle: Int64
    /// Our participant id in the room, as text: a number, or a string with `string_ids`.
    var participant: String?

    /// The state as stored: JSON.
    var text: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Two integers and a bounded string always encode.
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// The id shown in the API and the history.
    var displayID: String {
        participant.map { "\(session):\(handle):\($0)" } ?? "\(session):\(handle)"
    }

    /// The state a session carries: its resume state, or (a row from before resume
    /// states) its displayed id read back.
    init?(resumeState: String?, sessionID: String?) {
        if let resumeState, let state = try? JSONDecoder().decode(JanusResumeState.self, from: Data(resumeState.utf8)) {
            self = state
            return
        }
        guard let sessionID else { return nil }
        let parts = sessionID.split(separator: ":")
        guard parts.count == 2 || parts.count == 3, let session = Int64(parts[0]), let handle = Int64(parts[1]) else { return nil }
        self.init(session: session, handle: handle, participant: parts.count == 3 ? String(parts[2]) : nil)
    }

    init(session: Int64, handle: Int64, participant: String?) {
        self.session = session
        self.handle = handle
        self.participant = participant
    }
}
