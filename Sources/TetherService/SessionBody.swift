import Foundation
import NIOCore
import TetherAPI
import TetherEventLog

/// A session as JSON, exactly as the OpenAPI runtime would write the `Session` schema:
/// the same schema type, the same encoder options (``APIJSON/outputFormatting``).
enum SessionBody {
    static func encode(_ record: SessionRecord, currentAttempt: Int) throws -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = APIJSON.outputFormatting
        return ByteBuffer(data: try encoder.encode(Components.Schemas.Session(record, currentAttempt: currentAttempt)))
    }
}
