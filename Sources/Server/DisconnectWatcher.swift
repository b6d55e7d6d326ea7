import NIOConcurrencyHelpers
import NIOCore

/// Runs an action when the connection of a request in flight closes (the client went away), and
/// forgets it when the request completes: a keep-alive connection that carries a million requests
/// holds only the actions of those still running.
final class DisconnectWatcher: Sendable {
    private let watched = NIOLockedValueBox<[ObjectIdentifier: [String: @Sendable () -> Void]]>([:])

    /// Calls `onClose` if `channel` closes before `unwatch(channel, key:)`.
    func watch(_ channel: any Channel, key: String, onClose: @escaping @Sendable () -> Void) {
        let connection = ObjectIdentifier(channel)
        let isFirst = watched.withLockedValue { table in
            defer { table[connection, default: [:]][key] = onClose }
            return table[connection] == nil
        }
        // One callback per connection, which takes every action still registered when it closes
        // (at once if it already has).
        if isFirst {
            channel.closeFuture.whenComplete { [watched] _ in
                let actions = watched.withLockedValue { $0.removeValue(forKey: connection) } ?? [:]
                for action in actions.values { action() }
            }
        }
    }

    /// The request `key` on `channel` is complete.
    func unwatch(_ channel: any Channel, key: String) {
        watched.withLockedValue { table in
            table[ObjectIdentifier(channel)]?[key] = nil
        }
    }
}
