import NIOCore
import StreamSFUProtocol

#if canImport(Glibc)
import Glibc
#endif

extension SFUSimulator {
    /// CLOCK_BOOTTIME in nanoseconds: one clock for every process on the machine, so a
    /// benchmark can compare when the simulator dropped a socket with when a client
    /// noticed.
    public static func bootTimeNanoseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_BOOTTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }

    struct UnknownValue: Error, CustomStringConvertible {
        var description: String
    }

    /// Produces `fault` on every connection, or only on `session`'s. Returns how many
    /// connections it touched.
    @discardableResult
    public func inject(_ fault: SimulatorFault, session: String? = nil) throws -> Int {
        let targets = registry.withLockedValue { registry -> [ParticipantLink] in
            if let session {
                guard let link = registry.sessions[session]?.link, let target = registry.links[link] else { return [] }
                return [target]
            }
            return Array(registry.links.values)
        }
        switch fault {
        case .drop(let reset):
            for link in targets { link.drop(reset: reset) }
        case .close(let code, let reason):
            for link in targets { link.close(code: code, reason: reason) }
        case .freezeHealthChecks(let milliseconds):
            registry.withLockedValue { $0.healthFrozenUntil = .now() + .milliseconds(Int64(milliseconds)) }
        case .error(let code, let message, let strategy):
            let event = Self.errorEvent(SfuErrorCode(rawValue: code) ?? .UNRECOGNIZED(code), message, strategy: try Self.strategy(strategy))
            for link in targets { link.send(event) }
        case .goAway(let reason):
            var event = SfuEvent()
            event.goAway.reason = try Self.goAwayReason(reason)
            for link in targets { link.send(event) }
        case .callEnded(let reason):
            var event = SfuEvent()
            event.callEnded.reason = try Self.callEndedReason(reason)
            for link in targets { link.send(event) }
        case .garbage(let closeCode):
            // 0xFF is field 31 with wire type 7, which does not exist: never a valid SfuEvent.
            for link in targets {
                link.sendBinary([0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
                if let closeCode { link.close(code: closeCode, reason: "after garbage") }
            }
        case .errorFlood(let count, let bytes):
            let event = Self.errorEvent(.internalServerError, String(repeating: "e", count: bytes), strategy: .unspecified)
            let frame: [UInt8] = try event.serializedBytes()
            for link in targets { link.flood(opcode: .binary, payload: frame, count: count) }
        case .pingFlood(let count):
            for link in targets {
                link.stopReading()
                link.flood(opcode: .ping, payload: [UInt8](repeating: 0x70, count: 125), count: count)
            }
        case .forgetSessions:
            let links = registry.withLockedValue { registry -> [ParticipantLink] in
                registry.sessions.removeAll()
                registry.calls.removeAll()
                registry.linkSessions.removeAll()
                return Array(registry.links.values)
            }
            for link in links { link.drop(reset: false) }
            return links.count
        case .dropAfterJoin(let count, let milliseconds):
            registry.withLockedValue {
                $0.joinsToDropAfter = count
                $0.dropAfterJoinMilliseconds = milliseconds
            }
        case .delayJoins(let count, let milliseconds):
            registry.withLockedValue {
                $0.joinsToDelay = count
                $0.joinDelayMilliseconds = milliseconds
            }
        case .rejectJoins(let count, let code, let strategy):
            let sfuStrategy = try Self.strategy(strategy)
            registry.withLockedValue {
                $0.joinsToReject = count
                $0.rejectCode = SfuErrorCode(rawValue: code) ?? .UNRECOGNIZED(code)
                $0.rejectStrategy = sfuStrategy
            }
        }
        return targets.count
    }

    static func strategy(_ name: String?) throws -> SfuReconnectStrategy {
        switch name?.lowercased() {
        case nil, "", "unspecified": .unspecified
        case "fast": .fast
        case "rejoin": .rejoin
        case "migrate": .migrate
        case "disconnect": .disconnect
        case let other?: throw UnknownValue(description: "unknown strategy '\(other)' (fast, rejoin, migrate, disconnect)")
        }
    }

    static func goAwayReason(_ name: String) throws -> SfuGoAwayReason {
        switch name.lowercased() {
        case "", "unspecified": .unspecified
        case "shutting_down": .shuttingDown
        case "rebalance": .rebalance
        default: throw UnknownValue(description: "unknown go_away reason '\(name)' (shutting_down, rebalance)")
        }
    }

    static func callEndedReason(_ name: String) throws -> SfuCallEndedReason {
        switch name.lowercased() {
        case "", "unspecified": .unspecified
        case "ended": .ended
        case "live_ended": .liveEnded
        case "kicked": .kicked
        case "session_ended": .sessionEnded
        default: throw UnknownValue(description: "unknown call_ended reason '\(name)' (ended, live_ended, kicked, session_ended)")
        }
    }

    /// What the admin `GET /admin/state` shows.
    public struct State: Codable, Sendable, Equatable {
        public struct Session: Codable, Sendable, Equatable {
            public var sessionID: String
            public var callCID: String
            public var userID: String
            public var connected: Bool
            public var joinKind: String
            public var previousSessionID: String?
            public var migratedFrom: String?
            public var fastResumes: Int
            /// The `exp` of the token it last joined with (unix seconds).
            public var tokenExpiresAt: Int64?
            enum CodingKeys: String, CodingKey {
                case sessionID = "session_id", callCID = "call_cid", userID = "user_id", connected
                case joinKind = "join_kind", previousSessionID = "previous_session_id"
                case migratedFrom = "migrated_from", fastResumes = "fast_resumes", tokenExpiresAt = "token_exp"
            }
        }
        public var nodeID: String
        public var connections: Int
        public var sessions: [Session]
        public var counters: Counters

        public struct Counters: Codable, Sendable, Equatable {
            public var connectionsAccepted: Int
            public var joins: Int
            public var fastResumes: Int
            public var fastRejected: Int
            public var rejectedJoins: Int
            public var leaves: Int
            public var healthChecksAnswered: Int
            public var healthChecksIgnored: Int
            public var peakJoinsPerSecond: Int
            public var peakConnectionsPerSecond: Int
            enum CodingKeys: String, CodingKey {
                case connectionsAccepted = "connections_accepted", joins, fastResumes = "fast_resumes"
                case fastRejected = "fast_rejected", rejectedJoins = "rejected_joins", leaves
                case healthChecksAnswered = "health_checks_answered", healthChecksIgnored = "health_checks_ignored"
                case peakJoinsPerSecond = "peak_joins_per_second", peakConnectionsPerSecond = "peak_connections_per_second"
            }
        }
        enum CodingKeys: String, CodingKey {
            case nodeID = "node_id", connections, sessions, counters
        }
    }

    /// Every agent's joined spans (`GET /admin/participants`): whether a call ever
    /// showed one agent twice.
    public struct Participants: Codable, Sendable, Equatable {
        /// Joins made while another socket of the same agent was still joined.
        public var overlaps: Int
        /// Agents with a socket joined now.
        public var live: Int
        /// Spans by lineage (the first SFU session id of the agent).
        public var lineages: [String: [ParticipantLedger.Span]]
    }

    public var participants: Participants {
        registry.withLockedValue {
            Participants(overlaps: $0.participants.overlaps, live: $0.participants.live, lineages: $0.participants.spans)
        }
    }

    public var state: State {
        registry.withLockedValue { registry in
            let c = registry.counters
            return State(
                nodeID: configuration.nodeID,
                connections: registry.links.count,
                sessions: registry.sessions.values.sorted { $0.id < $1.id }.map {
                    .init(
                        sessionID: $0.id, callCID: $0.callCID, userID: $0.userID, connected: $0.link != nil,
                        joinKind: $0.joinKind, previousSessionID: $0.previousSessionID,
                        migratedFrom: $0.migratedFrom, fastResumes: $0.fastResumes, tokenExpiresAt: $0.tokenExpiresAt)
                },
                counters: .init(
                    connectionsAccepted: c.connectionsAccepted, joins: c.joins, fastResumes: c.fastResumes,
                    fastRejected: c.fastRejected, rejectedJoins: c.rejectedJoins, leaves: c.leaves,
                    healthChecksAnswered: c.healthChecksAnswered, healthChecksIgnored: c.healthChecksIgnored,
                    peakJoinsPerSecond: c.peakJoinsPerSecond, peakConnectionsPerSecond: c.peakConnectionsPerSecond))
        }
    }
}
