import Foundation
import StreamSFUProtocol
import Testing
@testable import TetherEngine
import TetherEvents

/// Every number an SFU sends is read through ``PeerLimits`` before it becomes a
/// `Duration`: one table per site, with the values a hostile peer would pick.
@Suite(.timeLimit(.minutes(1))) struct PeerLimitsTests {
    /// A JSON number as `JSONSerialization` hands it over.
    func number(_ json: String) throws -> Any {
        let object = try JSONSerialization.jsonObject(with: Data(#"{"v": \#(json)}"#.utf8)) as? [String: Any]
        return try #require(object?["v"])
    }

    @Test(arguments: [
        ("30", 30 as Int64?, false),
        ("0", 0, false),
        ("600", 600, false),
        ("601", 600, true),
        ("9223372036854775807", 600, true),
        ("18446744073709551615", 600, true),
        ("99999999999999999999999", 600, true),
        ("1e300", 600, true),
        ("-1", nil, true),
        ("-9223372036854775808", nil, true),
        ("-1e300", nil, true),
        ("1.5", 1, false),
        ("\"30\"", nil, true),
        ("true", nil, true),
        ("null", nil, false),
    ])
    func aWindowIsClampedIntoItsRange(json: String, expected: Int64?, problem: Bool) throws {
        let read = PeerLimits.seconds(try number(json), field: "reclaim-session-timeout", range: 0...600)
        #expect(read.value == expected, "\(json)")
        #expect((read.problem != nil) == problem, "\(json): \(read.problem ?? "no problem")")
        if let value = read.value {
            // What the engine then does with it must not trap.
            let instant = ContinuousClock.now + .seconds(value)
            #expect(instant > ContinuousClock.now - .seconds(1))
        }
    }

    @Test func aMissingFieldIsNoProblem() {
        #expect(PeerLimits.seconds(nil, field: "x", range: 0...10) == .init(value: nil, problem: nil))
    }

    @Test func aStreamDeadlineIsClamped() throws {
        var codec = StreamCodec()
        _ = try codec.encode(.join(JoinParameters(token: "t", callID: "c", userID: "u")))
        for (seconds, window, problem) in [(Int32.max, Int64(600), true), (30, 30, false), (-5, nil, false), (0, nil, false)] {
            var event = SfuEvent()
            event.joinResponse.fastReconnectDeadlineSeconds = seconds
            let outputs = try codec.decode(.binary(try event.serializedBytes()))
            guard case .event(.joinAccepted(let answer)) = outputs.first else {
                Issue.record("no join answer for \(seconds)")
                continue
            }
            #expect(answer.fastReconnectWindow == window.map { .seconds($0) }, "\(seconds)")
            #expect(answer.valueProblems.isEmpty == !problem, "\(seconds): \(answer.valueProblems)")
        }
    }

    @Test func aPeersIDLongerThanAnIDIsNotKept() {
        #expect(PeerLimits.id("12345") == "12345")
        #expect(PeerLimits.id(String(repeating: "x", count: 257)) == nil)
        #expect(PeerLimits.id(nil) == nil)
    }

    /// The crash of issue 19: a window of Int64.max seconds reached `lastContact + window`
    /// and trapped in the timer. The machine bounds it whoever decoded it.
    @Test func theReconnectorBoundsAnAbsurdWindowBeforeItBecomesATimer() {
        let now = ContinuousClock.now
        var machine = Reconnector(policy: .default, nodes: ["ws://a/ws"])
        let joined = machine.initialJoinSucceeded(
            sfuSessionID: "s1", fastReconnectWindow: .seconds(Int64.max / 4),
            valueProblems: ["reclaim-session-timeout 9223372036854775807 is above 600 s; clamped to 600 s"])
        #expect(joined.contains(.emit(.sfuError(
            code: "bad_value", message: "reclaim-session-timeout 9223372036854775807 is above 600 s; clamped to 600 s", strategy: nil))))
        let actions = machine.connectionLost(
            reason: .unexpectedClose, closeCode: 1006, detail: nil, lastContact: now, now: now)
        for case .armTimer(let timer, let instant) in actions {
            #expect(instant <= now + .seconds(PeerLimits.maxFastReconnectWindowSeconds), "\(timer) armed past the bound")
        }
        #expect(actions.contains(.armTimer(.fastWindow, at: now + .seconds(600))))
    }
}
