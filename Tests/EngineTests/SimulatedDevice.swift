import Foundation
import Randomness
import Tokenizer

@testable import Engine

/// A fake model whose next-token logits are a hash of the whole context (prompt and outputs so
/// far), or of its last `window` tokens when the model has a sliding window on every layer, read
/// back through the block tables from a paged token store. A model with interleaved local and
/// global layers and a split cache hashes both: the whole context read through the global table
/// and its last `localWindow` tokens read through the local table, so a wrong block in either
/// changes the tokens. Anything that corrupts the simulated
/// KV cache (a wrong shared block, a block reused too early, a wrong position, a stale decoding
/// state) changes the tokens.
enum FakeModel {
    static let vocabularySize = 1000
    static let endOfText: Int32 = 999

    /// Deterministic pseudo-random logits in [0, 8) for the token after `context`. A `copying`
    /// model also favours (+10) the token that followed the latest earlier occurrence of the
    /// context's last two tokens, as real models repeat their input: n-gram drafts then are often,
    /// not always, accepted.
    static func logits<C: BidirectionalCollection>(after context: C, copying: Bool = false) -> [Float] where C.Element == Int32 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for token in context { hash = (hash ^ UInt64(UInt32(bitPattern: token))) &* 0x0000_0100_0000_01b3 }
        var random = SplitMix64(seed: hash)
        var logits = (0..<vocabularySize).map { _ in Float(random.next() >> 40) / Float(1 << 24) * 8 }
        let tokens = Array(context)
        if copying, tokens.count >= 3 {
            let last = tokens.count - 1
            if let end = stride(from: last - 1, through: 1, by: -1).first(where: { tokens[$0 - 1] == tokens[last - 1] && tokens[$0] == tokens[last] }
            ),
                tokens[end + 1] >= 0, Int(tokens[end + 1]) < vocabularySize
            {
                logits[Int(tokens[end + 1])] += 10
            }
        }
        return logits
    }

    /// Separates the whole context from the local window's in the hashed context of a split cache.
    static let localSeparator: Int32 = -3

    /// What the engine must produce for `request`: the request run alone, token by token, with a
    /// fresh decoding state; with a `window`, each token sees only the last `window` of its context;
    /// with a `localWindow` (interleaved layers), the whole context and then its last `localWindow`.
    static func reference(
        _ request: GenerationRequest, copying: Bool = false, window: Int? = nil, localWindow: Int? = nil
    ) -> (tokens: [Int32], reason: FinishReason) {
        var state: any DecodingState = SamplingState(parameters: request.sampling, promptTokens: request.promptTokens)
        if let runtime = request.constraint {
            state = ConstrainedState(
                parameters: request.sampling, promptTokens: request.promptTokens, runtime: runtime,
                endOfText: Set([endOfText]).union(request.stopTokenIDs))
        }
        var context = request.promptTokens
        var output: [Int32] = []
        while output.count < request.maxTokens {
            let seen = Array(context.suffix(window ?? context.count)) + (localWindow.map { [localSeparator] + context.suffix($0) } ?? [])
            var row = logits(after: seen, copying: copying)
            let token = row.withUnsafeMutableBufferPointer { row in
                state.mask(row)
                return state.choose(from: row)
            }
            state.accept(token)
            if request.stopTokenIDs.contains(token) || (!request.ignoreEOS && token == endOfText) { return (output, .stop) }
            output.append(token)
            context.append(token)
        }
        return (output, .length)
    }

    /// A SentencePiece vocabulary of `vocabularySize` tokens whose end of text is `endOfText`.
    static let tokenizer: Tokenizer = {
        var tokens = (0..<vocabularySize).map { "▁t\($0)" }
        tokens[0] = "<unk>"
        tokens[1] = "<s>"
        tokens[Int(endOfText)] = "</s>"
        var types = [TokenType](repeating: .normal, count: vocabularySize)
        types[0] = .unknown
        types[1] = .control
        types[Int(endOfText)] = .control
        let vocabulary = TokenizerVocabulary(
            model: .llama, tokens: tokens, tokenTypes: types, scores: [Float](repeating: 0, count: vocabularySize),
            bosTokenId: 1, eosTokenId: Int(endOfText), unknownTokenId: 0)
        do { return try Tokenizer(vocabulary: vocabulary) } catch { fatalError("the test vocabulary is valid: \(error)") }
    }()

    static let limits = ModelLimits(contextLength: 4096, vocabularySize: vocabularySize)

    /// `constraint` compiled over the fake vocabulary, as `Engine.constraint(_:)` does.
    static func runtime(_ constraint: OutputConstraint) throws -> ConstraintRuntime {
        let bytes = (0..<Int32(vocabularySize)).map { tokenizer.pieceBytes(of: $0, skipSpecial: true) }
        return ConstraintRuntime(grammar: try constraint.compile(), trie: TokenTrie(tokenBytes: bytes))
    }
}

