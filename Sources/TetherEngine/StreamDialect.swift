import Foundation
import StreamSFUProtocol
import SwiftProtobuf
import TetherEvents

/// The Stream Video SFU protocol: binary protobuf `SfuRequest` / `SfuEvent` frames.
public struct StreamDialect: SignalingDialect {
    /// Stream's SFU takes a MIGRATE join from a participant still connected elsewhere.
    public var supportsMakeBeforeBreak: Bool { true }

    public init() {}
    public var name: String { "stream" }
    public var webSocketSubprotocol: String? { nil }
    public func makeCodec() -> any SignalingCodec { StreamCodec() }
}

/// Per-connection state of the `stream` dialect: the session id the join carried.
struct StreamCodec: SignalingCodec {
    private var joinedSessionID: String?

    mutating func encode(_ request: SignalRequest) throws -> [WireFrame] {
        var message = SfuRequest()
        switch request {
        case .join(let parameters):
            let sessionID = parameters.resumeSessionID ?? UUID().uuidString.lowercased()
            joinedSessionID = sessionID
            message.joinRequest = Self.joinRequest(parameters, sessionID: sessionID)
        case .healthCheck:
            message.healthCheckRequest = SfuHealthCheckRequest()
        case .leave(let sessionID, let reason):
            var leave = SfuLeaveCallRequest()
            leave.sessionID = sessionID
            leave.reason = reason
            message.leaveCallRequest = leave
        }
        return [.binary(try message.serializedBytes())]
    }

    static func joinRequest(_ parameters: JoinParameters, sessionID: String) -> SfuJoinRequest {
        var join = SfuJoinRequest()
        join.token = parameters.token
        join.sessionID = sessionID
        join.clientDetails.sdk.major = "0"
        if let reconnect = parameters.reconnect {
            join.fastReconnect = reconnect.strategy == .fast
            var details = SfuReconnectDetails()
            details.strategy = SfuReconnectStrategy(reconnect.strategy)
            details.reconnectAttempt = UInt32(clamping: reconnect.attempt)
            details.previousSessionID = reconnect.previousSessionID ?? ""
            details.fromSfuID = reconnect.fromSFU ?? ""
            details.reason = reconnect.reason
            join.reconnectDetails = details
            if reconnect.strategy == .migrate, let from = reconnect.fromSFU {
                join.migration.fromSfuID = from
            }
        }
        return join
    }

    mutating func decode(_ frame: WireFrame) throws -> [CodecOutput] {
        guard case .binary(let bytes) = frame else {
            throw UndecodableFrame(dialect: "stream", detail: "text frame where a binary SfuEvent was expected")
        }
        let event: SfuEvent
        do {
            event = try SfuEvent(serializedBytes: bytes)
        } catch {
            throw UndecodableFrame(dialect: "stream", detail: "\(bytes.count) bytes are not an SfuEvent (\(error))")
        }
        // Unknown oneof cases decode as nil: the real SFU sends many more events.
        switch event.eventPayload {
        case .joinResponse(let response):
            let window = PeerLimits.fastReconnectWindow(
                seconds: Int64(response.fastReconnectDeadlineSeconds), field: "fast_reconnect_deadline_seconds")
            let answer = JoinAnswer(
                sfuSessionID: joinedSessionID ?? "",
                reconnected: response.reconnected,
                fastReconnectWindow: window.value.map { .seconds($0) },
                participantCount: Int(response.callState.participantCount.total),
                valueProblems: window.problem.map { [$0] } ?? []
            )
            return [.event(.joinAccepted(answer))]
        case .healthCheckResponse:
            return [.event(.healthCheckAnswered)]
        case .error(let error):
            let sfuError = SFUError(
                code: error.error.code.name,
                message: error.error.message,
                strategy: ReconnectStrategy(error.reconnectStrategy),
                sessionUnknown: error.error.code == .participantReconnectFailed,
                unauthenticated: error.error.code == .unauthenticated
            )
            return [.event(.sfuError(sfuError))]
        case .goAway(let goAway):
            return [.event(.goAway(reason: goAway.reason.name))]
        case .callEnded(let ended):
            return [.event(.callEnded(reason: ended.reason.name))]
        case .participantJoined(let joined):
            return [.event(.participantJoined(userID: joined.participant.userID, sessionID: joined.participant.sessionID))]
        case .participantLeft(let left):
            return [.event(.participantLeft(userID: left.participant.userID, sessionID: left.participant.sessionID))]
        case nil:
            return []
        }
    }
}

extension SfuReconnectStrategy {
    init(_ strategy: ReconnectStrategy) {
        switch strategy {
        case .fast: self = .fast
        case .rejoin: self = .rejoin
        case .migrate: self = .migrate
        case .disconnect: self = .disconnect
        }
    }
}

extension ReconnectStrategy {
    /// nil for UNSPECIFIED (and values this build does not know).
    init?(_ strategy: SfuReconnectStrategy) {
        switch strategy {
        case .fast: self = .fast
        case .rejoin: self = .rejoin
        case .migrate: self = .migrate
        case .disconnect: self = .disconnect
        case .unspecified, .UNRECOGNIZED: return nil
        }
    }
}

extension SfuErrorCode {
    /// The wire name without its `ERROR_CODE_` prefix, or the number when unknown.
    var name: String {
        switch self {
        case .unspecified: "UNSPECIFIED"
        case .participantNotFound: "PARTICIPANT_NOT_FOUND"
        case .participantMigratingOut: "PARTICIPANT_MIGRATING_OUT"
        case .participantMigrationFailed: "PARTICIPANT_MIGRATION_FAILED"
        case .participantMigrating: "PARTICIPANT_MIGRATING"
        case .participantReconnectFailed: "PARTICIPANT_RECONNECT_FAILED"
        case .participantSignalLost: "PARTICIPANT_SIGNAL_LOST"
        case .callNotFound: "CALL_NOT_FOUND"
        case .callParticipantLimitReached: "CALL_PARTICIPANT_LIMIT_REACHED"
        case .requestValidationFailed: "REQUEST_VALIDATION_FAILED"
        case .unauthenticated: "UNAUTHENTICATED"
        case .permissionDenied: "PERMISSION_DENIED"
        case .tooManyRequests: "TOO_MANY_REQUESTS"
        case .internalServerError: "INTERNAL_SERVER_ERROR"
        case .sfuShuttingDown: "SFU_SHUTTING_DOWN"
        case .sfuFull: "SFU_FULL"
        case .UNRECOGNIZED(let value): String(value)
        }
    }
}

extension SfuGoAwayReason {
    var name: String {
        switch self {
        case .unspecified: "unspecified"
        case .shuttingDown: "shutting_down"
        case .rebalance: "rebalance"
        case .UNRECOGNIZED(let value): String(value)
        }
    }
}

extension SfuCallEndedReason {
    var name: String {
        switch self {
        case .unspecified: "unspecified"
        case .ended: "ended"
        case .liveEnded: "live_ended"
        case .kicked: "kicked"
        case .sessionEnded: "session_ended"
        case .UNRECOGNIZED(let value): String(value)
        }
    }
}
