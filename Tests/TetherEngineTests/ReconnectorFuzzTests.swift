import Foundation
import Testing
import TetherTestSupport
@testable import TetherEngine
import TetherEvents

/// The machine fuzzed for its invariants, as async-http-client fuzzes its pool's state
/// machine: random sessions fed random inputs (losses, join results, notices early and
/// late and from old generations, timer fires on time and stale, DELETEs, migrations,
/// credentials, node lists, restart verdicts, the deadline), a million steps a run.
///
/// After every step:
/// - a session that is not terminal and not joined has an attempt or a timer outstanding;
/// - at most one attempt runs, and no id is ever minted twice;
/// - every loss of the current connection is answered (a reconnection starts, is merged
///   into the running one, or the session ends);
/// - a terminal state absorbs everything (only a late join's close, or a stale session's
///   cleanup, still produce an action);
/// - the counters match the events emitted.
///
/// A failure prints the seed (`TETHER_FUZZ_SEED` replays it) and the shortest failing
/// sequence of inputs it could shrink the failing session to.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ReconnectorFuzzTests {
    static let steps = 1_000_000

    @Test func invariantsHoldOverAMillionRandomSteps() {
        let seed = ProcessInfo.processInfo.environment["TETHER_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        var random = SplitMix64(seed: seed)
        var steps = 0
        var sessions = 0
        var reconnections = 0
        let started = ContinuousClock.now
        while steps < Self.steps {
            sessions += 1
            let setup = FuzzSetup.random(&random)
            var inputs: [FuzzInput] = []
            var world = FuzzWorld(setup: setup)
            let length = 1 + random.next(400)
            var terminalSteps = 0
            for _ in 0..<length where steps < Self.steps && terminalSteps < 8 {
                if world.machine.state.isTerminal { terminalSteps += 1 }
                let input = world.pickInput(&random)
                inputs.append(input)
                steps += 1
                let violation = world.apply(input)
                if world.machine.state == .joined, world.machine.counters.reconnects > 0, case .joined = input { reconnections += 1 }
                if let violation {
                    let shortest = FuzzWorld.shrink(setup: setup, inputs: inputs)
                    Issue.record("""
                        invariant broken: \(violation)
                        seed \(seed) (TETHER_FUZZ_SEED=\(seed) replays it), session \(sessions), setup \(setup)
                        shortest failing sequence (\(shortest.count) of \(inputs.count) inputs):
                        \(shortest.map { "  \($0)" }.joined(separator: "\n"))
                        """)
                    return
                }
            }
        }
        print("reconnector fuzz: seed \(seed), \(steps) steps over \(sessions) sessions (\(reconnections) reconnections) in \(ContinuousClock.now - started)")
    }
}

/// How one fuzzed session is set up.
struct FuzzSetup: Sendable, CustomStringConvertible {
    var nodes: Int
    var makeBeforeBreak: Bool
    var leavesStaleSessions: Bool
    var refreshesCredentials: Bool
    /// Starts by resuming after a restart instead of a first join.
    var resumes: Bool

    static func random(_ random: inout SplitMix64) -> FuzzSetup {
        FuzzSetup(
            nodes: 1 + random.next(3), makeBeforeBreak: random.next(2) == 0, leavesStaleSessions: random.next(2) == 0,
            refreshesCredentials: random.next(2) == 0, resumes: random.next(4) == 0)
    }

    var description: String {
        "nodes \(nodes), makeBeforeBreak \(makeBeforeBreak), leavesStaleSessions \(leavesStaleSessions), refreshes \(refreshesCredentials), resumes \(resumes)"
    }
}

/// One input, described relative to the world (the attempt in flight, the current
/// generation), so a shrunk sequence still means something.
enum FuzzInput: Sendable {
    case advance(milliseconds: Int)
    case joined(reconnected: Bool, window: Int?)
    case failed(step: AttemptStep, strategy: ReconnectStrategy?, nodeRefused: Bool)
    case ruledOut
    case staleJoin(back: UInt64)
    case loss
    case notice(FuzzNotice, generation: FuzzGeneration)
    case fire(Reconnector.Timer, early: Bool)
    case leave
    case migrate(target: Int?, from: Int?)
    case credentials(api: Bool, urls: Int?, expiresIn: Int?)
    case refreshFailed
    case staleDestroyed
}

