#!/usr/bin/env python3
"""llama.cpp peer benchmark (through llama-cpp-python's low-level API).

Measures, with n_threads = n_threads_batch = 2 by default:
  * prefill tok/s for a 512-token prompt (n_batch = n_ubatch = 512; mean of 3 runs after a
    warm-up, KV cache cleared between runs),
  * single-stream greedy decode tok/s for 128 tokens after a 16-token prompt,
  * batched greedy decode at each --batch-sizes B: B distinct 128-token prompts (prefilled
    first, packed into 512-token batches, not timed as decode), then 128 decode steps with
    one token per sequence per llama_decode call (n_seq_max = B). Reported: output tokens /
    decode wall time, and output tokens / (prefill + decode) wall time.

Prompts are seeded random token ids (ids 100..n_vocab-1, never control tokens), so every
run does the same work. Argmax sampling is done in numpy and included in the decode time.
Decode results also carry the median per-step time (robust to other processes stealing the
cores, which makes llama.cpp's OpenMP threads stall for hundreds of ms on a busy 2-core box).

    python3 scripts/bench_llamacpp.py [--model PATH] [--threads 2] [--batch-sizes 1,8,32,64] [--json]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

DEFAULT_MODEL = Path.home() / ".cache/tandem/SmolLM2-135M-Instruct.Q4_1.gguf"

try:
    import numpy as np
    import llama_cpp as lc
except ImportError as e:  # pragma: no cover - depends on the environment
    print(f"bench_llamacpp: cannot import llama_cpp ({e}).\n"
          "Install llama-cpp-python (pip install llama-cpp-python) to run the llama.cpp peer benchmark.",
          file=sys.stderr)
    sys.exit(2)


class Bench:
    def __init__(self, model_path: Path, threads: int, seed: int = 0):
        lc.llama_backend_init()
        lc.llama_log_set(_silent_log, ctypes.c_void_p())
        mparams = lc.llama_model_default_params()
        self.model = lc.llama_model_load_from_file(str(model_path).encode(), mparams)
        if not self.model:
            raise SystemExit(f"llama.cpp could not load {model_path}")
        self.vocab = lc.llama_model_get_vocab(self.model)
        self.n_vocab = lc.llama_vocab_n_tokens(self.vocab)
        self.threads = threads
        self.rng = random.Random(seed)

    def random_tokens(self, n: int) -> list[int]:
        return [self.rng.randrange(100, self.n_vocab) for _ in range(n)]

    def context(self, n_ctx: int, n_seq_max: int, n_batch: int = 512, n_ubatch: int = 512):
        p = lc.llama_context_default_params()
        p.n_ctx = n_ctx
        p.n_batch = n_batch
        p.n_ubatch = n_ubatch
        p.n_seq_max = n_seq_max
        p.n_threads = self.threads
        p.n_threads_batch = self.threads
        p.no_perf = True
        ctx = lc.llama_init_from_model(self.model, p)
        if not ctx:
            raise SystemExit(f"llama.cpp could not create a context (n_ctx={n_ctx}, n_seq_max={n_seq_max})")
        return ctx

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def fill(batch, items) -> None:
        """items: list of (token, pos, seq_id, want_logits)."""
        for i, (tok, pos, seq, want) in enumerate(items):
            batch.token[i] = tok
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = 1 if want else 0
        batch.n_tokens = len(items)

    def decode(self, ctx, batch) -> None:
        rc = lc.llama_decode(ctx, batch)
        if rc != 0:
            raise SystemExit(f"llama_decode failed with {rc}")

    def argmax(self, ctx, i: int) -> int:
        ptr = lc.llama_get_logits_ith(ctx, i)
        return int(np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).argmax())

    @staticmethod
    def clear(ctx) -> None:
        lc.llama_memory_clear(lc.llama_get_memory(ctx), True)

    def prefill_sequences(self, ctx, batch, prompts: list[list[int]], n_batch: int) -> list[int]:
        """Prefill every prompt (sequence s = prompts[s]); returns each sequence's first greedy token."""
        items = [(tok, pos, s, pos == len(p) - 1) for s, p in enumerate(prompts) for pos, tok in enumerate(p)]
        first = [0] * len(prompts)
        for start in range(0, len(items), n_batch):
            chunk = items[start:start + n_batch]
            self.fill(batch, chunk)
            self.decode(ctx, batch)
            for i, (_, _, s, want) in enumerate(chunk):
                if want:
                    first[s] = self.argmax(ctx, i)
        return first

    # ------------------------------------------------------------------ measurements
    def prefill(self, n_tokens: int = 512, runs: int = 3) -> dict:
        ctx = self.context(n_ctx=n_tokens + 64, n_seq_max=1, n_batch=512, n_ubatch=512)
        batch = lc.llama_batch_init(512, 0, 1)
        prompt = self.random_tokens(n_tokens)
        times = []
        for r in range(runs + 1):  # first run is the warm-up
            self.clear(ctx)
            t0 = time.perf_counter()
            self.prefill_sequences(ctx, batch, [prompt], 512)
            lc.llama_synchronize(ctx)
            if r > 0:
                times.append(time.perf_counter() - t0)
        lc.llama_batch_free(batch)
        lc.llama_free(ctx)
        mean = sum(times) / len(times)
        return {"tokens": n_tokens, "runs": runs, "seconds": times, "tok_per_s": n_tokens / mean}

    def single_decode(self, n_new: int = 128, prompt_len: int = 16) -> dict:
        ctx = self.context(n_ctx=prompt_len + n_new + 64, n_seq_max=1)
        batch = lc.llama_batch_init(512, 0, 1)
        prompt = self.random_tokens(prompt_len)
        for warm in (True, False):
            self.clear(ctx)
            tok = self.prefill_sequences(ctx, batch, [prompt], 512)[0]
            steps = 8 if warm else n_new
            step_s = []
            t0 = time.perf_counter()
            for step in range(steps):
                ts = time.perf_counter()
                self.fill(batch, [(tok, prompt_len + step, 0, True)])
                self.decode(ctx, batch)
                tok = self.argmax(ctx, 0)
                step_s.append(time.perf_counter() - ts)
            dt = time.perf_counter() - t0
        lc.llama_batch_free(batch)
        lc.llama_free(ctx)
        med = statistics.median(step_s)
        return {"tokens": n_new, "prompt_tokens": prompt_len, "seconds": dt, "tok_per_s": n_new / dt,
                "median_step_ms": med * 1e3, "tok_per_s_from_median_step": 1.0 / med}

    def batched_decode(self, bsz: int, prompt_len: int = 128, n_new: int = 128) -> dict:
        per_seq = prompt_len + n_new + 8
        ctx = self.context(n_ctx=bsz * per_seq, n_seq_max=bsz, n_batch=512, n_ubatch=512)
        batch = lc.llama_batch_init(max(512, bsz), 0, 1)
        prompts = [self.random_tokens(prompt_len) for _ in range(bsz)]
        # warm-up: a tiny prefill + one decode step
        self.prefill_sequences(ctx, batch, [p[:8] for p in prompts], 512)
        self.clear(ctx)
        t0 = time.perf_counter()
        toks = self.prefill_sequences(ctx, batch, prompts, 512)
        lc.llama_synchronize(ctx)
        t_prefill = time.perf_counter() - t0
        step_s = []
        t1 = time.perf_counter()
        for step in range(n_new):
            ts = time.perf_counter()
            self.fill(batch, [(toks[s], prompt_len + step, s, True) for s in range(bsz)])
            self.decode(ctx, batch)
            toks = [self.argmax(ctx, s) for s in range(bsz)]
            step_s.append(time.perf_counter() - ts)
        t_decode = time.perf_counter() - t1
        med = statistics.median(step_s)
        lc.llama_batch_free(batch)
        lc.llama_free(ctx)
        out = bsz * n_new
        return {"batch_size": bsz, "prompt_tokens": prompt_len, "new_tokens_per_seq": n_new,
                "prefill_s": t_prefill, "decode_s": t_decode,
                "decode_tok_per_s": out / t_decode, "total_tok_per_s": out / (t_prefill + t_decode),
                "median_step_ms": med * 1e3, "decode_tok_per_s_from_median_step": bsz / med}


