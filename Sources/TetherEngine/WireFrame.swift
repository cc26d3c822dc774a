/// One WebSocket data message, as the dialects see it.
public enum WireFrame: Sendable, Equatable {
    case binary([UInt8])
    case text(String)
}
