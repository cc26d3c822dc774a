import Foundation
import StreamSFUProtocol
import SwiftProtobuf
import Testing
import TetherTestSupport
@testable import TetherEngine
import TetherEvents

/// A seeded generator of hostile SFU frames for both dialects' decoders: valid frames
/// with extreme numbers and huge strings, mutated bytes, and Janus replies that follow a
/// join's transactions so the codec is driven deep into its states. No input may trap,
/// and whatever the decoders accept comes out bounded.
///
/// Runs for a bounded time (and input count) in every `scripts/test`, in a pass of its
/// own (it keeps a core busy for its whole budget); a failure prints
/// the seed, which `TETHER_FUZZ_SEED` replays.
@Suite(.serialized, .timeLimit(.minutes(2))) struct DecoderFuzzTests {
    static let inputsPerDialect = 150_000
    static let timeBudgetPerDialect: Duration = .seconds(15)

    var seed: UInt64 {
        ProcessInfo.processInfo.environment["TETHER_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
    }

    @Test func streamFramesNeverTrap() throws {
        let seed = self.seed
        var random = SplitMix64(seed: seed)
        var codec = StreamCodec()
        _ = try codec.encode(.join(JoinParameters(token: "t", callID: "c", userID: "u")))
        let deadline = ContinuousClock.now + Self.timeBudgetPerDialect
        var decoded = 0
        var inputs = 0
        while inputs < Self.inputsPerDialect, ContinuousClock.now < deadline {
            inputs += 1
            var bytes: [UInt8] = try Self.streamEvent(&random).serializedBytes()
            Self.mutate(&bytes, &random)
            let frame: WireFrame = random.next(100) < 3 ? .text(String(decoding: bytes, as: UTF8.self)) : .binary(bytes)
            guard let outputs = try? codec.decode(frame) else { continue }
            decoded += 1
            try Self.checkBounded(outputs, seed: seed)
        }
        print("stream decoder fuzz: seed \(seed), \(inputs) inputs, \(decoded) decoded")
        #expect(decoded > 0, "the generator produced nothing decodable (seed \(seed))")
    }

    @Test func janusRepliesNeverTrap() throws {
        let seed = self.seed
        var random = SplitMix64(seed: seed)
        let dialect = JanusDialect(room: .number(1234), display: "agent", createRoom: true, pin: "p")
        let deadline = ContinuousClock.now + Self.timeBudgetPerDialect
        var inputs = 0
        var decoded = 0
        var joins = 0
        while inputs < Self.inputsPerDialect, ContinuousClock.now < deadline {
            // A join (create, claim or cleanup), then up to 40 hostile replies on its transactions.
            var codec = JanusCodec(dialect: dialect)
            let goal = random.next(3)
            let parameters = JoinParameters(
                token: "t", callID: "c", userID: "u",
                resumeSessionID: goal == 1 ? "11:22:33" : nil, staleSessionID: random.next(2) == 0 ? "44:55" : nil,
                cleanupOnly: goal == 2)
            var transactions = Self.transactions(in: try codec.encode(.join(parameters)))
            for _ in 0..<40 where inputs < Self.inputsPerDialect {
                inputs += 1
                let text = Self.janusReply(to: transactions.randomElement(using: &random), &random)
                guard let outputs = try? codec.decode(.text(text)) else { continue }
                decoded += 1
                try Self.checkBounded(outputs, seed: seed)
                for case .send(let frame) in outputs { transactions += Self.transactions(in: [frame]) }
                if outputs.contains(where: { if case .event(.joinAccepted) = $0 { true } else { false } }) { joins += 1 }
                if random.next(10) == 0 { transactions += Self.transactions(in: (try? codec.encode(.healthCheck)) ?? []) }
            }
            _ = try? codec.encode(.leave(sessionID: "11:22", reason: "fuzz"))
        }
        print("janus decoder fuzz: seed \(seed), \(inputs) inputs, \(decoded) decoded, \(joins) joins accepted")
        #expect(decoded > 0, "the generator produced nothing decodable (seed \(seed))")
    }

    // MARK: - Invariants

    static func checkBounded(_ outputs: [CodecOutput], seed: UInt64) throws {
        for case .event(.joinAccepted(let answer)) in outputs {
            if let window = answer.fastReconnectWindow {
                #expect(window >= .zero && window <= .seconds(PeerLimits.maxFastReconnectWindowSeconds), "window \(window) (seed \(seed))")
            }
            if let ceiling = answer.healthCheckCeiling {
                #expect(ceiling > .zero && ceiling <= .seconds(PeerLimits.maxSessionTimeoutSeconds), "ceiling \(ceiling) (seed \(seed))")
            }
            #expect(answer.sfuSessionID.utf8.count <= 3 * 21 + PeerLimits.maxIDLength, "session id of \(answer.sfuSessionID.utf8.count) bytes (seed \(seed))")
        }
    }

    // MARK: - Stream inputs

    static let extremeInt32: [Int32] = [0, 1, -1, 30, 600, 601, Int32.max, Int32.min]

    static func streamEvent(_ random: inout SplitMix64) -> SfuEvent {
        var event = SfuEvent()
        switch random.next(8) {
        case 0:
            event.joinResponse.reconnected = random.next(2) == 0
            event.joinResponse.fastReconnectDeadlineSeconds = extremeInt32.randomElement(using: &random)!
            event.joinResponse.callState.participantCount.total = UInt32.random(in: 0...UInt32.max, using: &random)
        case 1:
            event.error.error.code = SfuErrorCode(rawValue: Int(extremeInt32.randomElement(using: &random)!)) ?? .unspecified
            event.error.error.message = text(&random)
            event.error.reconnectStrategy = SfuReconnectStrategy(rawValue: random.next(7)) ?? .unspecified
        case 2: event.goAway.reason = SfuGoAwayReason(rawValue: random.next(5)) ?? .unspecified
        case 3: event.callEnded.reason = SfuCallEndedReason(rawValue: random.next(7)) ?? .unspecified
        case 4:
            event.participantJoined.participant.userID = text(&random)
            event.participantJoined.participant.sessionID = text(&random)
        case 5: event.participantLeft.participant.sessionID = text(&random)
        case 6: event.healthCheckResponse = SfuHealthCheckResponse()
        default: break
        }
        return event
    }

    /// Flips, cuts, splices or repeats bytes, or leaves the frame valid.
    static func mutate(_ bytes: inout [UInt8], _ random: inout SplitMix64) {
        switch random.next(6) {
        case 0: return
        case 1:
            for _ in 0...random.next(8) where !bytes.isEmpty { bytes[random.next(bytes.count)] ^= UInt8(1 << random.next(8)) }
        case 2: bytes = Array(bytes.prefix(random.next(bytes.count + 1)))
        case 3:
            let junk = (0..<random.next(64)).map { _ in UInt8(random.next(256)) }
            bytes.insert(contentsOf: junk, at: random.next(bytes.count + 1))
        case 4: bytes = bytes + bytes
        default: bytes = (0..<random.next(256)).map { _ in UInt8(random.next(256)) }
        }
    }

    static func text(_ random: inout SplitMix64) -> String {
        switch random.next(40) {
        case 0: return String(repeating: "x", count: random.next(100_000))
        case 1, 2: return String(repeating: "\u{0}\"\\😀", count: random.next(1000))
        case 3, 4: return ""
        default: return "t\(random.next(1000))"
        }
    }

    // MARK: - Janus inputs

    static func transactions(in frames: [WireFrame]) -> [String] {
        frames.compactMap { frame in
            guard case .text(let text) = frame,
                  let message = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
            else { return nil }
            return message["transaction"] as? String
        }
    }

    static let numbers = [
        "0", "1", "-1", "3", "30", "60", "600", "601", "9223372036854775807", "-9223372036854775808",
        "18446744073709551615", "99999999999999999999999", "1e300", "-1e300", "1.5", "4.9e-324", "426", "427", "458", "472", "403",
    ]
    static let kinds = ["success", "error", "ack", "event", "server_info", "timeout", "detached", "hangup", "webrtcup", "media", "x"]
    static let dataKeys = [
        "videoroom", "error_code", "error", "id", "publishers", "attendees", "participants", "joining", "leaving",
        "kicked", "reason", "display", "room",
    ]

    static func value(_ random: inout SplitMix64, depth: Int = 0) -> String {
        switch random.next(depth > 2 ? 4 : 7) {
        case 0: return numbers.randomElement(using: &random)!
        case 1: return "\"" + ["joined", "destroyed", "event", "ok", "kicked", "participants", "created", "x"].randomElement(using: &random)! + "\""
        case 2: return ["true", "false", "null"].randomElement(using: &random)!
        case 3 where random.next(10) == 0:
            let repeated = String(repeating: ["a", "\\u0000", "\\\"", "é"].randomElement(using: &random)!, count: random.next(20_000))
            return "\"\(repeated)\""
        case 4: return "[" + (0..<random.next(4)).map { _ in value(&random, depth: depth + 1) }.joined(separator: ",") + "]"
        default: return object(&random, depth: depth + 1)
        }
    }

    static func object(_ random: inout SplitMix64, depth: Int) -> String {
        let fields = (0..<random.next(5)).map { _ in "\"\(dataKeys.randomElement(using: &random)!)\":\(value(&random, depth: depth))" }
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func janusReply(to transaction: String?, _ random: inout SplitMix64) -> String {
        if random.next(20) == 0 { return ["", "{", "[]", "null", "\"janus\"", "{\"janus\":5}"].randomElement(using: &random)! }
        var fields = ["\"janus\":\"\(kinds.randomElement(using: &random)!)\""]
        if let transaction, random.next(8) != 0 { fields.append("\"transaction\":\"\(transaction)\"") }
        for key in ["session-timeout", "reclaim-session-timeout", "sender", "session_id"] where random.next(3) == 0 {
            fields.append("\"\(key)\":\(numbers.randomElement(using: &random)!)")
        }
        if random.next(2) == 0 { fields.append("\"data\":{\"id\":\(value(&random))}") }
        if random.next(2) == 0 {
            fields.append("\"error\":{\"code\":\(numbers.randomElement(using: &random)!),\"reason\":\(value(&random))}")
        }
        if random.next(2) == 0 {
            fields.append("\"plugindata\":{\"plugin\":\"janus.plugin.videoroom\",\"data\":\(object(&random, depth: 0))}")
        }
        return "{" + fields.shuffled(using: &random).joined(separator: ",") + "}"
    }
}
