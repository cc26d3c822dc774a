/// What a bearer token may do.
enum AccessRole: Sendable, Equatable {
    /// Everything: create, delete, migrate, drain, and every read.
    case full
    /// GET and HEAD only: history, sessions, stats, metrics, the live tail.
    case read
}
