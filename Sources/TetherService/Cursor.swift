/// Page cursors: the decimal id (events) or creation sequence (sessions) of the last
/// item of the previous page. Clients pass them back as given.
enum Cursor {
    static func encode(_ value: Int64) -> String { String(value) }

    static func decode(_ text: String) throws(APIError) -> Int64 {
        guard !text.isEmpty, text.count <= 18, text.allSatisfy(\.isASCII), let value = Int64(text), value >= 0 else {
            throw APIError.badRequest("'\(text)' is not a cursor this API gave out", code: "invalid_cursor")
        }
        return value
    }
}
