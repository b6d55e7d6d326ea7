#!/usr/bin/env python3
"""Chaos test for `tandem serve`: valid greedy requests mixed with hostile ones, disconnecting and
slow clients, a burst beyond --max-waiting and long requests that exhaust the KV cache.

Starts `BINARY serve --max-waiting 64 --kv-cache-tokens 4096 --max-seqs 32` on 127.0.0.1:PORT, then
  1. warm-up: a fixed set of valid greedy requests (temperature 0, completions and chat, streamed
     and not), sent one at a time, twice; records each one's text alone and the server's VmRSS;
  2. chaos rounds (short: 3, long: 4), at concurrency >= 128: the same valid requests again
     (several times each), hostile requests from scripts/field_enumerator.py's catalogue, clients
     that disconnect (after half the headers, after half the body, after the first SSE chunk, while
     a non-streaming request is being generated; some with a TCP reset), slow clients (slow
     senders, slow readers with a tiny receive buffer, idle connections), a burst of 300 requests
     at once (max-waiting is 64) and long streamed requests (~900 prompt tokens, max_tokens 3000,
     ignore_eos; two or three exhaust the 4096-token KV cache; short mode leaves three after 20 s, long
     mode reads two to the end and compares one with its text alone);
  3. after each round, /metrics must return to idle; then a third identical warm-up pass, and
     SIGTERM with a streaming request in flight.
Checks: every valid request returned the same text as alone, or 429 / 503 with Retry-After; no
other 5xx, no dropped connection, no request over the time bound; hostile requests answered as
the catalogue expects, 200 vs 4xx (or 429/503 with Retry-After; a wrong error `param` is only
counted, field_enumerator.py checks it); the burst produced 429s; the server never died; /metrics
shows running = waiting = 0 and KV usage 0 within 10 s after each round; VmRSS after the last chaos
round <= 1.05 x VmRSS after the second (the first identical round is the warm-up pass for this load);
SIGTERM ends the in-flight stream and the process within grace + 2 s.

Prints the figures and one line per check, then `N passed, M failed` (checks); exits non-zero on a
failure; --json FILE writes the figures.

Usage: scripts/chaos.py --binary PATH [--mode short|long] [--port 18110] [--json FILE]
Standard library only. The server listens on 127.0.0.1 only (ports 18100-18199).
"""
import argparse
import http.client
import json
import os
import random
import signal
import socket
import struct
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import field_enumerator as fe  # noqa: E402

HOST = fe.HOST
GRACE = 3.0

MODES = {
    # concurrency: worker threads of the mixed phase; repeats: copies of each valid request per round;
    # long_read: seconds a long request's client reads before it disconnects (None: to the end);
    # bound: the most seconds any request may take; rounds: chaos rounds (RSS is compared across them).
    "short": dict(rounds=3, concurrency=128, repeats=3, hostile=80, big_hostile=3, disconnects=50, slow=8, idle=4,
                  burst=300, long=3, long_tokens=3000, long_read=20.0, long_alone=0, bound=120.0),
    "long": dict(rounds=4, concurrency=256, repeats=8, hostile=400, big_hostile=12, disconnects=200, slow=24, idle=12,
                 burst=300, long=2, long_tokens=3000, long_read=None, long_alone=1, bound=400.0),
}

PROMPTS = [
    "The capital of France is", "Once upon a time, in a small village,", "def fibonacci(n):",
    "1, 2, 3, 4, 5,", "The quick brown fox", "In 1492, Columbus", "Water boils at",
    "The three primary colors are", "import numpy as np\n", "Dear Sir or Madam,",
]
QUESTIONS = [
    "What is 2+2?", "Name a fruit.", "Write a haiku about rain.", "Say hello in French.",
    "What is the capital of Italy?", "Give me one tip for sleeping well.",
]


def valid_set():
    """The fixed valid greedy requests: (name, endpoint, body)."""
    items = []
    for i, prompt in enumerate(PROMPTS):
        body = {"prompt": prompt, "max_tokens": [8, 16, 24, 32][i % 4], "temperature": 0}
        if i % 2:
            body["stream"] = True
        if i == 3:
            body["stream_options"] = {"include_usage": True}
        items.append((f"cmpl{i}", "completions", body))
    for i, question in enumerate(QUESTIONS):
        messages = [{"role": "user", "content": question}]
        if i == 2:
            messages.insert(0, {"role": "system", "content": "You are a poet."})
        body = {"messages": messages, "max_tokens": [32, 24, 16, 8][i % 4], "temperature": 0}
        if i % 2 == 0:
            body["stream"] = True
        items.append((f"chat{i}", "chat", body))
    # Greedy with other samplers set (they must not matter at temperature 0) and token-id prompts.
    items.append(("cmpl-ids", "completions", {"prompt": [504, 3458, 282, 4649, 314], "max_tokens": 12, "temperature": 0}))
    items.append(("chat-topk", "chat", {"messages": [{"role": "user", "content": "Count to five."}],
                                        "max_tokens": 20, "temperature": 0, "top_k": 5, "top_p": 0.9, "seed": 3}))
    return items


