#!/usr/bin/env python3
"""The KV cache element types side by side: `tandem bench throughput --kv-type T`, alternated.

    python3 scripts/compare_kv_types.py TANDEM [--types f16,q8_0,f32] [--rounds 3] [--model PATH]
        [--num-prompts 16] [--input-len 1024] [--output-len 64]

Runs the same offline batch once per type and round (so every type sees the same machine load) and
prints the best output and decode-only throughput of each type, its ratio to the first type, and the
cache memory per token. The machines are shared and noisy: quote the ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

BYTES_PER_VALUE = {"f32": 4.0, "f16": 2.0, "q8_0": 36 / 32}


def run(binary: str, kv_type: str, args: argparse.Namespace) -> dict:
    command = [binary, "bench", "throughput", "--json", "--kv-type", kv_type, "--num-prompts", str(args.num_prompts),
               "--input-len", str(args.input_len), "--output-len", str(args.output_len)]
    if args.model:
        command += ["--model", args.model]
    print("+ " + " ".join(command), file=sys.stderr, flush=True)
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tandem")
    parser.add_argument("--types", default="f16,q8_0,f32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model")
    parser.add_argument("--num-prompts", type=int, default=16)
    parser.add_argument("--input-len", type=int, default=1024)
    parser.add_argument("--output-len", type=int, default=64)
    args = parser.parse_args()
    types = args.types.split(",")

    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for kv_type in types:
            report = run(args.tandem, kv_type, args)
            for key in ("output_tokens_per_s", "decode_tokens_per_s"):
                results.setdefault((kv_type, key), []).append(report[key])

    print(f"{args.num_prompts} x {args.input_len} in / {args.output_len} out, best of {args.rounds} rounds")
    print("| KV type | bytes per cached value | output tok/s | ratio | decode-only tok/s | ratio | rounds (decode) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    base = types[0]
    for kv_type in types:
        output, decode = max(results[(kv_type, "output_tokens_per_s")]), max(results[(kv_type, "decode_tokens_per_s")])
        output_ratio = output / max(results[(base, "output_tokens_per_s")])
        decode_ratio = decode / max(results[(base, "decode_tokens_per_s")])
        rounds = ", ".join(f"{v:.1f}" for v in results[(kv_type, "decode_tokens_per_s")])
        print(f"| {kv_type} | {BYTES_PER_VALUE.get(kv_type, float('nan')):.3f} | {output:.1f} | {output_ratio:.2f} | "
              f"{decode:.1f} | {decode_ratio:.2f} | {rounds} |")


if __name__ == "__main__":
    main()
