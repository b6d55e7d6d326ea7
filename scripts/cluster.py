#!/usr/bin/env python3
"""Tandem behind the routers people already run: N `tandem serve` workers on loopback, SGLang's
router (sglang-router) and vLLM's router (vllm-router) in front, driven by `tandem bench serve`
with a shared-prefix workload (a handful of long system prompts, many users each).

For each router and policy (cache_aware, round_robin) it flushes every worker's prefix cache, runs
the same workload through the router, and reads each worker's /metrics before and after:
throughput, TTFT p50/p99, and the prefix-cache hit rate per worker (vllm:prefix_cache_hits_total
over vllm:prefix_cache_queries_total). The workers' KV caches are sized so that each holds about
half of the system prompts: a router that keeps each prompt on one worker lets the workers' caches
add up; one that spreads them makes every worker hold every prompt.

Full mode also
  - stops one worker in the middle of a cache_aware run, gracefully (SIGTERM: no request may fail)
    and then by a crash (SIGKILL: no request may fail but those that were running on it); the
    router must stop sending to it; each time it restarts it on the same port, and a second run
    must be answered in full with the restarted worker taking part;
  - runs the same workload against one worker with all the threads (and all the KV cache), to say
    what the split costs or gains on this machine.

Full mode runs each router and policy for three rounds (new seeds), each with a fresh router.
Checks (full mode): every request answered (the SIGKILL run: failures <= requests in flight on the
killed worker); cache_aware's mean hit rate >= 1.5x round_robin's and its median TTFT p50 lower,
per router; the stopped worker rejoins. Short mode (CI): 2 workers, a few dozen requests through each pinned
router, every one answered, the figures printed. Ends with `N passed, M failed` (checks); exits
non-zero on a failure; --json FILE writes the figures.

The routers come from PyPI, pinned in scripts/requirements-cluster.txt, in their own virtual
environment (--router-venv, default .venv-routers; --install creates it).

Usage: scripts/cluster.py --binary PATH [--mode short|full] [--threads N] [--json FILE]
                          [--parts routing,stop,single] [--router-venv DIR] [--install]
Standard library only. Everything listens on 127.0.0.1, ports 18600-18699.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HOST = "127.0.0.1"
PORT_BASE = 18600
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_NAME = "tandem"

MODES = {
    # requests: per run; prefixes x prefix_len: the shared system prompts; input_len: each user's own
    # question; kv_tokens: each worker's KV cache (about half the prompts' tokens plus the running
    # sequences'); concurrency: requests in flight at once through the router; rounds: runs of each
    # router and policy (new seeds), whose mean the checks compare.
    "short": dict(workers=2, requests=32, prefixes=4, prefix_len=128, input_len=32, output_len=16,
                  kv_tokens=2048, concurrency=8, rounds=1,
                  runs=[("sglang", "cache_aware"), ("sglang", "round_robin"), ("vllm", "cache_aware")],
                  kill=False, single=False),
    "full": dict(workers=2, requests=128, prefixes=8, prefix_len=512, input_len=64, output_len=32,
                 kv_tokens=3072, concurrency=8, rounds=3,
                 runs=[("sglang", "cache_aware"), ("sglang", "round_robin"),
                       ("vllm", "cache_aware"), ("vllm", "round_robin")],
                 kill=True, single=True),
}

# What /get_load answers for each router (they read different shapes; docs/api.md).
LOAD_FORMAT = {"sglang": "sglang", "vllm": "object"}


def log(message):
    print(message, flush=True)


def http(method, url, body=None, timeout=10.0):
    """(status, body bytes); status 0 when the connection failed."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def metric_values(text, name):
    """Sum of every sample of `name` (any labels) in a Prometheus text exposition."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            try:
                total += float(line.rsplit(" ", 1)[1])
            except ValueError:
                pass
    return total


class Worker:
    """One `tandem serve` on 127.0.0.1:port; its output goes to a log file."""

    def __init__(self, binary, port, threads, kv_tokens, load_format):
        self.binary, self.port, self.threads, self.kv_tokens = binary, port, threads, kv_tokens
        self.load_format = load_format
        self.url = f"http://{HOST}:{port}"
        self.log = tempfile.NamedTemporaryFile(prefix=f"tandem-worker-{port}-", suffix=".log", delete=False)
        self.process = None

    def start(self):
        if http("GET", self.url + "/health", timeout=2)[0] != 0:
            raise SystemExit(f"port {self.port} is in use: another server answers there")
        args = [self.binary, "serve", "--host", HOST, "--port", str(self.port), "--threads", str(self.threads),
                "--kv-cache-tokens", str(self.kv_tokens), "--max-seqs", "16", "--served-model-name", MODEL_NAME,
                "--get-load-format", self.load_format, "--shutdown-grace", "5", "--no-ui"]
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 300
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"worker {self.port} exited: see {self.log.name}")
            if http("GET", self.url + "/health", timeout=2)[0] == 200:
                return self
            time.sleep(0.25)
        raise SystemExit(f"worker {self.port} did not become healthy: see {self.log.name}")

    def kill(self, sig=signal.SIGKILL):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def metrics(self):
        status, body = http("GET", self.url + "/metrics")
        if status != 200:
            return None
        text = body.decode()
        return {key: metric_values(text, name) for key, name in [
            ("queries", "vllm:prefix_cache_queries_total"), ("hits", "vllm:prefix_cache_hits_total"),
            ("finished", "vllm:request_success_total")]}

    def flush(self):
        status, _ = http("POST", self.url + "/flush_cache")
        if status != 200:
            raise SystemExit(f"worker {self.port}: POST /flush_cache answered {status}")


class Router:
    """sglang-router or vllm-router in front of `workers`, with fast health checks and a retry
    budget longer than a health check, so that a dead worker is noticed within seconds and no
    request that had not started on it is lost."""

    def __init__(self, venv, kind, policy, port, workers):
        self.kind, self.policy, self.port = kind, policy, port
        self.url = f"http://{HOST}:{port}"
        urls = [w.url for w in workers]
        common = ["--host", HOST, "--port", str(port), "--worker-urls", *urls, "--policy", policy,
                  "--prometheus-host", HOST, "--prometheus-port", str(port + 50),
                  "--health-check-interval-secs", "1", "--health-failure-threshold", "1",
                  "--health-success-threshold", "1",
                  # A request sent to a worker that just died is retried for about 2.6 s (the default
                  # budget, 5 retries from 50 ms, is shorter than one health check), and two failures
                  # open the worker's circuit for 5 s: the retries then go to another worker.
                  "--retry-max-retries", "6", "--retry-initial-backoff-ms", "200",
                  "--cb-failure-threshold", "2", "--cb-timeout-duration-secs", "5", "--cb-success-threshold", "1"]
        if kind == "sglang":
            self.args = [os.path.join(venv, "bin", "sglang-router"), "launch", *common, "--log-level", "warn"]
        else:
            self.args = [os.path.join(venv, "bin", "vllm-router"), *common, "--worker-startup-check-interval", "1",
                         "--log-level", "warning"]
        self.log = tempfile.NamedTemporaryFile(prefix=f"{kind}-router-{port}-", suffix=".log", delete=False)
        self.process = None

    def start(self):
        self.process = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 120
        probe = {"model": MODEL_NAME, "prompt": "Hello", "max_tokens": 1}
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.kind}-router exited: see {self.log.name}")
            if http("POST", self.url + "/v1/completions", probe, timeout=10)[0] == 200:
                return self
            time.sleep(0.5)
        raise SystemExit(f"{self.kind}-router did not forward a request: see {self.log.name}")

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def bench(binary, url, mode, seed=0, requests=None, rate=None):
    """Runs `tandem bench serve` against url; the result's JSON (vLLM's keys)."""
    args = [binary, "bench", "serve", "--base-url", url, "--model", MODEL_NAME, "--no-calibrate", "--ignore-eos",
            "--num-prompts", str(requests or mode["requests"]), "--max-concurrency", str(mode["concurrency"]),
            "--input-len", str(mode["input_len"]), "--output-len", str(mode["output_len"]),
            "--shared-prefixes", str(mode["prefixes"]), "--shared-prefix-len", str(mode["prefix_len"]),
            "--seed", str(seed), "--json"]
    if rate:
        args += ["--request-rate", str(rate)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=3600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"tandem bench serve failed ({done.returncode}):\n{done.stderr[-2000:]}")
    result = json.loads(lines[-1])
    result["errors_text"] = done.stderr[-600:] if result.get("failed") else ""
    return result


def measure(binary, mode, target_url, workers, seed=0, requests=None, rate=None, during=None):
    """Flushes every worker's prefix cache, runs the workload against target_url, and adds each
    worker's share of the requests and its prefix-cache hit rate to the bench's result. `during`,
    if given, runs in a thread alongside the bench."""
    for worker in workers:
        worker.flush()
    before = [w.metrics() for w in workers]
    side = threading.Thread(target=during, daemon=True) if during else None
    if side:
        side.start()
    result = bench(binary, target_url, mode, seed=seed, requests=requests, rate=rate)
    if side:
        side.join()
    per_worker = []
    for worker, old in zip(workers, before):
        new = worker.metrics()
        if new is None or old is None:
            per_worker.append(None)
            continue
        queries, hits = new["queries"] - old["queries"], new["hits"] - old["hits"]
        per_worker.append(dict(port=worker.port, finished=int(new["finished"] - old["finished"]),
                               hit_rate=hits / queries if queries else 0.0, queries=queries, hits=hits))
    known = [w for w in per_worker if w]
    queries = sum(w["queries"] for w in known)
    result["workers"] = per_worker
    result["hit_rate"] = sum(w["hits"] for w in known) / queries if queries else 0.0
    return result


def summary(rounds):
    """Means of the rounds' throughput and hit rate, the median of their TTFT p50s."""
    ttfts = sorted(r["median_ttft_ms"] for r in rounds)
    return dict(rounds=len(rounds), request_throughput=sum(r["request_throughput"] for r in rounds) / len(rounds),
                hit_rate=sum(r["hit_rate"] for r in rounds) / len(rounds), hit_rates=[r["hit_rate"] for r in rounds],
                median_ttft_ms=ttfts[len(ttfts) // 2])


def row(name, r):
    shares = " / ".join("dead" if w is None else f"{w['finished']:>3} req {100 * w['hit_rate']:5.1f}%"
                        for w in r["workers"])
    return (f"| {name} | {r['completed']} / {r['failed']} | {r['request_throughput']:.2f} | "
            f"{r['output_throughput']:.1f} | {r['median_ttft_ms']:.0f} | {r['p99_ttft_ms']:.0f} | "
            f"{100 * r['hit_rate']:.1f}% | {shares} |")


def ensure_routers(venv, install):
    needed = [os.path.join(venv, "bin", name) for name in ("sglang-router", "vllm-router")]
    if all(os.path.exists(path) for path in needed):
        return
    if not install:
        raise SystemExit(f"the routers are not in {venv}: run with --install (pip, scripts/requirements-cluster.txt)")
    log(f"installing the routers into {venv}")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([os.path.join(venv, "bin", "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", "-r", os.path.join(ROOT, "scripts", "requirements-cluster.txt")],
                   check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True, help="the tandem executable")
    parser.add_argument("--mode", choices=sorted(MODES), default="short")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="threads, split between the workers")
    parser.add_argument("--router-venv", default=os.path.join(ROOT, ".venv-routers"))
    parser.add_argument("--install", action="store_true", help="create the router venv when it is missing")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--parts", default="routing,stop,single",
                        help="what to run, of routing, stop (full mode) and single (full mode)")
    args = parser.parse_args()
    mode = dict(MODES[args.mode])
    parts = set(args.parts.split(","))
    if "routing" not in parts:
        mode["runs"] = []
    mode["kill"] = mode["kill"] and "stop" in parts
    mode["single"] = mode["single"] and "single" in parts
    ensure_routers(args.router_venv, args.install)

    count = mode["workers"]
    threads = max(args.threads // count, 1)
    log(f"{count} workers x {threads} thread(s), KV cache {mode['kv_tokens']} tokens each; workload: "
        f"{mode['requests']} requests, {mode['prefixes']} shared prefixes x {mode['prefix_len']} tokens, "
        f"{mode['input_len']} own tokens, {mode['output_len']} generated, {mode['concurrency']} at a time")
    checks, figures = [], {"mode": args.mode, "threads_per_worker": threads, "workload": {
        k: mode[k] for k in ("workers", "requests", "prefixes", "prefix_len", "input_len", "output_len",
                             "kv_tokens", "concurrency")}, "runs": {}}

    def check(ok, text):
        checks.append(ok)
        log(f"{'ok  ' if ok else 'FAIL'} {text}")

    table = ["| run | completed / failed | req/s | output tok/s | TTFT p50 ms | TTFT p99 ms | prefix hit rate | "
             "per worker: requests, hit rate |", "|---|---|---|---|---|---|---|---|"]
    workers = []
    router = None

    def restart(running, kind):
        """The workers, answering /get_load as `kind`'s router reads it (restarted when they do not)."""
        if running and running[0].load_format == LOAD_FORMAT[kind]:
            return running
        for worker in running:
            worker.kill(signal.SIGTERM)
        return [Worker(args.binary, PORT_BASE + i, threads, mode["kv_tokens"], LOAD_FORMAT[kind]).start()
                for i in range(count)]

    try:
        # Rounds (new seeds: new prefixes, users and arrival order) alternate the policies, each with
        # a fresh router (its prefix tree empty) and flushed worker caches.
        results = {}
        for kind in dict.fromkeys(k for k, _ in mode["runs"]):
            workers = restart(workers, kind)
            for number in range(mode["rounds"]):
                for policy in [p for k, p in mode["runs"] if k == kind]:
                    router = Router(args.router_venv, kind, policy, PORT_BASE + 20, workers).start()
                    name = f"{kind}-router {policy}"
                    result = measure(args.binary, mode, router.url, workers, seed=number)
                    router.stop()
                    results.setdefault(name, []).append(result)
                    figures["runs"][f"{name} #{number + 1}"] = result
                    table.append(row(f"{name} #{number + 1}", result))
                    log(table[-1])
                    check(result["failed"] == 0 and result["completed"] == mode["requests"],
                          f"{name} #{number + 1}: every request answered ({result['completed']} of {mode['requests']})")
                    if result["failed"]:
                        log(result["errors_text"])
        figures["summary"] = {name: summary(rounds) for name, rounds in results.items()}

        if args.mode == "full" and mode["runs"]:
            for kind in ("sglang", "vllm"):
                aware = figures["summary"][f"{kind}-router cache_aware"]
                spread = figures["summary"][f"{kind}-router round_robin"]
                ratio = aware["hit_rate"] / spread["hit_rate"] if spread["hit_rate"] else float("inf")
                check(ratio >= 1.5, f"{kind}-router: cache_aware's mean hit rate is {ratio:.2f}x round_robin's (>= 1.5)")
                check(aware["median_ttft_ms"] < spread["median_ttft_ms"],
                      f"{kind}-router: cache_aware's TTFT p50 {aware['median_ttft_ms']:.0f} ms < "
                      f"round_robin's {spread['median_ttft_ms']:.0f} ms (medians of the rounds)")

        if mode["kill"]:
            kind = "sglang"
            workers = restart(workers, kind)
            router = Router(args.router_venv, kind, "cache_aware", PORT_BASE + 20, workers).start()
            victim = workers[-1]
            rate = 3.0  # requests per second: the run lasts about requests / rate seconds
            # SIGTERM (a graceful stop, as Kubernetes sends): nothing may fail. SIGKILL (a crash): only
            # the requests running on the worker may.
            for number, (sig, how) in enumerate([(signal.SIGTERM, "stopped (SIGTERM)"), (signal.SIGKILL, "killed (SIGKILL)")]):
                stopped = {}

                def stop_midway():
                    time.sleep(mode["requests"] / rate * 0.4)
                    # The worker's own count of the requests it holds (/get_load; the sglang shape here).
                    status, body = http("GET", victim.url + "/get_load")
                    ranks = json.loads(body) if status == 200 else []
                    stopped["in_flight"] = sum(r["num_reqs"] + r["num_waiting_reqs"] for r in ranks)
                    victim.kill(sig)

                result = measure(args.binary, mode, router.url, workers, seed=1 + 2 * number, rate=rate,
                                 during=stop_midway)
                name = f"{kind}-router cache_aware, worker {victim.port} {how}"
                figures["runs"][name] = dict(result, in_flight_at_stop=stopped.get("in_flight"))
                table.append(row(name, result))
                log(table[-1])
                allowed = 0 if sig == signal.SIGTERM else stopped.get("in_flight", 0)
                check(result["failed"] <= allowed,
                      f"{how}: {result['failed']} request(s) failed (allowed: {allowed}; {stopped.get('in_flight')} were "
                      f"in flight on the worker); {result['completed']} answered")
                victim.start()
                time.sleep(5)  # a few health-check intervals: the router marks the worker healthy again
                again = measure(args.binary, mode, router.url, workers, seed=2 + 2 * number,
                                requests=max(mode["requests"] // 2, 16))
                name = f"{kind}-router cache_aware, after the restart"
                figures["runs"][f"{name} ({how})"] = again
                table.append(row(name, again))
                log(table[-1])
                share = again["workers"][-1]["finished"] if again["workers"][-1] else 0
                check(again["failed"] == 0 and share > 0,
                      f"rejoin after {how}: every request answered ({again['completed']}), {share} by the restarted worker")
            router.stop()

        if mode["single"]:
            for worker in workers:
                worker.kill(signal.SIGTERM)
            single = Worker(args.binary, PORT_BASE + 10, threads * count, mode["kv_tokens"] * count, "object").start()
            workers = [single]
            name = f"one worker, {threads * count} threads, no router"
            rounds = []
            for number in range(mode["rounds"]):
                rounds.append(measure(args.binary, mode, single.url, workers, seed=number))
                figures["runs"][f"{name} #{number + 1}"] = rounds[-1]
                table.append(row(f"{name} #{number + 1}", rounds[-1]))
                log(table[-1])
                check(rounds[-1]["failed"] == 0, f"one worker #{number + 1}: every request answered ({rounds[-1]['completed']})")
            figures["summary"][name] = summary(rounds)
    finally:
        if router:
            router.stop()
        for worker in workers:
            worker.kill(signal.SIGTERM)

    log("\n" + "\n".join(table))
    log("\n| run | rounds | req/s (mean) | TTFT p50 ms (median of rounds) | prefix hit rate (mean) | hit rate per round |")
    log("|---|---|---|---|---|---|")
    for name, value in figures.get("summary", {}).items():
        log(f"| {name} | {value['rounds']} | {value['request_throughput']:.2f} | {value['median_ttft_ms']:.0f} | "
            f"{100 * value['hit_rate']:.1f}% | {', '.join(f'{100 * h:.1f}%' for h in value['hit_rates'])} |")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(figures, file, indent=1)
    failed = checks.count(False)
    log(f"{len(checks) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
