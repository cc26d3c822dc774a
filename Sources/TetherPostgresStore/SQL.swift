import PostgresNIO

/// A statement built piece by piece with its bound values: each `bind` appends one value
/// and returns its placeholder (`$n`), so dynamic filters never splice a value into
/// the text.
struct SQL {
    private(set) var text: String
    private(set) var binds = PostgresBindings()

    init(_ text: String = "") { self.text = text }

    mutating func append(_ fragment: String) { text += fragment }

    // Text goes through ``PostgresText/clean(_:)``: these overloads win over the
    // generic ones for every String bound here.
    mutating func bind(_ value: String) -> String {
        binds.append(PostgresText.clean(value))
        return "$\(binds.count)"
    }

    mutating func bind(_ value: String?) -> String {
        binds.append(value.map(PostgresText.clean))
        return "$\(binds.count)"
    }

    mutating func bind(_ value: [String]) -> String {
        binds.append(value.map(PostgresText.clean))
        return "$\(binds.count)"
    }

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

/// PostgreSQL text cannot hold NUL (SQLite's can, and clients and SFUs may send one):
/// a bound string with a NUL fails its whole statement, and a writer batch would then
/// fail for good. Every string bound goes through `clean`, on writes and on reads
/// alike, so a NUL is stored as U+FFFD and a filter with a NUL still finds it.
enum PostgresText {
    static func clean(_ value: String) -> String {
        value.utf8.contains(0) ? value.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : value
    }
}

extension PostgresQuery.StringInterpolation {
    /// Strings interpolated into a `PostgresQuery` are bound cleaned too.
    mutating func appendInterpolation(_ value: String) {
        appendBound(PostgresText.clean(value))
    }

    mutating func appendInterpolation(_ value: String?) {
        appendBound(value.map(PostgresText.clean))
    }

    mutating func appendInterpolation(_ value: [String]) {
        appendBound(value.map(PostgresText.clean))
    }

    /// The library's own interpolation: generic, so it does not call back into the
    /// overloads above.
    private mutating func appendBound<Value: PostgresDynamicTypeEncodable>(_ value: Value) {
        appendInterpolation(value)
    }

    private mutating func appendBound<Value: PostgresDynamicTypeEncodable>(_ value: Value?) {
        appendInterpolation(value)
    }
}
