/// Errors that stop a benchmark before it measures anything (request failures are counted, not thrown).
public enum ServingBenchmarkError: Error, Equatable, CustomStringConvertible {
    /// A configuration value is out of range or malformed.
    case invalidArgument(String)
    /// The server could not be used: no model found, or the initial test request failed.
    case serverUnusable(String)

    public var description: String {
        switch self {
        case .invalidArgument(let message): return "invalid argument: \(message)"
        case .serverUnusable(let message): return message
        }
    }
}
