import Foundation

/// Opaque page cursors: base64url of a kind letter and a number (`e:123`, `s:45`).
enum Cursor {
    static func encode(kind: Character, value: Int64) -> String {
        Data("\(kind):\(value)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: String, kind: Character) throws(APIError) -> Int64 {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64),
              let decoded = String(data: data, encoding: .utf8),
              decoded.first == kind, decoded.dropFirst().first == ":",
              let value = Int64(decoded.dropFirst(2)), value >= 0
        else {
            throw APIError.badRequest("'\(text)' is not a cursor this endpoint gave out", code: "invalid_cursor")
        }
        return value
    }
}
