import Foundation

/// An error the CLI reports as one clear line, without a stack trace.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}

func formatCount(_ count: Int) -> String {
    switch count {
    case 1_000_000_000...: return String(format: "%.2fB", Double(count) / 1e9)
    case 1_000_000...: return String(format: "%.2fM", Double(count) / 1e6)
    case 1_000...: return String(format: "%.1fK", Double(count) / 1e3)
    default: return String(count)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
