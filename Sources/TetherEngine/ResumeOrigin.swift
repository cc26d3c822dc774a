import TetherEvents

/// Why a process picks up a session it did not start: its own restart, or, in a
/// fleet, another instance's loss (adoption) or shutdown (hand-over).
public enum ResumeOrigin: Sendable, Equatable {
    case restart
    case adopted(fromInstance: String, toInstance: String, epoch: Int64)
    case handedOver(fromInstance: String, toInstance: String, epoch: Int64)

    var isHandOver: Bool {
        if case .handedOver = self { return true }
        return false
    }

    /// The event that opens the resumed history.
    func event(sfuURL: String, previousSFUSessionID: String?) -> SessionEventKind {
        switch self {
        case .restart: .resumedAfterRestart(sfuURL: sfuURL, previousSFUSessionID: previousSFUSessionID)
        case .adopted(let from, let to, let epoch): .adopted(fromInstance: from, toInstance: to, epoch: epoch)
        case .handedOver(let from, let to, let epoch): .handedOver(fromInstance: from, toInstance: to, epoch: epoch)
        }
    }
}
