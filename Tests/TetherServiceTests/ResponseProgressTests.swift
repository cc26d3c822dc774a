import NIOCore
import Testing
@testable import TetherService

/// The machine behind the HTTP write timeout and the pipelining cap, driven by hand.
@Suite(.timeLimit(.minutes(1))) struct ResponseProgressTests {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
    func at(_ ms: Int64) -> NIODeadline { t0 + .milliseconds(ms) }

    @Test func writesThatCompleteNeverStall() {
        var progress = ResponseProgress(writeTimeout: .seconds(1), maxPipelined: 4, now: at(0))
        #expect(progress.writeStarted(now: at(0)) == at(250), "checks run four times per timeout")
        #expect(progress.writeStarted(now: at(10)) == nil, "one check chain per busy period")
        progress.writeFinished(now: at(900))
        #expect(progress.stallCheck(now: at(1000), buffered: 100) == .checkAgain(at: at(1250)), "progress at 900 ms moves the bound")
        progress.writeFinished(now: at(1500))
        #expect(progress.stallCheck(now: at(1900), buffered: 0) == .nothing)
    }

    @Test func aWriteThatMakesNoProgressClosesTheConnection() {
        var progress = ResponseProgress(writeTimeout: .seconds(1), maxPipelined: 4, now: at(0))
        _ = progress.writeStarted(now: at(0))
        #expect(progress.stallCheck(now: at(250), buffered: 5000) == .checkAgain(at: at(500)))
        #expect(progress.stallCheck(now: at(500), buffered: 5000) == .checkAgain(at: at(750)))
        #expect(progress.stallCheck(now: at(1000), buffered: 5000) == .closeStalled)
    }

    /// One big write taken slowly completes its promise only at the end: the bytes the
    /// channel still holds are the progress.
    @Test func aBigWriteTakenSlowlyIsProgress() {
        var progress = ResponseProgress(writeTimeout: .seconds(1), maxPipelined: 4, now: at(0))
        _ = progress.writeStarted(now: at(0))
        var buffered = 1_000_000
        var now: Int64 = 250
        while now <= 5000 {
            buffered -= 10_000
            #expect(progress.stallCheck(now: at(now), buffered: buffered) == .checkAgain(at: at(now + 250)), "at \(now) ms")
            now += 250
        }
    }

    @Test func readingStopsAtTheCapAndResumesBelowIt() {
        var progress = ResponseProgress(writeTimeout: .seconds(1), maxPipelined: 2, now: at(0))
        #expect(progress.requestHeadRead() == .pass)
        #expect(progress.readRequested() == .read)
        #expect(progress.requestHeadRead() == .pass)
        #expect(progress.readRequested() == .hold)
        #expect(progress.responseEnded() == .read, "below the cap again: the held read goes out")
        #expect(progress.responseEnded() == .nothing)
    }

    @Test func aRequestPastTheCapIsDroppedAndTheConnectionClosedOnceTheOthersAreAnswered() {
        var progress = ResponseProgress(writeTimeout: .seconds(1), maxPipelined: 2, now: at(0))
        #expect(progress.requestHeadRead() == .pass)
        #expect(progress.requestHeadRead() == .pass)
        #expect(progress.requestHeadRead() == .drop)
        #expect(progress.dropsInbound)
        #expect(progress.requestHeadRead() == .drop, "everything after it too")
        #expect(progress.responseEnded() == .nothing)
        #expect(progress.responseEnded() == .close)
    }
}

@Suite(.timeLimit(.minutes(1))) struct RequestOriginPolicyTests {
    @Test(arguments: [
        ("127.0.0.1:8080", true), ("127.0.0.1", true), ("127.9.9.9:1", true), ("localhost", true), ("LocalHost:80", true),
        ("[::1]:8080", true), ("[::1]", true), ("::1", true), ("console.localhost", true), ("[::ffff:127.0.0.1]:80", true),
        ("attacker.example", false), ("attacker.example:8080", false), ("127.0.0.1.nip.io", false), ("localhost.attacker.example", false),
        ("10.0.0.1", false), ("[::2]:80", false), ("0.0.0.0", false), ("", false), ("[::1", false),
    ])
    func loopbackHosts(host: String, loopback: Bool) {
        #expect(RequestOriginPolicy.isLoopback(host: host) == loopback, "\(host)")
    }

    @Test func writesNeedTheirOwnOriginOrAnAllowedOne() {
        let policy = RequestOriginPolicy(checksHost: false, allowedOrigins: ["https://ops.example.com/"])
        #expect(policy.check(method: .post, host: "127.0.0.1:80", origin: nil) == .allow)
        #expect(policy.check(method: .post, host: "127.0.0.1:80", origin: "http://127.0.0.1:80") == .allow)
        #expect(policy.check(method: .delete, host: "tether:80", origin: "HTTPS://TETHER:80") == .allow)
        #expect(policy.check(method: .put, host: "127.0.0.1:80", origin: "https://ops.example.com") == .allow)
        #expect(policy.check(method: .post, host: "127.0.0.1:80", origin: "http://127.0.0.1:81") == .foreignOrigin("http://127.0.0.1:81"))
        #expect(policy.check(method: .post, host: "127.0.0.1:80", origin: "null") == .foreignOrigin("null"))
        #expect(policy.check(method: .post, host: nil, origin: "http://127.0.0.1:80") == .foreignOrigin("http://127.0.0.1:80"))
        #expect(policy.check(method: .get, host: "127.0.0.1:80", origin: "http://attacker.example") == .allow, "reads are not writes")
    }

    @Test func theHostCheckAppliesOnlyWithoutTokens() {
        #expect(RequestOriginPolicy(checksHost: true).check(method: .get, host: "attacker.example", origin: nil) == .misdirected("attacker.example"))
        #expect(RequestOriginPolicy(checksHost: false).check(method: .get, host: "attacker.example", origin: nil) == .allow)
    }
}