/// A device that computes each step when it is submitted (in submission order, as a real device
/// would), against `FakeModel` and a paged token store, and checks at every step the invariants
/// a device can see: budgets, positions, the device-resolved decode inputs, that no block is
/// written while a step still in flight (submitted, not yet waited for) uses it, and that every
/// position a token attends to (all before it, or its window) has a block, never a hole.
final class SimulatedDevice: Device, @unchecked Sendable {
    /// One entry as the device saw it, for the plan tests.
    struct Seen: Sendable {
        let sequenceID: Int
        let range: Range<Int>
        let usesPreviousSample: Bool
        let samples: Bool
        var description: String { "\(sequenceID):\(range.lowerBound)..<\(range.upperBound)\(usesPreviousSample ? "+p" : "")\(samples ? "s" : "")" }
    }

    let cacheLayout: KVCacheLayout
    let asynchronous: Bool
    /// Whether the engine should treat it as the CPU device (the single-sequence fast path).
    let computesOnHostCores: Bool
    let maxBatchTokens: Int
    let maxSequences: Int
    /// Whether the fake model repeats its context (`FakeModel.logits(after:copying:)`).
    let copying: Bool
    /// Called with every step before it computes (on the engine's thread).
    var inspect: (DeviceStep) -> Void = { _ in }

    // `@unchecked Sendable`: everything below is guarded by `lock` (the engine thread writes it,
    // the test reads it after the run).
    private let lock = NSLock()
    private var kv: [Int32]
    /// The local layers' pool of a split cache.
    private var localKV: [Int32]
    private var states: [Int: any DecodingState] = [:]
    private var written: [Int: Int] = [:]
    private var released: Set<Int> = []
    private var lastSamplingStep: [Int: Int] = [:]
    private var unwaited: [Int: DeviceStep] = [:]
    private var outputs: [Int: StepOutput] = [:]
    private var lastSubmitted = -1
    private var _violations: [String] = []
    private var _steps: [[Seen]] = []
    private var _samples: [Int: Int] = [:]
    private var _acceptedDrafts = 0
    private var _waits: [(step: Int, successorSubmitted: Bool)] = []
    private var _ranInline: [Int: Bool] = [:]

    init(
        blockSize: Int, blockCount: Int, asynchronous: Bool, maxBatchTokens: Int, maxSequences: Int,
        computesOnHostCores: Bool = false, copying: Bool = false, window: Int? = nil, localPool: KVCacheLayout.LocalPool? = nil
    ) {
        cacheLayout = KVCacheLayout(
            blockSize: blockSize, blockCount: blockCount, elementType: "token", attentionWindow: window, localPool: localPool)
        localKV = Array(repeating: -1, count: blockSize * (localPool?.blockCount ?? 0))
        self.copying = copying
        self.asynchronous = asynchronous
        self.computesOnHostCores = computesOnHostCores
        self.maxBatchTokens = maxBatchTokens
        self.maxSequences = maxSequences
        kv = Array(repeating: -1, count: blockSize * blockCount)
    }

    var violations: [String] { lock.withLock { _violations } }
    /// Every step's entries, in order.
    var steps: [[Seen]] { lock.withLock { _steps } }
    var plan: [[String]] { steps.map { $0.map(\.description) } }
    /// Tokens sampled per sequence id (accepted drafts included).
    var samples: [Int: Int] { lock.withLock { _samples } }
    /// Drafts accepted over the run.
    var acceptedDrafts: Int { lock.withLock { _acceptedDrafts } }
    /// Each wait, and whether the next step had been submitted before it.
    var waits: [(step: Int, successorSubmitted: Bool)] { lock.withLock { _waits } }

    private func fail(_ message: String) {
        if _violations.count < 20 { _violations.append("step \(lastSubmitted): \(message)") }
    }

    /// For each step id, whether it came through `run(_:)` with no step in flight.
    var ranInline: [Int: Bool] { lock.withLock { _ranInline } }

    func run(_ step: DeviceStep) -> StepOutput {
        let idle = lock.withLock { unwaited.isEmpty }
        if !idle { lock.withLock { fail("step \(step.id) run while steps are in flight") } }
        let output = wait(for: submit(step))
        lock.withLock { _ranInline[step.id] = idle }
        return output
    }

    func submit(_ step: DeviceStep) -> StepHandle {
        inspect(step)
        lock.lock()
        defer { lock.unlock() }
        _ranInline[step.id] = false
        if step.id != lastSubmitted + 1 { fail("step \(step.id) submitted after \(lastSubmitted)") }
        lastSubmitted = step.id
        check(step)
        outputs[step.id] = compute(step)
        unwaited[step.id] = step
        return StepHandle(stepID: step.id)
    }

