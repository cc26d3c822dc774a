import Foundation
import OpenAPIRuntime

/// How every API answer's JSON is written: keys sorted (stable bodies, diffable logs),
/// slashes as they are (URLs stay readable). The OpenAPI runtime and the routes that
/// answer without it (``SessionReadRoute``, ``ListingPageWriter``) use these same options.
enum APIJSON {
    static let encodingOptions: OpenAPIRuntime.JSONEncodingOptions = [.sortedKeys, .withoutEscapingSlashes]
    static let outputFormatting: JSONEncoder.OutputFormatting = [.sortedKeys, .withoutEscapingSlashes]

    /// An encoder that writes as the runtime does, for the answers written without it.
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = outputFormatting
        return encoder
    }
}
