import StreamSFUProtocol
import SwiftProtobuf
import Testing
@testable import TetherEngine
import TetherEvents

@Suite(.timeLimit(.minutes(1))) struct StreamCodecTests {
    func request(_ frames: [WireFrame]) throws -> SfuRequest {
        guard frames.count == 1, case .binary(let bytes) = frames[0] else {
            throw UndecodableFrame(dialect: "test", detail: "expected one binary frame")
        }
        return try SfuRequest(serializedBytes: bytes)
    }

    func frame(_ event: SfuEvent) throws -> WireFrame { .binary(try event.serializedBytes()) }

    @Test func aFirstJoinCarriesTheTokenAndANewSessionID() throws {
        var codec = StreamCodec()
        let join = try request(codec.encode(.join(JoinParameters(token: "jwt", callID: "c", userID: "u")))).joinRequest
        #expect(join.token == "jwt")
        #expect(!join.sessionID.isEmpty)
        #expect(!join.fastReconnect)
        #expect(!join.hasReconnectDetails)
    }

    @Test func aFastJoinResumesTheSameSession() throws {
        var codec = StreamCodec()
        let parameters = JoinParameters(
            token: "jwt", callID: "c", userID: "u", resumeSessionID: "s1",
            reconnect: .init(strategy: .fast, attempt: 1, previousSessionID: "s1", fromSFU: nil, reason: "connection_lost"))
        let join = try request(codec.encode(.join(parameters))).joinRequest
        #expect(join.sessionID == "s1")
        #expect(join.fastReconnect)
        #expect(join.reconnectDetails.strategy == .fast)
        #expect(join.reconnectDetails.reconnectAttempt == 1)
        #expect(join.reconnectDetails.reason == "connection_lost")
    }

    @Test func aRejoinUsesANewSessionAndNamesThePreviousOne() throws {
        var codec = StreamCodec()
        let parameters = JoinParameters(
            token: "jwt", callID: "c", userID: "u",
            reconnect: .init(strategy: .rejoin, attempt: 2, previousSessionID: "s1", fromSFU: nil, reason: "connection_lost"))
        let join = try request(codec.encode(.join(parameters))).joinRequest
        #expect(join.sessionID != "s1")
        #expect(!join.fastReconnect)
        #expect(join.reconnectDetails.strategy == .rejoin)
        #expect(join.reconnectDetails.previousSessionID == "s1")
    }

    @Test func aMigrationNamesTheNodeBeingLeft() throws {
        var codec = StreamCodec()
        let parameters = JoinParameters(
            token: "jwt", callID: "c", userID: "u",
            reconnect: .init(strategy: .migrate, attempt: 1, previousSessionID: "s1", fromSFU: "ws://a/ws", reason: "go_away"))
        let join = try request(codec.encode(.join(parameters))).joinRequest
        #expect(join.migration.fromSfuID == "ws://a/ws")
        #expect(join.reconnectDetails.fromSfuID == "ws://a/ws")
        #expect(join.reconnectDetails.strategy == .migrate)
    }

    @Test func theJoinAnswerCarriesTheSessionAndTheFastDeadline() throws {
        var codec = StreamCodec()
        let join = try request(codec.encode(.join(JoinParameters(token: "t", callID: "c", userID: "u")))).joinRequest
        var event = SfuEvent()
        event.joinResponse.reconnected = false
        event.joinResponse.fastReconnectDeadlineSeconds = 7
        event.joinResponse.callState.participantCount.total = 3
        let outputs = try codec.decode(frame(event))
        #expect(outputs == [.event(.joinAccepted(JoinAnswer(
            sfuSessionID: join.sessionID, reconnected: false, fastReconnectWindow: .seconds(7), participantCount: 3)))])
    }

    @Test func errorsCarryCodeMessageAndStrategy() throws {
        var codec = StreamCodec()
        var event = SfuEvent()
        event.error.error.code = .participantReconnectFailed
        event.error.error.message = "gone"
        event.error.reconnectStrategy = .rejoin
        #expect(try codec.decode(frame(event)) == [.event(.sfuError(SFUError(
            code: "PARTICIPANT_RECONNECT_FAILED", message: "gone", strategy: .rejoin, sessionUnknown: true)))])
    }

    @Test func unknownFieldsAreSkipped() throws {
        var codec = StreamCodec()
        var event = SfuEvent()
        event.healthCheckResponse.participantCount.total = 2
        var bytes: [UInt8] = try event.serializedBytes()
        // Field 14 (health_check_response) then an unknown varint field 99 at the top level.
        bytes += [0x98, 0x06, 0x01]
        #expect(try codec.decode(.binary(bytes)) == [.event(.healthCheckAnswered)])
    }

    @Test func unknownEventsAreSkipped() throws {
        var codec = StreamCodec()
        // Field 40, length-delimited, two bytes: an SfuEvent case this build does not know.
        let bytes: [UInt8] = [0xC2, 0x02, 0x02, 0x08, 0x01]
        #expect(try codec.decode(.binary(bytes)).isEmpty)
    }

    @Test func garbageIsAnUndecodableFrame() {
        var codec = StreamCodec()
        #expect(throws: UndecodableFrame.self) { try codec.decode(.binary([0xFF, 0xFF, 0xFF, 0xFF, 0x0F])) }
        #expect(throws: UndecodableFrame.self) { try codec.decode(.text("{}")) }
    }
}
