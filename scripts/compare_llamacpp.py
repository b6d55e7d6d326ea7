#!/usr/bin/env python3
"""Tandem vs llama.cpp, side by side in one run, on the same GGUF file and thread count.

    python3 scripts/compare_llamacpp.py [--model PATH] [--threads 2] [--batch-sizes 32,64] [--repeat N] [--json]
                                        [--prompt-tokens 512] [--decode-tokens 128] [--no-load]

Any GGUF runs, including the random-weight shape files of scripts/make_shape_models.py: both sides
ignore end-of-generation tokens (llama.cpp's loop never checks them; Tandem's benches set ignoreEOS).
`--batch-sizes ""` skips the batched runs (an 8B file's batched runs take long on 2 cores). The
table also has Tandem's decode as a fraction of the memory read limit (weight bytes per token over
the read bandwidth measured in the same run by `tandem bench single`), and, unless --no-load, each
engine's time to load (file in the page cache: both load it once first) and peak RSS, each in a
process of its own.

Runs scripts/bench_llamacpp.py (llama.cpp through llama-cpp-python) and then `tandem bench single`
and `tandem bench throughput` (release build, built first if missing) and prints one table of
figures with Tandem/llama.cpp ratios. Batched figures compare like with like: Tandem's decode-only
steps (every sequence past its prompt) with llama.cpp's decode loop after its prefill, and output
tokens over the whole run (prefill + decode) on both sides. It also prints Tandem's own scaling: B
requests at once against requests of the same shape run one at a time (--max-seqs 1). The machines
are shared and noisy: quote the ratios, which come from the same run (with --repeat, the best of
alternating rounds), rather than absolute numbers.

Tandem's batched runs have speculative decoding off (`--speculative off`) unless `--speculative ngram`:
llama.cpp's batched loop drafts nothing, and a random-weight file repeats itself at greedy, so n-gram
drafts would be accepted far more often than on real text (1B Q4_0 at 16 sequences: 224 of 512 output
tokens, +2-11% decode-only tok/s).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = Path(os.environ.get("TANDEM_CACHE", Path.home() / ".cache/tandem")) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def run_json(command: list[str]) -> dict:
    print("+ " + " ".join(command), file=sys.stderr, flush=True)
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


LLAMA_LOAD = """
import sys, time, llama_cpp as lc, ctypes
@lc.llama_log_callback
def quiet(level, text, data): return None
lc.llama_backend_init(); lc.llama_log_set(quiet, ctypes.c_void_p())
start = time.perf_counter()
model = lc.llama_model_load_from_file(sys.argv[1].encode(), lc.llama_model_default_params())
p = lc.llama_context_default_params(); p.n_ctx = int(sys.argv[3]); p.n_threads = p.n_threads_batch = int(sys.argv[2])
ctx = lc.llama_init_from_model(model, p)
batch = lc.llama_batch_init(8, 0, 1)
batch.token[0] = 100; batch.pos[0] = 0; batch.n_seq_id[0] = 1; batch.seq_id[0][0] = 0; batch.logits[0] = 1; batch.n_tokens = 1
assert lc.llama_decode(ctx, batch) == 0
print(time.perf_counter() - start)
"""


def load_figures(command: list[str], parse) -> tuple[float, float]:
    """Runs `command` in a child process; returns (seconds to ready as `parse` reads them from its
    output, peak RSS in GB of that child alone)."""
    print("+ " + " ".join(command), file=sys.stderr, flush=True)
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"{command[0]} failed:\n{output[-2000:]}")
    return parse(output), usage.ru_maxrss * 1024 / 1e9


def ratio(name: str, tandem: float, llama: float) -> float | None:
    """Tandem's advantage: tandem / llama for rates, llama / tandem for times and memory."""
    if name.startswith(("time to ready", "peak RSS")):
        return llama / tandem if tandem else None
    return tandem / llama if llama else None


