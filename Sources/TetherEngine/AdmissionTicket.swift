/// One place in the ``ReconnectLimiter``, held by one attempt (or handed from a FAST
/// ruled out before dialing to the REJOIN that replaces it). The place goes back in
/// exactly one place: here, when the last holder lets go of the ticket.
public final class AdmissionTicket: Sendable {
    private let limiter: ReconnectLimiter

    private init(limiter: ReconnectLimiter) { self.limiter = limiter }

    /// Waits for a place (cancellable: a cancelled wait holds nothing).
    public static func admit(_ limiter: ReconnectLimiter) async throws -> AdmissionTicket {
        try await limiter.acquire()
        return AdmissionTicket(limiter: limiter)
    }

    deinit { limiter.release() }
}
