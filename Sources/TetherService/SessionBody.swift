import Foundation
import NIOCore
import TetherAPI
import TetherEventLog

/// A session as JSON, exactly as the OpenAPI runtime would write the `Session` schema:
/// the same schema type, the same encoder options (``APIJSON/encoder()``).
enum SessionBody {
    static func encode(_ record: SessionRecord, currentAttempt: Int) throws -> ByteBuffer {
        ByteBuffer(data: try APIJSON.encoder().encode(Components.Schemas.Session(record, currentAttempt: currentAttempt)))
    }
}
