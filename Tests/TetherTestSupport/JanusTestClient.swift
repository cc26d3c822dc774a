import Foundation
import HTTPTypes
import Logging
import NIOConcurrencyHelpers
import Testing
import WSClient

/// A plain Janus WebSocket client for assertions from the server's side: the admin API
/// (`janus-admin-protocol`) or an observer participant (`janus-protocol`). Built on
/// swift-websocket's `WSClient`, independent of the dialect under test.
public final class JanusTestClient: Sendable {
    private let incoming = NIOLockedValueBox<[String]>([])
    private let outgoing: AsyncStream<String>.Continuation
    private let task: Task<Void, any Error>
    private let counter = NIOLockedValueBox(0)
    public let adminSecret: String?
    /// Fields added to every request: `token`, `apisecret` for a locked-down Janus.
    public let authentication: [String: String]

    public init(url: String, subprotocol: String = "janus-protocol", adminSecret: String? = nil, authentication: [String: String] = [:]) {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        outgoing = continuation
        self.adminSecret = adminSecret
        self.authentication = authentication
        let incoming = self.incoming
        var configuration = WebSocketClientConfiguration(maxFrameSize: 1 << 20)
        configuration.additionalHeaders[.secWebSocketProtocol] = subprotocol
        task = Task {
            try await WebSocketClient.connect(url: url, configuration: configuration, logger: Logger(label: "janus.test")) { inbound, outbound, _ in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await text in stream { try await outbound.write(.text(text)) }
                    }
                    group.addTask {
                        for try await message in inbound.messages(maxSize: 1 << 20) {
                            guard case .text(let text) = message else { continue }
                            incoming.withLockedValue { $0.append(text) }
                        }
                    }
                    try await group.next()
                    group.cancelAll()
                }
            }
        }
    }

    public var messages: [[String: Any]] {
        incoming.withLockedValue { $0 }.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    /// Sends `body` with a fresh transaction and waits for the final reply to it (not an ack).
    @discardableResult
    public func request(_ body: [String: Any], timeout: Duration = .seconds(5)) async throws -> [String: Any] {
        let transaction = "obs-\(counter.withLockedValue { $0 += 1; return $0 })"
        var message = body
        message["transaction"] = transaction
        if let adminSecret { message["admin_secret"] = adminSecret }
        for (key, value) in authentication { message[key] = value }
        let data = try JSONSerialization.data(withJSONObject: message)
        outgoing.yield(String(decoding: data, as: UTF8.self))
        return try await waitFor(timeout: timeout) {
            $0["transaction"] as? String == transaction && $0["janus"] as? String != "ack"
        }
    }

    /// Sends `body` with a fresh transaction, without waiting for anything.
    public func send(_ body: [String: Any]) {
        var message = body
        message["transaction"] = "obs-\(counter.withLockedValue { $0 += 1; return $0 })"
        if let adminSecret { message["admin_secret"] = adminSecret }
        for (key, value) in authentication { message[key] = value }
        if let data = try? JSONSerialization.data(withJSONObject: message) {
            outgoing.yield(String(decoding: data, as: UTF8.self))
        }
    }

    /// Waits for a message satisfying `predicate`.
    public func waitFor(timeout: Duration = .seconds(5), sourceLocation: SourceLocation = #_sourceLocation, _ predicate: ([String: Any]) -> Bool) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let found = messages.first(where: predicate) { return found }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("no matching Janus message within \(timeout); got \(messages.suffix(5))", sourceLocation: sourceLocation)
        throw CancellationError()
    }

    public func close() {
        outgoing.finish()
        task.cancel()
    }
}

extension JanusInstance {
    /// One admin API request (`admin_secret` added); the final reply.
    @discardableResult
    public func admin(_ body: [String: Any]) async throws -> [String: Any] {
        let admin = JanusTestClient(url: adminURL, subprotocol: "janus-admin-protocol", adminSecret: adminSecret)
        defer { admin.close() }
        return try await admin.request(body)
    }

    /// Janus session ids the admin API lists.
    public func listSessions() async throws -> [Int64] {
        let reply = try await admin(["janus": "list_sessions"])
        return (reply["sessions"] as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.int64Value }
    }

    /// The Janus sessions holding a handle whose `opaque_id` is `opaqueID` (Tether sets
    /// its session id there), with those handles.
    public func sessions(withOpaqueID opaqueID: String) async throws -> [Int64: [Int64]] {
        var owned: [Int64: [Int64]] = [:]
        for session in try await listSessions() {
            let handles = try await admin(["janus": "list_handles", "session_id": session])
            for handle in (handles["handles"] as? [Any] ?? []).compactMap({ ($0 as? NSNumber)?.int64Value }) {
                let info = try await admin(["janus": "handle_info", "session_id": session, "handle_id": handle])
                if (info["info"] as? [String: Any])?["opaque_id"] as? String == opaqueID {
                    owned[session, default: []].append(handle)
                }
            }
        }
        return owned
    }

    /// Fields a client of this instance must add to every request.
    public func authentication(token: String?) -> [String: String] {
        var fields: [String: String] = [:]
        if let token { fields["token"] = token }
        if let secret = security.apiSecret { fields["apisecret"] = secret }
        return fields
    }

