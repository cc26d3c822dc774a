import Foundation
import TetherAPI
import TetherEventLog

/// The listing pages' JSON (`EventPage`, `SessionPage`), byte for byte what the OpenAPI
/// runtime writes for them (the same schema types and encoder options, keys sorted),
/// built from each row's JSON kept between requests: a committed event's by its id (it
/// never changes), a session's by its row's whole content and attempt number (any
/// change to the row is a new key). A console polling the latest page encodes only the
/// rows it has not shown before. `APITests` compares these pages with the runtime's.
final class ListingPageWriter: Sendable {
    /// The memo's key for a session: everything its JSON is made from.
    struct SessionForm: Hashable, Sendable {
        var record: SessionRecord
        var currentAttempt: Int
    }

    /// Ids are only unique within one history, so one writer per service.
    private let eventForms = DecodedMemo<Int64, [UInt8]>(capacity: 8192)
    /// A row with a long token or large metadata is encoded every time rather than kept.
    private let sessionForms = DecodedMemo<SessionForm, [UInt8]>(capacity: 2048) {
        $0.record.sfuToken.utf8.count + $0.record.metadata.utf8.count <= 8192
    }

    /// `{"events":[…],"next_cursor":"…"}`; the cursor's key is absent when it is nil.
    func eventPage(_ events: [StoredEvent], nextCursor: String?) throws -> [UInt8] {
        let encoder = APIJSON.encoder()
        var page = Array(#"{"events":["#.utf8)
        page.reserveCapacity(events.count * 320)
        for (index, event) in events.enumerated() {
            if index > 0 { page.append(UInt8(ascii: ",")) }
            page += try eventForms.value(for: event.id) { _ in
                Array(try encoder.encode(Components.Schemas.Event(try event.decoded())))
            }
        }
        page.append(UInt8(ascii: "]"))
        if let nextCursor { page += Array(#","next_cursor":"#.utf8) + Array(try encoder.encode(nextCursor)) }
        page.append(UInt8(ascii: "}"))
        return page
    }

    /// `{"next_cursor":"…","sessions":[…]}`; the cursor's key is absent when it is nil.
    func sessionPage(_ sessions: [SessionForm], nextCursor: String?) throws -> [UInt8] {
        let encoder = APIJSON.encoder()
        var page = Array("{".utf8)
        page.reserveCapacity(sessions.count * 900)
        if let nextCursor { page += Array(#""next_cursor":"#.utf8) + Array(try encoder.encode(nextCursor)) + [UInt8(ascii: ",")] }
        page += Array(#""sessions":["#.utf8)
        for (index, form) in sessions.enumerated() {
            if index > 0 { page.append(UInt8(ascii: ",")) }
            page += try sessionForms.value(for: form) { form in
                Array(try encoder.encode(Components.Schemas.Session(form.record, currentAttempt: form.currentAttempt)))
            }
        }
        page += Array("]}".utf8)
        return page
    }
}
