import Foundation
import Kernels

extension ExpertWeights {
    /// The mixture-of-experts feed-forward of `tokens` rows of `input` (`width` floats each), written
    /// to `workspace.output`, which is returned.
    ///
    /// The step routes every token first, then runs each expert that at least one token chose once,
    /// over the rows of all the tokens that chose it (gathered into one block), so each expert's
    /// weights are read once per step, not once per token; the weighted outputs are then summed per
    /// token. Per token: `p = softmax(router · h)` over all experts, the `usedCount` largest (ties to
    /// the lower index) with weights `p_e`, divided by their sum when the family renormalises, and
    /// `out = Σ_slot weight · down_e(silu(gate_e h) · up_e h)` in slot order (most probable first).
    /// Every matrix product is batch invariant and a token's sum depends only on its own experts, so a
    /// token's result does not depend on the other tokens of the step.
    func apply(
        input: UnsafePointer<Float>, tokens n: Int, width: Int, workspace ws: ExpertWorkspace,
        pool: WorkerPool, scratch: MatmulScratch
    ) -> UnsafeMutablePointer<Float> {
        let e = configuration
        let experts = e.count, used = e.usedCount, ff = e.feedForwardWidth
        ws.reserve(tokens: n, experts: experts, used: used, width: width, feedForward: ff)
        matmul(router, input: input, tokens: n, output: ws.probabilities, pool: pool, scratch: scratch)
        let probabilities = ws.probabilities, selected = ws.selected, weights = ws.weights
        let normalizes = e.normalizesTopK
        Self.perTokens(n, pool) { range in
            for t in range {
                Self.route(
                    probabilities + t * experts, count: experts, used: used, normalizes: normalizes,
                    selected: selected + t * used, weights: weights + t * used)
            }
        }

        // Group the (token, slot) pairs by expert, tokens in batch order within each expert.
        let counts = ws.counts, starts = ws.starts, outputRow = ws.outputRow, rowToken = ws.rowToken
        counts.update(repeating: 0, count: experts)
        for i in 0..<(n * used) { counts[Int(selected[i])] += 1 }
        starts[0] = 0
        for expert in 0..<experts { starts[expert + 1] = starts[expert] + counts[expert] }
        counts.update(repeating: 0, count: experts)
        for i in 0..<(n * used) {
            let expert = Int(selected[i])
            let row = starts[expert] + counts[expert]
            counts[expert] += 1
            outputRow[i] = row
            rowToken[row] = i / used
        }

        for expert in 0..<experts where counts[expert] > 0 {
            let rows = counts[expert], first = starts[expert]
            for r in 0..<rows {
                (ws.gathered + r * width).update(from: input + rowToken[first + r] * width, count: width)
            }
            let parts = gateUp[expert].run(
                input: ws.gathered, tokens: rows, outputs: [ws.gate, ws.up], staging: ws.staging,
                pool: pool, scratch: scratch)
            for r in 0..<rows {
                siluMul(gate: parts[0].row(r), up: parts[1].row(r), count: ff, output: ws.product + r * ff)
            }
            matmul(
                down[expert], input: ws.product, tokens: rows, output: ws.expertOutput + first * width,
                pool: pool, scratch: scratch)
        }

        let output = ws.output, expertOutput = ws.expertOutput
        Self.perTokens(n, pool) { range in
            for t in range {
                let out = output + t * width
                out.update(repeating: 0, count: width)
                for slot in 0..<used {
                    let row = expertOutput + outputRow[t * used + slot] * width
                    let weight = weights[t * used + slot]
                    for i in 0..<width { out[i] = out[i].addingProduct(weight, row[i]) }
                }
            }
        }
        return output
    }

    /// Turns one token's router logits (`count` values, overwritten) into probabilities and writes
    /// the `used` most probable experts (ties to the lower index) and their weights.
    static func route(
        _ logits: UnsafeMutablePointer<Float>, count: Int, used: Int, normalizes: Bool,
        selected: UnsafeMutablePointer<Int32>, weights: UnsafeMutablePointer<Float>
    ) {
        var largest = -Float.infinity
        for i in 0..<count { largest = max(largest, logits[i]) }
        var sum: Float = 0
        for i in 0..<count {
            let value = Foundation.exp(logits[i] - largest)
            logits[i] = value
            sum += value
        }
        for i in 0..<count { logits[i] /= sum }
        // Selection: the largest remaining probability, `used` times; a chosen one is then marked
        // -1 (every probability is >= 0), so the scan is O(count) per slot.
        var total: Float = 0
        for slot in 0..<used {
            var best = -1
            var bestValue: Float = -1
            for i in 0..<count where logits[i] > bestValue {
                best = i
                bestValue = logits[i]
            }
            // A NaN router output (never from finite weights) leaves nothing above -1: expert 0
            // rather than an invalid index.
            let expert = max(best, 0)
            selected[slot] = Int32(expert)
            weights[slot] = max(bestValue, 0)
            total += weights[slot]
            logits[expert] = -1
        }
        if normalizes && total > 0 {
            for slot in 0..<used { weights[slot] /= total }
        }
    }

    /// Runs per-token work on the pool when there are enough tokens to be worth a hand-off.
    private static func perTokens(_ n: Int, _ pool: WorkerPool, _ body: (Range<Int>) -> Void) {
        if n < 4 { body(0..<n) } else { pool.parallelFor(n, body) }
    }
}