    func wait(for handle: StepHandle) -> StepOutput {
        lock.lock()
        defer { lock.unlock() }
        _waits.append((handle.stepID, lastSubmitted > handle.stepID))
        if unwaited.keys.contains(where: { $0 < handle.stepID }) { fail("step \(handle.stepID) waited before an earlier one") }
        unwaited[handle.stepID] = nil
        guard let output = outputs.removeValue(forKey: handle.stepID) else {
            fail("waited for unknown step \(handle.stepID)")
            return StepOutput(stepID: handle.stepID, samples: [], startNanoseconds: 0, endNanoseconds: 0, failure: "unknown")
        }
        return output
    }

    func shutdown() {}

    /// The first position a token at `position` attends to.
    private func firstAttended(_ position: Int) -> Int {
        cacheLayout.attentionWindow.map { max(position - $0 + 1, 0) } ?? 0
    }

    /// The first position a local layer's token at `position` attends to (split cache).
    private func firstAttendedLocally(_ position: Int) -> Int {
        cacheLayout.localPool.map { max(position - $0.window + 1, 0) } ?? 0
    }

    private func slot(_ position: Int, _ table: [Int32], blocks: Int? = nil) -> Int? {
        let index = position / cacheLayout.blockSize
        guard index < table.count, table[index] >= 0, Int(table[index]) < blocks ?? cacheLayout.blockCount else { return nil }
        return Int(table[index]) * cacheLayout.blockSize + position % cacheLayout.blockSize
    }

    private func localSlot(_ position: Int, _ entry: DeviceStep.Entry) -> Int? {
        slot(position, entry.localBlockTable ?? [], blocks: cacheLayout.localPool?.blockCount ?? 0)
    }

    /// The invariants a device can check before computing a step.
    private func check(_ step: DeviceStep) {
        let blockSize = cacheLayout.blockSize
        let tokens = step.entries.reduce(0) { $0 + $1.tokenCount }
        if tokens > maxBatchTokens { fail("\(tokens) tokens exceed the budget \(maxBatchTokens)") }
        if step.entries.count > maxSequences { fail("\(step.entries.count) sequences exceed the cap") }
        if Set(step.entries.map(\.sequenceID)).count != step.entries.count { fail("a sequence appears twice") }
        released.formUnion(step.releasedSequences)
        // Blocks that steps in flight use, by sequence.
        var inFlightBlocks: [Int32: Set<Int>] = [:]
        var inFlightLocalBlocks: [Int32: Set<Int>] = [:]
        for earlier in unwaited.values {
            for entry in earlier.entries {
                for block in entry.blockTable where block >= 0 { inFlightBlocks[block, default: []].insert(entry.sequenceID) }
                for block in entry.localBlockTable ?? [] where block >= 0 {
                    inFlightLocalBlocks[block, default: []].insert(entry.sequenceID)
                }
            }
        }
        for entry in step.entries {
            let id = entry.sequenceID
            if released.contains(id) { fail("sequence \(id) scheduled after its release") }
            if entry.tokenCount < 1 { fail("empty entry for \(id)") }
            let computed = written[id] ?? 0
            let first = devicePosition(entry)
            if first != computed && first % blockSize != 0 {
                fail("sequence \(id) starts at \(first), not at \(computed) or a block boundary")
            }
            if entry.appendsPreviousSample {
                // Invariant "no host round trip": the input is the sample of the step in flight.
                if !asynchronous { fail("a previous sample used in synchronous mode") }
                if lastSamplingStep[id] != step.id - 1 || unwaited[step.id - 1] == nil {
                    fail("sequence \(id) appends a sample that is not in flight")
                }
                if entry.firstPosition > first { fail("sequence \(id): the host's position \(entry.firstPosition) is past the device's \(first)") }
            } else if entry.firstPosition != first {
                fail("sequence \(id): known tokens at \(entry.firstPosition), the device is at \(first)")
            }
            if entry.draftLimit > 0 && !(entry.samples && entry.tokenCount == 1) { fail("sequence \(id) drafts outside a decode") }
            // Invariant "memory freed late": no block written now, drafts included, is used by
            // another sequence in flight.
            let end = first + entry.tokenCount + entry.draftLimit
            for position in first..<end {
                let index = position / blockSize
                guard index < entry.blockTable.count else {
                    fail("sequence \(id) lacks a block for position \(position)")
                    break
                }
                let block = entry.blockTable[index]
                if let users = inFlightBlocks[block], !users.subtracting([id]).isEmpty {
                    fail("block \(block) written by \(id) while sequences \(users.sorted()) in flight use it")
                }
                if let local = entry.localBlockTable, index < local.count, let users = inFlightLocalBlocks[local[index]],
                    !users.subtracting([id]).isEmpty
                {
                    fail("local block \(local[index]) written by \(id) while sequences \(users.sorted()) in flight use it")
                }
            }
            // A split cache: both tables cover the same logical blocks, the local one every position
            // its local window reaches.
            if cacheLayout.localPool != nil {
                if entry.localBlockTable?.count != entry.blockTable.count {
                    fail("sequence \(id): local table \(entry.localBlockTable ?? []) for global \(entry.blockTable)")
                } else if let missing = (firstAttendedLocally(first)..<end).first(where: { localSlot($0, entry) == nil }) {
                    fail("sequence \(id) attends locally to position \(missing), which has no block (\(entry.localBlockTable ?? []))")
                }
            } else if entry.localBlockTable != nil {
                fail("sequence \(id) has a local table without a split cache")
            }
            // Every position the entry's tokens attend to (the first token reaches back the
            // furthest) must have a block: a hole there would be read.
            if let missing = (firstAttended(first)..<end).first(where: { slot($0, entry.blockTable) == nil }) {
                fail("sequence \(id) attends to position \(missing), which has no block (\(entry.blockTable))")
            }
        }
        _steps.append(
            step.entries.map {
                Seen(
                    sequenceID: $0.sequenceID, range: devicePosition($0)..<devicePosition($0) + $0.tokens.count,
                    usesPreviousSample: $0.appendsPreviousSample, samples: $0.samples)
            })
    }

