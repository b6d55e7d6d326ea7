import Foundation
import GGUF

/// How a model stretches its rotary position embeddings beyond the context it was trained on,
/// read from `{arch}.rope.scaling.*` metadata.
///
/// Every supported kind becomes one divisor per rotated pair: pair `i` at position `p` turns by
/// `p * base^(-2i/d) / divisor[i]` (see ``frequencyDivisors(base:ropeDimensions:fileFactors:)``).
public enum RoPEScaling: Sendable, Equatable {
    /// Plain RoPE.
    case none
    /// Positions divided by `factor` (`rope.scaling.type = linear`; also what llama.cpp does with a
    /// `rope.scaling.factor` and no type).
    case linear(factor: Double)
    /// Llama 3.1/3.2: a divisor per frequency. GGUF converters store the divisors as the tensor
    /// `rope_freqs.weight`; when a file has only the metadata, they are computed from these
    /// parameters (nil when the file has the tensor, which then takes precedence).
    case llama3(Llama3Parameters?)
    /// Phi-3's LongRoPE: divisors from `rope_factors_short.weight` or `rope_factors_long.weight`
    /// (see ``LongRoPEParameters``), cos/sin times an attention factor.
    case longRoPE(LongRoPEParameters)
    /// YaRN (Qwen2.5 long context): divisors ramped between the original and interpolated
    /// frequencies, cos/sin times an attention factor (see ``YaRNParameters``).
    case yarn(YaRNParameters)

    /// The scaling types Tandem can run, for error messages (`longrope` applies to files that
    /// carry the factor tensors, as Phi-3's do).
    public static let supportedTypes = ["none", "linear", "llama3", "yarn", "longrope"]

    /// The names of Phi-3's LongRoPE factor tensors (`ropeDimensions / 2` F32 values each).
    public static let longRoPEShortFactorsTensor = "rope_factors_short.weight"
    public static let longRoPELongFactorsTensor = "rope_factors_long.weight"

    /// The factor every cos and sin is multiplied by: LongRoPE's and YaRN's attention factor, 1 for
    /// the other kinds.
    public var magnitude: Double {
        switch self {
        case .none, .linear, .llama3: return 1
        case .longRoPE(let p): return p.attentionFactor
        case .yarn(let p): return p.attentionFactor
        }
    }

    /// The parameters of Llama 3's frequency-dependent scaling (transformers' `rope_scaling` with
    /// `rope_type: llama3`).
    public struct Llama3Parameters: Sendable, Equatable {
        /// How much the low frequencies are slowed down (8 for Llama 3.1, 32 for Llama 3.2).
        public var factor: Double
        /// Wavelengths longer than `originalContextLength / lowFrequencyFactor` get the full factor.
        public var lowFrequencyFactor: Double
        /// Wavelengths shorter than `originalContextLength / highFrequencyFactor` are left unchanged.
        public var highFrequencyFactor: Double
        /// The context length of pre-training (8192 for Llama 3).
        public var originalContextLength: Double

        /// Creates the parameters; ``RoPEScaling/init(file:architecture:ropeFrequencyTensorPresent:)``
        /// validates values read from a file.
        public init(
            factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double,
            originalContextLength: Double
        ) {
            self.factor = factor
            self.lowFrequencyFactor = lowFrequencyFactor
            self.highFrequencyFactor = highFrequencyFactor
            self.originalContextLength = originalContextLength
        }

        /// The divisor of each of the `ropeDimensions / 2` frequencies, as Meta's reference and
        /// transformers' `_compute_llama3_parameters` define it: with `f = base^(-2i/d)` and
        /// wavelength `λ = 2π / f`, the divisor is 1 when `λ < L / high`, `factor` when
        /// `λ > L / low`, and otherwise `1 / ((1 - s) / factor + s)` with
        /// `s = (L / λ - low) / (high - low)` (`L` the original context length).
        public func divisors(base: Double, ropeDimensions: Int) -> [Double] {
            let lowWavelength = originalContextLength / lowFrequencyFactor
            let highWavelength = originalContextLength / highFrequencyFactor
            return (0..<(ropeDimensions / 2)).map { i in
                let frequency = Foundation.pow(base, -2 * Double(i) / Double(ropeDimensions))
                let wavelength = 2 * Double.pi / frequency
                if wavelength < highWavelength { return 1 }
                if wavelength > lowWavelength { return factor }
                let smooth =
                    (originalContextLength / wavelength - lowFrequencyFactor)
                    / (highFrequencyFactor - lowFrequencyFactor)
                return 1 / ((1 - smooth) / factor + smooth)
            }
        }
    }