    /// The participants of `room`, through an observer's `listparticipants`.
    public func participants(in room: Int, token: String? = nil, pin: String? = nil) async throws -> [(id: Int64, display: String)] {
        let observer = try await JanusObserver.join(self, room: room, display: "lister", create: false, token: token, pin: pin)
        defer { observer.close() }
        return try await observer.listParticipants()
    }
}

/// A second participant in a room, watching joins and leaves the way a real peer would.
public final class JanusObserver: Sendable {
    public let client: JanusTestClient
    public let session: Int64
    public let handle: Int64
    public let room: Int
    private let keepAliveTask = NIOLockedValueBox<Task<Void, Never>?>(nil)

    public static func join(
        _ janus: JanusInstance, room: Int, display: String = "observer", create: Bool = true, token: String? = nil, pin: String? = nil
    ) async throws -> JanusObserver {
        let client = JanusTestClient(url: janus.url, authentication: janus.authentication(token: token))
        let created = try await client.request(["janus": "create"])
        let session = try #require(((created["data"] as? [String: Any])?["id"] as? NSNumber)?.int64Value)
        let attached = try await client.request(["janus": "attach", "session_id": session, "plugin": "janus.plugin.videoroom"])
        let handle = try #require(((attached["data"] as? [String: Any])?["id"] as? NSNumber)?.int64Value)
        if create {
            var body: [String: Any] = ["request": "create", "room": room, "publishers": 100, "permanent": false, "notify_joining": true]
            if let pin { body["pin"] = pin }
            if let key = janus.security.adminKey { body["admin_key"] = key }
            _ = try await client.request(["janus": "message", "session_id": session, "handle_id": handle, "body": body])
        }
        var join: [String: Any] = ["request": "join", "ptype": "publisher", "room": room, "display": display]
        if let pin { join["pin"] = pin }
        _ = try await client.request(["janus": "message", "session_id": session, "handle_id": handle, "body": join])
        let observer = JanusObserver(client: client, session: session, handle: handle, room: room)
        observer.keepAlive()
        return observer
    }

    private init(client: JanusTestClient, session: Int64, handle: Int64, room: Int) {
        self.client = client
        self.session = session
        self.handle = handle
        self.room = room
    }

    private func keepAlive() {
        let client = self.client
        let session = self.session
        let task = Task {
            // Janus's keepalive period, not a wait for anything; cancelled with the client.
            while true {
                do { try await Task.sleep(for: .seconds(10)) } catch { return }
                client.send(["janus": "keepalive", "session_id": session])
            }
        }
        keepAliveTask.withLockedValue { $0 = task }
    }

    /// Asks the videoroom to kick participant `id` (a moderator's decision).
    public func kick(_ id: Int64) async throws {
        let reply = try await client.request(["janus": "message", "session_id": session, "handle_id": handle,
                                              "body": ["request": "kick", "room": room, "id": id]])
        let data = (reply["plugindata"] as? [String: Any])?["data"] as? [String: Any]
        guard data?["videoroom"] as? String == "success" else {
            throw JanusInstance.Unavailable(description: "kick refused: \(reply)")
        }
    }

    public func listParticipants() async throws -> [(id: Int64, display: String)] {
        let reply = try await client.request(["janus": "message", "session_id": session, "handle_id": handle,
                                              "body": ["request": "listparticipants", "room": room]])
        let data = (reply["plugindata"] as? [String: Any])?["data"] as? [String: Any]
        return (data?["participants"] as? [[String: Any]] ?? []).compactMap { participant in
            guard let id = (participant["id"] as? NSNumber)?.int64Value else { return nil }
            return (id, participant["display"] as? String ?? "")
        }
    }

    /// Participant ids that the observer saw leave.
    public var leavingIDs: [Int64] {
        client.messages.compactMap { message in
            let data = (message["plugindata"] as? [String: Any])?["data"] as? [String: Any]
            return (data?["leaving"] as? NSNumber)?.int64Value ?? (data?["unpublished"] as? NSNumber)?.int64Value
        }
    }

    /// Display names of the participants the observer saw join, one per join.
    public var joiningDisplays: [String] {
        client.messages.compactMap { message in
            let data = (message["plugindata"] as? [String: Any])?["data"] as? [String: Any]
            return (data?["joining"] as? [String: Any])?["display"] as? String
        }
    }

    /// Participant ids the observer saw join.
    public var joiningIDs: [Int64] {
        client.messages.compactMap { message in
            let data = (message["plugindata"] as? [String: Any])?["data"] as? [String: Any]
            return ((data?["joining"] as? [String: Any])?["id"] as? NSNumber)?.int64Value
        }
    }

    /// Destroys the observer's Janus session (so it leaves the room now), then closes.
    public func close() {
        keepAliveTask.withLockedValue { $0 }?.cancel()
        client.send(["janus": "destroy", "session_id": session])
        let client = self.client
        // The destroy goes out before the socket closes: closing at once could drop it.
        Task {
            do { try await Task.sleep(for: .milliseconds(100)) } catch {}
            client.close()
        }
    }
}
