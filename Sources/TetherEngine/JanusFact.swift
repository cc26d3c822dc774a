/// What Janus said that the session must act on, as the codec read it: facts only. How
/// each is answered (which strategy, whether it is an unauthenticated refusal or a node
/// that takes no new sessions) is decided in one place, ``JanusDialect/error(for:)``.
enum JanusFact: Equatable, Sendable {
    /// A request of the join was refused: `create` (a new Janus session), `attach`,
    /// the room's `create`, the `join`, or the presence check after a claim.
    case refused(request: String, code: Int, reason: String)
    /// The room is gone and `create_room` is off.
    case roomMissing(reason: String)
    /// The stale session we were sent to destroy could not be (and it is not gone).
    case staleDestroyRefused(code: Int, reason: String)
    /// A keepalive was refused: the session expired, or Janus restarted.
    case keepaliveRefused(code: Int, reason: String)
    /// A `claim` (FAST) was refused; 458: Janus does not know the session.
    case claimRefused(code: Int, reason: String)
    /// Janus timed our session out.
    case sessionTimedOut
    /// Janus detached our plugin handle.
    case handleDetached(Int64)
    /// Our room was destroyed.
    case roomDestroyed
}