    /// Where an entry's input starts on the device: after the positions it kept for a decode that
    /// appends its previous sample (only the device knows how many drafts were accepted).
    private func devicePosition(_ entry: DeviceStep.Entry) -> Int {
        entry.appendsPreviousSample ? written[entry.sequenceID] ?? entry.firstPosition : entry.firstPosition
    }

    private func compute(_ step: DeviceStep) -> StepOutput {
        for id in step.releasedSequences { states[id] = nil }
        var samples: [StepOutput.Sample] = []
        var verifications: [StepOutput.Verification] = []
        for entry in step.entries {
            let id = entry.sequenceID
            if let state = entry.newState { states[id] = state }
            if let count = entry.acceptedTokens { states[id]?.rollBack(toAcceptedCount: count) }
            let first = devicePosition(entry)
            var inputs = entry.tokens
            if entry.appendsPreviousSample {
                guard let previous = states[id]?.lastToken else {
                    fail("no previous sample for \(id)")
                    continue
                }
                inputs.append(previous)
            }
            let inputEnd = first + inputs.count
            var drafts: [Int32] = []
            if entry.samples, entry.draftLimit > 0, let state = states[id] {
                drafts = state.draft(limit: min(entry.draftLimit, entry.blockTable.count * cacheLayout.blockSize - inputEnd))
            }
            for (offset, token) in (inputs + drafts).enumerated() {
                if let s = localSlot(first + offset, entry) { localKV[s] = token }
                guard let s = slot(first + offset, entry.blockTable) else { continue }
                kv[s] = token
            }
            written[id] = inputEnd
            guard entry.samples else { continue }
            guard var state = states[id] else {
                fail("sequence \(id) samples without a decoding state")
                continue
            }
            // Row i sees the context (the window of it) up to the input and the first i drafts,
            // read back through the block table; its token counts, and the next row too while it
            // equals the draft.
            var rows: [UnsafeMutableBufferPointer<Float>] = []
            defer { for row in rows { row.deallocate() } }
            let accepted = state.chooseVerifying(drafts: drafts) { draft in
                let end = inputEnd + draft
                var context = (firstAttended(end - 1)..<end).map { slot($0, entry.blockTable).map { kv[$0] } ?? -2 }
                if cacheLayout.localPool != nil {
                    context.append(FakeModel.localSeparator)
                    context += (firstAttendedLocally(end - 1)..<end).map { localSlot($0, entry).map { localKV[$0] } ?? -2 }
                }
                let logits = FakeModel.logits(after: context, copying: copying)
                let row = UnsafeMutableBufferPointer<Float>.allocate(capacity: logits.count)
                _ = row.initialize(from: logits)
                rows.append(row)
                return row
            } chosen: { token, _ in
                samples.append(StepOutput.Sample(sequenceID: id, token: token))
                _samples[id, default: 0] += 1
            }
            if !drafts.isEmpty { verifications.append(StepOutput.Verification(sequenceID: id, drafted: drafts.count, accepted: accepted)) }
            _acceptedDrafts += accepted
            written[id] = inputEnd + accepted
            states[id] = state
            lastSamplingStep[id] = step.id
        }
        return StepOutput(stepID: step.id, samples: samples, verifications: verifications, startNanoseconds: 0, endNanoseconds: 0)
    }
}