    /// Reads `{arch}.rope.scaling.*`, refusing any type Tandem cannot compute exactly.
    ///
    /// - Parameter ropeFrequencyTensorPresent: whether the file carries `rope_freqs.weight` (then
    ///   Llama 3 scaling needs no parameters in metadata).
    /// - Parameter longRoPEFactorsPresent: whether the file carries Phi-3's
    ///   `rope_factors_short.weight` and `rope_factors_long.weight` (LongRoPE then applies; its
    ///   converter writes no scaling type).
    /// - Throws: ``ModelError/unsupportedRoPEScaling(key:type:)`` for any type but none, linear,
    ///   llama3, yarn and longrope (the last only with its tensors);
    ///   ``ModelError/invalidMetadata(_:_:)`` or ``ModelError/missingMetadata(_:)`` for a missing or
    ///   out-of-range parameter; ``ModelError/unsupportedFeature(_:)`` for an attention factor
    ///   other than 1 outside YaRN and LongRoPE, and for YaRN settings llama.cpp reads that Tandem
    ///   does not implement (`yarn_ext_factor`, `yarn_attn_factor`, `yarn_log_multiplier` other
    ///   than their defaults).
    public init(
        file: GGUFFile, architecture name: String, ropeFrequencyTensorPresent: Bool,
        longRoPEFactorsPresent: Bool = false
    ) throws(ModelError) {
        let metadata = file.metadata
        let typeKey = "\(name).rope.scaling.type"
        func number(_ suffix: String) throws(ModelError) -> Double? {
            let key = "\(name).rope.scaling.\(suffix)"
            guard let value = metadata[key] else { return nil }
            guard let double = value.float, double.isFinite, double > 0 else {
                throw .invalidMetadata(key, "expected a positive number, got \(value)")
            }
            return double
        }
        func required(_ suffix: String) throws(ModelError) -> Double {
            guard let value = try number(suffix) else { throw .missingMetadata("\(name).rope.scaling.\(suffix)") }
            return value
        }

        // `rope.scale_linear` is the key older converters wrote for the linear factor.
        var factor = try number("factor")
        if factor == nil, let old = metadata["\(name).rope.scale_linear"] {
            guard let double = old.float, double.isFinite, double > 0 else {
                throw .invalidMetadata("\(name).rope.scale_linear", "expected a positive number, got \(old)")
            }
            factor = double
        }
        let attentionFactor = try number("attn_factor")

        let type: String
        if let value = metadata[typeKey] {
            guard let string = value.string else { throw .invalidMetadata(typeKey, "expected a string, got \(value)") }
            type = string
        } else if longRoPEFactorsPresent {
            // Phi-3: llama.cpp's converter writes the factor tensors and no type.
            type = "longrope"
        } else {
            // llama.cpp's default when only a factor is given.
            type = factor == nil ? "none" : "linear"
        }
        if let attentionFactor, attentionFactor != 1, type != "yarn", type != "longrope" {
            throw .unsupportedFeature(
                "RoPE attention factor '\(name).rope.scaling.attn_factor' = \(attentionFactor) "
                    + "(only 1 is supported with RoPE scaling '\(type)')")
        }

        switch type {
        case "none":
            self = .none
        case "linear":
            guard let factor else { throw .missingMetadata("\(name).rope.scaling.factor") }
            self = factor == 1 ? .none : .linear(factor: factor)
        case "llama3":
            if ropeFrequencyTensorPresent {
                self = .llama3(nil)
                return
            }
            guard let factor else { throw .missingMetadata("\(name).rope.scaling.factor") }
            let parameters = Llama3Parameters(
                factor: factor,
                lowFrequencyFactor: try required("low_freq_factor"),
                highFrequencyFactor: try required("high_freq_factor"),
                originalContextLength: try required("original_context_length"))
            guard parameters.highFrequencyFactor > parameters.lowFrequencyFactor else {
                throw .invalidMetadata(
                    "\(name).rope.scaling.high_freq_factor",
                    "\(parameters.highFrequencyFactor) must exceed low_freq_factor \(parameters.lowFrequencyFactor)")
            }
            self = .llama3(parameters)
        case "longrope":
            guard longRoPEFactorsPresent else { throw .missingTensor(Self.longRoPELongFactorsTensor) }
            let original = try required("original_context_length")
            guard original >= 1, original <= Double(1 << 24) else {
                throw .invalidMetadata("\(name).rope.scaling.original_context_length", "\(original) is out of range")
            }
            let context = metadata["\(name).context_length"]?.int ?? Int(original)
            self = .longRoPE(
                LongRoPEParameters(
                    originalContextLength: Int(original),
                    attentionFactor: attentionFactor
                        ?? LongRoPEParameters.defaultAttentionFactor(
                            contextLength: context, originalContextLength: Int(original))))
        case "yarn":
            guard let factor else { throw .missingMetadata("\(name).rope.scaling.factor") }
            // Settings llama.cpp reads for other YaRN models (DeepSeek, GPT-OSS); refused unless
            // they are the defaults, which is what Tandem computes.
            for (suffix, neutral) in [("yarn_ext_factor", 1.0), ("yarn_attn_factor", 1.0), ("yarn_log_multiplier", 0.0)] {
                let key = "\(name).rope.scaling.\(suffix)"
                if let value = metadata[key], value.float != neutral {
                    throw .unsupportedFeature("YaRN setting '\(key)' = \(value.float.map { "\($0)" } ?? "\(value)")")
                }
            }
            let original = try required("original_context_length")
            let parameters = YaRNParameters(
                factor: factor, originalContextLength: original,
                betaFast: try number("yarn_beta_fast") ?? YaRNParameters.defaultBetaFast,
                betaSlow: try number("yarn_beta_slow") ?? YaRNParameters.defaultBetaSlow,
                attentionFactor: attentionFactor)
            guard parameters.betaFast > parameters.betaSlow else {
                throw .invalidMetadata(
                    "\(name).rope.scaling.yarn_beta_fast",
                    "\(parameters.betaFast) must exceed yarn_beta_slow \(parameters.betaSlow)")
            }
            self = factor == 1 && attentionFactor == nil ? .none : .yarn(parameters)
        default:
            throw .unsupportedRoPEScaling(key: typeKey, type: type)
        }
    }

