import Foundation
import Model

/// The boundary the asynchronous design lives on: the engine submits steps, the device computes
/// them in submission order, and a handle yields each step's sampled tokens when they exist.
///
/// The engine never learns which device it drives. A decoding sequence's input can be a
/// reference to the token the device sampled for it in an earlier step (`TokenInput.previous`),
/// resolved on the device before the embedding lookup, so no host round trip is needed between
/// steps.
public protocol Device: AnyObject, Sendable {
    /// Queues `step` behind the steps already submitted and returns at once.
    func submit(_ step: DeviceStep) -> StepHandle
    /// Stops the device after the queued steps; no step may be submitted afterwards.
    func shutdown()
}

/// One step of work for the device: a ragged batch plus sampling instructions.
public struct DeviceStep: Sendable {
    /// One sequence's part of the step.
    public struct Entry: Sendable {
        public var sequenceID: Int
        /// Known input tokens, followed (if `appendsPreviousSample`) by the token most recently
        /// sampled for this sequence by the device.
        public var tokens: [Int32]
        public var appendsPreviousSample: Bool
        public var firstPosition: Int
        public var blockTable: [Int32]
        /// Whether to sample a token after the last input.
        public var samples: Bool
        /// Set the first time a sequence samples: its sampler's parameters and the prompt (for
        /// the repetition penalty).
        public var newSampler: SamplerSetup?
        /// Top alternatives to report with each sampled token's log-probability (nil: none).
        public var topLogprobs: Int?

        public var tokenCount: Int { tokens.count + (appendsPreviousSample ? 1 : 0) }

        public init(
            sequenceID: Int, tokens: [Int32], appendsPreviousSample: Bool, firstPosition: Int,
            blockTable: [Int32], samples: Bool, newSampler: SamplerSetup?, topLogprobs: Int?
        ) {
            self.sequenceID = sequenceID
            self.tokens = tokens
            self.appendsPreviousSample = appendsPreviousSample
            self.firstPosition = firstPosition
            self.blockTable = blockTable
            self.samples = samples
            self.newSampler = newSampler
            self.topLogprobs = topLogprobs
        }
    }

    /// How a sequence's sampler starts.
    public struct SamplerSetup: Sendable {
        public var parameters: SamplingParameters
        public var history: [Int32]
        public init(parameters: SamplingParameters, history: [Int32]) {
            self.parameters = parameters
            self.history = history
        }
    }

    public var id: Int
    public var entries: [Entry]
    /// Sequences whose device-side state (sampler, last sampled token) can be dropped.
    public var releasedSequences: [Int]

    public init(id: Int, entries: [Entry], releasedSequences: [Int]) {
        self.id = id
        self.entries = entries
        self.releasedSequences = releasedSequences
    }
}

/// What a step produced: one token per sampling entry, in entry order, and when it ran.
public struct StepOutput: Sendable {
    public struct Sample: Sendable {
        public var sequenceID: Int
        public var token: Int32
        public var logprob: TokenLogprob?
    }

    public var stepID: Int
    public var samples: [Sample]
    /// Device clock (`DispatchTime` nanoseconds) when the step started and ended computing.
    public var startNanoseconds: UInt64
    public var endNanoseconds: UInt64
    /// Set if the step could not run (e.g. an invalid batch); its sequences must be aborted.
    public var failure: String?
}

/// Yields a submitted step's output once the device has produced it.
public final class StepHandle: @unchecked Sendable {
    public let stepID: Int
    private let condition = NSCondition()
    private var output: StepOutput?

    public init(stepID: Int) { self.stepID = stepID }

    /// Blocks until the step's output exists.
    public func wait() -> StepOutput {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let output { return output }
            condition.wait()
        }
    }

    /// Called by the device when the step is done.
    public func fulfill(_ result: StepOutput) {
        condition.lock()
        output = result
        condition.broadcast()
        condition.unlock()
    }
}
