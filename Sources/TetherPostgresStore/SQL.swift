import PostgresNIO

/// A statement built piece by piece with its bound values: each `bind` appends one value
/// and returns its placeholder (`$n`), so dynamic filters never splice a value into
/// the text.
struct SQL {
    private(set) var text: String
    private(set) var binds = PostgresBindings()

    init(_ text: String = "") { self.text = text }

    mutating func append(_ fragment: String) { text += fragment }

    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value?) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: text, binds: binds) }

    /// How many values one statement may carry (the protocol's limit is 65,535).
    static let maxBinds = 60_000
}

extension PostgresRandomAccessRow {
    func value<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try self[column].decode(T.self)
    }
}
