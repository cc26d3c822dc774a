import Foundation
import TetherEngine
import TetherEventLog
import TetherEvents

extension SessionRecord {
    /// The row of a new session, from its validated request: `connecting`, with the
    /// token and Janus options it needs to rejoin after a restart.
    init(creating request: CreateSessionRequest, id: String, nowMs: Int64) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func text(_ value: some Encodable) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
        self.init(
            id: id, state: SessionState.connecting.rawValue, callID: request.callID, userID: request.userID,
            dialect: request.dialect, sfuURLs: try text(request.sfuURLs), sfuToken: request.token,
            dialectOptions: try request.janus.map { try text($0) }, policy: try text(PolicyDocument(request.policy)),
            metadata: try text(request.metadata), sfuURL: request.sfuURLs[0], idempotencyKey: request.idempotencyKey,
            requestFingerprint: request.idempotencyKey == nil ? nil : request.fingerprint, createdAtMs: nowMs)
    }

    /// Folds what a batch of the session's actions changed into the row.
    mutating func apply(_ update: SessionUpdate, atMs nowMs: Int64) throws {
        if let credentials = update.credentials, isLive {
            sfuToken = credentials.token
            sfuURLs = String(decoding: try JSONEncoder().encode(credentials.nodes), as: UTF8.self)
        }
        guard let snapshot = update.snapshot else { return }
        state = snapshot.state.rawValue
        sfuURL = snapshot.sfuURL
        sfuSessionID = snapshot.sfuSessionID ?? sfuSessionID
        resumeState = snapshot.resumeState ?? resumeState
        generation = Int64(snapshot.generation)
        losses = snapshot.losses
        reconnects = snapshot.reconnects
        failedReconnects = snapshot.failedReconnects
        updatedAtMs = nowMs
        if let end = snapshot.end { self.end(end, atMs: nowMs) }
    }

    /// The row of a session that has ended for `end`: its state and reason, the time
    /// (once), and no secret left. Every way a row ends comes through here.
    mutating func end(_ end: EndReason, atMs nowMs: Int64) {
        state = end.state.rawValue
        endReason = end.text
        joinFailureCode = end.joinFailureCode
        if endedAtMs == nil { endedAtMs = nowMs }
        updatedAtMs = nowMs
        // The token only served to rejoin; an ended session keeps no secret at rest,
        // and nothing to resume.
        forgetSecrets()
        resumeState = nil
    }

    /// The counters as stored, for a session resumed after a restart.
    var counters: SessionCounters {
        SessionCounters(losses: losses, reconnects: reconnects, failedReconnects: failedReconnects)
    }

    /// The metadata as stored: a JSON object of strings (what the create request
    /// validated), for the credentials endpoint's requests.
    var metadataDictionary: [String: String] {
        // Written by `init(creating:)` from a [String: String]; a row that would not
        // read back sends none rather than failing the refresh.
        (try? JSONDecoder().decode([String: String].self, from: Data(metadata.utf8))) ?? [:]
    }
}
