#!/usr/bin/env python3
"""Two builds of tandem side by side: `bench single` and `bench throughput`, alternated.

    python3 scripts/compare_builds.py OLD_BINARY NEW_BINARY [--rounds 3] [--model PATH] [--threads N]
        [--benches single,throughput] [--single-options "..."] [--throughput-options "..."]

Runs each benchmark with the old binary, then the new one, `--rounds` times (so both see the same
machine load), and prints the best figure of each binary and the ratio new/old. The machines are
shared and noisy: quote the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys

FIGURES = [
    ("single", "prefill_tokens_per_s", "bench single: prefill tok/s"),
    ("single", "decode_tokens_per_s", "bench single: decode tok/s"),
    ("throughput", "output_tokens_per_s", "bench throughput: output tok/s"),
    ("throughput", "decode_tokens_per_s", "bench throughput: decode-only steps tok/s"),
]


def run(binary: str, bench: str, extra: list[str]) -> dict:
    command = [binary, "bench", bench, "--json", *extra]
    print("+ " + " ".join(command), file=sys.stderr, flush=True)
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--benches", default="single,throughput", help="which of single,throughput to run")
    parser.add_argument("--single-options", default="", help="extra options of bench single, e.g. '--prompt-length 128'")
    parser.add_argument("--throughput-options", default="", help="extra options of bench throughput")
    args = parser.parse_args()
    extra = (["--model", args.model] if args.model else []) + (["--threads", str(args.threads)] if args.threads else [])
    benches = [b for b in ("single", "throughput") if b in args.benches.split(",")]
    options = {"single": shlex.split(args.single_options), "throughput": shlex.split(args.throughput_options)}

    results: dict[tuple[str, str], list[float]] = {}
    for round_ in range(args.rounds):
        for bench in benches:
            for name, binary in (("old", args.old), ("new", args.new)):
                report = run(binary, bench, extra + options[bench])
                for figure_bench, key, _ in FIGURES:
                    if figure_bench == bench:
                        results.setdefault((name, bench, key), []).append(report[key])

    for bench in benches:
        print(f"bench {bench} options: {' '.join(extra + options[bench]) or '(defaults: single pp512/tg128, throughput 64 x 128/128)'}")
    print()
    print(f"| figure | old (best of {args.rounds}) | new (best of {args.rounds}) | new / old | rounds old | rounds new |")
    print("|---|---:|---:|---:|---|---|")
    for bench, key, label in FIGURES:
        if bench not in benches:
            continue
        old, new = results[("old", bench, key)], results[("new", bench, key)]
        rounds = lambda values: ", ".join(f"{v:.1f}" for v in values)
        print(f"| {label} | {max(old):.1f} | {max(new):.1f} | {max(new) / max(old):.3f} | {rounds(old)} | {rounds(new)} |")


if __name__ == "__main__":
    main()
