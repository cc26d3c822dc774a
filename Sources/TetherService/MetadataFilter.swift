/// `metadata.KEY=VALUE` query parameters of `GET /v1/sessions`: equality on the
/// create request's metadata.
enum MetadataFilter {
    static let prefix = "metadata."
    static let maxKeys = 8
    static let maxKeyLength = 256  // as the create request allows
    static let maxValueLength = 1024

    /// The pairs in `items`, or a 400 naming what is wrong. Other parameters are ignored
    /// (the generated code has checked them).
    static func parse(_ items: [(name: String, value: String)]) throws(APIError) -> [String: String] {
        var pairs: [String: String] = [:]
        for (name, value) in items where name.hasPrefix(prefix) {
            let key = String(name.dropFirst(prefix.count))
            guard (1...maxKeyLength).contains(key.count), key.allSatisfy(isKeyCharacter) else {
                throw invalid("metadata filter keys are 1 to \(maxKeyLength) characters of A-Z a-z 0-9 _ - . (got \(String(name.prefix(80)).debugDescription))")
            }
            guard value.count <= maxValueLength else { throw invalid("metadata.\(key): the value is longer than \(maxValueLength) characters") }
            guard pairs.updateValue(value, forKey: key) == nil else { throw invalid("metadata.\(key) is given twice") }
            guard pairs.count <= maxKeys else { throw invalid("at most \(maxKeys) metadata filters") }
        }
        return pairs
    }

    private static func isKeyCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || "_-.".contains(character))
    }

    private static func invalid(_ message: String) -> APIError {
        .badRequest(message, code: "invalid_metadata_filter")
    }
}
