import Foundation
import Testing
@testable import TetherService

/// The pure parts of webhook delivery: the breaker, the failure classes, secrets and
/// their files, Standard Webhooks signatures, and how endpoints are configured.
@Suite(.timeLimit(.minutes(1))) struct WebhookPrimitivesTests {
    let start = ContinuousClock.now

    @Test func theBreakerOpensAfterTheThresholdAndProbesOnceWhenThePauseIsOver() {
        var breaker = CircuitBreaker(threshold: 3, initialPause: .seconds(1), maxPause: .seconds(3))
        for _ in 0..<2 { breaker.failed(now: start) }
        #expect(breaker.admits(8, now: start) == 8, "two failures in a row do not open it")
        breaker.failed(now: start)
        #expect(breaker.admits(8, now: start) == 0)
        #expect(breaker.reopensAt == start + .seconds(1))
        #expect(breaker.admits(8, now: start + .milliseconds(999)) == 0)
        #expect(breaker.admits(8, now: start + .seconds(1)) == 1, "half-open: one probe")
        #expect(breaker.admits(8, now: start + .seconds(1)) == 0, "and only one")
        breaker.failed(now: start + .seconds(1))
        #expect(breaker.reopensAt == start + .seconds(3), "a failed probe doubles the pause")
        _ = breaker.admits(1, now: start + .seconds(3))
        breaker.failed(now: start + .seconds(3))
        #expect(breaker.reopensAt == start + .seconds(6), "up to the longest pause")
        _ = breaker.admits(1, now: start + .seconds(6))
        breaker.succeeded()
        #expect(!breaker.isOpen)
        #expect(breaker.admits(8, now: start + .seconds(6)) == 8)
    }

    @Test func aSuccessBetweenFailuresResetsTheCount() {
        var breaker = CircuitBreaker(threshold: 2)
        breaker.failed(now: start)
        breaker.succeeded()
        breaker.failed(now: start)
        #expect(!breaker.isOpen)
    }

    @Test(arguments: [
        (200, WebhookResponseClass.delivered), (204, .delivered),
        (500, .retry(after: nil)), (503, .retry(after: nil)), (408, .retry(after: nil)), (409, .retry(after: nil)),
        (425, .retry(after: nil)), (429, .retry(after: nil)),
        (400, .rejected), (401, .rejected), (404, .rejected), (413, .rejected), (301, .rejected),
        (410, .disableEndpoint),
    ])
    func eachStatusHasItsClass(status: Int, expected: WebhookResponseClass) {
        #expect(WebhookResponseClass.classify(status: status) == expected)
    }

    @Test func noAnswerIsRetried() {
        #expect(WebhookResponseClass.classify(status: nil) == .retry(after: nil))
    }

    @Test func retryAfterIsClampedBeforeItBecomesAWait() {
        #expect(WebhookResponseClass.classify(status: 429, retryAfter: "7") == .retry(after: .seconds(7)))
        #expect(WebhookResponseClass.classify(status: 503, retryAfter: "0") == .retry(after: .seconds(1)))
        #expect(WebhookResponseClass.classify(status: 503, retryAfter: "99999999999") == .retry(after: .seconds(3600)))
        #expect(WebhookResponseClass.classify(status: 429, retryAfter: "-5") == .retry(after: .seconds(1)))
        #expect(WebhookResponseClass.classify(status: 429, retryAfter: "Wed, 21 Oct 2015 07:28:00 GMT") == .retry(after: nil))
        #expect(WebhookResponseClass.classify(status: 400, retryAfter: "5") == .rejected, "a final answer stays final")
    }

    @Test func secretsParseInBothForms() throws {
        let whsec = try WebhookSecret(parsing: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n")
        #expect(whsec.key == Array(Data(base64Encoded: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")!))
        #expect(try WebhookSecret(parsing: "a-raw-secret-of-today").key == Array("a-raw-secret-of-today".utf8))
        #expect(throws: WebhookSecret.Invalid.self) { try WebhookSecret(parsing: "short") }
        #expect(throws: WebhookSecret.Invalid.self) { try WebhookSecret(parsing: "whsec_not*base64") }
        #expect(throws: WebhookSecret.Invalid.self) { try WebhookSecret(parsing: "whsec_AAAA") }
    }

    @Test func aSecretFileHoldsOnePerLineWithComments() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tether-secret-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "# rotated on Monday\nwhsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n\nthe-previous-raw-secret\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try WebhookSecret.read(file: path).count == 2)
        try "# nothing here\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: WebhookSecret.Invalid.self) { try WebhookSecret.read(file: path) }
        #expect(throws: WebhookSecret.Invalid.self) { try WebhookSecret.read(file: path + "-missing") }
    }

    /// The specification's own example (also what PyPI `standardwebhooks` signs).
    @Test func theSignatureMatchesTheSpecificationsExample() throws {
        let secret = try WebhookSecret(parsing: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let headers = StandardWebhookSignature(secrets: [secret])
            .headers(messageID: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1614265330, body: #"{"test": 2432232314}"#)
        #expect(headers.first { $0.name == "webhook-signature" }?.value == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        #expect(headers.first { $0.name == "webhook-id" }?.value == "msg_p5jXN8AQM9LWM0D4loKWxJek")
        #expect(headers.first { $0.name == "webhook-timestamp" }?.value == "1614265330")
    }

    @Test func eachSecretSignsDuringARotation() throws {
        let secrets = [try WebhookSecret(parsing: "the-old-secret-of-2025"), try WebhookSecret(parsing: "the-new-secret-of-2026")]
        let value = StandardWebhookSignature(secrets: secrets).headers(messageID: "msg_1", timestamp: 1, body: "{}")
            .first { $0.name == "webhook-signature" }?.value ?? ""
        let entries = value.split(separator: " ")
        #expect(entries.count == 2 && entries.allSatisfy { $0.hasPrefix("v1,") } && entries[0] != entries[1])
    }

    @Test func endpointsAreNumberedByPositionAndCarryTheirOwnSecrets() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tether-endpoints-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let own = folder.appendingPathComponent("own.secret").path
        try "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n".write(toFile: own, atomically: true, encoding: .utf8)
        let endpoints = try WebhookEndpoint.resolve(
            urls: ["https://a.example/hook", "https://b.example/hook#\(own)"], configFile: nil, secrets: ["the-shared-secret-1234"])
        #expect(endpoints.map(\.id) == ["1", "2"])
        #expect(endpoints.map(\.url) == ["https://a.example/hook", "https://b.example/hook"])
        #expect(endpoints[0].secrets == [try WebhookSecret(parsing: "the-shared-secret-1234")])
        #expect(endpoints[1].secrets == [try WebhookSecret(parsing: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")])

        let config = folder.appendingPathComponent("hooks.json").path
        try #"{"endpoints": [{"id": "billing", "url": "https://c.example/hook", "secret_file": "\#(own)"}]}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try WebhookEndpoint.resolve(urls: [], configFile: config, secrets: []).map(\.id) == ["billing"])

        #expect(throws: ServiceConfiguration.Invalid.self) { try WebhookEndpoint.resolve(urls: ["https://a.example/"], configFile: nil, secrets: []) }
        #expect(throws: ServiceConfiguration.Invalid.self) { try WebhookEndpoint.resolve(urls: ["ftp://a.example/"], configFile: nil, secrets: ["the-shared-secret-1234"]) }
        try #"{"endpoints": [{"id": "1", "url": "https://c.example/hook"}]}"#.write(toFile: config, atomically: true, encoding: .utf8)
        #expect(throws: ServiceConfiguration.Invalid.self, "id 1 twice") {
            try WebhookEndpoint.resolve(urls: ["https://a.example/"], configFile: config, secrets: ["the-shared-secret-1234"])
        }
        try #"{"endpoints": [{"id": "no spaces", "url": "https://c.example/hook"}]}"#.write(toFile: config, atomically: true, encoding: .utf8)
        #expect(throws: ServiceConfiguration.Invalid.self) { try WebhookEndpoint.resolve(urls: [], configFile: config, secrets: ["the-shared-secret-1234"]) }
    }
}