    /// The per-pair divisors for a RoPE table, or nil for plain RoPE (so the unscaled path stays
    /// exactly as it was).
    ///
    /// - Parameter fileFactors: the validated contents of `rope_freqs.weight`, if the file has it.
    ///   As in llama.cpp, the tensor divides the frequencies whenever present, and a linear factor
    ///   applies on top of it.
    /// - Throws: ``ModelError/invalidMetadata(_:_:)`` when a divisor comes out non-finite or zero
    ///   (an extreme factor from the file).
    public func frequencyDivisors(
        base: Double, ropeDimensions: Int,
        fileFactors: [Float]?
    ) throws(ModelError) -> [Double]? {
        var divisors = fileFactors.map { $0.map(Double.init) }
        switch self {
        case .none:
            break
        case .linear(let factor):
            divisors = (divisors ?? Array(repeating: 1, count: ropeDimensions / 2)).map { $0 * factor }
        case .llama3(let parameters):
            if divisors == nil, let parameters {
                divisors = parameters.divisors(base: base, ropeDimensions: ropeDimensions)
            }
        case .longRoPE:
            // The caller passes the chosen factor set (short or long) as `fileFactors`.
            guard divisors != nil else { throw .missingTensor(Self.longRoPELongFactorsTensor) }
        case .yarn(let parameters):
            divisors = parameters.divisors(base: base, ropeDimensions: ropeDimensions)
        }
        if let divisors, let bad = divisors.first(where: { !$0.isFinite || $0 <= 0 }) {
            throw .invalidMetadata("rope.scaling", "RoPE scaling gives the frequency divisor \(bad)")
        }
        return divisors
    }

    /// A short human-readable form, e.g. `llama3 (factor 32, from rope_freqs.weight)`.
    public var summary: String {
        switch self {
        case .none: return "none"
        case .linear(let factor): return "linear (factor \(factor))"
        case .llama3(nil): return "llama3 (factors from rope_freqs.weight)"
        case .llama3(let p?):
            return "llama3 (factor \(p.factor), low \(p.lowFrequencyFactor), high \(p.highFrequencyFactor), "
                + "original context \(Int(p.originalContextLength)))"
        case .longRoPE(let p):
            return "longrope (original context \(p.originalContextLength), attention factor \(p.attentionFactor))"
        case .yarn(let p):
            return "yarn (factor \(p.factor), original context \(Int(p.originalContextLength)), "
                + "beta \(p.betaFast)/\(p.betaSlow), attention factor \(p.attentionFactor))"
        }
    }
}
