import Hummingbird
import Logging
import NIOCore

/// Hummingbird's basic context plus the connection's channel: a handler that streams
/// (`/v1/events/stream`) must be able to close a connection whose reader has stalled,
/// because a write blocked on a full socket buffer cannot be cancelled any other way.
public struct TetherRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}
