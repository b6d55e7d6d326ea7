import Foundation

/// The boundary the asynchronous design lives on: the engine submits steps, the device computes
/// them in submission order, and the engine later waits for each step's sampled tokens.
///
/// The engine never learns which device it drives (`CPUDevice` today; a GPU device and the tests'
/// simulated device implement the same protocol). A device owns the KV cache and each sequence's
/// `DecodingState`. A decoding sequence's input can be a reference to the token the device sampled
/// for it in an earlier step (`DeviceStep.Entry.appendsPreviousSample`), resolved on the device
/// before the embedding lookup, so no host round trip is needed between steps.
public protocol Device: AnyObject, Sendable {
    /// The paged KV cache the device holds: the engine's block manager hands out its blocks.
    var cacheLayout: KVCacheLayout { get }
    /// Queues `step` behind the steps already submitted and returns at once.
    func submit(_ step: DeviceStep) -> StepHandle
    /// Blocks until the step behind `handle` has been computed, and returns its output.
    func wait(for handle: StepHandle) -> StepOutput
    /// Stops the device after the queued steps; no step may be submitted afterwards.
    func shutdown()
    /// Whether the device computes on the host's own cores, as the CPU device does. Host work
    /// that overlaps a step then takes cores from that step, so the engine runs a sequence that
    /// is alone through `run(_:)` instead (the single-sequence fast path, docs/architecture.md).
    var computesOnHostCores: Bool { get }
    /// Computes `step` on the calling thread, after every step submitted before it, and returns
    /// its output.
    func run(_ step: DeviceStep) -> StepOutput
}

extension Device {
    /// A device with its own processor (a GPU) gains from every overlap.
    public var computesOnHostCores: Bool { false }

    /// Submits `step` and waits for it.
    public func run(_ step: DeviceStep) -> StepOutput { wait(for: submit(step)) }
}

/// The shape of a device's paged KV cache.
public struct KVCacheLayout: Sendable, Equatable {
    /// Tokens per block.
    public var blockSize: Int
    /// Blocks in the cache.
    public var blockCount: Int
    /// The element type, as reported to clients (e.g. "float16").
    public var elementType: String
    /// Positions a token attends to when every layer of the model has the same sliding window
    /// (its own and the `attentionWindow - 1` before); nil when some layer sees the whole context.
    /// The scheduler then frees the blocks that fell out of the window (docs/architecture.md).
    public var attentionWindow: Int?
    /// The second pool of a split cache: when the model interleaves sliding-window ("local")
    /// layers with global ones (Gemma 2/3), the local layers may keep their keys and values in a
    /// pool of their own, `blockCount` above being then the global layers' pool. Each sequence then
    /// has a second block table (`DeviceStep.Entry.localBlockTable`), whose blocks behind the local
    /// window the scheduler releases; nil when every layer shares one pool.
    public var localPool: LocalPool?

    /// The local layers' pool of a split cache.
    public struct LocalPool: Sendable, Equatable {
        /// Blocks in the local pool.
        public var blockCount: Int
        /// Positions a local layer's token attends to (its own and the `window - 1` before).
        public var window: Int

        public init(blockCount: Int, window: Int) {
            self.blockCount = blockCount
            self.window = window
        }
    }

    public init(blockSize: Int, blockCount: Int, elementType: String, attentionWindow: Int? = nil, localPool: LocalPool? = nil) {
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.elementType = elementType
        self.attentionWindow = attentionWindow.flatMap { $0 > 0 ? $0 : nil }
        self.localPool = localPool.flatMap { $0.blockCount > 0 && $0.window > 0 ? $0 : nil }
    }

    /// Tokens the cache holds (the global pool of a split cache).
    public var capacity: Int { blockSize * blockCount }
}