enum FuzzNotice: Sendable {
    case error(ReconnectStrategy?)
    case goAway
    case callEnded
    case removed
    case suppressed
    case participant
}

enum FuzzGeneration: Sendable {
    case current
    case inFlight
    case old
}

/// The machine and what its actions have set up around it: the attempts and timers
/// outstanding, the ids seen, the counters the events add up to.
struct FuzzWorld {
    let setup: FuzzSetup
    var machine: Reconnector
    var now = ContinuousClock.now
    let origin = ContinuousClock.now
    var attempts: Set<AttemptID> = []
    var minted: Set<AttemptID> = []
    var lastMinted: UInt64 = 0
    var timers: [Reconnector.Timer: ContinuousClock.Instant] = [:]
    var counted = SessionCounters()
    var begun = false

    init(setup: FuzzSetup) {
        self.setup = setup
        let nodes = (0..<setup.nodes).map { "ws://n\($0)/ws" }
        machine = Reconnector(
            policy: ReconnectPolicy(), nodes: nodes, token: Self.token(expiresIn: 3600), makeBeforeBreak: setup.makeBeforeBreak,
            resumesAcrossRestarts: setup.leavesStaleSessions, leavesStaleSessions: setup.leavesStaleSessions,
            refreshesCredentials: setup.refreshesCredentials)
    }

