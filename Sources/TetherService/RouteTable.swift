/// The API's paths and their methods, to answer 405 (not 404) for a known path asked
/// with a method it does not take.
enum RouteTable {
    static let routes: [(pattern: [String], methods: [String])] = [
        (["v1", "sessions"], ["GET", "POST"]),
        (["v1", "sessions", "*"], ["GET", "DELETE"]),
        (["v1", "sessions", "*", "events"], ["GET"]),
        (["v1", "sessions", "*", "migrate"], ["POST"]),
        (["v1", "sessions", "*", "credentials"], ["PUT"]),
        (["v1", "webhooks", "deliveries"], ["GET"]),
        (["v1", "webhooks", "deliveries", "replay"], ["POST"]),
        (["v1", "webhooks", "deliveries", "*", "retry"], ["POST"]),
        (["v1", "webhooks", "endpoints"], ["GET"]),
        (["v1", "webhooks", "endpoints", "*", "enable"], ["POST"]),
        (["v1", "drain"], ["POST"]),
        (["v1", "events"], ["GET"]),
        (["v1", "events", "stream"], ["GET"]),
        (["v1", "stats"], ["GET"]),
        (["v1", "instances"], ["GET"]),
        (["metrics"], ["GET"]),
        (["healthz"], ["GET"]),
        (["readyz"], ["GET"]),
        (["console"], ["GET"]),
        (["console", "console.css"], ["GET"]),
        (["console", "console.js"], ["GET"]),
    ]

    /// The methods `path` takes, or nil when no route has that shape.
    static func methods(for path: String) -> [String]? {
        let parts = path.split(separator: "/").map(String.init)
        return routes.first { route in
            route.pattern.count == parts.count
                && zip(route.pattern, parts).allSatisfy { pattern, part in pattern == "*" || pattern == part }
        }?.methods
    }
}