/// One step of work for the device: a ragged batch plus sampling instructions.
public struct DeviceStep: Sendable {
    /// One sequence's part of the step.
    public struct Entry: Sendable {
        public var sequenceID: Int
        /// Known input tokens, followed (if `appendsPreviousSample`) by the token most recently
        /// accepted by this sequence's decoding state on the device.
        public var tokens: [Int32]
        public var appendsPreviousSample: Bool
        /// Position of the first input token. For an entry that appends the previous sample it is
        /// the host's lower bound: with drafts in flight only the device knows how many were
        /// accepted, so it places the input after the positions it has kept.
        public var firstPosition: Int
        /// Physical block of each logical block; -1 (a hole) for a block that lies entirely
        /// before every position this entry attends to (freed under a sliding window).
        public var blockTable: [Int32]
        /// With a split cache (`KVCacheLayout.localPool`), the local layers' blocks for the same
        /// logical blocks; -1 for a block entirely before the local window of every position this
        /// entry attends from. As long as `blockTable`. nil without a split cache.
        public var localBlockTable: [Int32]?
        /// Whether to sample a token after the last input.
        public var samples: Bool
        /// Set the first time a sequence samples: the state the device keeps for it from then on.
        public var newState: (any DecodingState)?
        /// Set when a preempted sequence is readmitted: the number of output tokens the host has
        /// collected, to which the device rolls the sequence's decoding state back.
        public var acceptedTokens: Int?
        /// Top alternatives to report with each sampled token's log-probability (nil: none).
        public var topLogprobs: Int?
        /// Drafts the device may append after the input for verification in this step
        /// (speculative decoding; 0: none). The block table covers them.
        public var draftLimit: Int

        public var tokenCount: Int { tokens.count + (appendsPreviousSample ? 1 : 0) }

        public init(
            sequenceID: Int, tokens: [Int32], appendsPreviousSample: Bool, firstPosition: Int, blockTable: [Int32],
            localBlockTable: [Int32]? = nil, samples: Bool, newState: (any DecodingState)? = nil, acceptedTokens: Int? = nil,
            topLogprobs: Int? = nil, draftLimit: Int = 0
        ) {
            self.localBlockTable = localBlockTable
            self.sequenceID = sequenceID
            self.tokens = tokens
            self.appendsPreviousSample = appendsPreviousSample
            self.firstPosition = firstPosition
            self.blockTable = blockTable
            self.samples = samples
            self.newState = newState
            self.acceptedTokens = acceptedTokens
            self.topLogprobs = topLogprobs
            self.draftLimit = draftLimit
        }
    }

    public var id: Int
    public var entries: [Entry]
    /// Sequences whose device-side state (decoding state, last token) can be dropped.
    public var releasedSequences: [Int]

    public init(id: Int, entries: [Entry], releasedSequences: [Int]) {
        self.id = id
        self.entries = entries
        self.releasedSequences = releasedSequences
    }
}

/// What a step produced: for each sampling entry in entry order, its sampled token followed by
/// the drafted tokens it accepted, and when the step ran.
public struct StepOutput: Sendable {
    /// One sequence's drafts in a step: how many were verified and how many of them accepted.
    public struct Verification: Sendable, Equatable {
        public var sequenceID: Int
        public var drafted: Int
        public var accepted: Int

        public init(sequenceID: Int, drafted: Int, accepted: Int) {
            self.sequenceID = sequenceID
            self.drafted = drafted
            self.accepted = accepted
        }
    }

    public struct Sample: Sendable {
        public var sequenceID: Int
        public var token: Int32
        public var logprob: TokenLogprob?

        public init(sequenceID: Int, token: Int32, logprob: TokenLogprob? = nil) {
            self.sequenceID = sequenceID
            self.token = token
            self.logprob = logprob
        }
    }

    public var stepID: Int
    /// The tokens, several per sequence when drafts were accepted (a sequence's tokens are adjacent).
    public var samples: [Sample]
    /// The entries that verified drafts.
    public var verifications: [Verification]
    /// Device clock (`DispatchTime` nanoseconds) when the step started and ended computing.
    public var startNanoseconds: UInt64
    public var endNanoseconds: UInt64
    /// Set if the step could not run (e.g. an invalid batch); its sequences must be aborted.
    public var failure: String?

    public init(
        stepID: Int, samples: [Sample], verifications: [Verification] = [], startNanoseconds: UInt64, endNanoseconds: UInt64,
        failure: String? = nil
    ) {
        self.stepID = stepID
        self.samples = samples
        self.verifications = verifications
        self.startNanoseconds = startNanoseconds
        self.endNanoseconds = endNanoseconds
        self.failure = failure
    }
}

/// A submitted step's output, delivered once by the device and read by the engine.
///
/// `@unchecked Sendable`: `output` is only read and written with `condition` locked.
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
