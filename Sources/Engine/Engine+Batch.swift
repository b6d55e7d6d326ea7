/// The complete output of one request.
public struct GenerationResult: Sendable {
    public var id: String
    public var tokenIDs: [Int32]
    public var text: String
    public var logprobs: [TokenLogprob]
    public var finishReason: FinishReason
    public var usage: GenerationUsage

    /// An empty result, finish reason `abort` until a finish event says otherwise.
    public init(id: String) {
        self.id = id
        tokenIDs = []
        text = ""
        logprobs = []
        finishReason = .abort
        usage = GenerationUsage(
            promptTokens: 0, completionTokens: 0, cachedPromptTokens: 0, queueSeconds: 0, timeToFirstTokenSeconds: nil,
            totalSeconds: 0)
    }

    /// Adds one event of the request's stream.
    public mutating func append(_ event: GenerationEvent) {
        switch event {
        case .output(let output):
            tokenIDs += output.tokenIDs
            text += output.text
            logprobs += output.logprobs
        case .finished(let reason, let usage):
            finishReason = reason
            self.usage = usage
        }
    }
}

extension Engine {
    /// Generates every request to completion (offline batch inference) and returns the results
    /// in request order. The engine batches them continuously.
    /// - Parameter progress: called with the number of finished requests as they finish.
    public func generateBatch(
        _ requests: [GenerationRequest],
        progress: @Sendable (Int) -> Void = { _ in }
    ) async throws(EngineError) -> [GenerationResult] {
        var streams: [AsyncStream<GenerationEvent>] = []
        for request in requests {
            do {
                streams.append(try submit(request))
            } catch {
                for earlier in requests.prefix(streams.count) { abort(id: earlier.id) }
                throw error
            }
        }
        return await withTaskGroup(of: (Int, GenerationResult).self) { group in
            for (index, stream) in streams.enumerated() {
                let id = requests[index].id
                group.addTask { (index, await Self.result(of: stream, id: id)) }
            }
            var results = [GenerationResult?](repeating: nil, count: requests.count)
            var finished = 0
            for await (index, result) in group {
                results[index] = result
                finished += 1
                progress(finished)
            }
            return results.compactMap { $0 }
        }
    }

    /// Drains one request's stream into its result.
    public static func result(of stream: AsyncStream<GenerationEvent>, id: String) async -> GenerationResult {
        var result = GenerationResult(id: id)
        for await event in stream { result.append(event) }
        return result
    }
}
