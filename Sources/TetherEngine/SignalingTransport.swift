/// What a session runner needs from the network: open a connection generation and
/// join over it, close one, and hear what generations report. ``SignalingClient`` is
/// the real one (WebSockets); tests drive the runner with a fake.
public protocol SignalingTransport: Sendable {
    /// Sets where everything every generation reports after its join goes, tagged with
    /// its generation, in the order each generation reports it. Set once, before the
    /// first connect; nothing is delivered after ``finish()``.
    func deliverNotices(to receiver: @escaping @Sendable (GenerationNotice) -> Void)
    /// Opens `generation` to `url` and joins. Throws ``ConnectFailure`` or the SFU's
    /// ``SFUError``; a failed generation leaves nothing open. Cancelling the calling
    /// task closes the socket at once.
    func connect(_ generation: GenerationID, to url: String, joining parameters: JoinParameters) async throws -> JoinAnswer
    /// Closes `generation` without a loss, sending `leaving` first; does not wait.
    /// Closing a generation that is gone does nothing.
    func close(_ generation: GenerationID, leaving: SignalRequest?)
    /// Returns once `generation`'s socket is closed (at once when it is not open).
    func waitUntilClosed(_ generation: GenerationID) async
    /// Closes every open generation and stops delivering notices; once the session is over.
    func finish()
}
