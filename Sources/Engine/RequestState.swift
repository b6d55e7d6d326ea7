import Foundation
import Tokenizer

/// The client's side of one request inside the engine: its event stream, the incremental
/// detokenizer and stop-string matcher that turn sampled tokens into text, and its timing.
///
/// The split of one sequence's state is deliberate: `RequestState` holds what only the client sees
/// (text, events, latency); `SequenceState` holds what the scheduler plans with (tokens, KV
/// progress, blocks); the device holds what chooses the next token (`DecodingState`). Only the
/// engine thread touches the first two.
final class RequestState {
    let request: GenerationRequest
    let sequence: SequenceState
    private let continuation: AsyncStream<GenerationEvent>.Continuation
    private var decoder: IncrementalDecoder
    private var stopMatcher: StopStringMatcher
    private let endOfGeneration: Set<Int32>
    /// Tokens that end a constrained output where its grammar is complete.
    private let endOfText: Set<Int32>
    let submitted: UInt64
    var firstScheduled: UInt64?
    private var firstToken: UInt64?
    private var completionTokens = 0

    init(
        request: GenerationRequest, sequence: SequenceState, tokenizer: Tokenizer, submitted: UInt64,
        continuation: AsyncStream<GenerationEvent>.Continuation
    ) {
        self.request = request
        self.sequence = sequence
        self.continuation = continuation
        self.submitted = submitted
        decoder = IncrementalDecoder(tokenizer: tokenizer)
        stopMatcher = StopStringMatcher(stopStrings: request.stopStrings)
        endOfGeneration = request.ignoreEOS ? [] : tokenizer.endOfGenerationTokens
        endOfText = tokenizer.endOfGenerationTokens.union(request.stopTokenIDs)
    }

    /// The decoding state the device starts this request's sequence with; with `drafting`, one
    /// that also drafts (speculative decoding).
    func makeDecodingState(drafting: Speculation? = nil) -> any DecodingState {
        var state: any DecodingState = SamplingState(parameters: request.sampling, promptTokens: request.promptTokens)
        if let runtime = request.constraint {
            state = ConstrainedState(
                parameters: request.sampling, promptTokens: request.promptTokens, runtime: runtime,
                endOfText: endOfText, startsAfter: request.constraintStartsAfter)
        }
        guard let drafting else { return state }
        return DraftingState(base: state, promptTokens: request.promptTokens, sizes: drafting.ngramSizes)
    }

    /// Appends a token collected from the device (already appended to `sequence`): streams its
    /// text, or ends the request at a stop token, a stop string or the length limit. Returns
    /// whether the token was streamed and the reason the request ends, if it does.
    func collect(_ token: Int32, logprob: TokenLogprob?, at time: UInt64) -> (streamed: Bool, finish: FinishReason?) {
        completionTokens = sequence.outputCount  // a stop token counts, but is not streamed
        if request.stopTokenIDs.contains(token) || endOfGeneration.contains(token) { return (false, .stop) }
        if firstToken == nil { firstToken = time }
        let text = stopMatcher.append(decoder.append(token))
        continuation.yield(.output(GenerationOutput(tokenIDs: [token], text: text, logprobs: logprob.map { [$0] } ?? [])))
        if stopMatcher.matched != nil { return (true, .stop) }
        return (true, sequence.outputCount >= sequence.maxTokens ? .length : nil)
    }

    /// Ends the stream: the text held back (unless a stop string cut it), the finish event, usage.
    func finish(_ reason: FinishReason, at end: UInt64) {
        if reason != .stop || stopMatcher.matched == nil {
            let tail = stopMatcher.append(decoder.flush()) + stopMatcher.flush()
            if !tail.isEmpty { continuation.yield(.output(GenerationOutput(tokenIDs: [], text: tail, logprobs: []))) }
        }
        let usage = GenerationUsage(
            promptTokens: sequence.promptCount, completionTokens: completionTokens,
            cachedPromptTokens: sequence.cachedPromptTokens,
            queueSeconds: Self.seconds(from: submitted, to: firstScheduled ?? end),
            timeToFirstTokenSeconds: firstToken.map { Self.seconds(from: submitted, to: $0) },
            totalSeconds: Self.seconds(from: submitted, to: end))
        continuation.yield(.finished(reason, usage))
        continuation.finish()
    }

    private static func seconds(from start: UInt64, to end: UInt64) -> Double {
        end > start ? Double(end - start) / 1e9 : 0
    }
}
