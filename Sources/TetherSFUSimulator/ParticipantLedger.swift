import NIOCore

/// Who was in the SFU for each agent, and when: one span per joined socket, from its
/// join to its close or leave, grouped by lineage (an SFU session and the ones that
/// replaced it through REJOIN or MIGRATE, which name it as their previous session).
///
/// `overlaps` counts joins that happened while another socket of the same lineage was
/// still joined: the moments a call showed the same agent twice. A FAST resume that
/// takes over a socket still open counts too (the SFU drops the old one, but both were
/// live for a moment). Tests of the fleet assert it stays 0.
public struct ParticipantLedger: Sendable {
    public struct Span: Codable, Sendable, Equatable {
        public var sfuSessionID: String
        public var joinedAtMs: Int64
        public var leftAtMs: Int64?

        enum CodingKeys: String, CodingKey {
            case sfuSessionID = "sfu_session_id", joinedAtMs = "joined_at_ms", leftAtMs = "left_at_ms"
        }
    }

    private(set) var spans: [String: [Span]] = [:]
    private(set) var overlaps = 0
    private var lineageOf: [String: String] = [:]
    private var liveCount: [String: Int] = [:]
    private var open: [ObjectIdentifier: (lineage: String, index: Int)] = [:]

    mutating func joined(link: ObjectIdentifier, sessionID: String, previousSessionID: String?, nowMs: Int64) {
        left(link: link, nowMs: nowMs)
        let lineage = previousSessionID.flatMap { lineageOf[$0] } ?? lineageOf[sessionID] ?? previousSessionID ?? sessionID
        lineageOf[sessionID] = lineage
        if liveCount[lineage, default: 0] > 0 { overlaps += 1 }
        liveCount[lineage, default: 0] += 1
        spans[lineage, default: []].append(Span(sfuSessionID: sessionID, joinedAtMs: nowMs))
        open[link] = (lineage, spans[lineage]!.count - 1)
    }

    mutating func left(link: ObjectIdentifier, nowMs: Int64) {
        guard let (lineage, index) = open.removeValue(forKey: link) else { return }
        spans[lineage]?[index].leftAtMs = nowMs
        liveCount[lineage, default: 1] -= 1
    }

    /// Agents with a socket joined now.
    var live: Int { liveCount.values.filter { $0 > 0 }.count }
}