    static func token(expiresIn seconds: Int?) -> String {
        guard let seconds else { return "opaque-token" }
        func encode(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        return encode(#"{"alg":"HS256"}"#) + "." + encode(#"{"exp":\#(Int(Date().timeIntervalSince1970) + seconds)}"#) + ".sig"
    }

    mutating func pickInput(_ random: inout SplitMix64) -> FuzzInput {
        let strategies: [ReconnectStrategy?] = [nil, .fast, .rejoin, .migrate, .disconnect]
        // Most first joins succeed, so most sessions live long enough to reconnect.
        if machine.inFlight?.plan.isFirstJoin == true, random.next(10) < 8 { return .joined(reconnected: false, window: [nil, 5][random.next(2)]) }
        switch random.next(100) {
        case 0..<12: return .advance(milliseconds: [1, 50, 300, 2_000, 11_000, 31_000][random.next(6)])
        case 12..<27: return .joined(reconnected: random.next(3) != 0, window: [nil, 0, 5, 600][random.next(4)])
        case 27..<39:
            return .failed(
                step: AttemptStep.allCases[random.next(AttemptStep.allCases.count)], strategy: strategies[random.next(strategies.count)],
                nodeRefused: random.next(5) == 0)
        case 39..<41: return .ruledOut
        case 41..<43: return .staleJoin(back: UInt64(1 + random.next(3)))
        case 43..<53: return .loss
        case 53..<65:
            let notices: [FuzzNotice] = [.error(strategies[random.next(strategies.count)]), .goAway, .callEnded, .removed, .suppressed, .participant]
            return .notice(notices[random.next(notices.count)], generation: [.current, .current, .inFlight, .old][random.next(4)])
        case 65..<80:
            let timers: [Reconnector.Timer] = [.deadline, .retry, .fastWindow, .credentialsExpiry]
            return .fire(timers[random.next(timers.count)], early: random.next(5) == 0)
        case 80..<82: return .leave
        case 82..<89: return .migrate(target: random.next(3) == 0 ? nil : random.next(setup.nodes + 1), from: random.next(3) == 0 ? random.next(setup.nodes) : nil)
        case 89..<94: return .credentials(api: random.next(2) == 0, urls: random.next(3) == 0 ? 1 + random.next(3) : nil, expiresIn: [nil, 30, 3600][random.next(3)])
        case 94..<96: return .refreshFailed
        default: return .staleDestroyed
        }
    }

    /// Applies `input`; the invariant it broke, if any.
    mutating func apply(_ input: FuzzInput) -> String? {
        let wasTerminal = machine.state.isTerminal
        let before = machine.state
        let generationBefore = machine.generation
        var lossOfCurrent = false
        var actions: [Reconnector.Action] = []
        if !begun {
            begun = true
            actions += setup.resumes
                ? machine.resumeAfterRestart(
                    sfuSessionID: "s0", sfuURL: machine.nodes[0], counters: SessionCounters(), now: now, wallNow: Date(), unitRandom: 0.5)
                : machine.start(callID: "c", userID: "u", now: now, wallNow: Date(), unitRandom: 0.5)
            if let problem = absorb(actions) { return "\(problem) (at the start)" }
            actions = []
        }
        switch input {
        case .advance(let milliseconds):
            now += .milliseconds(milliseconds)
        case .joined(let reconnected, let window):
            guard let id = machine.attemptInFlight else { break }
            actions = machine.joinFinished(attempt: id, result: .joined(JoinAnswer(
                sfuSessionID: "s\(id.value)", reconnected: reconnected, fastReconnectWindow: window.map { .seconds($0) },
                participantCount: 1)), now: now, unitRandom: 0.5)
            if machine.attemptInFlight != id { attempts.remove(id) }
        case .failed(let step, let strategy, let nodeRefused):
            guard let id = machine.attemptInFlight else { break }
            actions = machine.joinFinished(
                attempt: id, result: .failed(.init(step: step, message: "fuzz", sfuStrategy: strategy, nodeRefused: nodeRefused)),
                now: now, unitRandom: 0.5)
            if machine.attemptInFlight != id { attempts.remove(id) }
        case .ruledOut:
            // The executor rules out FAST attempts only.
            guard let id = machine.attemptInFlight, machine.inFlight?.plan.strategy == .fast, machine.inFlight?.plan.isFirstJoin == false else { break }
            actions = machine.joinFinished(attempt: id, result: .fastRuledOut(reason: "node_restarted"), now: now, unitRandom: 0.5)
            if machine.attemptInFlight != id { attempts.remove(id) }
        case .staleJoin(let back):
            guard lastMinted > back else { break }
            let id = AttemptID(lastMinted - back)
            guard id != machine.attemptInFlight else { break }
            actions = machine.joinFinished(
                attempt: id, result: .joined(JoinAnswer(sfuSessionID: "late", reconnected: true, fastReconnectWindow: nil, participantCount: 1)),
                now: now, unitRandom: 0.5)
            if actions.contains(where: { if case .close(id.generation, _) = $0 { false } else { true } }) {
                return "a stale attempt's join did more than close its socket: \(actions)"
            }
        case .loss:
            lossOfCurrent = true
            actions = machine.noticeReceived(
                GenerationNotice(generation: machine.generation, kind: .lost(reason: .unexpectedClose, closeCode: 1006, detail: nil, lastContact: now)),
                now: now)
        case .notice(let notice, let which):
            let generation: GenerationID
            switch which {
            case .current: generation = machine.generation
            case .inFlight: generation = machine.attemptInFlight?.generation ?? machine.generation
            case .old: generation = GenerationID(machine.generation.value == 0 ? 0 : machine.generation.value - 1)
            }
            let kind: GenerationNotice.Kind
            switch notice {
            case .error(let strategy): kind = .signal(.sfuError(SFUError(code: "1", message: "fuzz", strategy: strategy)))
            case .goAway: kind = .signal(.goAway(reason: "rebalance"))
            case .callEnded: kind = .signal(.callEnded(reason: "ended"))
            case .removed: kind = .signal(.removed(code: "kicked", message: "fuzz"))
            case .suppressed: kind = .suppressed(count: 3)
            case .participant: kind = .signal(.participantJoined(userID: "x", sessionID: "y"))
            }
            actions = machine.noticeReceived(GenerationNotice(generation: generation, kind: kind), now: now)
        case .fire(let timer, let early):
            guard let due = timers[timer] else {
                // A stale fire (cancelled or never armed): must change nothing.
                let stale = machine.timerFired(timer, now: now, unitRandom: 0.5)
                if !stale.isEmpty, timer != .retry { return "a timer that was not armed acted: \(timer) → \(stale)" }
                actions = stale
                break
            }
            if !early { now = max(now, due) }
            timers[timer] = nil
            actions = machine.timerFired(timer, now: now, unitRandom: 0.5)
        case .leave:
            actions = machine.leaveRequested(reason: "requested", now: now)
        case .migrate(let target, let from):
            let url = { (index: Int) in index < machine.nodes.count ? machine.nodes[index] : "ws://elsewhere/ws" }
            actions = machine.migrationRequested(to: target.map(url), onlyFrom: from.map(url), now: now).actions
        case .credentials(let api, let urls, let expiresIn):
            actions = machine.credentialsChanged(
                token: Self.token(expiresIn: expiresIn), urls: urls.map { count in (0..<count).map { "ws://m\($0)/ws" } },
                origin: api ? .api : .endpoint(reason: "rejoin"), now: now, wallNow: Date(), unitRandom: 0.5)
        case .refreshFailed:
            actions = machine.credentialsRefreshFailed(reason: "rejoin", error: "fuzz")
        case .staleDestroyed:
            actions = machine.staleSessionDestroyed(sfuURL: "ws://n0/ws", sfuSessionID: "s0")
        }
        if let problem = absorb(actions) { return problem }
        if wasTerminal {
            let allowed = actions.allSatisfy { action in
                switch action {
                case .close, .emit(.staleSessionDestroyed): true
                default: false
                }
            }
            if !allowed || machine.state != before { return "a terminal state did not absorb \(input): \(actions)" }
        }
        if lossOfCurrent, before == .joined {
            let answered = actions.contains { action in
                switch action {
                case .emit(.reconnectStarted), .emit(.triggerMerged): true
                default: false
                }
            } || machine.state.isTerminal
            if !answered { return "a loss of generation \(generationBefore) went unanswered: \(actions)" }
        }
        return checkInvariants()
    }

    /// Follows the actions: attempts started and cancelled, timers armed and cancelled,
    /// events counted.
    private mutating func absorb(_ actions: [Reconnector.Action]) -> String? {
        for action in actions {
            switch action {
            case .startAttempt(let id, _):
                if minted.contains(id) { return "attempt id \(id) minted twice" }
                if id.value <= lastMinted { return "attempt id \(id) after \(lastMinted): ids go up" }
                minted.insert(id)
                lastMinted = id.value
                attempts.insert(id)
                if attempts.count > 1 { return "two attempts run at once: \(attempts)" }
            case .cancelAttempt(let id):
                attempts.remove(id)
            case .armTimer(let timer, let instant):
                if instant > now + .seconds(366 * 86_400) { return "\(timer) armed past a year" }
                timers[timer] = instant
            case .cancelTimer(let timer):
                timers[timer] = nil
            case .emit(.connectionLost): counted.losses += 1
            case .emit(.reconnected): counted.reconnects += 1
            case .emit(.reconnectFailed): counted.failedReconnects += 1
            default: break
            }
        }
        return nil
    }

    private func checkInvariants() -> String? {
        if counted != machine.counters { return "counters \(machine.counters) but events say \(counted)" }
        if let id = machine.attemptInFlight, !attempts.contains(id) { return "the machine's attempt \(id) was never started" }
        if machine.attemptInFlight == nil, !attempts.isEmpty { return "attempts \(attempts) outstanding with none in flight" }
        switch machine.state {
        case .connecting, .reconnecting, .migrating:
            let outstanding = machine.attemptInFlight != nil || timers[.retry] != nil
            if !outstanding { return "\(machine.state) with no attempt and no retry timer outstanding" }
            if machine.state != .connecting, timers[.deadline] == nil { return "\(machine.state) without a deadline armed" }
        case .joined:
            if machine.attemptInFlight != nil, timers[.deadline] == nil { return "an attempt runs from joined without a deadline" }
        case .left, .failed, .ended:
            if !attempts.isEmpty { return "\(machine.state) with attempts still running" }
            if timers.keys.contains(where: { $0 != .credentialsExpiry }) || timers[.credentialsExpiry] != nil {
                return "\(machine.state) with timers armed: \(timers.keys)"
            }
            if machine.endReason == nil || machine.endReason?.state != machine.state { return "\(machine.state) with end reason \(String(describing: machine.endReason))" }
        }
        return nil
    }

    /// The shortest sub-sequence of `inputs` that still breaks an invariant (greedy:
    /// drop one input at a time while the failure remains).
    static func shrink(setup: FuzzSetup, inputs: [FuzzInput]) -> [FuzzInput] {
        func fails(_ candidate: [FuzzInput]) -> Bool {
            var world = FuzzWorld(setup: setup)
            return candidate.contains { world.apply($0) != nil }
        }
        var current = inputs
        var index = 0
        while index < current.count {
            var candidate = current
            candidate.remove(at: index)
            if fails(candidate) { current = candidate } else { index += 1 }
        }
        return current
    }
}
