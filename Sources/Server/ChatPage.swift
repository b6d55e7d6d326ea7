import Hummingbird
import NIOCore

/// The chat page that `tandem serve` answers at `/` (unless `--no-ui`): one HTML document, its
/// script, style sheet and icon, all compiled into the executable (`ChatPageAssets`, generated from
/// `web/` by `scripts/embed_web.py`), so the binary serves them with no files beside it.
///
/// The page and its assets need no API key (they hold no data); everything they ask the server for
/// goes through the API with the key the user gives. Every asset is served with a
/// Content-Security-Policy that allows scripts, styles and connections from this origin only (no
/// inline script, no `eval`, nothing foreign) and `X-Content-Type-Options: nosniff`.
public enum ChatPage {
    /// An asset: its media type and bytes.
    public struct Asset: Sendable {
        public let contentType: String
        public let body: String
    }

    /// The assets by the path they are served at.
    public static let assets: [String: Asset] = [
        "/": Asset(contentType: "text/html; charset=utf-8", body: ChatPageAssets.indexHTML),
        "/ui/chat.js": Asset(contentType: "text/javascript; charset=utf-8", body: ChatPageAssets.chatJS),
        "/ui/chat.css": Asset(contentType: "text/css; charset=utf-8", body: ChatPageAssets.chatCSS),
        "/ui/icon.svg": Asset(contentType: "image/svg+xml", body: ChatPageAssets.iconSVG)
    ]

    /// The policy sent with every asset.
    public static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    /// The response for an asset: its bytes with the security headers; `no-cache` so that a new
    /// binary's page is picked up at once.
    static func response(for asset: Asset, head: Bool = false) -> Response {
        let headers: HTTPFields = [
            .contentType: asset.contentType,
            .contentSecurityPolicy: contentSecurityPolicy,
            .xContentTypeOptions: "nosniff",
            .cacheControl: "no-cache"
        ]
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: asset.body)))
    }

    /// Adds a GET route for each asset.
    static func addRoutes(to router: Router<ServerRequestContext>) {
        for (path, asset) in assets {
            router.get(RouterPath(path)) { _, _ in response(for: asset) }
        }
    }
}