@lc.llama_log_callback
def _silent_log(level, text, user_data):  # noqa: ARG001 - ctypes callback signature
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.environ.get("TANDEM_MODEL", str(DEFAULT_MODEL)))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-sizes", default="1,8,32,64")
    ap.add_argument("--prefill-tokens", type=int, default=512)
    ap.add_argument("--decode-tokens", type=int, default=128)
    ap.add_argument("--batch-input-len", type=int, default=128, help="prompt tokens per sequence in batched runs")
    ap.add_argument("--batch-output-len", type=int, default=None, help="tokens per sequence in batched runs (default --decode-tokens)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()
    model = Path(os.path.expanduser(args.model))
    if not model.is_file():
        print(f"model not found: {model}", file=sys.stderr)
        return 1
    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]

    def progress(msg: str) -> None:
        print(f"[bench_llamacpp] {msg}", file=sys.stderr, flush=True)

    b = Bench(model, args.threads)
    result = {"engine": "llama.cpp", "llama_cpp_python": lc.__version__, "model": model.name,
              "threads": args.threads}
    progress("prefill ...")
    result["prefill"] = b.prefill(args.prefill_tokens)
    progress(f"prefill {result['prefill']['tok_per_s']:.1f} tok/s; single-stream decode ...")
    result["single_decode"] = b.single_decode(args.decode_tokens)
    progress(f"decode {result['single_decode']['tok_per_s']:.1f} tok/s")
    result["batched_decode"] = []
    for s in sizes:
        r = b.batched_decode(s, args.batch_input_len, args.batch_output_len or args.decode_tokens)
        progress(f"batch {s}: decode {r['decode_tok_per_s']:.1f} tok/s, total {r['total_tok_per_s']:.1f} tok/s")
        result["batched_decode"].append(r)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"llama.cpp (llama-cpp-python {lc.__version__}), {model.name}, {args.threads} threads")
    p, d = result["prefill"], result["single_decode"]
    print(f"  prefill {p['tokens']} tokens      : {p['tok_per_s']:9.1f} tok/s  (mean of {p['runs']} runs)")
    print(f"  single-stream decode {d['tokens']:>4}  : {d['tok_per_s']:9.1f} tok/s"
          f"  (median step {d['median_step_ms']:.2f} ms = {d['tok_per_s_from_median_step']:.1f} tok/s)")
    print(f"  {'batch':>5} {'decode tok/s':>13} {'total tok/s':>12} {'prefill s':>10} {'decode s':>9}"
          f" {'median step ms':>15} {'tok/s @median':>14}")
    for r in result["batched_decode"]:
        print(f"  {r['batch_size']:>5} {r['decode_tok_per_s']:>13.1f} {r['total_tok_per_s']:>12.1f} "
              f"{r['prefill_s']:>10.2f} {r['decode_s']:>9.2f} {r['median_step_ms']:>15.2f}"
              f" {r['decode_tok_per_s_from_median_step']:>14.1f}")
    print("  (wall-clock numbers are only meaningful on an otherwise idle machine; the median-step\n"
          "   figures are less sensitive to other processes stealing the cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
