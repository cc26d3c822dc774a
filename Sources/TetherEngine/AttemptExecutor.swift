import TetherEvents

/// Runs one attempt plan, in order: an admission ticket from the reconnect limiter
/// (not for a first join), a check with the restart watch (a FAST to a node known to
/// have restarted is not dialed), fresh credentials before a REJOIN or MIGRATE (inside
/// the admission, so a storm of refreshes is capped like the storm of joins), the join,
/// one more join with fresh credentials when the SFU refuses as unauthenticated, and
/// the resume's result told to the restart watch.
///
/// It decides nothing about the session: what it learns goes back as an
/// ``Reconnector/AttemptResult`` (and credentials as ``Event``s), and the machine decides.
public struct AttemptExecutor: Sendable {
    public let transport: any SignalingTransport
    public let limiter: ReconnectLimiter?
    public let restartWatch: NodeRestartWatch?
    public let credentials: CredentialsSource?
    public let sessionID: String
    public let callID: String
    public let userID: String
    /// A fleet instance's right to act; nil where one process owns every session.
    public let permit: ActingPermit?

    public init(
        transport: any SignalingTransport, limiter: ReconnectLimiter?, restartWatch: NodeRestartWatch?,
        credentials: CredentialsSource?, sessionID: String, callID: String, userID: String, permit: ActingPermit? = nil
    ) {
        self.permit = permit
        self.transport = transport
        self.limiter = limiter
        self.restartWatch = restartWatch
        self.credentials = credentials
        self.sessionID = sessionID
        self.callID = callID
        self.userID = userID
    }

    /// What the attempt learned on the way, for the session to record.
    public enum Event: Sendable, Equatable {
        case credentialsFetched(CredentialsSource.Credentials, reason: String)
        case credentialsFailed(reason: String, error: String)
    }

    /// How a run ended: its result (nil when it was cancelled and joined nothing), and
    /// the admission of a FAST ruled out after it was admitted, for the REJOIN that
    /// replaces it (one admission per session in a storm, not two).
    public struct Run: Sendable {
        public var result: Reconnector.AttemptResult?
        public var handedOver: AdmissionTicket?
    }

    /// Runs `plan` (attempt `id`) against `url` (and `fromURL`, the node a MIGRATE leaves).
    public func run(
        _ id: AttemptID, plan: Reconnector.AttemptPlan, url: String, fromURL: String?, admission inherited: AdmissionTicket?,
        report: @escaping @Sendable (Event) async -> Void
    ) async -> Run {
        var parameters = JoinParameters(
            token: plan.token, callID: callID, userID: userID, resumeSessionID: plan.resumeSessionID,
            reconnect: plan.isFirstJoin ? nil : .init(
                strategy: plan.strategy, attempt: plan.attempt, previousSessionID: plan.previousSessionID, fromSFU: fromURL,
                reason: plan.trigger?.rawValue ?? "restart"),
            staleSessionID: plan.staleSessionID, resumeState: plan.resumeState, staleResumeState: plan.staleResumeState)
        if plan.isFirstJoin {
            return Run(result: await join(id, url, parameters, firstJoin: true))
        }
        let knownRestarted = { plan.strategy == .fast && restartWatch?.shouldSkipFast(node: url) == true }
        if knownRestarted() { return Run(result: .fastRuledOut(reason: "node_restarted"), handedOver: inherited) }
        // The service-wide cap: a queued attempt that is cancelled (deadline, leave)
        // simply never starts.
        var ticket = inherited
        if ticket == nil, let limiter {
            do { ticket = try await AdmissionTicket.admit(limiter) } catch { return Run(result: nil) }
        }
        // The verdict may have come while this attempt queued for its place.
        if knownRestarted() { return Run(result: .fastRuledOut(reason: "node_restarted"), handedOver: ticket) }
        if plan.strategy == .rejoin || plan.strategy == .migrate {
            switch await refreshed(reason: plan.strategy.rawValue, report: report) {
            case .fresh(let token): parameters.token = token
            case .cancelled: return Run(result: nil)
            case .unchanged: break
            }
        }
        var result = await join(id, url, parameters, firstJoin: false)
        if case .failed(let failure) = result, failure.unauthenticated {
            // Refused as unauthenticated: fresh credentials, then this join once more.
            switch await refreshed(reason: "unauthenticated", report: report) {
            case .fresh(let token):
                parameters.token = token
                result = await join(id, url, parameters, firstJoin: false)
            case .cancelled: return Run(result: nil)
            case .unchanged: break
            }
        }
        // Before the place goes to the next queued attempt, so that one already sees a
        // verdict this result completes.
        if plan.strategy == .fast, let restartWatch, let result { Self.report(resume: result, at: url, of: sessionID, to: restartWatch) }
        return Run(result: result)
    }

