import Testing
import TetherEvents

@Suite(.timeLimit(.minutes(1))) struct DurationParsingTests {
    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)), ("5s", .seconds(5)), ("1.5s", .milliseconds(1500)),
        ("2m", .seconds(120)), ("250", .milliseconds(250)), ("1h", .seconds(3600)),
    ])
    func parses(text: String, expected: Duration) {
        #expect(Duration(parsing: text) == expected)
    }

    @Test(arguments: ["", "ms", "-1s", "abc", "5x", "nan"])
    func rejects(text: String) {
        #expect(Duration(parsing: text) == nil)
    }
}
