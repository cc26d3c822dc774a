import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing
import TetherSFUSimulator
import TetherTestSupport

/// A fleet of real `tether serve` processes on real PostgreSQL, agents in the simulator:
/// a dead, paused or cut-off instance's sessions are adopted by the others, a stopping
/// one hands them over, and no session ever has two live agents at the SFU.
@Suite(.serialized, .timeLimit(.minutes(6))) struct FleetTests {
    /// The tests' lease (the default is 10 s): short enough to adopt quickly, long
    /// enough that a renewal is not missed on 2 busy cores (no-fence bound: 3.8 s).
    static let ttl: Duration = .seconds(6)

    /// Sessions owned by `instance`, per the API.
    static func owned(by instance: String, in sessions: [String: [String: Any]]) -> [String] {
        sessions.values.filter { $0["owner_instance"] as? String == instance }.compactMap { $0["id"] as? String }
    }

    @Test func killNineOfOneOfThreeHasItsSessionsAdoptedByTheOthersNeverTwice() async throws {
        try await FleetHarness.run(["a", "b", "c"]) { fleet in
            var ids: [String] = []
            for id in ["a", "b", "c"] { ids += try await fleet.createSessions(100, via: id) }
            let before = try await fleet.sessions(via: "a")
            let victims = Set(Self.owned(by: "c", in: before))
            #expect(victims.count == 100, "each instance runs what it created")

            fleet.process("c").signal(SIGKILL)
            _ = await fleet.process("c").waitForExit()
            let killed = ContinuousClock.now
            // Within the lease and 10 s, every one of its sessions is joined on a or b.
            let after = try await pollUntil(timeout: Self.ttl + .seconds(10)) {
                let sessions = try await fleet.sessions(via: "a")
                let adopted = victims.allSatisfy { id in
                    sessions[id]?["state"] as? String == "joined" && ["a", "b"].contains(sessions[id]?["owner_instance"] as? String)
                }
                return adopted ? sessions : nil
            }
            let took = ContinuousClock.now - killed
            #expect(after.count == 300)
            if let (id, _) = after.first(where: { $0.value["state"] as? String != "joined" }) {
                let events = try await fleet.events(of: id, via: "a")
                print("not joined: \(id): \(events.map { "\($0["type"] ?? "") \($0["instance_id"] ?? "") \($0["reason"] ?? "") \($0["strategy"] ?? "") \($0["time_ms"] ?? "")" })")
                print(fleet.logs())
            }
            for (id, session) in after {
                #expect(session["state"] as? String == "joined", "\(id)")
                #expect(["a", "b"].contains(session["owner_instance"] as? String), "exactly one live owner: \(session)")
            }
            #expect(Set(Self.owned(by: "a", in: after)).isDisjoint(with: Self.owned(by: "b", in: after)))
            // Both survivors took a share: claims are weighted by free room, not first come.
            #expect(Self.owned(by: "a", in: after).count > 100 && Self.owned(by: "b", in: after).count > 100)
            for id in victims.prefix(20) {
                let events = try await fleet.events(of: id, via: "b")
                let adopted = try #require(events.first { $0["type"] as? String == "adopted" }, "\(events)")
                #expect(adopted["from_instance"] as? String == "c")
                #expect(adopted["to_instance"] as? String == after[id]?["owner_instance"] as? String)
                #expect(adopted["instance_id"] as? String == adopted["to_instance"] as? String)
                #expect((adopted["epoch"] as? Int ?? 0) >= 2)
            }
            let participants = fleet.sfu.simulator.participants
            #expect(participants.overlaps == 0, "no session ever had two live agents at the SFU")
            #expect(participants.live == 300)
            // At most ~1.1 SFU connections per adopted session (one REJOIN each, a few retries).
            print("kill -9 of 1 of 3 instances: 100 sessions adopted in \(took)")
        }
    }

    @Test func anInstanceStoppedPastItsLeaseIsAdoptedAndOnWakingActsNoMore() async throws {
        try await FleetHarness.run(["a", "b"]) { fleet in
            let ids = try await fleet.createSessions(40, via: "b")
            fleet.process("b").signal(SIGSTOP)
            let adoptedAt = try await pollUntil(timeout: Self.ttl + .seconds(10)) {
                let sessions = try await fleet.sessions(via: "a")
                return ids.allSatisfy({ sessions[$0]?["owner_instance"] as? String == "a" && sessions[$0]?["state"] as? String == "joined" })
                    ? Date() : nil
            }
            fleet.process("b").signal(SIGCONT)
            // Within a second of waking it has fenced and closed every stale SFU socket
            // (the ones the SFU had not dropped already): only a's 40 remain, and no
            // join comes from it afterwards.
            let fenced = try await fleet.process("b").waitForLine(timeout: .seconds(1)) { $0.contains("fenced: left") }
            #expect(fenced.contains("left 40 session(s)"), "\(fenced)")
            #expect(fleet.sfu.simulator.state.connections == 40 && fleet.sfu.simulator.participants.live == 40)
            let joins = fleet.sfu.simulator.state.counters.joins + fleet.sfu.simulator.state.counters.fastResumes
            try await Task.sleep(for: .seconds(2))
            #expect(fleet.sfu.simulator.state.counters.joins + fleet.sfu.simulator.state.counters.fastResumes == joins)
            // Nothing it wrote is stored for those sessions after the adoption.
            for id in ids {
                let events = try await fleet.events(of: id, via: "a")
                let adoption = try #require(events.firstIndex { $0["type"] as? String == "adopted" }, "\(events)")
                let late = events[adoption...].filter { $0["instance_id"] as? String == "b" }
                #expect(late.isEmpty, "events written by the stale owner after the adoption: \(late)")
            }
            // It rejoins the fleet under a new incarnation and serves again.
            try await fleet.waitForServing(["b"], via: "a", timeout: .seconds(20))
            let b = try #require(try await fleet.instances(via: "a")["b"])
            #expect((b["incarnation"] as? Int ?? 0) >= 2)
            print("SIGSTOP: adopted at \(adoptedAt)")
        }
    }

    @Test func anInstanceCutOffFromTheDatabaseLeavesItsSFUBeforeItsLeaseExpiresAndOnlyThenIsAdopted() async throws {
        try await FleetHarness.run(["a"]) { fleet in
            let target = try #require(URLComponents(string: fleet.database))
            let proxy = try ChildProcess(
                [Self.supportScript("tcp_cut_proxy.py"), target.host ?? "127.0.0.1", "\(target.port ?? 5432)"],
                executable: URL(fileURLWithPath: "/usr/bin/python3"))
            do {
                let port = try await proxy.waitForLine { $0.hasPrefix("listening ") }.split(separator: " ")[1]
                var proxied = target
                proxied.port = Int(port)
                try await fleet.startInstance("b", database: try #require(proxied.string))
                try await fleet.waitForServing(["a", "b"])
                let ids = try await fleet.createSessions(40, via: "b")
                let lineages = Set(fleet.sfu.simulator.participants.lineages.keys)

                proxy.signal(SIGUSR1)
                _ = try await proxy.waitForLine { $0 == "cut" }
                // b leaves every SFU session, while its SFU sockets are otherwise fine.
                let leftAt = try await pollUntil(timeout: Self.ttl + .seconds(5)) { () -> Int64? in
                    let spans = fleet.sfu.simulator.participants.lineages.filter { lineages.contains($0.key) }.values
                    guard spans.allSatisfy({ $0.allSatisfy { $0.leftAtMs != nil } }) else { return nil }
                    return spans.compactMap { $0.last?.leftAtMs }.max()
                }
                // Then a adopts them: after b's lease expired on the database's clock.
                _ = try await pollUntil(timeout: Self.ttl + .seconds(10)) {
                    let sessions = try await fleet.sessions(via: "a")
                    return ids.allSatisfy({ sessions[$0]?["owner_instance"] as? String == "a" && sessions[$0]?["state"] as? String == "joined" })
                        ? true : nil
                }
                let b = try #require(try await fleet.instances(via: "a")["b"])
                let expiry = try #require(b["lease_expires_at_ms"] as? Int)
                #expect(Int(leftAt) < expiry, "b left its SFU sessions (\(leftAt)) before its lease expired (\(expiry))")
                for id in ids.prefix(10) {
                    let events = try await fleet.events(of: id, via: "a")
                    let adopted = try #require(events.first { $0["type"] as? String == "adopted" })
                    #expect((adopted["time_ms"] as? Int ?? 0) > expiry, "adopted only after the lease expired")
                }
                #expect(fleet.sfu.simulator.participants.overlaps == 0)
                #expect(try await fleet.process("b").waitForLine { $0.contains("fencing") }.contains("no lease renewal"))
                // Healed, b is serving again within a few seconds under a new incarnation.
                proxy.signal(SIGUSR2)
                try await fleet.waitForServing(["b"], via: "a", timeout: .seconds(20))

                // A drained instance stays draining through a fence: cut off again, it
                // rejoins under a new incarnation, draining, not serving.
                let (drain, drained) = try await callURL(.POST, fleet.base("b") + "/v1/drain", json: ["instance_id": "b"])
                #expect(drain == 202, "\(drained)")
                let before = try #require(try await fleet.instances(via: "a")["b"]?["incarnation"] as? Int)
                proxy.signal(SIGUSR1)
                _ = try await pollUntil(timeout: Self.ttl + .seconds(10)) {
                    try await fleet.instances(via: "a")["b"]?["state"] as? String == "fenced" ? true : nil
                }
                proxy.signal(SIGUSR2)
                // (Its registration says serving for the moment before it marks itself draining.)
                _ = try await pollUntil(timeout: .seconds(20)) { () async throws -> Bool? in
                    guard let b = try await fleet.instances(via: "a")["b"], b["incarnation"] as? Int ?? 0 > before else { return nil }
                    return b["state"] as? String == "draining" ? true : nil
                }
                let (created, placed) = try await callURL(.POST, fleet.base("b") + "/v1/sessions", json: createBody(urls: [fleet.sfu.url]))
                #expect(created == 201 && placed["owner_instance"] as? String == "a", "a drained instance places creates elsewhere: \(placed)")
            } catch {
                await proxy.stop()
                throw error
            }
            await proxy.stop()
        }
    }

    @Test func aRollingRestartHandsEverySessionOverWithNoLossAndNoOverlap() async throws {
        try await FleetHarness.run(["a", "b", "c"]) { fleet in
            var ids: [String] = []
            for id in ["a", "b", "c"] { ids += try await fleet.createSessions(100, via: id) }
            var handOvers: [Duration] = []
            for id in ["a", "b", "c"] {
                let survivor = id == "a" ? "b" : "a"
                let before = try await fleet.sessions(via: survivor)
                let owned = Self.owned(by: id, in: before)
                let stopping = ContinuousClock.now
                fleet.process(id).signal(SIGTERM)
                #expect(await fleet.process(id).waitForExit(timeout: .seconds(20)) == 0, "SIGTERM ends with status 0")
                _ = try await pollUntil(timeout: .seconds(15)) {
                    let sessions = try await fleet.sessions(via: survivor)
                    // A released or just-claimed row keeps its last state until the new owner
                    // writes: joined again on a later connection generation.
                    return owned.allSatisfy({
                        let generation = sessions[$0]?["generation"] as? Int ?? 0
                        return sessions[$0]?["state"] as? String == "joined" && sessions[$0]?["owner_instance"] as? String != id
                            && generation > before[$0]?["generation"] as? Int ?? 0
                    })
                        ? true : nil
                }
                handOvers.append(ContinuousClock.now - stopping)
                try await fleet.startInstance(id)
                try await fleet.waitForServing([id], via: survivor)
            }
            let sessions = try await fleet.sessions(via: "a")
            let notJoined = ids.filter { sessions[$0]?["state"] as? String != "joined" }
            if let first = notJoined.first {
                let events = try await fleet.events(of: first, via: "a")
                Issue.record("\(notJoined.count) not joined; one's history: \(events.map { "\($0["type"] ?? "") \($0["instance_id"] ?? "") \($0["strategy"] ?? "") \($0["reason"] ?? "") \($0["error"] ?? "")" })")
            }
            let participants = fleet.sfu.simulator.participants
            #expect(participants.overlaps == 0, "never two live agents for one session")
            // The longest time any agent was out of its call: the hand-over's own gap.
            var longestGapMs: Int64 = 0
            for spans in participants.lineages.values {
                for (earlier, later) in zip(spans, spans.dropFirst()) {
                    longestGapMs = max(longestGapMs, later.joinedAtMs - (earlier.leftAtMs ?? later.joinedAtMs))
                }
            }
            #expect(longestGapMs < 5_000, "longest absence \(longestGapMs) ms")
            var handedOver = 0
            for id in ids.shuffled().prefix(30) {
                let types = try await fleet.events(of: id, via: "a").compactMap { $0["type"] as? String }
                #expect(!types.contains("connection_lost"), "a hand-over is no loss: \(types)")
                handedOver += types.filter { $0 == "handed_over" }.count
            }
            #expect(handedOver >= 30, "each session was handed over at least once")
            print("rolling restart of 3 × 100 sessions: hand-overs \(handOvers), longest absence \(longestGapMs) ms")
        }
    }

    @Test func requestsToAnInstanceThatDoesNotOwnTheSessionReachItsOwner() async throws {
        try await FleetHarness.run(["a", "b"], extra: ["--max-sessions", "3"]) { fleet in
            let ids = try await fleet.createSessions(2, via: "a")
            // Migrate and credentials through b: the owner acts, and says so in the history.
            let (migrated, _) = try await callURL(.POST, fleet.base("b") + "/v1/sessions/\(ids[0])/migrate", json: [:])
            #expect(migrated == 409 || migrated == 422 || migrated == 202, "the owner's own answer comes back: \(migrated)")
            let (updated, body) = try await callURL(
                .PUT, fleet.base("b") + "/v1/sessions/\(ids[0])/credentials", json: ["token": sfuToken])
            #expect(updated == 200, "\(body)")
            #expect(try await fleet.events(of: ids[0], via: "b").contains {
                $0["type"] as? String == "credentials_updated" && $0["instance_id"] as? String == "a"
            })
            // DELETE through b answers once a has left: nothing of it stays at the SFU.
            let lineagesBefore = fleet.sfu.simulator.participants
            let (deleted, _) = try await callURL(.DELETE, fleet.base("b") + "/v1/sessions/\(ids[0])")
            #expect(deleted == 204)
            let (_, session) = try await callURL(.GET, fleet.base("b") + "/v1/sessions/\(ids[0])")
            #expect(session["state"] as? String == "left")
            #expect(fleet.sfu.simulator.participants.live == lineagesBefore.live - 1)
            let left = try #require(try await fleet.events(of: ids[0], via: "b").last)
            #expect(left["type"] as? String == "left" && left["instance_id"] as? String == "a")

            // a is full (3): its fourth create is placed on b, and answers once joined there.
            _ = try await fleet.createSessions(2, via: "a")
            let (status, placed) = try await callURL(.POST, fleet.base("a") + "/v1/sessions", json: createBody(urls: [fleet.sfu.url]))
            #expect(status == 201, "\(placed)")
            #expect(placed["owner_instance"] as? String == "b")
            #expect(placed["state"] as? String == "joined")
            // Both full: 503 fleet_at_capacity, and nothing is created.
            _ = try await fleet.createSessions(2, via: "b")
            let (refused, error) = try await callURL(.POST, fleet.base("a") + "/v1/sessions", json: createBody(urls: [fleet.sfu.url]))
            #expect(refused == 503)
            #expect((error["error"] as? [String: Any])?["code"] as? String == "fleet_at_capacity")
            // Nor can a drain go anywhere: refused, and a keeps its sessions and its place.
            let (drain, drained) = try await callURL(.POST, fleet.base("a") + "/v1/drain", json: ["instance_id": "a"])
            #expect(drain == 409 && (drained["error"] as? [String: Any])?["code"] as? String == "fleet_at_capacity", "\(drained)")
            #expect(try await fleet.instances(via: "b")["a"]?["state"] as? String == "serving")
            let afterDrain = try await fleet.sessions(via: "b")
            #expect(Self.owned(by: "a", in: afterDrain).filter { afterDrain[$0]?["state"] as? String == "joined" }.count == 3)

            // The ops CLI lists the fleet.
            let cli = try ChildProcess(["instances", "--url", fleet.base("b")])
            _ = await cli.waitForExit()
            #expect(cli.output.contains { $0.hasPrefix("a ") && $0.contains("serving") }, "\(cli.output)")
            #expect(cli.output.contains { $0.hasPrefix("b *") }, "\(cli.output)")
        }
    }

    @Test func anInstanceWithAClockAMinuteAheadBehavesTheSame() async throws {
        try await FleetHarness.run(["a"]) { fleet in
            let skewed = try await fleet.startSkewedInstance("skewed", offset: "+60s")
            try await fleet.waitForServing(["a", "skewed"])
            let onA = try await fleet.createSessions(20, via: "a")
            let onSkewed = try await fleet.createSessions(20, via: "skewed")
            // The skewed instance adopts a's sessions within the same bound…
            fleet.process("a").signal(SIGKILL)
            _ = await fleet.process("a").waitForExit()
            _ = try await pollUntil(timeout: Self.ttl + .seconds(10)) {
                let sessions = try await fleet.sessions(via: "skewed")
                return onA.allSatisfy({ sessions[$0]?["owner_instance"] as? String == "skewed" && sessions[$0]?["state"] as? String == "joined" })
                    ? true : nil
            }
            // …and its own are adopted as promptly when it dies: leases are on the database's clock.
            try await fleet.startInstance("a")
            try await fleet.waitForServing(["a"], via: "skewed")
            kill(skewed, SIGKILL)
            _ = try await pollUntil(timeout: Self.ttl + .seconds(10)) {
                let sessions = try await fleet.sessions(via: "a")
                return (onA + onSkewed).allSatisfy({ sessions[$0]?["owner_instance"] as? String == "a" && sessions[$0]?["state"] as? String == "joined" })
                    ? true : nil
            }
            #expect(fleet.sfu.simulator.participants.overlaps == 0)
        }
    }

    @Test func postgresRestartedWithinTheNoFenceBoundFencesNoOneAndLosesNoEvent() async throws {
        let postgres = try RestartablePostgres.start()
        defer { postgres.stop() }
        // The defaults: a 10 s lease, 1 s margin; no fence for outages up to 7 s.
        try await FleetHarness.run(["a", "b"], ttl: "10s", database: postgres.url) { fleet in
            let ids = try await fleet.createSessions(20, via: "a") + fleet.createSessions(20, via: "b")
            let down = ContinuousClock.now
            try postgres.halt()
            // Load while it is down: every agent drops and resumes; the events wait in queues.
            try await fleet.sfu.inject("drop")
            _ = try await pollUntil(timeout: .seconds(4)) { () async throws -> Bool? in
                fleet.sfu.simulator.state.counters.fastResumes >= ids.count ? true : nil
            }
            try await Task.sleep(until: down + .seconds(3))
            try postgres.resume()
            let outage = ContinuousClock.now - down
            print("PostgreSQL was down for \(outage)")
            #expect(outage < .seconds(7), "the test's outage stays within the bound it tests")
            // Every event queued in the outage lands: each session's loss and its recovery.
            _ = try await pollUntil(timeout: .seconds(30)) { () async throws -> Bool? in
                let sessions = try await fleet.sessions(via: "a")
                guard ids.allSatisfy({ sessions[$0]?["state"] as? String == "joined" }) else { return nil }
                for id in ids {
                    let types = try await fleet.events(of: id, via: "b").compactMap { $0["type"] as? String }
                    guard types.contains("connection_lost"), types.last == "reconnected" else { return nil }
                }
                return true
            }
            for id in ids.prefix(10) {
                let types = try await fleet.events(of: id, via: "a").compactMap { $0["type"] as? String }
                #expect(!types.contains("adopted") && !types.contains("events_dropped"), "\(types)")
            }
            for member in ["a", "b"] {
                #expect(try await fleet.metric("tether_fleet_fenced_total", of: member) == 0, "\(member) never fenced")
                #expect(try await fleet.instances(via: member)[member]?["state"] as? String == "serving")
            }
            #expect(fleet.sfu.simulator.participants.overlaps == 0)
        }
    }

    @Test func aDrainHandsAnInstancesSessionsOverAndItStaysUpDraining() async throws {
        try await FleetHarness.run(["a", "b"]) { fleet in
            let ids = try await fleet.createSessions(20, via: "a")
            let drainURL = fleet.base("a") + "/v1/drain"
            let (wrong, wrongBody) = try await callURL(.POST, drainURL, json: ["instance_id": "b"])
            #expect(wrong == 422 && (wrongBody["error"] as? [String: Any])?["code"] as? String == "not_this_instance")
            let (both, _) = try await callURL(.POST, drainURL, json: ["instance_id": "a", "sfu_url": fleet.sfu.url])
            #expect(both == 422, "one of the two, not both")

            let before = try await fleet.sessions(via: "a")
            let (status, result) = try await callURL(.POST, drainURL, json: ["instance_id": "a"])
            #expect(status == 202, "\(result)")
            #expect(Set(result["moved"] as? [String] ?? []) == Set(ids))
            // Joined on b on a later connection generation: a claimed row keeps its old state
            // until the new owner writes.
            _ = try await pollUntil(timeout: .seconds(15)) {
                let sessions = try await fleet.sessions(via: "a")
                return ids.allSatisfy({
                    sessions[$0]?["owner_instance"] as? String == "b" && sessions[$0]?["state"] as? String == "joined"
                        && sessions[$0]?["generation"] as? Int ?? 0 > before[$0]?["generation"] as? Int ?? 0
                }) ? true : nil
            }
            #expect(try await fleet.instances(via: "a")["a"]?["state"] as? String == "draining")
            #expect(fleet.sfu.simulator.participants.overlaps == 0)
            let types = try await fleet.events(of: ids[0], via: "a").compactMap { $0["type"] as? String }
            #expect(types.contains("handed_over") && !types.contains("connection_lost"), "\(types)")
            // Still answering, placing nothing on itself, and not drained twice.
            let (created, placed) = try await callURL(.POST, fleet.base("a") + "/v1/sessions", json: createBody(urls: [fleet.sfu.url]))
            #expect(created == 201 && placed["owner_instance"] as? String == "b", "\(placed)")
            let (again, _) = try await callURL(.POST, drainURL, json: ["instance_id": "a"])
            #expect(again == 409)
            // It stops cleanly, saying goodbye in its row.
            fleet.process("a").signal(SIGTERM)
            #expect(await fleet.process("a").waitForExit(timeout: .seconds(20)) == 0)
            #expect(try await fleet.instances(via: "b")["a"]?["state"] as? String == "left")
        }
    }

    @Test func everyInstanceTailsTheWholeHistoryAndEachWebhookIsSentOnce() async throws {
        let receiver = try await WebhookReceiver.start(secret: WebhookTests.secret)
        do {
            try await FleetHarness.run(
                ["a", "b"], extra: ["--webhook-url", receiver.url, "--webhook-secret", WebhookTests.secret]
            ) { fleet in
                    // A live tail on b, opened before anything happens.
                    var request = HTTPClientRequest(url: fleet.base("b") + "/v1/events/stream")
                    request.headers.add(name: "Last-Event-ID", value: "")
                    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                    #expect(response.status == .ok)
                    let tail = Task { () -> [(id: Int, session: String, type: String)] in
                        var seen: [(id: Int, session: String, type: String)] = []
                        var pending = ""
                        for try await chunk in response.body {
                            pending += String(buffer: chunk)
                            while let range = pending.range(of: "\n\n") {
                                let frame = pending[..<range.lowerBound]
                                pending.removeSubrange(..<range.upperBound)
                                let lines = frame.split(separator: "\n")
                                guard let id = lines.first(where: { $0.hasPrefix("id: ") }).flatMap({ Int($0.dropFirst(4)) }),
                                      let data = lines.first(where: { $0.hasPrefix("data: ") }),
                                      let json = try? JSONSerialization.jsonObject(with: Data(data.dropFirst(6).utf8)) as? [String: Any]
                                else { continue }
                                seen.append((id, json["session_id"] as? String ?? "", json["type"] as? String ?? ""))
                                if seen.filter({ $0.type == "joined" }).count >= 40 { return seen }
                            }
                        }
                        return seen
                    }
                    let ids = try await fleet.createSessions(20, via: "a") + fleet.createSessions(20, via: "b")
                    let watchdog = Task {
                        try await Task.sleep(for: .seconds(30))
                        tail.cancel()  // ends the read: the checks below then fail and say what was seen
                    }
                    let seen = try await tail.value
                    watchdog.cancel()
                    // b's tail shows a's sessions too, in id order, with no id the history has and it skipped.
                    let joinedSessions: Set<String> = Set(seen.filter { $0.type == "joined" }.map(\.session))
                    let tailIDs: [Int] = seen.map(\.id)
                    #expect(joinedSessions == Set(ids))
                    #expect(tailIDs == tailIDs.sorted() && Set(tailIDs).count == tailIDs.count, "in id order, each once")
                    if let first = seen.first?.id, let last = seen.last?.id {
                        let (_, page) = try await callURL(.GET, fleet.base("a") + "/v1/events?limit=1000")
                        let events = page["events"] as? [[String: Any]] ?? []
                        let history: [Int] = events.compactMap { $0["id"] as? Int }.filter { (first...last).contains($0) }.sorted()
                        #expect(history == tailIDs, "the tail skipped none of the history's ids")
                    }
                    // Both instances run a webhook worker; each session.joined reaches the receiver once.
                    _ = try await pollUntil(timeout: .seconds(20)) {
                        Set(receiver.delivered.compactMap { $0.json["type"] as? String == "session.joined" ? $0.eventID : nil }).count >= 40 ? true : nil
                    }
                    try await Task.sleep(for: .seconds(2))  // room for a duplicate to arrive, if one were sent
                    let joinedHooks = receiver.hooks.filter { $0.json["type"] as? String == "session.joined" }
                    #expect(joinedHooks.count == 40, "each delivery sent by one instance: \(joinedHooks.count) sent for 40 events")
                    #expect(Set(joinedHooks.compactMap(\.eventID)).count == 40)
            }
        } catch {
            await receiver.stop()
            throw error
        }
        await receiver.stop()
    }

    /// Tests/Support/<name>.
    static func supportScript(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Support").appendingPathComponent(name).path
    }
}