    private enum Refresh {
        case fresh(String)
        case unchanged
        case cancelled
    }

    /// Fresh credentials from the source (told to the session), or the old token when
    /// there is no source or it failed.
    private func refreshed(reason: String, report: @Sendable (Event) async -> Void) async -> Refresh {
        guard let credentials else { return .unchanged }
        do {
            let fresh = try await credentials.fetch(reason)
            if Task.isCancelled { return .cancelled }
            await report(.credentialsFetched(fresh, reason: reason))
            return .fresh(fresh.token)
        } catch is CancellationError where Task.isCancelled {
            // The attempt was cancelled: nothing failed.
            return .cancelled
        } catch {
            if Task.isCancelled { return .cancelled }
            await report(.credentialsFailed(reason: reason, error: "\(error)"))
            return .unchanged
        }
    }

    /// One join; nil when the attempt was cancelled before it joined.
    private func join(_ id: AttemptID, _ url: String, _ parameters: JoinParameters, firstJoin: Bool) async -> Reconnector.AttemptResult? {
        if let permit, !permit.allows() {
            // Past the lease's fence deadline: a second agent must never join.
            return .failed(.init(step: .connect, message: "this instance holds no valid fleet lease", code: "no_lease"))
        }
        do {
            return .joined(try await transport.connect(id.generation, to: url, joining: parameters))
        } catch let failure as ConnectFailure where failure.kind == .cancelled {
            return nil
        } catch {
            if Task.isCancelled { return nil }
            return .failed(Self.failure(from: error, firstJoin: firstJoin))
        }
    }

    /// An error as the machine takes it. A first join's message is the SFU's own words
    /// (the API shows them); a reconnection's names the code and strategy too.
    static func failure(from error: any Error, firstJoin: Bool) -> Reconnector.AttemptFailure {
        switch error {
        case let sfu as SFUError:
            Reconnector.AttemptFailure(
                step: .join, message: firstJoin ? sfu.message : sfu.description, sfuStrategy: sfu.strategy,
                nodeRefused: sfu.nodeRefusesNewSessions, code: sfu.code, unauthenticated: sfu.unauthenticated,
                sessionUnknown: sfu.sessionUnknown)
        case let connect as ConnectFailure:
            Reconnector.AttemptFailure(
                step: connect.isConnectStep ? .connect : .join, message: firstJoin ? connect.message : connect.description,
                code: connect.kind.rawValue)
        default:
            Reconnector.AttemptFailure(step: .connect, message: "\(error)", code: "connect_failed")
        }
    }

    /// Tells the service-wide restart watch how a FAST resume went.
    static func report(resume result: Reconnector.AttemptResult, at node: String, of session: String, to restartWatch: NodeRestartWatch) {
        switch result {
        case .joined(let answer) where answer.reconnected:
            restartWatch.fastSucceeded(node: node)
        case .joined:
            // Joined, but as a new session: the node did not know ours.
            restartWatch.fastRefused(node: node, session: session)
        case .failed(let failure) where failure.sessionUnknown:
            restartWatch.fastRefused(node: node, session: session)
        case .failed, .fastRuledOut:
            break
        }
    }
}
