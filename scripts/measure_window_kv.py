#!/usr/bin/env python3
"""KV blocks one long generation holds, with and without a sliding window on every layer (issue 12).

    python3 scripts/measure_window_kv.py --tandem .build/release/tandem [--tokens 4000] [--window 512]
                                         [--cache-tokens N]

Writes two Mistral-shaped synthetic GGUFs that differ only in `llama.attention.sliding_window`
(grouped-query attention 8/2, a window on every layer; small widths so a CPU generates thousands of
tokens in seconds), serves each with `tandem serve`, runs one greedy completion of `--tokens` tokens
(ignore_eos) and samples `vllm:kv_cache_usage_perc` from /metrics every 20 ms while it runs. Prints
the most blocks in use for each file. Without the window a sequence holds one block per 16 tokens of
its context; with it, the blocks behind the window return to the pool as it advances. With
`--cache-tokens` below the generation's length only the windowed file can serve it (the other is
refused: prompt + max_tokens must fit the cache).

    python3 scripts/measure_window_kv.py --tandem .build/release/tandem --gemma3 [--local-cache-tokens N]

With `--gemma3`, one Gemma-3-shaped file (5 local layers with the window, 1 global, as Gemma 3's
5:1) is served twice: with the local layers' own pool of `--local-cache-tokens` (the blocks one
sequence holds under the window: default ⌈(window + 512 - 1) / block⌉ + 1 blocks) and without the
split (`--kv-local-cache-tokens 0`: one pool for every layer). It prints the most blocks in use in
each pool (`vllm:kv_cache_usage_perc`, `tandem:local_kv_cache_usage_perc`) and the KV memory the
cache reserves, in token-layers (tokens of each pool times its layers).
"""
from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gguf import GGMLQuantizationType as T  # noqa: E402
from reference.synthetic import SyntheticSpec, write_model  # noqa: E402


def spec(window: int, context: int) -> SyntheticSpec:
    types = {t: T.F32 for t in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")}
    return SyntheticSpec("mistral-shaped", "llama", 256, 4, 8, 2, 512, 10000.0, [types] * 4, T.F32, T.F32,
                         seed=12, file_type=0, tokenizer_pre="gpt-2", n_ctx=context, sliding_window=window)


def gemma3_spec(window: int, context: int) -> SyntheticSpec:
    types = {t: T.F32 for t in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")}
    return SyntheticSpec("gemma3-shaped", "gemma3", 256, 6, 8, 2, 512, 1000000.0, [types] * 6, T.F32, None,
                         norm_eps=1e-6, seed=12, file_type=0, tokenizer_pre="default", head_dim=32, n_ctx=context,
                         sliding_window=window)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def usage(port: int, metric: str = "vllm:kv_cache_usage_perc") -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(metric):
            return float(line.split()[-1])
    return 0.0


def measure(tandem: str, model: Path, tokens: int, cache_tokens: int, block_size: int, extra: list[str] | None = None,
            local_blocks: int = 0):
    """(most blocks in use, context at the end), or (None, the error) if the completion failed. With
    `local_blocks`, the first is a pair: (global pool, local pool)."""
    port = free_port()
    server = subprocess.Popen([tandem, "serve", "--model", str(model), "--port", str(port), "--kv-cache-tokens",
                               str(cache_tokens), "--block-size", str(block_size), "--no-ui"] + (extra or []),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).status == 200:
                    break
            except Exception:
                time.sleep(0.2)
        peak = 0.0
        local_peak = 0.0
        done = threading.Event()
        result: dict = {}

        models = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5).read())
        name = models["data"][0]["id"]

        def generate():
            try:
                body = json.dumps({"model": name, "prompt": "Once upon a time", "max_tokens": tokens,
                                   "temperature": 0, "ignore_eos": True}).encode()
                request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", data=body,
                                                 headers={"Content-Type": "application/json"})
                result.update(json.loads(urllib.request.urlopen(request, timeout=600).read()))
            except urllib.error.HTTPError as error:  # reported by the caller
                result["error"] = f"{error.code}: {error.read().decode()[:200]}"
            except Exception as error:
                result["error"] = repr(error)
            finally:
                done.set()

        threading.Thread(target=generate, daemon=True).start()
        while not done.wait(0.02):
            peak = max(peak, usage(port))
            if local_blocks:
                local_peak = max(local_peak, usage(port, "tandem:local_kv_cache_usage_perc"))
        if "error" in result:
            return None, result["error"]
        blocks = cache_tokens // block_size
        context = result["usage"]["prompt_tokens"] + result["usage"]["completion_tokens"]
        if local_blocks:
            return (round(peak * blocks), round(local_peak * local_blocks)), context
        return round(peak * blocks), context
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tandem", required=True)
    ap.add_argument("--tokens", type=int, default=4000)
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--context", type=int, default=8192)
    ap.add_argument("--block-size", type=int, default=16)
    ap.add_argument("--cache-tokens", type=int, default=0, help="KV cache capacity (default: the context)")
    ap.add_argument("--gemma3", action="store_true", help="a Gemma-3-shaped file, with and without the split cache")
    ap.add_argument("--local-cache-tokens", type=int, default=0, help="--gemma3: the local pool's tokens")
    args = ap.parse_args()
    cache_tokens = args.cache_tokens or args.context
    if args.gemma3:
        measure_gemma3(args, cache_tokens)
        return
    with tempfile.TemporaryDirectory() as directory:
        for window in (args.window, 0):
            path = Path(directory) / f"mistral-shaped-{window}.gguf"
            write_model(spec(window, args.context), path)
            peak, context = measure(args.tandem, path, args.tokens, cache_tokens, args.block_size)
            label = f"window {window}" if window else "no window"
            if peak is None:
                print(f"{label}, cache of {cache_tokens} tokens: refused ({context})")
                continue
            print(f"{label}, cache of {cache_tokens} tokens: {context} tokens of context, at most {peak} blocks of "
                  f"{args.block_size} in use ({peak * args.block_size} token slots)")


def measure_gemma3(args, cache_tokens: int) -> None:
    held = -(-(args.window + 512 - 1) // args.block_size) + 1
    local_tokens = args.local_cache_tokens or held * args.block_size
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "gemma3-shaped.gguf"
        write_model(gemma3_spec(args.window, args.context), path)
        for split in (True, False):
            extra = ["--kv-local-cache-tokens", str(local_tokens if split else 0)]
            local_blocks = local_tokens // args.block_size if split else 0
            peak, context = measure(args.tandem, path, args.tokens, cache_tokens, args.block_size, extra, local_blocks)
            if peak is None:
                print(f"{'split' if split else 'one pool'}: refused ({context})")
                continue
            if split:
                memory = cache_tokens * 1 + local_tokens * 5
                print(f"split, global pool {cache_tokens} tokens, local pool {local_tokens}: {context} tokens of context, "
                      f"at most {peak[0]} global and {peak[1]} local blocks of {args.block_size} in use; "
                      f"KV reserved {memory} token-layers")
            else:
                print(f"one pool of {cache_tokens} tokens: {context} tokens of context, at most {peak} blocks of "
                      f"{args.block_size} in use; KV reserved {cache_tokens * 6} token-layers")


if __name__ == "__main__":
    main()
