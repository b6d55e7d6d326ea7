import NIOCore
import NIOHTTPTypes

/// Bounds what one client can do to a connection, beside Hummingbird's idle timeout (which covers
/// the time before a request's head and between requests):
/// - a request body that has not fully arrived `bodyTimeout` after its head closes the connection,
///   so a client that sends slowly, or stops halfway, cannot hold it (or a shutdown) forever;
/// - a client that closes its side closes the connection at once, so the request it was waiting
///   for is aborted (`channel.closeFuture` fires; see `ServerRequestContext`) instead of running on.
final class ConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let bodyTimeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(bodyTimeout: TimeAmount) {
        self.bodyTimeout = bodyTimeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            deadline?.cancel()
            let channel = context.channel
            deadline = context.eventLoop.assumeIsolated().scheduleTask(in: bodyTimeout) { channel.close(promise: nil) }
        case .end:
            deadline?.cancel()
            deadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }
}
