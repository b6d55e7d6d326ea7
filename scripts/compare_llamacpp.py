#!/usr/bin/env python3
"""Tandem vs llama.cpp, side by side in one run, on the same GGUF file and thread count.

    python3 scripts/compare_llamacpp.py [--model PATH] [--threads 2] [--batch-sizes 32,64] [--json]

Runs scripts/bench_llamacpp.py (llama.cpp through llama-cpp-python) and then `tandem bench single`
and `tandem bench throughput` (release build, built first if missing) and prints one table of
figures with Tandem/llama.cpp ratios. Batched figures compare like with like: Tandem's decode-only
steps (every sequence past its prompt) with llama.cpp's decode loop after its prefill, and output
tokens over the whole run (prefill + decode) on both sides. The machines are shared and noisy: quote the ratios, which
come from the same run, rather than absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = Path(os.environ.get("TANDEM_CACHE", Path.home() / ".cache/tandem")) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def run_json(command: list[str]) -> dict:
    print("+ " + " ".join(command), file=sys.stderr, flush=True)
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-sizes", default="32,64")
    ap.add_argument("--input-len", type=int, default=128)
    ap.add_argument("--output-len", type=int, default=128)
    ap.add_argument("--tandem", default=str(REPO / ".build/release/tandem"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]

    if not Path(args.tandem).exists():
        subprocess.run(["swift", "build", "-c", "release", "--product", "tandem"], cwd=REPO, check=True)

    llama = run_json([sys.executable, str(REPO / "scripts/bench_llamacpp.py"), "--model", args.model,
                      "--threads", str(args.threads), "--batch-sizes", ",".join(map(str, sizes)), "--json"])
    common = ["--model", args.model, "--threads", str(args.threads)]
    single = run_json([args.tandem, "bench", "single", *common, "--json"])
    batched = {}
    for size in sizes:
        batched[size] = run_json([args.tandem, "bench", "throughput", *common, "--num-prompts", str(size),
                                  "--max-seqs", str(size), "--input-len", str(args.input_len),
                                  "--output-len", str(args.output_len), "--json"])

    rows = [
        ("prefill, 512-token prompt (tok/s)", single["prefill_tokens_per_s"], llama["prefill"]["tok_per_s"]),
        ("single-stream decode, 128 tokens (tok/s)", single["decode_tokens_per_s"], llama["single_decode"]["tok_per_s"]),
    ]
    for entry in llama["batched_decode"]:
        size = entry["batch_size"]
        if size in batched:
            ours = batched[size]
            rows.append((f"batch {size}: batched decode tok/s (decode-only steps)", ours["decode_tokens_per_s"],
                         entry["decode_tok_per_s"]))
            rows.append((f"batch {size}: output tok/s over prefill + decode", ours["output_tokens_per_s"],
                         entry["total_tok_per_s"]))
    result = {
        "model": Path(args.model).name, "threads": args.threads,
        "rows": [{"figure": name, "tandem": t, "llama_cpp": l, "ratio": t / l if l else None} for name, t, l in rows],
        "tandem_batched": batched, "tandem_single": single, "llama_cpp": llama,
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"\n{Path(args.model).name}, {args.threads} threads (same run)")
    print(f"{'figure':<58} {'Tandem':>10} {'llama.cpp':>10} {'ratio':>7}")
    for name, t, l in rows:
        print(f"{name:<58} {t:>10.1f} {l:>10.1f} {t / l:>6.2f}x")
    for size, report in batched.items():
        print(f"Tandem batch {size}: device idle {report['device_idle_fraction'] * 100:.2f}%, "
              f"mean batch {report['mean_batch_size']:.1f}, {report['requests_per_s']:.2f} req/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