def best(runs: list[dict], key) -> dict:
    """The run with the highest figure: transient load on a shared machine only ever slows a run down."""
    return max(runs, key=key)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-sizes", default="32,64")
    ap.add_argument("--input-len", type=int, default=128)
    ap.add_argument("--output-len", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds of both engines, alternating; each figure is the best of its rounds")
    ap.add_argument("--tandem", default=str(REPO / ".build/release/tandem"))
    ap.add_argument("--prompt-tokens", type=int, default=512, help="prefill prompt length (both engines)")
    ap.add_argument("--decode-tokens", type=int, default=128, help="single-stream decode length (both engines)")
    ap.add_argument("--no-load", action="store_true", help="skip the load time / peak RSS rows")
    ap.add_argument("--speculative", choices=["off", "ngram"], default="off",
                    help="Tandem's speculative decoding in the batched runs (llama.cpp's drafts nothing)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]

    if not Path(args.tandem).exists():
        subprocess.run(["swift", "build", "-c", "release", "--product", "tandem"], cwd=REPO, check=True)

    common = ["--model", args.model, "--threads", str(args.threads)]

    def throughput(size: int) -> dict:
        # Batch 1 runs 8 requests one after the other: one request alone is too short to time.
        prompts = 8 if size == 1 else size
        return run_json([args.tandem, "bench", "throughput", *common, "--num-prompts", str(prompts),
                         "--max-seqs", str(size), "--input-len", str(args.input_len),
                         "--output-len", str(args.output_len), "--speculative", args.speculative, "--json"])

    llama_runs, single_runs, batched_runs = [], [], {size: [] for size in ([1, *sizes] if sizes else [])}
    loads: dict[str, list[tuple[float, float]]] = {"tandem": [], "llama": []}
    context = 4096

    def measure_loads() -> None:
        loads["llama"].append(load_figures(
            [sys.executable, "-c", LLAMA_LOAD, args.model, str(args.threads), str(context)],
            lambda out: float(out.strip().splitlines()[-1])))
        loads["tandem"].append(load_figures(
            [args.tandem, "bench", "single", *common, "--prompt-length", "1", "--generate-length", "1",
             "--repetitions", "1", "--no-bandwidth", "--json"],
            lambda out: float(re.search(r"model ready in ([0-9.]+) s", out).group(1))))

    if not args.no_load:
        subprocess.run(["cat", args.model], stdout=subprocess.DEVNULL, check=True)  # into the page cache
    for _ in range(max(args.repeat, 1)):
        if not args.no_load:
            measure_loads()
        llama_runs.append(run_json([sys.executable, str(REPO / "scripts/bench_llamacpp.py"), "--model", args.model,
                                    "--threads", str(args.threads), "--batch-sizes", ",".join(map(str, sizes)),
                                    "--prefill-tokens", str(args.prompt_tokens),
                                    "--decode-tokens", str(args.decode_tokens), "--batch-input-len", str(args.input_len),
                                    "--batch-output-len", str(args.output_len), "--json"]))
        single_runs.append(run_json([args.tandem, "bench", "single", *common, "--prompt-length", str(args.prompt_tokens),
                                     "--generate-length", str(args.decode_tokens), "--repetitions", "1", "--json"]))
        for size in batched_runs:
            batched_runs[size].append(throughput(size))

    llama_prefill = best(llama_runs, lambda r: r["prefill"]["tok_per_s"])["prefill"]["tok_per_s"]
    llama_decode = best(llama_runs, lambda r: r["single_decode"]["tok_per_s"])["single_decode"]["tok_per_s"]
    single = best(single_runs, lambda r: r["decode_tokens_per_s"])
    prefill = best(single_runs, lambda r: r["prefill_tokens_per_s"])["prefill_tokens_per_s"]
    rows = [
        (f"prefill, {args.prompt_tokens}-token prompt (tok/s)", prefill, llama_prefill),
        (f"single-stream decode, {args.decode_tokens} tokens (tok/s)", single["decode_tokens_per_s"], llama_decode),
    ]
    if loads["tandem"]:
        # Lower is better for both: the ratio is llama.cpp / Tandem, so above 1 means Tandem wins.
        t_load = min(x[0] for x in loads["tandem"]), min(x[1] for x in loads["tandem"])
        l_load = min(x[0] for x in loads["llama"]), min(x[1] for x in loads["llama"])
        rows.append(("time to ready, s (ratio: llama.cpp / Tandem)", t_load[0], l_load[0]))
        rows.append(("peak RSS, GB (ratio: llama.cpp / Tandem)", t_load[1], l_load[1]))
    batched = {}
    for size in sizes:
        entries = [e for run in llama_runs for e in run["batched_decode"] if e["batch_size"] == size]
        if not entries:
            continue
        decode = max(entries, key=lambda e: e["decode_tok_per_s"])["decode_tok_per_s"]
        total = max(entries, key=lambda e: e["total_tok_per_s"])["total_tok_per_s"]
        ours = batched[size] = best(batched_runs[size], lambda r: r["output_tokens_per_s"])
        ours_decode = max(r["decode_tokens_per_s"] for r in batched_runs[size])
        rows.append((f"batch {size}: batched decode tok/s (decode-only steps)", ours_decode, decode))
        rows.append((f"batch {size}: output tok/s over prefill + decode", ours["output_tokens_per_s"], total))

    # Tandem's own scaling: B requests at once against the same shape one request at a time.
    scaling = []
    if batched:
        one = best(batched_runs[1], lambda r: r["output_tokens_per_s"])
        one_decode = max(r["decode_tokens_per_s"] for r in batched_runs[1])
        scaling = [(f"batch {size} / one at a time: decode tok/s (decode-only steps)",
                    max(r["decode_tokens_per_s"] for r in batched_runs[size]), one_decode) for size in batched]
        scaling += [(f"batch {size} / one at a time: output tok/s over the whole run",
                     batched[size]["output_tokens_per_s"], one["output_tokens_per_s"]) for size in batched]
    bandwidth = None
    if "read_gb_per_s" in single:
        bandwidth = {"weight_gb_per_token": single["weight_bytes_per_token"] / 1e9,
                     "read_gb_per_s": max(r["read_gb_per_s"] for r in single_runs)}
        bandwidth["limit_tok_per_s"] = bandwidth["read_gb_per_s"] / bandwidth["weight_gb_per_token"]
        # Both engines against the same limit (the best read of the rounds), not each round's own.
        bandwidth["tandem_fraction"] = single["decode_tokens_per_s"] / bandwidth["limit_tok_per_s"]
        bandwidth["llama_fraction_of_same_limit"] = llama_decode / bandwidth["limit_tok_per_s"]
    result = {
        "model": Path(args.model).name, "threads": args.threads, "repeat": args.repeat, "speculative": args.speculative,
        "rows": [{"figure": name, "tandem": t, "llama_cpp": l, "ratio": ratio(name, t, l)} for name, t, l in rows],
        "own_scaling": [{"figure": name, "batched": t, "single": o, "ratio": t / o if o else None}
                        for name, t, o in scaling],
        "tandem_batched": batched_runs, "tandem_single": single_runs, "llama_cpp": llama_runs,
        "bandwidth": bandwidth, "loads": loads,
    }
    if args.json:
        print(json.dumps(result))
        return 0
    rounds = f", best of {args.repeat} alternating rounds" if args.repeat > 1 else ""
    drafts = f", Tandem's batched runs with speculative decoding {args.speculative}" if sizes else ""
    print(f"\n{Path(args.model).name}, {args.threads} threads (same run{rounds}{drafts})")
    print(f"{'figure':<58} {'Tandem':>10} {'llama.cpp':>10} {'ratio':>7}")
    for name, t, l in rows:
        print(f"{name:<58} {t:>10.2f} {l:>10.2f} {ratio(name, t, l):>6.2f}x")
    if bandwidth:
        print(f"\nmemory read {bandwidth['read_gb_per_s']:.1f} GB/s (same run), Tandem reads "
              f"{bandwidth['weight_gb_per_token']:.3f} GB of weights per token: limit {bandwidth['limit_tok_per_s']:.2f} tok/s; "
              f"Tandem decode at {bandwidth['tandem_fraction'] * 100:.0f}% of it, llama.cpp at "
              f"{bandwidth['llama_fraction_of_same_limit'] * 100:.0f}%")
    if scaling:
        print(f"\n{'Tandem own scaling, ' + str(args.input_len) + ' in / ' + str(args.output_len) + ' out':<58} "
              f"{'batched':>10} {'single':>10} {'ratio':>7}")
    for name, t, o in scaling:
        print(f"{name:<58} {t:>10.1f} {o:>10.1f} {t / o:>6.2f}x")
    for size, report in batched.items():
        print(f"Tandem batch {size}: device idle {report['device_idle_fraction'] * 100:.2f}%, "
              f"mean batch {report['mean_batch_size']:.1f}, {report['requests_per_s']:.2f} req/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
