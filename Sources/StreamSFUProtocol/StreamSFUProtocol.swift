// Short names for the generated Stream SFU messages. The generated files
// (`*.pb.swift`) come from `protos/*.proto` through `scripts/generate-protos`.

public typealias SfuRequest = Stream_Video_Sfu_Event_SfuRequest
public typealias SfuEvent = Stream_Video_Sfu_Event_SfuEvent
public typealias SfuJoinRequest = Stream_Video_Sfu_Event_JoinRequest
public typealias SfuJoinResponse = Stream_Video_Sfu_Event_JoinResponse
public typealias SfuReconnectDetails = Stream_Video_Sfu_Event_ReconnectDetails
public typealias SfuMigration = Stream_Video_Sfu_Event_Migration
public typealias SfuErrorEvent = Stream_Video_Sfu_Event_Error
public typealias SfuGoAway = Stream_Video_Sfu_Event_GoAway
public typealias SfuCallEnded = Stream_Video_Sfu_Event_CallEnded
public typealias SfuLeaveCallRequest = Stream_Video_Sfu_Event_LeaveCallRequest
public typealias SfuHealthCheckRequest = Stream_Video_Sfu_Event_HealthCheckRequest
public typealias SfuHealthCheckResponse = Stream_Video_Sfu_Event_HealthCheckResponse
public typealias SfuParticipantJoined = Stream_Video_Sfu_Event_ParticipantJoined
public typealias SfuParticipantLeft = Stream_Video_Sfu_Event_ParticipantLeft
public typealias SfuParticipant = Stream_Video_Sfu_Models_Participant
public typealias SfuError = Stream_Video_Sfu_Models_Error
public typealias SfuErrorCode = Stream_Video_Sfu_Models_ErrorCode
public typealias SfuReconnectStrategy = Stream_Video_Sfu_Models_WebsocketReconnectStrategy
public typealias SfuGoAwayReason = Stream_Video_Sfu_Models_GoAwayReason
public typealias SfuCallEndedReason = Stream_Video_Sfu_Models_CallEndedReason
