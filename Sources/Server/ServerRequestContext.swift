import Hummingbird
import NIOCore

/// Hummingbird's basic request context plus the connection, so that a handler can learn when its
/// client goes away (`channel.closeFuture`; `ConnectionGuard` closes a connection whose client closed its side).
public struct ServerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection the request came on.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
