import Foundation
import Model

/// Runs steps on the CPU: one compute thread takes steps in submission order and runs the model's
/// forward pass (on all cores, through the model's worker pool), then samples.
///
/// Device-side state mirrors what a GPU would keep in device memory: each sequence's sampler
/// and the last token sampled for it, which resolves `appendsPreviousSample` inputs.
public final class CPUDevice: Device, @unchecked Sendable {
    public let model: LlamaModel
    public let cache: KVCache
    private let queue = NSCondition()
    private var pending: [(DeviceStep, StepHandle)] = []
    private var stopping = false
    private var thread: Thread?

    // Owned by the compute thread.
    private var samplers: [Int: Sampler] = [:]
    private var lastSampled: [Int: Int32] = [:]

    public init(model: LlamaModel, cache: KVCache) {
        self.model = model
        self.cache = cache
        let thread = Thread { self.computeLoop() }  // holds the device until shutdown()
        thread.name = "tandem-device"
        thread.stackSize = 8 << 20
        self.thread = thread
        thread.start()
    }

    public func submit(_ step: DeviceStep) -> StepHandle {
        let handle = StepHandle(stepID: step.id)
        queue.lock()
        precondition(!stopping, "step submitted after shutdown")
        pending.append((step, handle))
        queue.signal()
        queue.unlock()
        return handle
    }

    public func shutdown() {
        queue.lock()
        stopping = true
        queue.signal()
        queue.unlock()
    }

    private func computeLoop() {
        while true {
            queue.lock()
            while pending.isEmpty && !stopping { queue.wait() }
            if pending.isEmpty && stopping {
                queue.unlock()
                return
            }
            let (step, handle) = pending.removeFirst()
            queue.unlock()
            handle.fulfill(run(step))
        }
    }

    private func run(_ step: DeviceStep) -> StepOutput {
        let start = DispatchTime.now().uptimeNanoseconds
        for id in step.releasedSequences {
            samplers[id] = nil
            lastSampled[id] = nil
        }
        var batch = ForwardBatch()
        var failure: String?
        for entry in step.entries {
            var tokens = entry.tokens
            if entry.appendsPreviousSample {
                guard let previous = lastSampled[entry.sequenceID] else {
                    failure = "sequence \(entry.sequenceID) has no previous sample"
                    break
                }
                tokens.append(previous)
            }
            if let setup = entry.newSampler {
                samplers[entry.sequenceID] = Sampler(parameters: setup.parameters, promptTokens: setup.history)
            }
            batch.append(tokens: tokens, firstPosition: entry.firstPosition, blockTable: entry.blockTable,
                         blockSize: cache.blockSize, logitCount: entry.samples ? 1 : 0)
        }
        var samples: [StepOutput.Sample] = []
        if failure == nil && !batch.tokens.isEmpty {
            do {
                try model.forward(batch, cache: cache) { logits in
                    samples = sample(step.entries, logits: logits)
                }
            } catch {
                failure = "\(error)"
            }
        }
        return StepOutput(stepID: step.id, samples: samples, startNanoseconds: start,
                          endNanoseconds: DispatchTime.now().uptimeNanoseconds, failure: failure)
    }

    private func sample(_ entries: [DeviceStep.Entry], logits: UnsafeMutableBufferPointer<Float>) -> [StepOutput.Sample] {
        let vocabulary = model.configuration.vocabularySize
        var samples: [StepOutput.Sample] = []
        var row = 0
        for entry in entries where entry.samples {
            let rowLogits = UnsafeMutableBufferPointer(rebasing: logits[(row * vocabulary)..<((row + 1) * vocabulary)])
            row += 1
            var sampler = samplers[entry.sequenceID] ?? Sampler(parameters: .greedy)
            let token = sampler.sample(rowLogits)
            sampler.accept(token)
            samplers[entry.sequenceID] = sampler
            lastSampled[entry.sequenceID] = token
            let logprob = entry.topLogprobs.map { LogProbabilities(rowLogits).report(chosen: token, top: $0) }
            samples.append(.init(sequenceID: entry.sequenceID, token: token, logprob: logprob))
        }
        return samples
    }
}

/// Log-softmax of one row of logits, for log-probability reports.
struct LogProbabilities {
    let logits: UnsafeMutableBufferPointer<Float>
    let logNormalizer: Float

    init(_ logits: UnsafeMutableBufferPointer<Float>) {
        self.logits = logits
        var maximum = -Float.infinity
        for value in logits { maximum = max(maximum, value) }
        var sum: Double = 0
        for value in logits { sum += exp(Double(value - maximum)) }
        logNormalizer = maximum + Float(log(sum))
    }

    /// The chosen token's log-probability and the `count` most likely tokens'.
    func report(chosen token: Int32, top count: Int) -> TokenLogprob {
        var best: [(token: Int32, logprob: Float)] = []
        if count > 0 {
            for i in 0..<logits.count {
                let value = logits[i]
                if best.count == count, let last = best.last, value <= last.logprob { continue }
                let index = best.firstIndex { $0.logprob < value } ?? best.count
                best.insert((token: Int32(i), logprob: value), at: index)
                if best.count > count { best.removeLast() }
            }
        }
        return TokenLogprob(token: token, logprob: logits[Int(token)] - logNormalizer,
                            top: best.map { (token: $0.token, logprob: $0.logprob - logNormalizer) })
    }
}
