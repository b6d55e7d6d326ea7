#!/usr/bin/env python3
"""Soak test for an OpenAI-compatible server (not run in CI).

Sends N streaming /v1/completions requests (default 1000) from C concurrent clients (default 64);
every fifth client disconnects after a few tokens. Then checks that:
  * every request that stayed connected finished its stream ([DONE] or a finish_reason),
  * /metrics returns to idle: vllm:num_requests_running 0 and vllm:kv_cache_usage_perc 0
    (both polled for up to --settle seconds; aborted requests must free their KV blocks),
  * the server's resident memory (VmRSS of --pid, from /proc/PID/status) stays flat: sampled
    before, every --sample-every seconds during, and after the run.
Prints the figures and exits non-zero when a check fails.

Usage: scripts/soak.py http://127.0.0.1:8000 --pid $(pgrep -n tandem) [--requests 1000]
       [--concurrency 64] [--max-tokens 64] [--model NAME] [--rss-growth-mb 64]
Standard library only.
"""
import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

WORDS = ("the of and to in is was for on are with as by at be this from that have or not but all were "
         "they which one their there been has more when will would who about out many then them").split()


def rss_kib(pid):
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def connection(base):
    url = urllib.parse.urlsplit(base)
    return http.client.HTTPConnection(url.hostname, url.port or 80, timeout=600)


def get(base, path):
    conn = connection(base)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def metrics(base):
    status, text = get(base, "/metrics")
    if status != 200:
        return {}
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name_and_labels, _, value = line.rpartition(" ")
        name = name_and_labels.split("{", 1)[0]
        try:
            values[name] = values.get(name, 0.0) + float(value)
        except ValueError:
            pass
    return values


def one_request(base, model, index, max_tokens, disconnect_after):
    """Returns ("done" | "disconnected" | "failed: ...", tokens seen)."""
    rng = random.Random(index)
    prompt = " ".join(rng.choice(WORDS) for _ in range(rng.randint(16, 96)))
    body = json.dumps({"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                       "stream": True, "ignore_eos": True})
    conn = connection(base)
    tokens = 0
    try:
        conn.request("POST", "/v1/completions", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        if response.status != 200:
            return f"failed: HTTP {response.status} {response.read()[:200]!r}", 0
        finished = False
        while True:
            line = response.readline()
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                finished = True
                break
            chunk = json.loads(data)
            if "error" in chunk:
                return f"failed: stream error {chunk['error']}", tokens
            for choice in chunk.get("choices") or []:
                if choice.get("text"):
                    tokens += 1
                if choice.get("finish_reason"):
                    finished = True
            if disconnect_after is not None and tokens >= disconnect_after:
                conn.sock.close()  # abrupt: no more reads, the server sees the socket drop
                return "disconnected", tokens
        return ("done" if finished else "failed: stream ended without [DONE]"), tokens
    except Exception as error:  # noqa: BLE001 - every failure is reported, none crashes the soak
        return f"failed: {type(error).__name__}: {error}", tokens
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_url")
    parser.add_argument("--pid", type=int, help="server process id, for VmRSS samples")
    parser.add_argument("--model")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--sample-every", type=float, default=5.0)
    parser.add_argument("--settle", type=float, default=30.0)
    parser.add_argument("--rss-growth-mb", type=float, default=64.0,
                        help="largest acceptable RSS growth from the warm-up sample to the end")
    args = parser.parse_args()
    base = args.base_url.rstrip("/")

    model = args.model
    if model is None:
        status, text = get(base, "/v1/models")
        model = json.loads(text)["data"][0]["id"] if status == 200 else "default"

    # Warm up (first allocations, caches) before the baseline memory sample.
    print("warm-up:", one_request(base, model, -1, 8, None)[0])
    samples = [(0.0, rss_kib(args.pid))]
    start = time.monotonic()
    stop = threading.Event()

    def sampler():
        while not stop.wait(args.sample_every):
            samples.append((time.monotonic() - start, rss_kib(args.pid)))

    threading.Thread(target=sampler, daemon=True).start()
    # Every fifth request disconnects after 1..max_tokens/2 tokens.
    plans = [(i, (1 + i % max(args.max_tokens // 2, 1)) if i % 5 == 0 else None) for i in range(args.requests)]
    done = 0
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        futures = [pool.submit(one_request, base, model, i, args.max_tokens, cut) for i, cut in plans]
        outcomes = []
        for future in futures:
            outcomes.append(future.result())
            done += 1
            if sys.stderr.isatty():
                print(f"\r{done}/{args.requests}", end="", file=sys.stderr)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    stop.set()
    elapsed = time.monotonic() - start

    connected = [outcome for (i, cut), outcome in zip(plans, outcomes) if cut is None]
    completed = sum(1 for status, _ in connected if status == "done")
    disconnected = sum(1 for status, _ in outcomes if status == "disconnected")
    failures = [status for status, _ in outcomes if status.startswith("failed")]
    tokens = sum(count for _, count in outcomes)
    print(f"requests {args.requests}, concurrency {args.concurrency}, {elapsed:.1f} s, {tokens} tokens streamed")
    print(f"connected clients completed: {completed}/{len(connected)}; disconnected on purpose: {disconnected}")
    for message in sorted(set(failures))[:5]:
        print(f"  {failures.count(message)}x {message}")

    # The server must return to idle once aborted requests are cleaned up.
    deadline = time.monotonic() + args.settle
    running = usage = None
    while time.monotonic() < deadline:
        values = metrics(base)
        running = values.get("vllm:num_requests_running")
        usage = values.get("vllm:kv_cache_usage_perc")
        if running == 0 and usage == 0:
            break
        time.sleep(0.5)
    print(f"after settling: vllm:num_requests_running {running}, vllm:kv_cache_usage_perc {usage}")
    if running is None or usage is None:
        print("  (the server's /metrics does not export these vLLM gauges, so idleness cannot be checked)")

    samples.append((time.monotonic() - start, rss_kib(args.pid)))
    ok = completed == len(connected) and running == 0 and usage == 0
    if args.pid is not None:
        print("RSS samples (s: MiB): " + ", ".join(
            f"{t:.0f}: {kib / 1024:.1f}" for t, kib in samples if kib is not None))
        valid = [kib for _, kib in samples if kib is not None]
        if len(valid) >= 2:
            growth = (valid[-1] - valid[0]) / 1024
            print(f"RSS growth over the run: {growth:+.1f} MiB (limit {args.rss_growth_mb} MiB)")
            ok = ok and growth <= args.rss_growth_mb
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
