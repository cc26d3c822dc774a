import Testing
@testable import TetherService

/// When a fleet instance stops acting as an agent: the lease judged on its own
/// monotonic clock, counted from when each renewal was *sent* (never later than when
/// the database ran it), so it fences at least `margin` before any peer may see the
/// lease expire. A pure machine: every instant here is an input, nothing waits.
@Suite(.timeLimit(.minutes(1))) struct FleetLeaseTests {
    let base = ContinuousClock.now

    /// The defaults the service runs with: a 10 s lease, fenced 1 s before it.
    func makeLease(ttl: Duration = .seconds(10), margin: Duration = .seconds(1)) -> FleetLease {
        FleetLease(ttl: ttl, margin: margin)
    }

    @Test func aJoiningInstanceHasNoDeadlineAndTicksDoNothing() {
        var lease = makeLease()
        #expect(lease.phase == .joining)
        #expect(lease.fenceDeadline == nil, "nothing to fence before a registration was accepted")
        // Even an hour on: it never acted, so there is nothing to stop.
        #expect(lease.tick(now: base + .seconds(3_600)).isEmpty)
        #expect(lease.phase == .joining)
        // A refusal or a renewal answer arriving before any registration changes nothing either.
        #expect(lease.renewalRefused().isEmpty)
        lease.renewed(sentAt: base)
        #expect(lease.phase == .joining)
        #expect(lease.fenceDeadline == nil, "a renewal does not stand in for a registration")
    }

    @Test func aRegistrationSetsTheDeadlineToItsSendTimePlusTTLMinusMargin() {
        var lease = makeLease()
        lease.registered(sentAt: base)
        #expect(lease.phase == .serving)
        #expect(lease.lastAcceptedSend == base)
        #expect(lease.fenceDeadline == base + .seconds(9))
    }

    @Test func aRenewalCountsFromWhenItWasSentNotWhenItsAnswerArrived() {
        var lease = makeLease()
        lease.registered(sentAt: base)
        // Sent at 2 s, answered at 8.5 s (a slow database): the database ran it somewhere
        // in between, so the lease runs to at least 12 s; this side counts from 2 s.
        let sent = base + .seconds(2)
        #expect(lease.tick(now: base + .milliseconds(8_500)).isEmpty)
        lease.renewed(sentAt: sent)
        #expect(lease.fenceDeadline == sent + .seconds(9), "11 s, not 8.5 s + 9 s")
        #expect(lease.tick(now: base + .milliseconds(10_999)).isEmpty)
        #expect(lease.tick(now: base + .seconds(11)).count == 1)
    }

    @Test func anOlderRenewalAnsweredLateNeverMovesTheDeadlineBack() {
        var lease = makeLease()
        lease.registered(sentAt: base)
        lease.renewed(sentAt: base + .seconds(4))
        // The renewal sent at 2 s is answered after the one sent at 4 s.
        lease.renewed(sentAt: base + .seconds(2))
        #expect(lease.lastAcceptedSend == base + .seconds(4))
        #expect(lease.fenceDeadline == base + .seconds(13))
        #expect(lease.tick(now: base + .seconds(12)).isEmpty, "fencing at 11 s would mean the older send won")
    }

    @Test func aTickBeforeTheDeadlineDoesNothingAndAtTheDeadlineFencesOnce() throws {
        var lease = makeLease()
        lease.registered(sentAt: base)
        let deadline = try #require(lease.fenceDeadline)
        #expect(lease.tick(now: deadline - .nanoseconds(1)).isEmpty)
        #expect(lease.phase == .serving)

        let actions = lease.tick(now: deadline)
        #expect(actions.count == 1, "exactly at the deadline: fenced (`now >= deadline`)")
        guard case .fence(let reason)? = actions.first else {
            Issue.record("expected a fence, got \(actions)")
            return
        }
        #expect(reason.contains("no lease renewal accepted"), "\(reason)")
        #expect(lease.phase == .fenced)
        #expect(lease.fenceDeadline == nil, "a fenced instance has no deadline left to watch")
    }

    @Test func aTickLongPastTheDeadlineFencesToo() {
        var lease = makeLease()
        lease.registered(sentAt: base)
        // The process was suspended (SIGSTOP, a VM pause) across the deadline: the first
        // tick after waking fences, however late.
        #expect(lease.tick(now: base + .seconds(60)).count == 1)
        #expect(lease.phase == .fenced)
    }

    @Test func aFencedLeaseDoesNotFenceTwice() {
        var lease = makeLease()
        lease.registered(sentAt: base)
        #expect(lease.tick(now: base + .seconds(9)).count == 1)
        // Every later tick, and a refusal answered after the fence, is silent: the
        // sockets were closed once.
        #expect(lease.tick(now: base + .seconds(10)).isEmpty)
        #expect(lease.tick(now: base + .seconds(100)).isEmpty)
        #expect(lease.renewalRefused().isEmpty)
        #expect(lease.phase == .fenced)
    }

    @Test func aRenewalAcceptedAfterTheFenceDoesNotUnfence() {
        var lease = makeLease()
        lease.registered(sentAt: base)
        #expect(lease.tick(now: base + .seconds(9)).count == 1)
        // A renewal sent at 8 s whose answer (accepted) arrives at 9.5 s: the instance
        // has already closed its sockets; only a new registration may make it act again.
        let before = lease.lastAcceptedSend
        lease.renewed(sentAt: base + .seconds(8))
        #expect(lease.phase == .fenced)
        #expect(lease.fenceDeadline == nil)
        #expect(lease.lastAcceptedSend == before, "a late answer after the fence is ignored entirely")
        #expect(lease.tick(now: base + .seconds(10)).isEmpty)
    }

    @Test func aNewRegistrationAfterTheFenceServesAgainWithAFreshDeadline() {
        var lease = makeLease()
        lease.registered(sentAt: base)
        #expect(lease.tick(now: base + .seconds(9)).count == 1)
        lease.registered(sentAt: base + .seconds(20))
        #expect(lease.phase == .serving)
        #expect(lease.fenceDeadline == base + .seconds(29))
        #expect(lease.tick(now: base + .seconds(28)).isEmpty)
        #expect(lease.tick(now: base + .seconds(29)).count == 1, "the new incarnation fences on its own deadline")
    }

    @Test func aRefusedRenewalFencesAtOnce() {
        var lease = makeLease()
        lease.registered(sentAt: base)
        let actions = lease.renewalRefused()
        #expect(actions.count == 1, "refused well before the deadline: the lease is someone else's now")
        guard case .fence(let reason)? = actions.first else {
            Issue.record("expected a fence, got \(actions)")
            return
        }
        #expect(reason.contains("lease was lost"), "\(reason)")
        #expect(lease.phase == .fenced)
        #expect(lease.tick(now: base + .seconds(9)).isEmpty, "and the deadline does not fence it a second time")
    }

    @Test func theOutageToleranceIsTTLLessMarginLessOneRenewalPeriod() {
        // 10 s − 1 s − 2 s: the README's 7 s at the defaults.
        #expect(makeLease().renewalPeriod == .seconds(2))
        #expect(makeLease().outageTolerance == .seconds(7))
        let short = makeLease(ttl: .seconds(4), margin: .seconds(1))
        #expect(short.renewalPeriod == .milliseconds(800))
        #expect(short.outageTolerance == .milliseconds(2_200))
        #expect(makeLease(ttl: .seconds(30), margin: .seconds(3)).outageTolerance == .seconds(21))
    }

    @Test func anOutageWithinTheToleranceDoesNotFence() {
        // The last renewal went out just before the database became unreachable, the
        // next one (a period later) is the first to fail; the outage lasts the tolerance.
        var lease = makeLease()
        lease.registered(sentAt: base)
        let lastSent = base + .seconds(2)
        lease.renewed(sentAt: lastSent)
        let outageStart = lastSent + lease.renewalPeriod
        let outageEnd = outageStart + lease.outageTolerance
        #expect(lease.tick(now: outageEnd - .nanoseconds(1)).isEmpty)
        // The tolerance is exact: one that lasts any longer fences.
        var longer = lease
        #expect(longer.tick(now: outageEnd).count == 1)
        // The renewal sent as the database came back is accepted: serving on.
        lease.renewed(sentAt: outageEnd - .nanoseconds(1))
        #expect(lease.phase == .serving)
        #expect(lease.tick(now: outageEnd + .seconds(1)).isEmpty)
    }

    @Test func drainingKeepsTheDeadlineAndFencesTheSameWay() {
        var lease = makeLease()
        lease.registered(sentAt: base)
        lease.renewed(sentAt: base + .seconds(2))
        lease.draining()
        #expect(lease.phase == .draining)
        #expect(lease.fenceDeadline == base + .seconds(11), "draining still acts as an agent while it hands over")
        // Renewals go on while it drains.
        lease.renewed(sentAt: base + .seconds(4))
        #expect(lease.fenceDeadline == base + .seconds(13))
        #expect(lease.tick(now: base + .seconds(12)).isEmpty)
        #expect(lease.tick(now: base + .seconds(13)).count == 1)
        #expect(lease.phase == .fenced)
        #expect(lease.tick(now: base + .seconds(14)).isEmpty)
    }

    @Test func aDrainingLeaseIsFencedByARefusal() {
        var lease = makeLease()
        lease.registered(sentAt: base)
        lease.draining()
        #expect(lease.renewalRefused().count == 1)
        #expect(lease.phase == .fenced)
    }

    @Test func drainingOnlyStartsFromServing() {
        var joining = makeLease()
        joining.draining()
        #expect(joining.phase == .joining, "nothing to hand over before a registration")

        var fenced = makeLease()
        fenced.registered(sentAt: base)
        _ = fenced.renewalRefused()
        fenced.draining()
        #expect(fenced.phase == .fenced, "a fenced instance does not come back as draining")
        #expect(fenced.fenceDeadline == nil)
    }
}
