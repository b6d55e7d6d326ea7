import Foundation
import Kernels
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
            batch.append(
                tokens: tokens, firstPosition: entry.firstPosition, blockTable: entry.blockTable,
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
        return StepOutput(
            stepID: step.id, samples: samples, startNanoseconds: start,
            endNanoseconds: DispatchTime.now().uptimeNanoseconds, failure: failure)
    }

    /// Samples every sampling entry's row, the rows spread over the model's worker pool (samplers
    /// are independent; each owns its random generator).
    private func sample(_ entries: [DeviceStep.Entry], logits: UnsafeMutableBufferPointer<Float>) -> [StepOutput.Sample] {
        let vocabulary = model.configuration.vocabularySize
        let sampling = entries.filter(\.samples)
        var batch = sampling.map { samplers[$0.sequenceID] ?? Sampler(parameters: .greedy) }
        var samples = sampling.map { StepOutput.Sample(sequenceID: $0.sequenceID, token: 0, logprob: nil) }
        batch.withUnsafeMutableBufferPointer { batch in
            samples.withUnsafeMutableBufferPointer { samples in
                model.pool.parallelFor(sampling.count) { range in
                    for i in range {
                        let row = UnsafeMutableBufferPointer(rebasing: logits[(i * vocabulary)..<((i + 1) * vocabulary)])
                        let token = batch[i].sample(row)
                        batch[i].accept(token)
                        samples[i].token = token
                        samples[i].logprob = sampling[i].topLogprobs.map { LogProbabilities(row).report(chosen: token, top: $0) }
                    }
                }
            }
        }
        for (entry, (sampler, sample)) in zip(sampling, zip(batch, samples)) {
            samplers[entry.sequenceID] = sampler
            lastSampled[entry.sequenceID] = sample.token
        }
        return samples
    }
}

/// Log-softmax of one row of logits, for log-probability reports.
struct LogProbabilities {
    let logits: UnsafeMutableBufferPointer<Float>
    let logNormalizer: Float

    /// The normalizer `max + log(sum(e^(x - max)))`: exponentials eight lanes at a time, summed in
    /// Double per block of 8 (a 128k vocabulary costs tens of microseconds, not a scalar exp each).
    init(_ logits: UnsafeMutableBufferPointer<Float>) {
        self.logits = logits
        var maximum = -Float.infinity
        for value in logits { maximum = max(maximum, value) }
        var sum: Double = 0
        if let base = logits.baseAddress, maximum.isFinite {
            let top = SIMD8<Float>(repeating: maximum)
            var j = 0
            while j + 8 <= logits.count {
                let x = UnsafeRawPointer(base + j).loadUnaligned(as: SIMD8<Float>.self)
                sum += Double(SIMDKernels.exp(x - top).sum())
                j += 8
            }
            while j < logits.count {
                sum += exp(Double(base[j] - maximum))
                j += 1
            }
        }
        logNormalizer = maximum.isFinite ? maximum + Float(log(sum)) : maximum
    }

    /// The chosen token's log-probability and the `count` most likely tokens'.
    func report(chosen token: Int32, top count: Int) -> TokenLogprob {
        let best = TopKSelection.best(UnsafeBufferPointer(logits), k: count)
        return TokenLogprob(
            token: token, logprob: logits[Int(token)] - logNormalizer,
            top: best.map { (token: $0.token, logprob: $0.logit - logNormalizer) })
    }
}
