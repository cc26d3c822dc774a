import Foundation
import Logging

/// One log line as a JSON object: `time`, `level`, `message`, `label` first, then the
/// metadata as fields in key order, ending in a newline. A metadata key that would
/// overwrite one of the four gets a `metadata_` prefix instead.
///
/// Written by hand rather than with `JSONEncoder`, which does not keep the order of
/// keys: a person reading the log (or `head`) wants the time and message first.
public enum JSONLogLine {
    static let reserved: Set<String> = ["time", "level", "message", "label"]

    public static func encode(time: Date, level: Logger.Level, message: String, label: String, metadata: Logger.Metadata) -> Data {
        var out = "{"
        field("time", timestamp(time), into: &out)
        out += ","
        field("level", level.rawValue, into: &out)
        out += ","
        field("message", message, into: &out)
        out += ","
        field("label", label, into: &out)
        for key in metadata.keys.sorted() {
            out += ","
            string(reserved.contains(key) ? "metadata_\(key)" : key, into: &out)
            out += ":"
            value(metadata[key]!, into: &out)
        }
        out += "}\n"
        return Data(out.utf8)
    }

    /// UTC with milliseconds: `2026-12-07T14:20:24.123Z`.
    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    private static func field(_ name: String, _ text: String, into out: inout String) {
        string(name, into: &out)
        out += ":"
        string(text, into: &out)
    }

    /// Strings stay strings, lists become arrays, dictionaries objects (keys in order).
    private static func value(_ value: Logger.MetadataValue, into out: inout String) {
        switch value {
        case .string(let text): string(text, into: &out)
        case .stringConvertible(let convertible): string(convertible.description, into: &out)
        case .array(let values):
            out += "["
            for (index, element) in values.enumerated() {
                if index > 0 { out += "," }
                self.value(element, into: &out)
            }
            out += "]"
        case .dictionary(let dictionary):
            out += "{"
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                string(key, into: &out)
                out += ":"
                self.value(dictionary[key]!, into: &out)
            }
            out += "}"
        }
    }

    /// A JSON string (RFC 8259 §7): quote, backslash and control characters escaped;
    /// everything else, non-ASCII included, as UTF-8.
    static func string(_ text: String, into out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
