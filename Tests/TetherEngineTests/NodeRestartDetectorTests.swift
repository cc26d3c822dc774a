import Testing
@testable import TetherEngine

/// The detector driven by a manual clock: `t0 + offset` is "now".
@Suite(.timeLimit(.minutes(1))) struct NodeRestartDetectorTests {
    let t0 = ContinuousClock.now
    let a = "ws://a/ws"
    let b = "ws://b/ws"
    let c = "ws://c/ws"
    let configuration = NodeRestartDetector.Configuration(
        evidenceThreshold: 3, evidenceWindow: .seconds(2), verdictLifetime: .seconds(10), maxTrackedNodes: 1024)

    func at(_ ms: Int) -> ContinuousClock.Instant { t0 + .milliseconds(ms) }

    /// A detector that marked node `a` restarted at `ms` from three refusals.
    func marked(at ms: Int = 0) -> NodeRestartDetector {
        var detector = NodeRestartDetector(configuration: configuration)
        _ = detector.fastRefused(node: a, session: "s1", now: at(ms))
        _ = detector.fastRefused(node: a, session: "s2", now: at(ms))
        _ = detector.fastRefused(node: a, session: "s3", now: at(ms))
        return detector
    }

    // MARK: - Refusals

    @Test func aSingleRefusalDoesNotMark() {
        var detector = NodeRestartDetector(configuration: configuration)
        #expect(detector.fastRefused(node: a, session: "s1", now: at(0)) == .noted(evidence: 1))
        #expect(detector.shouldSkipFast(node: a, now: at(0)) == false)
    }

    @Test func thresholdDistinctSessionsWithinTheWindowMarkOnce() {
        var detector = NodeRestartDetector(configuration: configuration)
        #expect(detector.fastRefused(node: a, session: "s1", now: at(0)) == .noted(evidence: 1))
        #expect(detector.fastRefused(node: a, session: "s2", now: at(500)) == .noted(evidence: 2))
        #expect(detector.fastRefused(node: a, session: "s3", now: at(1999)) == .markedRestarted(evidence: 3))
        #expect(detector.fastRefused(node: a, session: "s4", now: at(2100)) == .alreadyMarked)
        #expect(detector.markedRestartedAt(node: a, now: at(2100)) == at(1999))
    }

    @Test func theSameSessionRefusedRepeatedlyCountsOnce() {
        var detector = NodeRestartDetector(configuration: configuration)
        #expect(detector.fastRefused(node: a, session: "s1", now: at(0)) == .noted(evidence: 1))
        #expect(detector.fastRefused(node: a, session: "s1", now: at(100)) == .noted(evidence: 1))
        #expect(detector.fastRefused(node: a, session: "s1", now: at(200)) == .noted(evidence: 1))
        #expect(detector.shouldSkipFast(node: a, now: at(200)) == false)
    }

    @Test func refusalsSpreadBeyondTheWindowDoNotAddUp() {
        var detector = NodeRestartDetector(configuration: configuration)
        #expect(detector.fastRefused(node: a, session: "s1", now: at(0)) == .noted(evidence: 1))
        #expect(detector.fastRefused(node: a, session: "s2", now: at(2000)) == .noted(evidence: 1))
        #expect(detector.fastRefused(node: a, session: "s3", now: at(4000)) == .noted(evidence: 1))
        #expect(detector.shouldSkipFast(node: a, now: at(4000)) == false)
    }

    @Test func aRepeatedRefusalKeepsItsSessionInTheWindow() {
        var detector = NodeRestartDetector(configuration: configuration)
        _ = detector.fastRefused(node: a, session: "s1", now: at(0))
        _ = detector.fastRefused(node: a, session: "s1", now: at(1500))
        #expect(detector.fastRefused(node: a, session: "s2", now: at(2500)) == .noted(evidence: 2))
    }

    @Test func thresholdOneMarksOnTheFirstRefusal() {
        var detector = NodeRestartDetector(configuration: .init(evidenceThreshold: 1))
        #expect(detector.fastRefused(node: a, session: "s1", now: at(0)) == .markedRestarted(evidence: 1))
        #expect(detector.shouldSkipFast(node: a, now: at(0)))
    }

    // MARK: - The verdict

    @Test func theVerdictExpiresAfterItsLifetime() {
        let detector = marked(at: 1000)
        #expect(detector.shouldSkipFast(node: a, now: at(10_999)))
        #expect(detector.markedRestartedAt(node: a, now: at(10_999)) == at(1000))
        #expect(detector.shouldSkipFast(node: a, now: at(11_000)) == false)
        #expect(detector.markedRestartedAt(node: a, now: at(11_000)) == nil)
    }

    @Test func evidenceStartsAfreshAfterTheVerdictExpires() {
        var detector = marked(at: 0)
        #expect(detector.fastRefused(node: a, session: "s4", now: at(10_000)) == .noted(evidence: 1))
    }

    @Test func fastSuccessWithdrawsTheVerdict() {
        var detector = marked(at: 0)
        #expect(detector.fastSucceeded(node: a, now: at(1000)) == true)
        #expect(detector.shouldSkipFast(node: a, now: at(1000)) == false)
        #expect(detector.fastRefused(node: a, session: "s4", now: at(1100)) == .noted(evidence: 1))
    }

    @Test func fastSuccessClearsTheEvidence() {
        var detector = NodeRestartDetector(configuration: configuration)
        _ = detector.fastRefused(node: a, session: "s1", now: at(0))
        _ = detector.fastRefused(node: a, session: "s2", now: at(100))
        #expect(detector.fastSucceeded(node: a, now: at(200)) == false)
        #expect(detector.fastRefused(node: a, session: "s3", now: at(300)) == .noted(evidence: 1))
    }

    @Test func fastSuccessAfterTheVerdictExpiredWithdrawsNothing() {
        var detector = marked(at: 0)
        #expect(detector.fastSucceeded(node: a, now: at(10_000)) == false)
    }

    @Test func fastSuccessOnAnUnknownNodeTracksNothing() {
        var detector = NodeRestartDetector(configuration: configuration)
        #expect(detector.fastSucceeded(node: a, now: at(0)) == false)
        #expect(detector.trackedNodeCount == 0)
    }

    // MARK: - Identity

    @Test func theFirstIdentityIsOnlyRemembered() {
        var detector = NodeRestartDetector(configuration: configuration)
        #expect(detector.identityObserved(node: a, identity: "boot-1", now: at(0)) == .remembered)
        #expect(detector.shouldSkipFast(node: a, now: at(0)) == false)
    }

    @Test func theSameIdentityDoesNotMark() {
        var detector = NodeRestartDetector(configuration: configuration)
        _ = detector.identityObserved(node: a, identity: "boot-1", now: at(0))
        #expect(detector.identityObserved(node: a, identity: "boot-1", now: at(5000)) == .unchanged)
        #expect(detector.shouldSkipFast(node: a, now: at(5000)) == false)
    }

    @Test func aDifferentIdentityMarksAtOnce() {
        var detector = NodeRestartDetector(configuration: configuration)
        _ = detector.identityObserved(node: a, identity: "boot-1", now: at(0))
        #expect(detector.identityObserved(node: a, identity: "boot-2", now: at(5000)) == .markedRestarted(previous: "boot-1"))
        #expect(detector.markedRestartedAt(node: a, now: at(5000)) == at(5000))
    }

    @Test func theNewIdentityBecomesTheBaseline() {
        var detector = NodeRestartDetector(configuration: configuration)
        _ = detector.identityObserved(node: a, identity: "boot-1", now: at(0))
        _ = detector.identityObserved(node: a, identity: "boot-2", now: at(1000))
        #expect(detector.identityObserved(node: a, identity: "boot-2", now: at(2000)) == .unchanged)
        #expect(detector.identityObserved(node: a, identity: "boot-3", now: at(20_000)) == .markedRestarted(previous: "boot-2"))
    }

    @Test func aNewIdentityDuringAVerdictIsTheSameRestart() {
        var detector = NodeRestartDetector(configuration: configuration)
        _ = detector.identityObserved(node: a, identity: "boot-1", now: at(0))
        _ = detector.fastRefused(node: a, session: "s1", now: at(1000))
        _ = detector.fastRefused(node: a, session: "s2", now: at(1000))
        _ = detector.fastRefused(node: a, session: "s3", now: at(1000))
        #expect(detector.identityObserved(node: a, identity: "boot-2", now: at(3000)) == .alreadyMarked(previous: "boot-1"))
        #expect(detector.markedRestartedAt(node: a, now: at(3000)) == at(1000))
    }

    // MARK: - Nodes

    @Test func nodesAreIndependent() {
        var detector = NodeRestartDetector(configuration: configuration)
        _ = detector.fastRefused(node: a, session: "s1", now: at(0))
        _ = detector.fastRefused(node: a, session: "s2", now: at(0))
        #expect(detector.fastRefused(node: b, session: "s3", now: at(0)) == .noted(evidence: 1))
        #expect(detector.fastRefused(node: a, session: "s3", now: at(0)) == .markedRestarted(evidence: 3))
        #expect(detector.shouldSkipFast(node: b, now: at(0)) == false)
    }

    @Test func theTrackedNodeBoundForgetsTheLeastRecentlyActiveNode() {
        var detector = NodeRestartDetector(configuration: .init(maxTrackedNodes: 2))
        _ = detector.identityObserved(node: a, identity: "a-1", now: at(0))
        _ = detector.identityObserved(node: b, identity: "b-1", now: at(100))
        _ = detector.fastRefused(node: a, session: "s1", now: at(200))
        _ = detector.identityObserved(node: c, identity: "c-1", now: at(300))
        #expect(detector.trackedNodeCount == 2)
        // b was least recently active: forgotten, so its next identity is a first one…
        #expect(detector.identityObserved(node: b, identity: "b-2", now: at(400)) == .remembered)
        // …which in turn pushed out a (active at 200), while c stays.
        #expect(detector.identityObserved(node: c, identity: "c-2", now: at(500)) == .markedRestarted(previous: "c-1"))
    }
}
