import Foundation
import Logging
import Testing
import TetherLogging

/// The JSON log line: valid JSON whatever the text holds, fields in a fixed order.
@Suite(.timeLimit(.minutes(1))) struct JSONLogLineTests {
    func decode(_ data: Data) throws -> [String: Any] {
        #expect(data.last == 0x0A)
        #expect(data.dropLast().contains(0x0A) == false, "one line")
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func anyTextSurvivesAsOneLineOfValidJSON() throws {
        let nasty = "quote \" backslash \\ newline \n tab \t bell \u{07} nul \u{00} del \u{7F} é 🚀 </script>"
        let line = JSONLogLine.encode(
            time: Date(timeIntervalSince1970: 1_796_000_000.5), level: .warning, message: nasty, label: "tether.session",
            metadata: ["session_id": "s-1", "message": "clash", "nested": ["a": ["1", "2"], "b": "x"], "count": .stringConvertible(3)])
        let object = try decode(line)
        #expect(object["message"] as? String == nasty)
        #expect(object["metadata_message"] as? String == "clash")
        #expect(object["level"] as? String == "warning")
        #expect(object["time"] as? String == "2026-11-30T00:53:20.500Z")
        #expect(object["count"] as? String == "3")
        let nested = try #require(object["nested"] as? [String: Any])
        #expect(nested["a"] as? [String] == ["1", "2"])
        // Fixed order: a person reading the raw line sees the time and message first.
        let text = String(decoding: line, as: UTF8.self)
        let positions = ["\"time\"", "\"level\"", "\"message\"", "\"label\"", "\"count\"", "\"metadata_message\"", "\"nested\"", "\"session_id\""]
            .map { try! #require(text.range(of: $0)).lowerBound }
        #expect(positions == positions.sorted(), "\(text)")
    }
}
