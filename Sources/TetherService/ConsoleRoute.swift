import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /console`: the ops console, three files of this project's own HTML, CSS and
/// JavaScript compiled into the binary (`Console/`), served without a token (they
/// hold no data; the page asks for one and calls the `/v1` API with it).
///
/// The Content-Security-Policy lets the page load only its own script and style and
/// talk only to its own origin: no inline code, no other host.
struct ConsoleRoute: Sendable {
    static let contentSecurityPolicy = [
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
        "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
    ].joined(separator: "; ")

    struct Asset: Sendable {
        let path: String
        let contentType: String
        let bytes: [UInt8]
    }

    static let assets = [
        Asset(path: "/console", contentType: "text/html; charset=utf-8", bytes: PackageResources.index_html),
        Asset(path: "/console/console.css", contentType: "text/css; charset=utf-8", bytes: PackageResources.console_css),
        Asset(path: "/console/console.js", contentType: "text/javascript; charset=utf-8", bytes: PackageResources.console_js),
    ]

    func register(on router: Router<TetherRequestContext>) {
        for asset in Self.assets {
            let body = ByteBuffer(bytes: asset.bytes)
            router.get(RouterPath(asset.path)) { _, _ -> Response in
                Response(
                    status: .ok,
                    headers: [
                        .contentType: asset.contentType,
                        .contentSecurityPolicy: Self.contentSecurityPolicy,
                        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
                        HTTPField.Name("Referrer-Policy")!: "no-referrer",
                        .cacheControl: "no-cache",
                    ],
                    body: .init(byteBuffer: body))
            }
        }
    }
}