BURST_BODY = ("burst", "completions", {"prompt": "The best thing about summer is", "max_tokens": 8, "temperature": 0})


def long_body(tokens, i):
    """A streamed request of ~900 prompt tokens plus `tokens` (3000) generated with ignore_eos: three of them
    exhaust the 4096-token KV cache; one alone fits (900 + 3000 < 4096)."""
    sentence = "The history of the old harbour town is long, and every street remembers a different story. "
    return (f"long{i}", "completions", {"prompt": f"Chronicle {i}. " + sentence * 50, "max_tokens": tokens,
                                        "temperature": 0, "ignore_eos": True, "stream": True,
                                        "stream_options": {"include_usage": True}})


# --------------------------------------------------------------------------- a client

class Result:
    __slots__ = ("kind", "name", "status", "outcome", "problem", "seconds", "text", "text_alone", "retry_after")

    def __init__(self, kind, name):
        self.kind, self.name = kind, name
        self.status = None
        self.outcome = None
        self.problem = None
        self.seconds = 0.0
        self.text = None
        self.text_alone = None
        self.retry_after = None


def connect(port, timeout, small_buffer=False):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if small_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.settimeout(timeout)
    sock.connect((HOST, port))
    return sock


def request_bytes(method, path, body, headers=None):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", "Connection: close"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def read_response(sock):
    """Reads a full response from `sock` (http.client does the chunked decoding)."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    data = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def send_valid(port, endpoint, body, bound, slow_send=0.0, slow_read=0.0):
    """Sends a generation request; returns (status, headers, text or None, problem or None)."""
    raw = request_bytes("POST", fe.PATHS[endpoint], json.dumps(body).encode())
    sock = connect(port, bound, small_buffer=bool(slow_read))
    try:
        if slow_send:
            pieces = 12
            size = max(1, len(raw) // pieces)
            for i in range(0, len(raw), size):
                sock.sendall(raw[i:i + size])
                time.sleep(slow_send / pieces)
        else:
            sock.sendall(raw)
        if slow_read:
            # Read a few bytes at a time, slowly (the receive buffer is small), then the rest.
            response = http.client.HTTPResponse(sock)
            response.begin()
            parts = []
            deadline = time.monotonic() + slow_read
            while time.monotonic() < deadline:
                piece = response.read(64)
                if not piece:
                    break
                parts.append(piece)
                time.sleep(0.2)
            parts.append(response.read())
            status, headers, data = response.status, {k.lower(): v for k, v in response.getheaders()}, b"".join(parts)
        else:
            status, headers, data = read_response(sock)
    finally:
        sock.close()
    return interpret(endpoint, body, status, headers, data)


def interpret(endpoint, body, status, headers, data):
    """(status, headers, text or None, problem or None) of a generation answer."""
    if status != 200:
        return status, headers, None, None
    if body.get("stream"):
        events, _, problem = fe.parse_sse(data)
        if problem:
            return status, headers, None, problem
        problem = fe.stream_problem(events, endpoint, body.get("n", 1),
                                    bool((body.get("stream_options") or {}).get("include_usage")))
        return status, headers, fe.stream_text(events, endpoint), problem
    try:
        parsed = json.loads(data)
    except ValueError:
        return status, headers, None, f"200 body is not JSON: {data[:100]!r}"
    problem = fe.completion_problem(parsed, endpoint, body.get("n", 1))
    if problem:
        return status, headers, None, problem
    if body.get("ignore_eos") and parsed["usage"]["completion_tokens"] != body.get("max_tokens"):
        problem = f"ignore_eos but {parsed['usage']['completion_tokens']} tokens, not {body.get('max_tokens')}"
    return status, headers, fe.body_text(parsed, endpoint), problem


# --------------------------------------------------------------------------- the jobs

def classify_valid(result, status, headers, text, problem, reference):
    result.status = status
    if status == 200:
        if problem:
            result.outcome, result.problem = "malformed", problem
        elif reference is not None and text != reference:
            result.outcome = "mismatch"
            result.problem = f"text {text!r} != alone {reference!r}"
            result.text = text
        else:
            result.outcome = "match"
            result.text_alone = text
    elif status in (429, 503):
        result.retry_after = headers.get("retry-after")
        if result.retry_after is None:
            result.outcome, result.problem = f"{status}-no-retry-after", f"{status} without Retry-After"
        else:
            result.outcome = str(status)
    elif status >= 500:
        result.outcome, result.problem = "5xx", f"{status}"
    else:
        result.outcome, result.problem = "4xx", f"unexpected {status}"


def job_valid(port, bound, kind, item, reference, slow_send=0.0, slow_read=0.0, barrier=None):
    name, endpoint, body = item
    result = Result(kind, name)
    if barrier is not None:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
    started = time.monotonic()
    try:
        status, headers, text, problem = send_valid(port, endpoint, body, bound, slow_send, slow_read)
        classify_valid(result, status, headers, text, problem, reference)
    except socket.timeout:
        result.outcome, result.problem = "timeout", f"no answer within {bound:.0f} s"
    except (OSError, http.client.HTTPException) as error:
        result.outcome, result.problem = "dropped", f"{type(error).__name__}: {error}"
    result.seconds = time.monotonic() - started
    if result.seconds > bound and result.outcome != "timeout":
        result.outcome, result.problem = "timeout", f"took {result.seconds:.0f} s > {bound:.0f} s"
    result.name = f"{name} {json.dumps(body)[:150]}"
    return result


def job_long(port, bound, item, reference, read_limit):
    """A long streamed request; with `read_limit` the client goes away after that many seconds."""
    name, endpoint, body = item
    result = Result("long", f"{name} (prompt ~900 tokens, max_tokens {body['max_tokens']}, ignore_eos, stream)")
    started = time.monotonic()
    try:
        sock = connect(port, bound)
        try:
            sock.sendall(request_bytes("POST", fe.PATHS[endpoint], json.dumps(body).encode()))
            response = http.client.HTTPResponse(sock)
            response.begin()
            result.status = response.status
            if response.status != 200:
                headers = {k.lower(): v for k, v in response.getheaders()}
                classify_valid(result, response.status, headers, None, None, None)
                return result
            lines, cut = [], False
            while True:
                if read_limit is not None and time.monotonic() - started > read_limit:
                    cut = True
                    break
                line = response.readline()
                if not line:
                    break
                lines.append(line)
        finally:
            if read_limit is not None:
                rst_close(sock)
            else:
                sock.close()
        events, _, problem = fe.parse_sse(b"".join(lines))
        chunks = sum(1 for e in events if e.get("choices"))
        if cut:
            result.outcome = "cut (client left)"
            result.name += f"; left after {chunks} chunks"
            if problem and problem != "no data: [DONE]":
                result.outcome, result.problem = "malformed", problem
        else:
            problem = problem or fe.stream_problem(events, endpoint, 1, True)
            usage = next((e["usage"] for e in events if e.get("usage")), {})
            if not problem and usage.get("completion_tokens") != body["max_tokens"]:
                problem = f"completion_tokens {usage.get('completion_tokens')} != {body['max_tokens']}"
            text = fe.stream_text(events, endpoint)
            classify_valid(result, 200, {}, text, problem, reference)
    except socket.timeout:
        result.outcome, result.problem = "timeout", f"no progress within {bound:.0f} s"
    except (OSError, http.client.HTTPException) as error:
        result.outcome, result.problem = "dropped", f"{type(error).__name__}: {error}"
    result.seconds = time.monotonic() - started
    if result.seconds > bound and result.outcome != "timeout":
        result.outcome, result.problem = "timeout", f"took {result.seconds:.0f} s > {bound:.0f} s"
    return result


def job_hostile(port, bound, case):
    """A request from field_enumerator's catalogue. A wrong status class (200 vs 4xx) or a 5xx fails;
    a wrong error param/code/message only counts as `detail` (field_enumerator reports those)."""
    result = Result("hostile", f"[{case.group}] {case.name}")
    started = time.monotonic()
    if isinstance(case, fe.RawCase):  # HTTP framing, over a raw socket
        result.status, result.problem, result.seconds = fe.run_raw_case(port, case)
        if result.status in (429, 503):
            result.outcome, result.problem = str(result.status), None
        elif result.problem:
            result.outcome = "dropped" if result.problem.startswith("connection failed") else "wrong"
        else:
            result.outcome = "as-expected"
        return result
    try:
        status, headers, data = fe.request(port, case.method, case.url(), case.body, case.headers,
                                           timeout=min(bound, max(case.timeout, 60)))
        result.status = status
        if status == 200 and not case.stream and "text/event-stream" in headers.get("content-type", ""):
            case.stream = True
        if status in (429, 503) and "retry-after" in headers:
            result.outcome = str(status)
        else:
            coarse = fe.Case(case.group, case.name, case.endpoint, case.body, case.expect, method=case.method,
                             path=case.path, headers=case.headers, n=case.n, stream=case.stream,
                             include_usage=case.include_usage, check=case.check)
            problem = fe.evaluate(coarse, status, headers, data)
            if status >= 500:
                result.outcome, result.problem = "5xx", problem
            elif problem:
                result.outcome, result.problem = "wrong", problem
            else:
                problem = fe.evaluate(case, status, headers, data)
                result.outcome = "detail" if problem else "as-expected"
                result.problem = problem
    except socket.timeout:
        result.outcome, result.problem = "timeout", "no answer in time"
    except (OSError, http.client.HTTPException) as error:
        result.outcome, result.problem = "dropped", f"{type(error).__name__}: {error}"
    result.seconds = time.monotonic() - started
    return result


def rst_close(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def job_disconnect(port, bound, variant, rng):
    """Clients that go away: the server must just clean up (checked later via /metrics)."""
    result = Result("disconnect", variant)
    started = time.monotonic()
    reset = rng.random() < 0.4
    body = json.dumps({"prompt": rng.choice(PROMPTS), "max_tokens": rng.choice([64, 128, 200]),
                       "temperature": rng.choice([0, 0.8]), "stream": variant == "after-first-chunk"}).encode()
    endpoint = "/v1/completions"
    if rng.random() < 0.5:
        body = json.dumps({"messages": [{"role": "user", "content": rng.choice(QUESTIONS)}],
                           "max_tokens": rng.choice([64, 128, 200]), "temperature": 0,
                           "stream": variant == "after-first-chunk"}).encode()
        endpoint = "/v1/chat/completions"
    raw = request_bytes("POST", endpoint, body)
    header_end = raw.index(b"\r\n\r\n") + 4
    try:
        sock = connect(port, 30)
        try:
            if variant == "half-headers":
                sock.sendall(raw[:header_end // 2])
                time.sleep(rng.random() * 0.5)
            elif variant == "half-body":
                sock.sendall(raw[:header_end + (len(raw) - header_end) // 2])
                time.sleep(rng.random() * 0.5)
            elif variant == "after-first-chunk":
                sock.sendall(raw)
                buffered = b""
                deadline = time.monotonic() + bound
                while b"data: " not in buffered.split(b"\r\n\r\n", 1)[-1] and time.monotonic() < deadline:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    buffered += chunk
                result.status = int(buffered.split(b" ", 2)[1]) if buffered.startswith(b"HTTP/1.1 ") else None
            elif variant == "mid-generation":
                sock.sendall(raw)
                time.sleep(0.05 + rng.random() * 1.5)
            elif variant == "read-few-bytes":
                sock.sendall(raw)
                sock.recv(5)
        finally:
            if reset:
                rst_close(sock)
            else:
                sock.close()
        result.outcome = "closed" + (" (RST)" if reset else "")
        if result.status is not None and result.status >= 500:
            result.outcome, result.problem = "5xx", f"{result.status} before the disconnect"
    except socket.timeout:
        result.outcome = "timeout"
        result.problem = "server did not answer in time before the planned disconnect"
    except OSError as error:
        result.outcome, result.problem = "dropped", f"{type(error).__name__}: {error}"
    result.seconds = time.monotonic() - started
    result.name = f"{variant}{' RST' if reset else ''} {endpoint}"
    return result


def job_idle(port, bound, seconds, variant):
    """Idle / stalled connections (slowloris-like); the server may close them, but must stay up."""
    result = Result("idle", f"idle-{variant} {seconds:.0f}s")
    started = time.monotonic()
    try:
        sock = connect(port, seconds + 5)
        try:
            if variant == "partial-headers":
                sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")
            end = time.monotonic() + seconds
            closed_by_server = False
            while time.monotonic() < end:
                sock.settimeout(max(0.1, end - time.monotonic()))
                try:
                    data = sock.recv(4096)
                    if not data:
                        closed_by_server = True
                        break
                    if data.startswith(b"HTTP/1.1 5"):
                        result.problem = f"5xx to an idle connection: {data[:60]!r}"
                except socket.timeout:
                    break
            result.outcome = "server closed" if closed_by_server else "held"
        finally:
            sock.close()
    except OSError as error:
        result.outcome, result.problem = "dropped", f"{type(error).__name__}: {error}"
    result.seconds = time.monotonic() - started
    return result


# --------------------------------------------------------------------------- metrics / rss

def metrics(port):
    status, _, data = fe.request(port, "GET", "/metrics", timeout=10)
    values = {}
    if status != 200:
        return values
    for line in data.decode("utf-8", "replace").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        try:
            values[name] = values.get(name, 0.0) + float(value)
        except ValueError:
            pass
    return values


class Monitor(threading.Thread):
    """Samples VmRSS and liveness every half second."""
    def __init__(self, server):
        super().__init__(daemon=True)
        self.server = server
        self.peak_rss = 0
        self.died_at = None
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.wait(0.5):
            if not self.server.alive():
                self.died_at = self.died_at or time.monotonic()
                return
            self.peak_rss = max(self.peak_rss, fe.rss_kib(self.server.pid) or 0)


# --------------------------------------------------------------------------- phases

def alone_texts(port, items, bound):
    texts, problems = {}, []
    for name, endpoint, body in items:
        try:
            status, headers, text, problem = send_valid(port, endpoint, body, bound)
        except (OSError, http.client.HTTPException) as error:
            problems.append(f"{name}: {type(error).__name__}: {error}")
            continue
        if status != 200 or problem:
            problems.append(f"{name}: status {status} {problem or ''}")
            continue
        texts[name] = text
    return texts, problems


def settle(port, seconds=10.0):
    """Polls /metrics until running = waiting = 0 and KV usage 0; returns (settled, last values, seconds)."""
    started = time.monotonic()
    last = {}
    while time.monotonic() - started < seconds:
        try:
            last = metrics(port)
        except (OSError, http.client.HTTPException):
            last = {}
        if (last.get("vllm:num_requests_running") == 0 and last.get("vllm:num_requests_waiting") == 0
                and last.get("vllm:kv_cache_usage_perc") == 0):
            return True, last, time.monotonic() - started
        time.sleep(0.25)
    return False, last, time.monotonic() - started


def chaos_round(port, cfg, rng, items, longs, reference, catalogue, bound):
    """One chaos round: the mixed jobs on `concurrency` threads plus the burst; returns (results, figures)."""
    small = [c for c in catalogue if len(c.body or b"") < 200_000 and "(prompt " not in c.name
             and "8192 token" not in c.name]
    big = [c for c in catalogue if len(c.body or b"") >= 200_000]
    hostile = rng.sample(small, min(cfg["hostile"], len(small))) + rng.sample(big, min(cfg["big_hostile"], len(big)))
    jobs = []
    for item in items[:-1]:
        for _ in range(cfg["repeats"]):
            jobs.append(("valid", item))
    jobs += [("hostile", case) for case in hostile]
    variants = ["half-headers", "half-body", "after-first-chunk", "mid-generation", "read-few-bytes"]
    jobs += [("disconnect", variants[i % len(variants)]) for i in range(cfg["disconnects"])]
    jobs += [("slow-send" if i % 2 == 0 else "slow-read", items[i % (len(items) - 1)]) for i in range(cfg["slow"])]
    jobs += [("idle", "partial-headers" if i % 2 else "silent") for i in range(cfg["idle"])]
    rng.shuffle(jobs)
    # The long requests go first so that the KV cache is exhausted while the rest runs.
    jobs = [("long", item) for item in longs] + jobs
    seeds = [rng.random() for _ in jobs]

    def run_job(kind, payload, seed):
        if kind == "valid":
            return job_valid(port, bound, "valid", payload, reference.get(payload[0]))
        if kind == "long":
            return job_long(port, bound, payload, reference.get(payload[0]), cfg["long_read"])
        if kind == "hostile":
            return job_hostile(port, bound, payload)
        if kind == "disconnect":
            return job_disconnect(port, bound, payload, random.Random(seed))
        if kind == "slow-send":
            return job_valid(port, bound, "slow", payload, reference.get(payload[0]), slow_send=4.0)
        if kind == "slow-read":
            return job_valid(port, bound, "slow", payload, reference.get(payload[0]), slow_read=4.0)
        if kind == "idle":
            return job_idle(port, bound, 8.0, payload)
        raise ValueError(kind)

    results, lock = [], threading.Lock()
    barrier = threading.Barrier(cfg["burst"], timeout=60)

    def burst_one():
        r = job_valid(port, bound, "burst", BURST_BODY, reference.get("burst"), barrier=barrier)
        with lock:
            results.append(r)

    started = time.monotonic()
    samples = []
    old_stack = threading.stack_size(512 * 1024)
    burst_threads = []
    with ThreadPoolExecutor(max_workers=cfg["concurrency"]) as pool:
        futures = [pool.submit(run_job, kind, payload, seed) for (kind, payload), seed in zip(jobs, seeds)]
        time.sleep(1.0)  # the burst starts once the pool is busy
        for _ in range(cfg["burst"]):
            thread = threading.Thread(target=burst_one, daemon=True)
            thread.start()
            burst_threads.append(thread)
        deadline = time.monotonic() + bound + 60
        while time.monotonic() < deadline and not all(f.done() for f in futures):
            try:
                m = metrics(port)
                samples.append((m.get("vllm:num_requests_running"), m.get("vllm:num_requests_waiting"),
                                m.get("vllm:kv_cache_usage_perc")))
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.5)
        for future in futures:
            try:
                results.append(future.result(timeout=max(1.0, deadline - time.monotonic())))
            except Exception as error:  # a job that never finished is a hang
                r = Result("unknown", "job")
                r.outcome, r.problem = "timeout", f"job did not finish: {type(error).__name__} {error}"
                results.append(r)
        for thread in burst_threads:
            thread.join(timeout=max(1.0, deadline - time.monotonic()))
        hung = sum(1 for t in burst_threads if t.is_alive())
        for _ in range(hung):
            r = Result("burst", BURST_BODY[0])
            r.outcome, r.problem = "timeout", "burst request never finished"
            results.append(r)
    threading.stack_size(old_stack)
    seconds = time.monotonic() - started
    peaks = {"running": max((x[0] or 0 for x in samples), default=None),
             "waiting": max((x[1] or 0 for x in samples), default=None),
             "kv_cache_usage_perc": max((x[2] or 0 for x in samples), default=None)}
    return results, {"seconds": round(seconds, 1), "requests": len(jobs) + cfg["burst"], "metrics_peak": peaks}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--mode", choices=sorted(MODES), default="short")
    parser.add_argument("--port", type=int, default=18110)
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    cfg = MODES[args.mode]
    rng = random.Random(args.seed)
    bound = cfg["bound"]
    checks = []
    figures = {"mode": args.mode, "config": cfg, "rounds": [], "rss_kib": {}}
    started = time.monotonic()

    def check(name, ok, detail=""):
        checks.append((name, bool(ok), detail))
        print(f"{'PASS' if ok else 'FAIL'}  {name}{(': ' + detail) if detail else ''}", flush=True)

    server = fe.Server(args.binary, args.port, ["--max-waiting", "64", "--kv-cache-tokens", "4096", "--max-seqs", "32"],
                       grace=GRACE, label="chaos").start()
    monitor = Monitor(server)
    try:
        try:
            load = server.wait_healthy(120)
        except RuntimeError as error:
            check("server starts and answers /health", False, str(error))
            return finish(checks, figures, args, started)
        monitor.start()
        print(f"server pid {server.pid} healthy after {load:.1f} s (log {server.log.name})", flush=True)
        ctx = fe.gather_context(args.port)

        # 1. warm-up, twice ---------------------------------------------------------------------------
        items = valid_set() + [BURST_BODY]
        longs = [long_body(cfg["long_tokens"], i) for i in range(cfg["long"])]
        t = time.monotonic()
        alone1, problems1 = alone_texts(args.port, items, bound)
        rss1 = fe.rss_kib(server.pid)
        alone2, problems2 = alone_texts(args.port, items, bound)
        rss2 = fe.rss_kib(server.pid)
        warm_seconds = time.monotonic() - t
        check("warm-up requests answer 200 alone", not problems1 and not problems2,
              "; ".join(problems1 + problems2)[:600])
        differ = [n for n in alone1 if alone2.get(n) != alone1[n]]
        check("warm-up texts identical in both passes", not differ,
              "; ".join(f"{n}: {alone1[n]!r} vs {alone2.get(n)!r}" for n in differ)[:600])
        reference = dict(alone2)
        if cfg["long_alone"]:
            t2 = time.monotonic()
            for item in longs[:cfg["long_alone"]]:
                r = job_long(args.port, bound, item, None, None)
                if r.outcome == "match":
                    reference[item[0]] = r.text_alone
            check("long requests complete alone", all(longs[i][0] in reference for i in range(cfg["long_alone"])),
                  f"{time.monotonic() - t2:.0f} s")
        figures["warmup_seconds_two_passes"] = round(warm_seconds, 1)
        figures["rss_kib"].update({"after_warmup1": rss1, "after_warmup2": rss2})
        print(f"warm-up: {len(items)} requests x 2 in {warm_seconds:.1f} s; RSS {rss1} -> {rss2} KiB", flush=True)

        # 2. chaos rounds -------------------------------------------------------------------------------
        catalogue = [c for c in fe.all_cases(ctx) if c.url() != "/health"]
        results = []
        round_rss = []
        for index in range(cfg["rounds"]):
            if not server.alive():
                break
            round_results, round_figures = chaos_round(args.port, cfg, rng, items, longs, reference, catalogue, bound)
            results += round_results
            settled, last, settle_seconds = settle(args.port) if server.alive() else (False, {}, 0.0)
            round_figures["settled"] = settled
            round_figures["settle_seconds"] = round(settle_seconds, 1)
            round_figures["metrics_after"] = {k: last.get(k) for k in (
                "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc")}
            round_figures["rss_kib_after"] = fe.rss_kib(server.pid)
            round_rss.append(round_figures["rss_kib_after"])
            figures["rounds"].append(round_figures)
            print(f"round {index + 1}: {round_figures['requests']} requests in {round_figures['seconds']} s, "
                  f"peaks {round_figures['metrics_peak']}, idle after {settle_seconds:.1f} s: {settled}, "
                  f"RSS {round_figures['rss_kib_after']} KiB", flush=True)

        # Figures.
        by_kind = {}
        for r in results:
            entry = by_kind.setdefault(r.kind, {"sent": 0, "outcomes": {}, "max_seconds": 0.0})
            entry["sent"] += 1
            entry["outcomes"][r.outcome] = entry["outcomes"].get(r.outcome, 0) + 1
            entry["max_seconds"] = round(max(entry["max_seconds"], r.seconds), 2)
        figures["requests"] = by_kind
        figures["max_latency_seconds"] = round(max((r.seconds for r in results), default=0.0), 2)
        print(f"\n{'kind':<11} {'sent':>5} {'max s':>7}  outcomes")
        for kind, entry in sorted(by_kind.items()):
            print(f"{kind:<11} {entry['sent']:5d} {entry['max_seconds']:7.1f}  "
                  + ", ".join(f"{k}: {v}" for k, v in sorted(entry["outcomes"].items())))
        print(f"max latency {figures['max_latency_seconds']} s\n", flush=True)

        # 3. checks ----------------------------------------------------------------------------------------
        alive = server.alive()
        check("server alive throughout (no crash)", alive and monitor.died_at is None,
              "" if alive else f"exit status {server.process.returncode}; log tail:\n{server.tail()}")
        hangs = [r for r in results if r.outcome == "timeout"]
        check(f"no hangs (every request done within {bound:.0f} s)", not hangs,
              "; ".join(f"{r.kind} {r.name[:100]}: {r.problem}" for r in hangs[:5]))
        valid_kinds = ("valid", "burst", "slow", "long")
        good = ("match", "429", "503", "timeout", "cut (client left)")
        bad_valid = [r for r in results if r.kind in valid_kinds and r.outcome not in good]
        check("valid requests: same greedy text as alone, or 429/503 with Retry-After", not bad_valid,
              "; ".join(f"{r.kind} {r.name[:160]} -> {r.status} {r.outcome}: {(r.problem or '')[:300]}"
                        for r in bad_valid[:8]))
        matched = sum(1 for r in results if r.kind in valid_kinds and r.outcome == "match")
        check("valid requests completed under load", matched > 0, f"{matched} matched")
        fivexx = [r for r in results if r.outcome == "5xx" or (r.status is not None and r.status >= 500 and r.status != 503)]
        check("no 5xx other than 503 with Retry-After", not fivexx,
              "; ".join(f"{r.kind} {r.name[:100]} -> {r.status} {r.problem or ''}"[:240] for r in fivexx[:5]))
        dropped = [r for r in results if r.outcome == "dropped"]
        check("no dropped connections", not dropped,
              "; ".join(f"{r.kind} {r.name[:100]}: {r.problem}" for r in dropped[:5]))
        wrong = [r for r in results if r.kind == "hostile" and r.outcome == "wrong"]
        check("hostile requests: 200 / 4xx as the catalogue expects (or 429/503)", not wrong,
              "; ".join(f"{r.name[:80]} -> {r.status}: {(r.problem or '')[:160]}" for r in wrong[:6]))
        burst = [r for r in results if r.kind == "burst"]
        n429 = sum(1 for r in burst if r.outcome == "429")
        check("burst beyond --max-waiting gets 429 with Retry-After", n429 > 0,
              f"{n429} of {len(burst)} got 429, {sum(1 for r in burst if r.outcome == 'match')} completed")
        unsettled = [i + 1 for i, f in enumerate(figures["rounds"]) if not f["settled"]]
        check("/metrics back to idle within 10 s after each round (running = waiting = 0, kv usage 0)",
              not unsettled and figures["rounds"],
              f"rounds {unsettled}: " + json.dumps([f["metrics_after"] for f in figures["rounds"]]) if unsettled else "")
        try:
            status, _, _ = fe.request(args.port, "GET", "/health", timeout=10)
        except (OSError, http.client.HTTPException) as error:
            status = f"{type(error).__name__}"
        check("GET /health 200 after the chaos", status == 200, f"{status}")

        # Third warm-up: the same texts; RSS flat.
        alone3, problems3 = alone_texts(args.port, items, bound)
        rss3 = fe.rss_kib(server.pid)
        differ = [n for n in alone2 if alone3.get(n) != alone2[n]]
        check("texts after the chaos identical to before", not differ and not problems3,
              "; ".join(problems3 + [f"{n}: {alone2[n]!r} vs {alone3.get(n)!r}" for n in differ])[:600])
        figures["rss_kib"].update({"after_rounds": round_rss, "after_warmup3": rss3, "peak": monitor.peak_rss})
        # The first chaos round is the warm-up pass for the chaos load: it touches most of the KV
        # cache and sets the allocator's high-water marks, which the single requests of the warm-up
        # never reach. Identical rounds after it must not grow memory (a leak grows per round).
        if len(round_rss) >= 3 and all(round_rss):
            trend = round_rss[-1] / max(round_rss[1], 1)
            check("VmRSS after the last chaos round <= 1.05 x after the second (the first warms up)", trend <= 1.05,
                  " -> ".join(str(x) for x in round_rss) + f" KiB ({trend:.3f}x)")
        else:
            check("VmRSS sampled after at least three chaos rounds", False, f"{round_rss}")
        print(f"RSS (KiB): warm-up 1 {rss1}, warm-up 2 {rss2}, after rounds {round_rss}, final warm-up {rss3}, "
              f"peak {monitor.peak_rss}", flush=True)
        figures["failures"] = [{"kind": r.kind, "request": r.name, "status": r.status, "outcome": r.outcome,
                                "problem": r.problem} for r in results
                               if r.problem and r.outcome not in ("match", "detail")][:300]
        figures["details"] = sorted({r.problem.split(":")[0] + ": " + r.name for r in results if r.outcome == "detail"})[:100]

        # 4. SIGTERM with a stream in flight ------------------------------------------------------------
        shutdown_check(server, args.port, cfg, check, figures)
    finally:
        monitor.stop_event.set()
        if server.alive():
            server.stop()
    return finish(checks, figures, args, started)


def shutdown_check(server, port, cfg, check, figures):
    """SIGTERM while a long stream runs: the stream ends and the process exits within grace + 2 s."""
    body = json.dumps({"prompt": "Tell me a very long story.", "max_tokens": 3000, "ignore_eos": True,
                       "temperature": 0, "stream": True}).encode()
    outcome = {}
    got_first = threading.Event()

    def streamer():
        try:
            sock = connect(port, GRACE + 30)
            sock.sendall(request_bytes("POST", "/v1/completions", body))
            response = http.client.HTTPResponse(sock)
            response.begin()
            outcome["status"] = response.status
            lines = 0
            while True:
                line = response.readline()
                if not line:
                    break
                if line.startswith(b"data: "):
                    lines += 1
                    got_first.set()
                    if b'"finish_reason":"' in line or b'"finish_reason": "' in line:
                        outcome["finish"] = line[:300].decode("utf-8", "replace")
                    if line.strip() == b"data: [DONE]":
                        outcome["done"] = True
            outcome["chunks"] = lines
            outcome["ended"] = time.monotonic()
            sock.close()
        except (OSError, http.client.HTTPException) as error:
            outcome["error"] = f"{type(error).__name__}: {error}"
            outcome["ended"] = time.monotonic()
        finally:
            got_first.set()

    thread = threading.Thread(target=streamer, daemon=True)
    thread.start()
    got_first.wait(timeout=30)
    time.sleep(0.5)
    was_alive = server.alive()
    sent = time.monotonic()
    exited, seconds, code = server.stop()
    # A request after SIGTERM: refused or 503 with Retry-After (never a hang).
    thread.join(timeout=GRACE + 5)
    stream_seconds = outcome.get("ended", time.monotonic()) - sent
    figures["shutdown"] = {"exit_seconds": round(seconds, 2), "exit_code": code, "stream": {
        k: v for k, v in outcome.items() if k != "ended"}, "stream_end_seconds": round(stream_seconds, 2)}
    check(f"SIGTERM: process exits within grace + 2 s ({GRACE + 2:.0f} s) with status 0",
          was_alive and exited and code == 0, f"exited={exited} after {seconds:.1f} s, code {code}")
    check("SIGTERM: the in-flight stream ends (not left hanging)", not thread.is_alive() and stream_seconds <= GRACE + 2,
          f"ended after {stream_seconds:.1f} s; {json.dumps(figures['shutdown']['stream'])[:300]}")


def finish(checks, figures, args, started):
    figures["checks"] = [{"name": n, "ok": ok, "detail": d} for n, ok, d in checks]
    figures["seconds"] = round(time.monotonic() - started, 1)
    passed = sum(1 for _, ok, _ in checks if ok)
    failed = len(checks) - passed
    figures["passed"], figures["failed"] = passed, failed
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2, default=str)
    print(f"elapsed {figures['seconds']:.1f} s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
