/// A videoroom's id: a number, or a string when Janus runs with `string_ids`.
public enum JanusRoom: Sendable, Hashable, Codable, CustomStringConvertible {
    case number(Int64)
    case name(String)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self) {
            self = .number(number)
        } else {
            self = .name(try container.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let number): try container.encode(number)
        case .name(let name): try container.encode(name)
        }
    }

    /// The value as it goes into a Janus JSON request.
    var jsonValue: Any {
        switch self {
        case .number(let number): number
        case .name(let name): name
        }
    }

    public var description: String {
        switch self {
        case .number(let number): String(number)
        case .name(let name): name
        }
    }
}
