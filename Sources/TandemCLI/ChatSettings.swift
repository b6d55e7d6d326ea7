import Engine
import Foundation

/// The terminal chat's sampling settings and system prompt, changed with `/set NAME VALUE`.
struct ChatSettings: Equatable {
    var temperature: Float = 0.7
    var topP: Float = 0.9
    var topK = 0
    var minP: Float = 0
    var repetitionPenalty: Float = 1
    var maxTokens = 512
    var seed: UInt64?
    var system: String?

    /// The names `/set` knows, with what each means.
    static let help: [(String, String)] = [
        ("temperature T", "sampling temperature, 0 (greedy) ... 100"),
        ("top_p P", "nucleus mass, (0, 1]"),
        ("top_k K", "keep the K likeliest tokens (0: off)"),
        ("min_p P", "drop tokens below P times the likeliest, 0 ... 1"),
        ("repetition_penalty R", "0.01 ... 100 (1: off)"),
        ("max_tokens N", "longest reply in tokens"),
        ("seed S", "random seed (or 'random')"),
        ("system TEXT", "system prompt (or 'none'); clears the conversation")
    ]

    /// The sampling parameters, checked.
    func sampling() throws -> SamplingParameters {
        let parameters = SamplingParameters(
            temperature: temperature, topK: topK, topP: topP, minP: minP, repetitionPenalty: repetitionPenalty, seed: seed)
        try parameters.validate()
        return parameters
    }

    /// Sets one setting from `/set NAME VALUE`; returns what it now is, or throws with the reason.
    mutating func set(_ name: String, _ value: String) throws(CLIError) -> String {
        var next = self
        func number<T: LosslessStringConvertible>(_: T.Type) throws(CLIError) -> T {
            guard let parsed = T(value) else { throw CLIError("'\(value)' is not a valid value for \(name)") }
            return parsed
        }
        switch name.lowercased().replacingOccurrences(of: "-", with: "_") {
        case "temperature", "temp": next.temperature = try number(Float.self)
        case "top_p": next.topP = try number(Float.self)
        case "top_k": next.topK = try number(Int.self)
        case "min_p": next.minP = try number(Float.self)
        case "repetition_penalty", "repeat_penalty": next.repetitionPenalty = try number(Float.self)
        case "max_tokens", "num_predict":
            next.maxTokens = try number(Int.self)
            guard next.maxTokens >= 1 else { throw CLIError("max_tokens must be at least 1") }
        case "seed": next.seed = value.lowercased() == "random" ? nil : UInt64(bitPattern: try number(Int64.self))
        case "system": next.system = value.isEmpty || value.lowercased() == "none" ? nil : value
        default:
            throw CLIError("unknown setting '\(name)'; one of: " + Self.help.map { $0.0.split(separator: " ")[0] }.joined(separator: ", "))
        }
        do { _ = try next.sampling() } catch { throw CLIError("\(error)") }
        self = next
        return description
    }

    /// The settings on one line.
    var description: String {
        var parts = [
            "temperature \(temperature)", "top_p \(topP)", "top_k \(topK)", "min_p \(minP)",
            "repetition_penalty \(repetitionPenalty)", "max_tokens \(maxTokens)", "seed \(seed.map { String(Int64(bitPattern: $0)) } ?? "random")"
        ]
        if let system { parts.append("system \"\(system.prefix(60))\(system.count > 60 ? "…" : "")\"") }
        return parts.joined(separator: ", ")
    }
}
