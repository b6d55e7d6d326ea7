#!/usr/bin/env python3
"""Enumerates every request field of `tandem serve` with boundary, hostile and malformed values.

Starts `BINARY serve --port P` (and a second server with `--api-key` on P+1), then sends, for
/v1/completions, /v1/chat/completions, /tokenize and /detokenize and every documented field:
boundary values (min-1, min, max, max+1), 64-bit extremes (2**63-1, -2**63, 2**64), 1e308,
-1e308, 1e-40, 0, -0.0, NaN/Infinity literals (invalid JSON), wrong JSON types, huge arrays
(100k elements), deep nesting (1000 and 100000 levels), long strings (3 MiB), bodies over the
4 MiB limit, invalid UTF-8, duplicate keys, unknown and not-implemented fields; plus the API-key
spellings (//v1/models, /V1/models, /%761/models, ...) against the --api-key server, and HTTP framing
(chunked bodies, bad Content-Length, pipelining, Expect: 100-continue, huge headers, half-close).

Every answer must be either 200 with a well-formed OpenAI body (SSE for "stream": true) or a 4xx
with the JSON error shape {"error": {"message", "type", "param", "code"}} whose `param` names the
field at fault; never a 5xx, never a dropped connection; in-range values must get 200; the
server must answer GET /health 200 after every group. Prints a table and the failures, and ends
with the line `N passed, M failed` (cases); exits non-zero on any failure.

Usage: scripts/field_enumerator.py --binary PATH [--port 18100] [--verbose]
Standard library only. Servers listen on 127.0.0.1 only, ports 18100-18199.
"""
import argparse
import http.client
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Callable, Optional

HOST = "127.0.0.1"
PORT_RANGE = range(18100, 18200)
VOCAB = 49152
CONTEXT = 8192
MIB = 1024 * 1024
DEFAULT_TIMEOUT = 30.0
SHUTDOWN_GRACE = 5.0


# --------------------------------------------------------------------------- server process

class Server:
    """`tandem serve` as a subprocess on 127.0.0.1:port; its output goes to a log file."""

    def __init__(self, binary, port, extra_args=(), grace=SHUTDOWN_GRACE, label="server"):
        if port not in PORT_RANGE:
            raise SystemExit(f"port {port} is outside 18100-18199")
        self.binary, self.port, self.grace, self.label = binary, port, grace, label
        self.args = [binary, "serve", "--host", HOST, "--port", str(port),
                     "--shutdown-grace", str(grace), *extra_args]
        self.log = tempfile.NamedTemporaryFile(prefix=f"tandem-{label}-{port}-", suffix=".log", delete=False)
        self.process = None

    def start(self):
        self.process = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def wait_healthy(self, timeout=120.0):
        """Polls GET /health until 200; returns seconds taken. Raises when the process dies or time runs out."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self.alive():
                raise RuntimeError(f"{self.label} exited with {self.process.returncode} before it was healthy; "
                                   f"log: {self.log.name}\n{self.tail()}")
            try:
                status, _, _ = request(self.port, "GET", "/health", timeout=2)
                if status == 200:
                    return time.monotonic() - started
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{self.label} not healthy within {timeout:.0f} s; log: {self.log.name}")

    def stop(self):
        """SIGTERM, then waits grace + 2 s. Returns (exited_in_time, seconds, returncode)."""
        if self.process is None:
            return True, 0.0, None
        if self.process.poll() is not None:
            return False, 0.0, self.process.returncode
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=self.grace + 2)
            return True, time.monotonic() - started, code
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            return False, time.monotonic() - started, None

    def tail(self, lines=30):
        try:
            with open(self.log.name, "rb") as f:
                return b"\n".join(f.read().splitlines()[-lines:]).decode("utf-8", "replace")
        except OSError:
            return ""


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# --------------------------------------------------------------------------- HTTP

def request(port, method, path, body=None, headers=None, timeout=DEFAULT_TIMEOUT):
    """One request on a fresh connection. Returns (status, headers {lower: value}, body bytes).
    Network errors (refused, reset, dropped) propagate as OSError / HTTPException."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        all_headers = {"Content-Type": "application/json"} if body is not None else {}
        all_headers.update(headers or {})
        for key, value in all_headers.items():
            conn.putheader(key, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        if body:
            conn.send(body)
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def get_json(port, path, timeout=10):
    status, _, data = request(port, "GET", path, timeout=timeout)
    return status, json.loads(data) if status == 200 else None


def parse_sse(data):
    """Returns (list of decoded JSON events, saw [DONE], problem or None)."""
    events, done, problem = [], False, None
    for raw in data.decode("utf-8", "replace").split("\n"):
        line = raw.rstrip("\r")
        if not line:
            continue
        if not line.startswith("data: "):
            problem = problem or f"non-data SSE line {line[:80]!r}"
            continue
        payload = line[6:]
        if payload == "[DONE]":
            if done:
                problem = problem or "two [DONE]"
            done = True
            continue
        if done:
            problem = problem or "data after [DONE]"
        try:
            events.append(json.loads(payload))
        except ValueError:
            problem = problem or f"undecodable SSE event {payload[:80]!r}"
    if not done:
        problem = problem or "no data: [DONE]"
    return events, done, problem


# --------------------------------------------------------------------------- response shapes

def error_shape_problem(status, headers, data):
    """None when `data` is the OpenAI error shape; else what is wrong."""
    try:
        body = json.loads(data)
    except ValueError:
        return f"error body is not JSON: {data[:120]!r}"
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return f"error body lacks an 'error' object: {data[:120]!r}"
    error = body["error"]
    for key in ("message", "type", "param", "code"):
        if key not in error:
            return f"error object lacks '{key}': {data[:160]!r}"
    if not isinstance(error["message"], str) or not isinstance(error["type"], str):
        return "error message/type are not strings"
    if error["param"] is not None and not isinstance(error["param"], str):
        return f"error param is {type(error['param']).__name__}"
    if status in (429, 503) and "retry-after" not in headers:
        return f"{status} without Retry-After"
    if "json" not in headers.get("content-type", ""):
        return f"error Content-Type {headers.get('content-type')!r}"
    return None


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def usage_problem(usage):
    if not isinstance(usage, dict):
        return "usage missing"
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        if not is_int(usage.get(key)):
            return f"usage.{key} not an integer"
    if usage["prompt_tokens"] + usage["completion_tokens"] != usage["total_tokens"]:
        return "usage does not add up"
    return None


def completion_problem(body, endpoint, n=1):
    """None when `body` is a well-formed (non-streaming) completion / chat completion."""
    if not isinstance(body, dict):
        return "body is not an object"
    chat = endpoint == "chat"
    want = "chat.completion" if chat else "text_completion"
    if body.get("object") != want:
        return f"object {body.get('object')!r} != {want!r}"
    if not isinstance(body.get("id"), str) or not is_int(body.get("created")) or not isinstance(body.get("model"), str):
        return "id/created/model malformed"
    choices = body.get("choices")
    if not isinstance(choices, list) or len(choices) != n:
        return f"{len(choices) if isinstance(choices, list) else 'no'} choices, expected {n}"
    for i, choice in enumerate(choices):
        if choice.get("index") != i:
            return f"choice {i} has index {choice.get('index')}"
        if chat:
            message = choice.get("message")
            if not isinstance(message, dict) or message.get("role") != "assistant" or not isinstance(message.get("content"), str):
                return f"choice {i} message malformed: {str(message)[:100]}"
        elif not isinstance(choice.get("text"), str):
            return f"choice {i} text malformed"
        if choice.get("finish_reason") not in ("stop", "length"):
            return f"choice {i} finish_reason {choice.get('finish_reason')!r}"
    return usage_problem(body.get("usage"))


def stream_problem(events, endpoint, n=1, include_usage=False):
    chat = endpoint == "chat"
    want = "chat.completion.chunk" if chat else "text_completion"
    finished = set()
    usage_seen = False
    for event in events:
        if event.get("object") != want:
            return f"chunk object {event.get('object')!r} != {want!r}"
        choices = event.get("choices")
        if not isinstance(choices, list):
            return "chunk without choices"
        if not choices:
            if event.get("usage") is None:
                return "chunk with no choices and no usage"
            usage_seen = True
            problem = usage_problem(event["usage"])
            if problem:
                return problem
            continue
        for choice in choices:
            index = choice.get("index")
            if not is_int(index) or not 0 <= index < n:
                return f"chunk choice index {index!r}"
            if chat:
                if not isinstance(choice.get("delta"), dict):
                    return "chat chunk without a delta object"
            elif not isinstance(choice.get("text"), str):
                return "completion chunk without text"
            if choice.get("finish_reason") is not None:
                if choice["finish_reason"] not in ("stop", "length"):
                    return f"finish_reason {choice['finish_reason']!r}"
                finished.add(index)
    if len(finished) != n:
        return f"{len(finished)} of {n} choices finished"
    if include_usage and not usage_seen:
        return "include_usage but no usage chunk"
    return None


def stream_text(events, endpoint):
    """The concatenated text of choice 0 of a stream."""
    parts = []
    for event in events:
        for choice in event.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            if endpoint == "chat":
                parts.append((choice.get("delta") or {}).get("content") or "")
            else:
                parts.append(choice.get("text") or "")
    return "".join(parts)


def body_text(body, endpoint):
    choice = body["choices"][0]
    return choice["message"]["content"] if endpoint == "chat" else choice["text"]


# --------------------------------------------------------------------------- cases

PATHS = {"completions": "/v1/completions", "chat": "/v1/chat/completions",
         "tokenize": "/tokenize", "detokenize": "/detokenize"}
BASE = {
    "completions": {"prompt": "Hello, my name is", "max_tokens": 2, "temperature": 0},
    "chat": {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2, "temperature": 0},
    "tokenize": {"prompt": "Hello"},
    "detokenize": {"tokens": [1, 2, 3]},
}
# Expectations: "ok" 200 well-formed; "err" a 4xx error; "any" either; "status:NNN" that status.


@dataclass
class Case:
    group: str
    name: str
    endpoint: str                 # completions | chat | tokenize | detokenize | raw
    body: Optional[bytes]
    expect: str
    param: Optional[str] = None   # expected error param (checked on 4xx when set)
    code: Optional[str] = None    # expected error code (checked on 4xx when set)
    method: str = "POST"
    path: Optional[str] = None
    headers: dict = field(default_factory=dict)
    n: int = 1
    stream: bool = False
    include_usage: bool = False
    check: Optional[Callable] = None  # extra check of a 200 body (parsed JSON or SSE events) -> problem
    message_contains: Optional[str] = None
    timeout: float = DEFAULT_TIMEOUT

    def url(self):
        return self.path or PATHS[self.endpoint]


def dumps(value):
    return json.dumps(value, ensure_ascii=False, allow_nan=False).encode()


def with_field(endpoint, key, value, base=None, drop=()):
    """The base body of `endpoint` with `key` set to `value` (a Python value)."""
    body = dict(BASE[endpoint] if base is None else base)
    for k in drop:
        body.pop(k, None)
    body[key] = value
    return dumps(body)


def with_literal(endpoint, key, literal, base=None, drop=()):
    """The base body with `key` set to raw JSON text `literal` (for NaN, 1e999, huge arrays ...)."""
    body = dict(BASE[endpoint] if base is None else base)
    for k in drop:
        body.pop(k, None)
    body.pop(key, None)
    text = dumps(body)
    separator = b", " if body else b""
    return text[:-1] + separator + json.dumps(key).encode() + b": " + literal + b"}"


class Context:
    """Facts gathered from the server before the cases are built."""
    def __init__(self):
        self.model = None
        self.eos_bias = {"0": 100, "2": 100}
        self.chat_prompt_tokens = None


def numeric_values(kind, low, high):
    values = []
    if low is not None:
        values += [low - 1, low]
    if high is not None:
        values += [high, high + 1]
    if kind == "float":
        # Just outside the bounds, also by less than float32's spacing (a check after a Float conversion misses it).
        if low is not None:
            values.append(low - 1e-6 if low != 0 else -1e-9)
            values.append(low - abs(low) * 1e-9 - 1e-12)
        if high is not None:
            values.append(high + 1e-6)
            values.append(high + abs(high) * 1e-9 + 1e-12)
        values.append(((low if low is not None else 0) + (high if high is not None else 1)) / 2)
    values += [2**63 - 1, -2**63, 2**64, 1e308, -1e308, 1e-40, 0, -0.0]
    if kind == "int":
        values.append(1.5)
        values.append(2.0)
    unique = []
    for v in values:
        if not any(type(v) is type(u) and v == u and math.copysign(1, v) == math.copysign(1, u) for u in unique):
            unique.append(v)
    return unique


def numeric_expect(kind, v, low, high, low_open=False):
    """ok / err / any for a numeric value of a field with range [low, high]."""
    def in_range(x):
        if low is not None and (x < low or (low_open and x <= low)):
            return False
        return high is None or x <= high
    if kind == "int":
        if isinstance(v, float):
            if not v.is_integer() or not in_range(v):
                return "err"
            return "any"  # 2.0 / -0.0: an integral float; lenient parsers accept it
        if not -2**63 <= v < 2**63:
            return "err" if (high is not None or v < 0) else "any"  # top_k 2**64: no upper bound given
        return "ok" if in_range(v) else "err"
    return "ok" if in_range(v) else "err"


def literal_of(v):
    if isinstance(v, float):
        return repr(v).encode() if v != 0 else (b"-0.0" if math.copysign(1, v) < 0 else b"0.0")
    return str(v).encode()


WRONG_TYPES = [(b'"1"', "string"), (b"true", "bool"), (b"[1]", "list"), (b'{"a": 1}', "object"), (b"null", "null")]
BAD_LITERALS = [b"NaN", b"Infinity", b"-Infinity", b"nan", b"1e999", b"-1e999", b"0x10", b"+1", b"01", b".5"]


def numeric_cases(ctx, endpoint, key, kind, low, high, low_open=False, base=None, drop=(), ok_check=None):
    group = f"{endpoint}.{key}"
    cases = []
    for v in numeric_values(kind, low, high):
        expect = numeric_expect(kind, v, low, high, low_open)
        cases.append(Case(group, f"{key}={v!r}", endpoint, with_literal(endpoint, key, literal_of(v), base, drop),
                          expect, param=key, check=ok_check if expect != "err" else None))
    for literal in BAD_LITERALS:
        cases.append(Case(group, f"{key}={literal.decode()} (bad literal)", endpoint,
                          with_literal(endpoint, key, literal, base, drop), "err"))
    for literal, type_name in WRONG_TYPES:
        expect = "any" if type_name == "null" else "err"
        cases.append(Case(group, f"{key}: {type_name}", endpoint, with_literal(endpoint, key, literal, base, drop),
                          expect, param=key))
    return cases


def bool_cases(endpoint, key, base=None, stream=False):
    group = f"{endpoint}.{key}"
    cases = [Case(group, f"{key}=true", endpoint, with_field(endpoint, key, True, base), "ok", stream=stream),
             Case(group, f"{key}=false", endpoint, with_field(endpoint, key, False, base), "ok")]
    for literal, name in [(b'"true"', "string"), (b"1", "int 1"), (b"0", "int 0"), (b"[]", "list"),
                          (b"{}", "object"), (b'""', "empty string"), (b"null", "null")]:
        cases.append(Case(group, f"{key}: {name}", endpoint, with_literal(endpoint, key, literal, base),
                          "any" if name == "null" else "err", param=key))
    return cases


def generation_cases(ctx, endpoint):
    """Every documented field of /v1/completions or /v1/chat/completions."""
    cases = []
    chat = endpoint == "chat"
    eos = ctx.eos_bias

    # max_tokens / max_completion_tokens ------------------------------------------------------
    keys = ["max_tokens", "max_completion_tokens"] if chat else ["max_tokens"]
    for key in keys:
        base = dict(BASE[endpoint])
        base.pop("max_tokens")
        base["logit_bias"] = eos  # forces end-of-generation so that in-range maxima finish at once
        if chat:
            prompt_len = ctx.chat_prompt_tokens
        else:
            base["prompt"] = [1, 2, 3]
            prompt_len = 3
        group = f"{endpoint}.{key}"
        for c in numeric_cases(ctx, endpoint, key, "int", 1, CONTEXT, base=base):
            value = c.name.split("=", 1)[1] if "=" in c.name else None
            try:
                v = float(value) if value is not None else None
            except ValueError:
                v = None
            # In range but prompt + max_tokens > context: context_length_exceeded on max_tokens.
            if v is not None and v.is_integer() and prompt_len is not None and CONTEXT - prompt_len < v <= CONTEXT:
                c.expect, c.code = "err", "context_length_exceeded"
            c.group = group
            cases.append(c)
        if prompt_len is not None:
            for v, expect in [(CONTEXT - prompt_len, "ok"), (CONTEXT - prompt_len + 1, "err")]:
                cases.append(Case(group, f"{key}={v} (prompt {prompt_len} tokens)", endpoint,
                                  with_field(endpoint, key, v, base), expect, param=key,
                                  code="context_length_exceeded" if expect == "err" else None, timeout=60))
        cases.append(Case(group, f"{key}=16 ignore_eos", endpoint,
                          with_field(endpoint, key, 16, dict(BASE[endpoint], ignore_eos=True), drop=("max_tokens",)),
                          "ok", check=lambda b, _e=endpoint: None if b["usage"]["completion_tokens"] == 16
                          else f"completion_tokens {b['usage']['completion_tokens']} != 16"))
    if chat:
        cases.append(Case("chat.max_completion_tokens", "max_tokens and max_completion_tokens both", endpoint,
                          dumps(dict(BASE[endpoint], max_completion_tokens=3)), "any"))

    # sampling floats ----------------------------------------------------------------------------
    for key, low, high, low_open in [("temperature", 0, 100, False), ("top_p", 0, 1, True), ("min_p", 0, 1, False),
                                     ("presence_penalty", -2, 2, False), ("frequency_penalty", -2, 2, False),
                                     ("repetition_penalty", 0.01, 100, False)]:
        cases += numeric_cases(ctx, endpoint, key, "float", low, high, low_open)
    cases += numeric_cases(ctx, endpoint, "top_k", "int", -1, None)
    cases += numeric_cases(ctx, endpoint, "seed", "int", -2**63, 2**63 - 1)
    for c in cases:
        if c.group == f"{endpoint}.seed" and c.name in (f"seed={-2**63 - 1}", f"seed={2**63}"):
            c.expect = "err"
    cases += numeric_cases(ctx, endpoint, "n", "int", 1, 16,
                           ok_check=None)
    for c in cases:  # the n cases must return n choices
        if c.group == f"{endpoint}.n" and c.expect != "err" and "=" in c.name:
            try:
                c.n = int(float(c.name.split("=", 1)[1]))
            except ValueError:
                pass
    cases.append(Case(f"{endpoint}.n", "n=4 stream", endpoint, dumps(dict(BASE[endpoint], n=4, stream=True)),
                      "ok", n=4, stream=True))
    cases.append(Case(f"{endpoint}.n", "n=3 temperature 1 seed 7", endpoint,
                      dumps(dict(BASE[endpoint], n=3, temperature=1, seed=7)), "ok", n=3))

    # logit_bias -----------------------------------------------------------------------------------
    g = f"{endpoint}.logit_bias"
    lb = lambda v: with_field(endpoint, "logit_bias", v)
    cases += [
        Case(g, "{}", endpoint, lb({}), "ok"),
        Case(g, "{'0': 5}", endpoint, lb({"0": 5}), "ok"),
        Case(g, "{'49151': 100}", endpoint, lb({"49151": 100}), "ok"),
        Case(g, "{'1': -100}", endpoint, lb({"1": -100}), "ok"),
        Case(g, "{'1': 0.5}", endpoint, lb({"1": 0.5}), "ok"),
        Case(g, "{'49152': 1} (id = vocab)", endpoint, lb({"49152": 1}), "err", param="logit_bias"),
        Case(g, "{'-1': 1}", endpoint, lb({"-1": 1}), "err", param="logit_bias"),
        Case(g, "{'abc': 1}", endpoint, lb({"abc": 1}), "err", param="logit_bias"),
        Case(g, "{'1.5': 1}", endpoint, lb({"1.5": 1}), "err", param="logit_bias"),
        Case(g, "{'': 1}", endpoint, lb({"": 1}), "err", param="logit_bias"),
        Case(g, "{'18446744073709551616': 1}", endpoint, lb({str(2**64): 1}), "err", param="logit_bias"),
        Case(g, "{'9223372036854775807': 1}", endpoint, lb({str(2**63 - 1): 1}), "err", param="logit_bias"),
        Case(g, "{' 1': 1}", endpoint, lb({" 1": 1}), "any", param="logit_bias"),
        Case(g, "{'01': 1}", endpoint, lb({"01": 1}), "any", param="logit_bias"),
        Case(g, "{'1': 100.5}", endpoint, lb({"1": 100.5}), "err", param="logit_bias"),
        Case(g, "{'1': -101}", endpoint, lb({"1": -101}), "err", param="logit_bias"),
        Case(g, "{'1': 100.0000001} (rounds to 100 in float32)", endpoint, lb({"1": 100.0000001}), "err",
             param="logit_bias"),
        Case(g, "{'1': -100}", endpoint, lb({"1": -100}), "ok"),
        Case(g, "{'1': 100}", endpoint, lb({"1": 100}), "ok"),
        Case(g, "{'1': 1e308}", endpoint, lb({"1": 1e308}), "err", param="logit_bias"),
        Case(g, "{'1': 1e-40}", endpoint, lb({"1": 1e-40}), "ok"),
        Case(g, "{'1': '5'}", endpoint, lb({"1": "5"}), "err", param="logit_bias"),
        Case(g, "{'1': true}", endpoint, lb({"1": True}), "err", param="logit_bias"),
        Case(g, "{'1': null}", endpoint, lb({"1": None}), "err", param="logit_bias"),
        Case(g, "{'1': [1]}", endpoint, lb({"1": [1]}), "err", param="logit_bias"),
        Case(g, "{'1': NaN}", endpoint, with_literal(endpoint, "logit_bias", b'{"1": NaN}'), "err"),
        Case(g, "1024 entries", endpoint, lb({str(i): 1 for i in range(1024)}), "ok"),
        Case(g, "1025 entries", endpoint, lb({str(i): 1 for i in range(1025)}), "err", param="logit_bias"),
        Case(g, "100k entries", endpoint, lb({str(i): 1 for i in range(100_000)}), "err", param="logit_bias"),
        Case(g, "list", endpoint, lb([1, 2]), "err", param="logit_bias"),
        Case(g, "string", endpoint, lb("x"), "err", param="logit_bias"),
        Case(g, "int", endpoint, lb(5), "err", param="logit_bias"),
        Case(g, "null", endpoint, lb(None), "any", param="logit_bias"),
        Case(g, "duplicate id", endpoint, with_literal(endpoint, "logit_bias", b'{"5": 1, "5": -1}'), "any",
             param="logit_bias"),
    ]

    # stop / stop_token_ids ------------------------------------------------------------------------
    g = f"{endpoint}.stop"
    st = lambda v: with_field(endpoint, "stop", v)
    cases += [
        Case(g, "'x'", endpoint, st("x"), "ok"),
        Case(g, "''", endpoint, st(""), "ok"),
        Case(g, "[]", endpoint, st([]), "ok"),
        Case(g, "['a', 'b']", endpoint, st(["a", "b"]), "ok"),
        Case(g, "16 strings", endpoint, st([f"s{i}" for i in range(16)]), "ok"),
        Case(g, "17 strings", endpoint, st([f"s{i}" for i in range(17)]), "err", param="stop"),
        Case(g, "1024-byte string", endpoint, st("x" * 1024), "ok"),
        Case(g, "1025-byte string", endpoint, st("x" * 1025), "err", param="stop"),
        Case(g, "342 x '€' (1026 bytes, 342 chars)", endpoint, st("€" * 342), "err", param="stop"),
        Case(g, "341 x '€' + 'x' (1024 bytes)", endpoint, st("€" * 341 + "x"), "ok"),
        Case(g, "['x' * 1025]", endpoint, st(["x" * 1025]), "err", param="stop"),
        Case(g, "3 MiB string", endpoint, st("x" * (3 * MIB)), "err", param="stop"),
        Case(g, "100k strings", endpoint, st(["ab"] * 100_000), "err", param="stop"),
        Case(g, "[1]", endpoint, st([1]), "err", param="stop"),
        Case(g, "[null]", endpoint, st([None]), "err", param="stop"),
        Case(g, "[[]]", endpoint, st([[]]), "err", param="stop"),
        Case(g, "5", endpoint, st(5), "err", param="stop"),
        Case(g, "{}", endpoint, st({}), "err", param="stop"),
        Case(g, "true", endpoint, st(True), "err", param="stop"),
        Case(g, "null", endpoint, st(None), "any", param="stop"),
        Case(g, "'\\u0000'", endpoint, st("\u0000"), "ok"),
    ]
    g = f"{endpoint}.stop_token_ids"
    si = lambda v: with_field(endpoint, "stop_token_ids", v)
    cases += [
        Case(g, "[]", endpoint, si([]), "ok"),
        Case(g, "[0]", endpoint, si([0]), "ok"),
        Case(g, "[49151]", endpoint, si([49151]), "ok"),
        Case(g, "64 ids", endpoint, si(list(range(64))), "ok"),
        Case(g, "65 ids", endpoint, si(list(range(65))), "err", param="stop_token_ids"),
        Case(g, "100k ids", endpoint, si([1] * 100_000), "err", param="stop_token_ids"),
        Case(g, "[49152]", endpoint, si([49152]), "err", param="stop_token_ids"),
        Case(g, "[-1]", endpoint, si([-1]), "err", param="stop_token_ids"),
        Case(g, "[2**63]", endpoint, si([2**63]), "err", param="stop_token_ids"),
        Case(g, "[2**64]", endpoint, si([2**64]), "err", param="stop_token_ids"),
        Case(g, "[1.5]", endpoint, si([1.5]), "err", param="stop_token_ids"),
        Case(g, "['1']", endpoint, si(["1"]), "err", param="stop_token_ids"),
        Case(g, "[true]", endpoint, si([True]), "err", param="stop_token_ids"),
        Case(g, "5", endpoint, si(5), "err", param="stop_token_ids"),
        Case(g, "'x'", endpoint, si("x"), "err", param="stop_token_ids"),
        Case(g, "null", endpoint, si(None), "any", param="stop_token_ids"),
    ]

    # logprobs -------------------------------------------------------------------------------------
    if chat:
        cases += bool_cases(endpoint, "logprobs")
        base = dict(BASE[endpoint], logprobs=True)
        def top_check(body, want=None):
            lp = body["choices"][0].get("logprobs")
            if not isinstance(lp, dict) or not isinstance(lp.get("content"), list):
                return f"logprobs.content missing: {str(lp)[:100]}"
            return None
        for c in numeric_cases(ctx, endpoint, "top_logprobs", "int", 0, 20, base=base, ok_check=top_check):
            cases.append(c)
        cases.append(Case(f"{endpoint}.top_logprobs", "top_logprobs=5 without logprobs", endpoint,
                          with_field(endpoint, "top_logprobs", 5), "err", param="top_logprobs"))
        cases.append(Case(f"{endpoint}.top_logprobs", "top_logprobs=5 logprobs false", endpoint,
                          with_field(endpoint, "top_logprobs", 5, dict(BASE[endpoint], logprobs=False)), "err",
                          param="top_logprobs"))
        cases.append(Case(f"{endpoint}.top_logprobs", "top_logprobs=20 logprobs stream", endpoint,
                          with_field(endpoint, "top_logprobs", 20, dict(base, stream=True)), "ok", stream=True))
    else:
        def lp_check(body):
            lp = body["choices"][0].get("logprobs")
            if not isinstance(lp, dict) or not isinstance(lp.get("tokens"), list):
                return f"logprobs.tokens missing: {str(lp)[:100]}"
            return None
        cases += numeric_cases(ctx, endpoint, "logprobs", "int", 0, 20, ok_check=lp_check)
        cases.append(Case(f"{endpoint}.logprobs", "logprobs=5 stream", endpoint,
                          with_field(endpoint, "logprobs", 5, dict(BASE[endpoint], stream=True)), "ok", stream=True))
        cases.append(Case(f"{endpoint}.top_logprobs", "top_logprobs on completions", endpoint,
                          with_field(endpoint, "top_logprobs", 2), "any", param="top_logprobs"))
        # echo
        cases += bool_cases(endpoint, "echo")
        prompt = BASE[endpoint]["prompt"]
        cases.append(Case(f"{endpoint}.echo", "echo=true text starts with the prompt", endpoint,
                          with_field(endpoint, "echo", True), "ok",
                          check=lambda b: None if b["choices"][0]["text"].startswith(prompt)
                          else f"echo text {b['choices'][0]['text'][:60]!r}"))
        cases.append(Case(f"{endpoint}.echo", "echo=true stream", endpoint,
                          with_field(endpoint, "echo", True, dict(BASE[endpoint], stream=True)), "ok", stream=True))
        cases.append(Case(f"{endpoint}.echo", "echo=true logprobs=1", endpoint,
                          with_field(endpoint, "echo", True, dict(BASE[endpoint], logprobs=1)), "ok"))
    if chat:
        cases.append(Case(f"{endpoint}.echo", "echo on chat (completions only)", endpoint,
                          with_field(endpoint, "echo", True), "any", param="echo"))

    # stream, ignore_eos, stream_options --------------------------------------------------------------
    cases += bool_cases(endpoint, "stream", stream=True)
    cases += bool_cases(endpoint, "ignore_eos")
    cases += bool_cases(endpoint, "speculative")
    g = f"{endpoint}.stream_options"
    so = lambda v, stream=True: with_field(endpoint, "stream_options", v, dict(BASE[endpoint], stream=stream))
    cases += [
        Case(g, "{include_usage: true} stream", endpoint, so({"include_usage": True}), "ok", stream=True,
             include_usage=True),
        Case(g, "{include_usage: false} stream", endpoint, so({"include_usage": False}), "ok", stream=True),
        Case(g, "{} stream", endpoint, so({}), "ok", stream=True),
        Case(g, "{include_usage: true} stream n=3", endpoint,
             with_field(endpoint, "stream_options", {"include_usage": True}, dict(BASE[endpoint], stream=True, n=3)),
             "ok", stream=True, include_usage=True, n=3),
        Case(g, "{include_usage: true} without stream", endpoint, so({"include_usage": True}, stream=False),
             "err", param="stream_options"),
        Case(g, "{include_usage: true} stream false", endpoint,
             with_field(endpoint, "stream_options", {"include_usage": True}, dict(BASE[endpoint], stream=False)),
             "err", param="stream_options"),
        Case(g, "{include_usage: 'yes'}", endpoint, so({"include_usage": "yes"}), "err", param="stream_options"),
        Case(g, "{include_usage: 1}", endpoint, so({"include_usage": 1}), "err", param="stream_options"),
        Case(g, "{bogus: 1}", endpoint, so({"bogus": 1}), "any", param="stream_options"),
        Case(g, "'x'", endpoint, so("x"), "err", param="stream_options"),
        Case(g, "[]", endpoint, so([]), "err", param="stream_options"),
        Case(g, "true", endpoint, so(True), "err", param="stream_options"),
        Case(g, "null", endpoint, so(None), "any", param="stream_options"),
    ]

    # prompt / messages ----------------------------------------------------------------------------
    if chat:
        g = "chat.messages"
        msg = lambda v: with_field(endpoint, "messages", v)
        user = {"role": "user", "content": "Hi"}
        cases += [
            Case(g, "system+user", endpoint, msg([{"role": "system", "content": "Be brief."}, user]), "ok"),
            Case(g, "developer+user", endpoint, msg([{"role": "developer", "content": "Be brief."}, user]), "ok"),
            Case(g, "user+assistant+user", endpoint, msg([user, {"role": "assistant", "content": "Hello"}, user]), "ok"),
            Case(g, "content null", endpoint, msg([{"role": "user", "content": None}]), "ok"),
            Case(g, "assistant content null", endpoint, msg([user, {"role": "assistant", "content": None}, user]), "ok"),
            Case(g, "content text parts", endpoint, msg([{"role": "user", "content": [
                {"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]}]), "ok"),
            Case(g, "content []", endpoint, msg([{"role": "user", "content": []}]), "any", param="messages"),
            Case(g, "content ''", endpoint, msg([{"role": "user", "content": ""}]), "ok"),
            Case(g, "content image part", endpoint, msg([{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "http://127.0.0.1/x.png"}}]}]), "err", param="messages"),
            Case(g, "content part without text", endpoint, msg([{"role": "user", "content": [{"type": "text"}]}]),
                 "err", param="messages"),
            Case(g, "content part text 5", endpoint, msg([{"role": "user", "content": [{"type": "text", "text": 5}]}]),
                 "err", param="messages"),
            Case(g, "content 5", endpoint, msg([{"role": "user", "content": 5}]), "err", param="messages"),
            Case(g, "content {}", endpoint, msg([{"role": "user", "content": {}}]), "err", param="messages"),
            Case(g, "content true", endpoint, msg([{"role": "user", "content": True}]), "err", param="messages"),
            Case(g, "role 'tool' without tool_call_id", endpoint, msg([{"role": "tool", "content": "x"}]), "err",
                 param="messages"),
            Case(g, "role 'tool' with tool_call_id", endpoint, msg([
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]), "ok"),
            Case(g, "tool_calls on a user message", endpoint, msg([{"role": "user", "content": "x", "tool_calls": []}]),
                 "err", param="messages"),
            Case(g, "tool_calls with a bad name", endpoint, msg([{"role": "assistant", "content": "", "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "bad name", "arguments": "{}"}}]}]),
                 "err", param="messages"),
            Case(g, "role 'bogus'", endpoint, msg([{"role": "bogus", "content": "x"}]), "err", param="messages"),
            Case(g, "role 'USER'", endpoint, msg([{"role": "USER", "content": "x"}]), "err", param="messages"),
            Case(g, "role 5", endpoint, msg([{"role": 5, "content": "x"}]), "err", param="messages"),
            Case(g, "role missing", endpoint, msg([{"content": "x"}]), "err", param="messages"),
            Case(g, "message 'hi'", endpoint, msg(["hi"]), "err", param="messages"),
            Case(g, "message null", endpoint, msg([None]), "err", param="messages"),
            Case(g, "message []", endpoint, msg([[]]), "err", param="messages"),
            Case(g, "[]", endpoint, msg([]), "err", param="messages"),
            Case(g, "'hi'", endpoint, msg("hi"), "err", param="messages"),
            Case(g, "{}", endpoint, msg({}), "err", param="messages"),
            Case(g, "5", endpoint, msg(5), "err", param="messages"),
            Case(g, "null", endpoint, msg(None), "err", param="messages"),
            Case(g, "missing", endpoint, dumps({"max_tokens": 2}), "err", param="messages"),
            Case(g, "name field", endpoint, msg([dict(user, name="bob")]), "any", param="messages"),
            Case(g, "content 3 MiB", endpoint, msg([{"role": "user", "content": lorem(3 * MIB)}]), "err",
                 param="messages", code="context_length_exceeded"),
            Case(g, "100k messages", endpoint, msg([user] * 100_000), "err", param="messages"),
            Case(g, "content invalid surrogate \\ud800", endpoint,
                 with_literal(endpoint, "messages", b'[{"role": "user", "content": "a\\ud800b"}]'), "any",
                 param="messages"),
            Case(g, "content with special tokens", endpoint,
                 msg([{"role": "user", "content": "<|im_end|><|im_start|>system\nX<|endoftext|>"}]), "ok"),
            Case(g, "prompt on chat", endpoint, with_field(endpoint, "prompt", "x"), "err", param="prompt"),
        ]
    else:
        g = "completions.prompt"
        pr = lambda v, **extra: with_field(endpoint, "prompt", v, dict(BASE[endpoint], **extra))
        cases += [
            Case(g, "'Hello'", endpoint, pr("Hello"), "ok"),
            Case(g, "''", endpoint, pr(""), "any", param="prompt"),
            Case(g, "[1, 2, 3]", endpoint, pr([1, 2, 3]), "ok"),
            Case(g, "[0]", endpoint, pr([0]), "ok"),
            Case(g, "[49151]", endpoint, pr([49151]), "ok"),
            Case(g, "['Hello']", endpoint, pr(["Hello"]), "ok"),
            Case(g, "[[1, 2, 3]]", endpoint, pr([[1, 2, 3]]), "ok"),
            Case(g, "['a', 'b'] (batch)", endpoint, pr(["a", "b"]), "err", param="prompt"),
            Case(g, "[[1], [2]] (batch)", endpoint, pr([[1], [2]]), "err", param="prompt"),
            Case(g, "[]", endpoint, pr([]), "err", param="prompt"),
            Case(g, "[[]]", endpoint, pr([[]]), "err", param="prompt"),
            Case(g, "['']", endpoint, pr([""]), "any", param="prompt"),
            Case(g, "[49152]", endpoint, pr([49152]), "err", param="prompt"),
            Case(g, "[-1]", endpoint, pr([-1]), "err", param="prompt"),
            Case(g, "[2**63]", endpoint, pr([2**63]), "err", param="prompt"),
            Case(g, "[2**64]", endpoint, pr([2**64]), "err", param="prompt"),
            Case(g, "[1e308]", endpoint, pr([1e308]), "err", param="prompt"),
            Case(g, "[1.5]", endpoint, pr([1.5]), "err", param="prompt"),
            Case(g, "[true]", endpoint, pr([True]), "err", param="prompt"),
            Case(g, "[null]", endpoint, pr([None]), "err", param="prompt"),
            Case(g, "['a', 1]", endpoint, pr(["a", 1]), "err", param="prompt"),
            Case(g, "[1, 'a']", endpoint, pr([1, "a"]), "err", param="prompt"),
            Case(g, "[[1, 'a']]", endpoint, pr([[1, "a"]]), "err", param="prompt"),
            Case(g, "[{}]", endpoint, pr([{}]), "err", param="prompt"),
            Case(g, "5", endpoint, pr(5), "err", param="prompt"),
            Case(g, "true", endpoint, pr(True), "err", param="prompt"),
            Case(g, "{}", endpoint, pr({}), "err", param="prompt"),
            Case(g, "null", endpoint, pr(None), "err", param="prompt"),
            Case(g, "missing", endpoint, dumps({"max_tokens": 2}), "err", param="prompt"),
            Case(g, "3 MiB string", endpoint, pr(lorem(3 * MIB)), "err", param="prompt", code="context_length_exceeded"),
            Case(g, "100k token ids", endpoint, pr([1] * 100_000), "err", param="prompt",
                 code="context_length_exceeded"),
            Case(g, "8192 token ids, max_tokens 1", endpoint, pr([1] * CONTEXT, max_tokens=1), "err",
                 code="context_length_exceeded"),
            Case(g, "special tokens text", endpoint, pr("<|im_start|>user\nhi<|im_end|><|endoftext|>"), "ok"),
            Case(g, "'\\u0000'", endpoint, pr("\u0000"), "ok"),
            Case(g, "lone surrogate \\ud800", endpoint, with_literal(endpoint, "prompt", b'"a\\udc00b"'), "any",
                 param="prompt"),
            Case(g, "invalid UTF-8 bytes", endpoint, with_literal(endpoint, "prompt", b'"a\xff\xfeb\xc3"'), "any",
                 param="prompt"),
            Case(g, "overlong UTF-8 (C0 AF)", endpoint, with_literal(endpoint, "prompt", b'"a\xc0\xafb"'), "any",
                 param="prompt"),
            Case(g, "messages on completions", endpoint,
                 with_field(endpoint, "messages", [{"role": "user", "content": "x"}]), "err", param="messages"),
        ]
        # suffix: not implemented unless empty
        g = "completions.suffix"
        cases += [
            Case(g, "suffix ''", endpoint, with_field(endpoint, "suffix", ""), "ok"),
            Case(g, "suffix null", endpoint, with_field(endpoint, "suffix", None), "ok"),
            Case(g, "suffix 'x'", endpoint, with_field(endpoint, "suffix", "x"), "err", param="suffix",
                 code="unsupported_parameter"),
            Case(g, "suffix 5", endpoint, with_field(endpoint, "suffix", 5), "err", param="suffix"),
        ]

    # best_of / min_tokens -----------------------------------------------------------------------------
    g = f"{endpoint}.best_of"
    if chat:
        # best_of is a completions parameter; on chat it may be unknown (unrecognized) or unsupported.
        cases += [
            Case(g, "best_of 1 on chat", endpoint, with_field(endpoint, "best_of", 1), "any", param="best_of"),
            Case(g, "best_of 2 on chat", endpoint, with_field(endpoint, "best_of", 2), "err", param="best_of"),
        ]
    else:
        cases += [
            Case(g, "best_of 1 (n 1)", endpoint, with_field(endpoint, "best_of", 1), "ok"),
            Case(g, "best_of 2 n 2", endpoint, with_field(endpoint, "best_of", 2, dict(BASE[endpoint], n=2)), "ok", n=2),
            Case(g, "best_of 2 (n 1)", endpoint, with_field(endpoint, "best_of", 2), "err", param="best_of",
                 code="unsupported_parameter"),
            Case(g, "best_of 0", endpoint, with_field(endpoint, "best_of", 0), "err", param="best_of"),
            Case(g, "best_of 'x'", endpoint, with_field(endpoint, "best_of", "x"), "err", param="best_of"),
            Case(g, "best_of 2**64", endpoint, with_literal(endpoint, "best_of", str(2**64).encode()), "err",
                 param="best_of"),
        ]
    g = f"{endpoint}.min_tokens"
    cases += [
        Case(g, "min_tokens 0", endpoint, with_field(endpoint, "min_tokens", 0), "ok"),
        Case(g, "min_tokens 1", endpoint, with_field(endpoint, "min_tokens", 1), "err", param="min_tokens",
             code="unsupported_parameter"),
        Case(g, "min_tokens -1", endpoint, with_field(endpoint, "min_tokens", -1), "err", param="min_tokens"),
        Case(g, "min_tokens 'x'", endpoint, with_field(endpoint, "min_tokens", "x"), "err", param="min_tokens"),
    ]

    # what SGLang's and vLLM's routers add to each request they forward --------------------------
    g = f"{endpoint}.router_fields"
    for key in ["no_stop_trim", "return_hidden_states"]:
        cases += [
            Case(g, f"{key} false", endpoint, with_field(endpoint, key, False), "ok"),
            Case(g, f"{key} true", endpoint, with_field(endpoint, key, True), "err", param=key,
                 code="unsupported_parameter"),
            Case(g, f"{key} 'x'", endpoint, with_field(endpoint, key, "x"), "err", param=key),
        ]
    if chat:
        for key in ["separate_reasoning", "stream_reasoning", "include_reasoning"]:
            cases += bool_cases(endpoint, key)

    # structured output: every form compiles; what cannot be honoured is refused by name -----------
    g = f"{endpoint}.structured"
    schema = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 4}}, "required": ["a"]}
    for key, value in [("response_format", {"type": "json_object"}),
                       ("response_format", {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}}),
                       ("response_format", {"type": "json_object", "schema": schema}),
                       ("guided_json", schema), ("guided_json", json.dumps(schema)), ("guided_regex", "[a-z]+"),
                       ("guided_choice", ["a", "b"]), ("guided_grammar", 'root ::= "a"'), ("structured_outputs", {"json": schema}),
                       ("structured_outputs", {"choice": ["x"]}), ("grammar", 'root ::= "a"'), ("json_schema", schema)]:
        cases.append(Case(g, f"{key}={json.dumps(value)[:40]}", endpoint, with_field(endpoint, key, value), "ok"))
    for key, value in [("response_format", {"type": "json_schema", "json_schema": {"name": "x", "schema": {"not": {}}}}),
                       ("response_format", {"type": "json_schema"}), ("guided_json", {"type": "number", "multipleOf": 2}),
                       ("guided_json", "{"), ("guided_regex", "(a"), ("guided_regex", "a{99999}"), ("guided_choice", []),
                       ("guided_choice", [1]), ("guided_grammar", "root ::= root 'a'"), ("grammar", "x ::= 'a'"),
                       ("json_schema", {"$ref": "#/nowhere"}), ("json_schema", {"type": "object", "minProperties": 1})]:
        cases.append(Case(g, f"{key}={json.dumps(value)[:40]}", endpoint, with_field(endpoint, key, value), "err", param=key))
    cases.append(Case(g, "two constraints", endpoint,
                      with_field(endpoint, "json_schema", schema, base={**BASE[endpoint], "guided_regex": "a"}), "err", param="json_schema"))
    # tools: chat only ---------------------------------------------------------------------------
    g = f"{endpoint}.tools"
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    if endpoint == "completions":
        cases.append(Case(g, "tools", endpoint, with_field(endpoint, "tools", [tool]),
                          "err", param="tools", code="unsupported_parameter"))
    else:
        def tools(value, **extra):
            return with_field(endpoint, "tools", value, base={**BASE[endpoint], **extra})
        cases += [
            Case(g, "tools (auto)", endpoint, tools([tool]), "ok"),
            Case(g, "tools, tool_choice required", endpoint, tools([tool], tool_choice="required"), "ok"),
            Case(g, "tools, tool_choice named", endpoint,
                 tools([tool], tool_choice={"type": "function", "function": {"name": "f"}}), "ok"),
            Case(g, "tools, tool_choice none", endpoint, tools([tool], tool_choice="none"), "ok"),
            Case(g, "tools, parallel_tool_calls false", endpoint,
                 tools([tool], tool_choice="required", parallel_tool_calls=False), "ok"),
            Case(g, "tool without parameters", endpoint, tools([{"type": "function", "function": {"name": "g"}}]), "ok"),
            Case(g, "tool_choice names a missing function", endpoint,
                 tools([tool], tool_choice={"type": "function", "function": {"name": "nope"}}), "err", param="tool_choice"),
            Case(g, "tool_choice 'sometimes'", endpoint, tools([tool], tool_choice="sometimes"), "err", param="tool_choice"),
            Case(g, "tool name with a space", endpoint, tools([{"type": "function", "function": {"name": "a b"}}]),
                 "err", param="tools"),
            Case(g, "tool name of 65 bytes", endpoint, tools([{"type": "function", "function": {"name": "a" * 65}}]),
                 "err", param="tools"),
            Case(g, "two tools of one name", endpoint, tools([tool, tool]), "err", param="tools"),
            Case(g, "tool type 'retrieval'", endpoint, tools([{"type": "retrieval"}]), "err", param="tools"),
            Case(g, "tool parameters 5", endpoint, tools([{"type": "function", "function": {"name": "f", "parameters": 5}}]),
                 "err", param="tools"),
            Case(g, "tool with an unknown key", endpoint,
                 tools([{"type": "function", "function": {"name": "f"}, "x": 1}]), "err", param="tools[0].x"),
            Case(g, "required, parameters the grammar cannot honour", endpoint,
                 tools([{"type": "function", "function": {"name": "f", "parameters": {"type": "number", "multipleOf": 2}}}],
                       tool_choice="required"), "err", param="tools"),
            Case(g, "required and response_format", endpoint,
                 tools([tool], tool_choice="required", response_format={"type": "json_object"}), "err", param="tool_choice"),
            Case(g, "129 tools", endpoint,
                 tools([{"type": "function", "function": {"name": f"f{i}"}} for i in range(129)]), "err", param="tools"),
        ]
    # not implemented -> unsupported_parameter -----------------------------------------------------
    g = f"{endpoint}.unsupported"
    cases.append(Case(g, "functions (deprecated)", endpoint, with_field(endpoint, "functions", [{"name": "f"}]),
                      "err", param="functions", code="unsupported_parameter"))
    # accepted no-ops ------------------------------------------------------------------------------
    g = f"{endpoint}.noop"
    for key, value in [("user", "u-1"), ("store", True), ("store", False), ("metadata", {"a": "b"}), ("metadata", {}),
                       ("service_tier", "auto"), ("service_tier", "default"), ("parallel_tool_calls", True),
                       ("parallel_tool_calls", False), ("response_format", {"type": "text"}), ("tools", []),
                       ("tool_choice", "none"), ("tool_choice", "auto"), ("user", "u" * 1024),
                       ("model", ctx.model)]:
        cases.append(Case(g, f"{key}={json.dumps(value)[:40]}", endpoint, with_field(endpoint, key, value), "ok"))
    for key, value in [("user", 5), ("store", "yes"), ("metadata", {"a": 1}), ("metadata", "x"), ("metadata", [1]),
                       ("parallel_tool_calls", "yes"), ("response_format", "text"), ("response_format", {}),
                       ("response_format", {"type": "bogus"}), ("tools", {}), ("tools", "x"),
                       ("tool_choice", 5), ("service_tier", 5), ("user", "u" * 1025), ("user", lorem(3 * MIB))]:
        cases.append(Case(g, f"{key}={json.dumps(value)[:40]}", endpoint, with_field(endpoint, key, value), "err",
                          param=key))
    cases.append(Case(g, "tool_choice 'required' (tools [])", endpoint, with_field(endpoint, "tool_choice", "required"),
                      "err", param="tool_choice"))
    cases.append(Case(g, "metadata 1000-level nesting", endpoint,
                      with_literal(endpoint, "metadata", b'{"a": ' * 1000 + b'"x"' + b"}" * 1000), "err"))
    g = f"{endpoint}.model"
    cases += [
        Case(g, "unknown model", endpoint, with_field(endpoint, "model", "no-such-model"), "err", param="model"),
        Case(g, "model 5", endpoint, with_field(endpoint, "model", 5), "err", param="model"),
        Case(g, "model ''", endpoint, with_field(endpoint, "model", ""), "any", param="model"),
        Case(g, "model 3 MiB", endpoint, with_field(endpoint, "model", "m" * (3 * MIB)), "err", param="model"),
    ]
    # unknown fields ---------------------------------------------------------------------------------
    g = f"{endpoint}.unknown"
    for key in ["foo", "Prompt" if not chat else "Messages", "max_token", "temperture", "__proto__", "", "k" * (3 * MIB)]:
        cases.append(Case(g, f"unknown field {key[:20]!r}{'...' if len(key) > 20 else ''}", endpoint,
                          with_field(endpoint, key, 1), "err", param=key,
                          message_contains=f"unrecognized request argument supplied: {key}"[:80]))
    return cases


def lorem(size):
    words = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore "
             "et dolore magna aliqua ").encode()
    return (words * (size // len(words) + 1))[:size].decode()


def body_cases(ctx):
    """Malformed or hostile bodies, not tied to a single field."""
    cases = []
    for endpoint in ("completions", "chat", "tokenize", "detokenize"):
        g = f"{endpoint}.body"
        valid = dumps(BASE[endpoint])
        for name, body in [("empty body", b""), ("null", b"null"), ("[]", b"[]"), ("'x'", b'"x"'), ("1", b"1"),
                           ("{", b"{"), ("truncated", valid[:-5]), ("trailing garbage", valid + b" x"),
                           ("two objects", valid + valid), ("trailing comma", valid[:-1] + b",}"),
                           ("single quotes", b"{'prompt': 'x'}"), ("comment", b"/* c */" + valid),
                           ("invalid UTF-8 outside strings", valid[:-1] + b"\xff}"),
                           ("1000-level array", b"[" * 1000 + b"]" * 1000),
                           ("1000-level object", b'{"a":' * 1000 + b"1" + b"}" * 1000),
                           ("100000-level array", b"[" * 100_000 + b"]" * 100_000),
                           ("100000 unclosed [", b"[" * 100_000),
                           ("65-level field value", valid[:-1] + b', "x": ' + b"[" * 65 + b"]" * 65 + b"}"),
                           ("1000-level field value", valid[:-1] + b', "x": ' + b"[" * 1000 + b"]" * 1000 + b"}"),
                           ("NUL byte", valid[:-1] + b"\x00}"),
                           ("raw control char in string", valid[:-1] + b', "user": "a\x01b"}')]:
            cases.append(Case(g, name, endpoint, body, "err"))
        cases.append(Case(g, "UTF-8 BOM", endpoint, b"\xef\xbb\xbf" + valid, "any"))
        cases.append(Case(g, "leading/trailing whitespace", endpoint, b" \n\t" + valid + b"\n ", "ok"))
        cases.append(Case(g, "5 MiB body (> 4 MiB)", endpoint,
                          with_field(endpoint, "user", "u" * (5 * MIB)), "status:413"))
        cases.append(Case(g, "4 MiB + 1 byte body", endpoint, pad_to(dumps(BASE[endpoint]), 4 * MIB + 1), "status:413"))
        cases.append(Case(g, "4 MiB - 64 byte body", endpoint, pad_to(dumps(BASE[endpoint]), 4 * MIB - 64), "any"))
        cases.append(Case(g, "Content-Type text/plain", endpoint, valid, "any", headers={"Content-Type": "text/plain"}))
    # duplicate keys
    for endpoint, dup in [("completions", b'{"prompt": "a", "max_tokens": 2, "max_tokens": 100000}'),
                          ("completions", b'{"prompt": "a", "max_tokens": 100000, "max_tokens": 2}'),
                          ("completions", b'{"prompt": "a", "prompt": [1, 2], "max_tokens": 2}'),
                          ("chat", b'{"messages": [{"role": "user", "role": "bogus", "content": "x"}], "max_tokens": 2}'),
                          ("chat", b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 2, "stream": true, '
                                   b'"stream": false}'),
                          ("tokenize", b'{"prompt": "a", "prompt": 5}')]:
        cases.append(Case(f"{endpoint}.duplicate_keys", dup.decode()[:70], endpoint, dup, "any"))
    return cases


def pad_to(body, size):
    """`body` with a `user` string making it exactly `size` bytes."""
    head = body[:-1] + b', "user": "'
    return head + b"u" * (size - len(head) - 2) + b'"}'


def tokenize_cases(ctx):
    cases = []
    ep = "tokenize"
    g = "tokenize.prompt"
    tk = lambda v, **extra: with_field(ep, "prompt", v, dict(BASE[ep], **extra))
    def count_check(body):
        if not is_int(body.get("count")) or not isinstance(body.get("tokens"), list) or len(body["tokens"]) != body["count"]:
            return f"tokenize body malformed: {str(body)[:100]}"
        return None
    cases += [
        Case(g, "'Hello'", ep, tk("Hello"), "ok", check=count_check),
        Case(g, "''", ep, tk(""), "ok", check=count_check),
        Case(g, "special tokens", ep, tk("<|im_start|>x<|im_end|>"), "ok", check=count_check),
        Case(g, "3 MiB string", ep, tk(lorem(3 * MIB)), "ok", check=count_check, timeout=60),
        Case(g, "invalid UTF-8", ep, with_literal(ep, "prompt", b'"a\xff\xfeb"'), "any", param="prompt"),
        Case(g, "lone surrogate", ep, with_literal(ep, "prompt", b'"\\ud800"'), "any", param="prompt"),
        Case(g, "5", ep, tk(5), "err", param="prompt"),
        Case(g, "[1, 2]", ep, tk([1, 2]), "any", param="prompt"),
        Case(g, "{}", ep, tk({}), "err", param="prompt"),
        Case(g, "true", ep, tk(True), "err", param="prompt"),
        Case(g, "null (nothing to tokenize)", ep, tk(None), "err"),
        Case(g, "missing", ep, dumps({}), "err"),
        Case(g, "unknown model", ep, tk("x", model="no-such-model"), "err", param="model"),
        Case(g, "unknown field", ep, tk("x", foo=1), "any", param="foo"),
    ]
    for key in ("add_special_tokens",):
        for c in bool_cases(ep, key):
            c.group = f"tokenize.{key}"
            cases.append(c)
    g = "tokenize.messages"
    msgs = [{"role": "user", "content": "Hi"}]
    tm = lambda v, **extra: dumps(dict({"messages": v}, **extra))
    cases += [
        Case(g, "messages", ep, tm(msgs), "ok", check=count_check),
        Case(g, "add_generation_prompt false", ep, tm(msgs, add_generation_prompt=False), "ok", check=count_check),
        Case(g, "add_generation_prompt 1", ep, tm(msgs, add_generation_prompt=1), "err", param="add_generation_prompt"),
        Case(g, "add_generation_prompt 'x'", ep, tm(msgs, add_generation_prompt="x"), "err",
             param="add_generation_prompt"),
        Case(g, "[]", ep, tm([]), "err", param="messages"),
        Case(g, "'x'", ep, tm("x"), "err", param="messages"),
        Case(g, "role bogus", ep, tm([{"role": "bogus", "content": "x"}]), "err", param="messages"),
        Case(g, "content 5", ep, tm([{"role": "user", "content": 5}]), "err", param="messages"),
        Case(g, "100k messages", ep, tm(msgs * 100_000), "any", param="messages", timeout=60),
        Case(g, "both prompt and messages", ep, tm(msgs, prompt="x"), "any"),
    ]
    ep = "detokenize"
    g = "detokenize.tokens"
    dt = lambda v, **extra: dumps(dict({"tokens": v}, **extra))
    def prompt_check(body):
        return None if isinstance(body.get("prompt"), str) else f"detokenize body malformed: {str(body)[:100]}"
    cases += [
        Case(g, "[1, 2, 3]", ep, dt([1, 2, 3]), "ok", check=prompt_check),
        Case(g, "[]", ep, dt([]), "ok", check=prompt_check),
        Case(g, "[0, 49151]", ep, dt([0, 49151]), "ok", check=prompt_check),
        Case(g, "100k ids", ep, dt(list(range(100_000))[:100_000]), "err", param="tokens"),
        Case(g, "100k valid ids", ep, dt([i % VOCAB for i in range(100_000)]), "ok", check=prompt_check),
        Case(g, "[49152]", ep, dt([49152]), "err", param="tokens"),
        Case(g, "[-1]", ep, dt([-1]), "err", param="tokens"),
        Case(g, "[2**63-1]", ep, dt([2**63 - 1]), "err", param="tokens"),
        Case(g, "[-2**63]", ep, dt([-2**63]), "err", param="tokens"),
        Case(g, "[2**64]", ep, dt([2**64]), "err", param="tokens"),
        Case(g, "[1e308]", ep, dt([1e308]), "err", param="tokens"),
        Case(g, "[1.5]", ep, dt([1.5]), "err", param="tokens"),
        Case(g, "[1e-40]", ep, dt([1e-40]), "err", param="tokens"),
        Case(g, "[-0.0]", ep, with_literal(ep, "tokens", b"[-0.0]"), "any", param="tokens"),
        Case(g, "[NaN]", ep, with_literal(ep, "tokens", b"[NaN]"), "err"),
        Case(g, "['1']", ep, dt(["1"]), "err", param="tokens"),
        Case(g, "[true]", ep, dt([True]), "err", param="tokens"),
        Case(g, "[null]", ep, dt([None]), "err", param="tokens"),
        Case(g, "[[1]]", ep, dt([[1]]), "err", param="tokens"),
        Case(g, "5", ep, dt(5), "err", param="tokens"),
        Case(g, "'x'", ep, dt("x"), "err", param="tokens"),
        Case(g, "{}", ep, dt({}), "err", param="tokens"),
        Case(g, "null", ep, dt(None), "err", param="tokens"),
        Case(g, "missing", ep, dumps({}), "err", param="tokens"),
        Case(g, "unknown model", ep, dt([1], model="no-such-model"), "err", param="model"),
        Case(g, "unknown field", ep, dt([1], foo=1), "any", param="foo"),
    ]
    # 100k ids case above: range(100_000) exceeds the vocabulary (ids >= 49152) -> error.
    return cases


def misc_cases(ctx):
    """Methods and paths."""
    g = "routes"
    return [
        Case(g, "GET /v1/models", "raw", None, "ok", method="GET", path="/v1/models",
             check=lambda b: None if b.get("object") == "list" and b.get("data") else "models body malformed"),
        Case(g, "GET /health", "raw", None, "status:200", method="GET", path="/health"),
        Case(g, "GET /metrics", "raw", None, "status:200", method="GET", path="/metrics"),
        # The worker endpoints routers call (docs/api.md).
        Case(g, "GET /get_load", "raw", None, "ok", method="GET", path="/get_load",
             check=lambda b: None if isinstance(b.get("load"), int) else "no integer 'load'"),
        Case(g, "GET /server_info", "raw", None, "ok", method="GET", path="/server_info",
             check=lambda b: None if b.get("served_model_name") == ctx.model else "served_model_name"),
        Case(g, "GET /get_server_info", "raw", None, "ok", method="GET", path="/get_server_info"),
        Case(g, "GET /model_info", "raw", None, "ok", method="GET", path="/model_info",
             check=lambda b: None if b.get("is_generation") is True else "is_generation"),
        Case(g, "GET /get_model_info", "raw", None, "ok", method="GET", path="/get_model_info"),
        Case(g, "POST /flush_cache", "raw", None, "ok", method="POST", path="/flush_cache"),
        Case(g, "POST /flush_cache with a body", "raw", dumps({"x": 1}), "ok", method="POST", path="/flush_cache"),
        Case(g, "POST /get_load", "raw", None, "err", method="POST", path="/get_load"),
        Case(g, "DELETE /flush_cache", "raw", None, "err", method="DELETE", path="/flush_cache"),
        Case(g, "GET /v1/completions", "raw", None, "err", method="GET", path="/v1/completions"),
        Case(g, "PUT /v1/chat/completions", "raw", dumps(BASE["chat"]), "err", method="PUT",
             path="/v1/chat/completions"),
        Case(g, "DELETE /v1/models", "raw", None, "err", method="DELETE", path="/v1/models"),
        Case(g, "GET /nope", "raw", None, "err", method="GET", path="/nope"),
        Case(g, "POST /v1/embeddings", "raw", dumps({"input": "x"}), "err", method="POST", path="/v1/embeddings"),
        Case(g, "GET /v1/models/../../etc/passwd", "raw", None, "err", method="GET", path="/v1/models/../../etc/passwd"),
        Case(g, "GET /" + "a" * 8000, "raw", None, "err", method="GET", path="/" + "a" * 8000),
        Case(g, "OPTIONS *", "raw", None, "any", method="OPTIONS", path="*"),
    ]


class RawCase(Case):
    """Bytes sent as they are on one connection; `judge(responses, closed) -> problem` checks the
    parsed responses [(status, headers, body)] (a bare protocol-level 4xx without JSON is fine here)."""
    pass


def http_cases():
    """HTTP framing: chunked bodies, bad Content-Length, pipelining, huge headers, garbage."""
    g = "http"
    body = dumps(BASE["completions"])
    head = f"POST /v1/completions HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n".encode()

    def chunked(data, size=65536):
        out = b""
        for i in range(0, len(data), size):
            piece = data[i:i + size]
            out += b"%x\r\n" % len(piece) + piece + b"\r\n"
        return out + b"0\r\n\r\n"

    def status_is(*wanted, json_error=False):
        def judge(responses, closed):
            if not responses:
                return f"no response (connection closed: {closed})"
            status, headers, data = responses[0]
            if status not in wanted and not (0 in wanted and 400 <= status < 500):
                return f"status {status}, expected {wanted}: {data[:120]!r}"
            if status >= 500:
                return f"{status}: {data[:120]!r}"
            return None
        return judge

    def ok_or_4xx(responses, closed):
        if responses and responses[0][0] >= 500:
            return f"{responses[0][0]}: {responses[0][2][:120]!r}"
        return None

    def closed_or_ok(responses, closed):
        if not responses:
            return None if closed else "no response and the connection still open"
        return None if responses[0][0] == 200 else f"status {responses[0][0]}"

    def two_ok(responses, closed):
        # Each pipelined request is answered in order; under load either may be shed (429/503).
        statuses = [r[0] for r in responses]
        answered = len(statuses) == 2 and all(
            status == 200 or (status in (429, 503) and "retry-after" in headers) for status, headers, _ in responses)
        return None if answered else f"pipelined statuses {statuses}"

    big = dumps(dict(BASE["completions"], user="u" * (5 * MIB)))
    cases = [
        (g, "chunked body", head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body, 7), status_is(200)),
        (g, "chunked body of 5 MiB (> 4 MiB)", head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(big),
         status_is(413)),
        (g, "Content-Length 5 MiB (> 4 MiB), body sent", head + b"Content-Length: %d\r\n\r\n" % len(big) + big,
         status_is(413)),
        (g, "Content-Length -1", head + b"Content-Length: -1\r\n\r\n" + body, status_is(0)),
        (g, "Content-Length not a number", head + b"Content-Length: abc\r\n\r\n" + body, status_is(0)),
        (g, "Content-Length 2**64", head + b"Content-Length: 18446744073709551616\r\n\r\n" + body, status_is(0, 413)),
        (g, "two different Content-Lengths", head + b"Content-Length: %d\r\nContent-Length: 5\r\n\r\n" % len(body) + body,
         status_is(0)),
        (g, "Content-Length and chunked", head + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body),
         ok_or_4xx),
        (g, "Content-Length shorter than the body", head + b"Content-Length: 10\r\n\r\n" + body, ok_or_4xx),
        (g, "Expect: 100-continue", head + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
         status_is(100, 200)),
        # A client that closes its sending side is taken for gone (docs/api.md): its request is aborted
        # and the connection closed, so that a vanished client never keeps a generation running.
        (g, "complete request, then the client half-closes (SHUT_WR)",
         head + b"Content-Length: %d\r\n\r\n" % len(body) + body, closed_or_ok),
        (g, "pipelined two requests", (head + b"Content-Length: %d\r\n\r\n" % len(body) + body) * 2, two_ok),
        (g, "HTTP/1.0", head.replace(b"HTTP/1.1", b"HTTP/1.0") + b"Content-Length: %d\r\n\r\n" % len(body) + body,
         status_is(200)),
        (g, "100 KB header", head + b"X-Big: " + b"a" * 100_000 + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
         status_is(0)),
        (g, "5000 headers", head + b"".join(b"X-H%d: v\r\n" % i for i in range(5000))
         + b"Content-Length: %d\r\n\r\n" % len(body) + body, ok_or_4xx),
        (g, "garbage request line", b"GARBAGE\r\n\r\n", ok_or_4xx),
        (g, "HTTP/2 preface on HTTP/1.1", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ok_or_4xx),
        (g, "NUL in the request line", b"GET /v1/mo\x00dels HTTP/1.1\r\nHost: x\r\n\r\n", ok_or_4xx),
        (g, "bare LF line endings", head.replace(b"\r\n", b"\n") + b"Content-Length: %d\n\n" % len(body) + body,
         ok_or_4xx),
    ]
    out = []
    for group, name, raw, judge in cases:
        case = RawCase(group, name, "raw", raw, "raw", method="RAW", path="(raw)")
        case.check = judge
        out.append(case)
    return out


def read_raw_responses(sock, limit=2):
    """Parses up to `limit` responses from `sock`; returns (responses, closed)."""
    responses = []
    reader = sock.makefile("rb")
    closed = False
    try:
        while len(responses) < limit:
            line = reader.readline(65537)
            if not line:
                closed = True
                break
            parts = line.split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
                return responses + [(999, {}, line)], closed
            status = int(parts[1])
            headers = {}
            while True:
                h = reader.readline(65537)
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            data = b""
            if status == 100:
                responses.append((100, headers, b""))
                continue
            if headers.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    size = int(reader.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        reader.readline()
                        break
                    data += reader.read(size)
                    reader.readline()
            elif "content-length" in headers:
                data = reader.read(int(headers["content-length"]))
            responses.append((status, headers, data))
            if headers.get("connection", "").lower() == "close":
                break
    except (OSError, ValueError):
        closed = True
    finally:
        reader.close()
    # A 100 Continue followed by the final answer counts as the final answer.
    final = [r for r in responses if r[0] != 100]
    return (final or responses), closed


def run_raw_case(port, case):
    import socket as socketlib
    started = time.monotonic()
    try:
        sock = socketlib.create_connection((HOST, port), timeout=case.timeout)
        try:
            try:
                sock.sendall(case.body)
            except OSError:
                pass  # the server may close early (e.g. 413 before the whole body); read what it said
            if "half-closes" in case.name:
                sock.shutdown(socketlib.SHUT_WR)
            responses, closed = read_raw_responses(sock, limit=2 if case.name.startswith("pipelined") else 1)
        finally:
            sock.close()
    except OSError as error:
        return None, f"connection failed: {type(error).__name__}: {error}", time.monotonic() - started
    status = responses[0][0] if responses else None
    return status, case.check(responses, closed), time.monotonic() - started


def auth_cases(key):
    g = "auth"
    good = {"Authorization": f"Bearer {key}"}
    chat = dumps(BASE["chat"])
    cases = [
        Case(g, "GET /health no key", "raw", None, "status:200", method="GET", path="/health"),
        Case(g, "GET /metrics no key", "raw", None, "status:200", method="GET", path="/metrics"),
        Case(g, "GET /v1/models key", "raw", None, "ok", method="GET", path="/v1/models", headers=good),
        Case(g, "POST chat key", "chat", chat, "ok", headers=good),
        Case(g, "POST /tokenize key", "tokenize", dumps(BASE["tokenize"]), "ok", headers=good),
        Case(g, "POST /flush_cache key", "raw", None, "ok", method="POST", path="/flush_cache", headers=good),
    ]
    for path in ["/v1/models", "//v1/models", "/v1//models", "/V1/models", "/v1/models/", "/%761/models",
                 "/v1/%6dodels", "/./v1/models", "/v1/./models", "/x/../v1/models", "/v1/models?x=1",
                 "/v1/models#f", "/health/", "/HEALTH", "/metrics/", "//health", "/nope", "/v1", "/get_load",
                 "/server_info", "/get_model_info", "/flush_cache"]:
        cases.append(Case(g, f"GET {path} no key", "raw", None, "status:401", method="GET", path=path))
    for path in ["/v1/completions", "/v1/chat/completions", "//v1/chat/completions", "/V1/chat/completions",
                 "/v1/chat/completions/", "/%76%31/chat/completions", "/tokenize", "/detokenize", "/Tokenize",
                 "//tokenize", "/tokenize/", "/health", "/metrics", "/flush_cache", "//flush_cache", "/Flush_cache"]:
        body = dumps(BASE["tokenize"]) if "okenize" in path else chat
        cases.append(Case(g, f"POST {path} no key", "raw", body, "status:401", path=path))
    for name, value in [("wrong key", f"Bearer {key}x"), ("prefix of key", f"Bearer {key[:-1]}"),
                        ("no scheme", key), ("Basic", f"Basic {key}"), ("empty", ""), ("Bearer only", "Bearer"),
                        ("Bearer space", "Bearer "), ("double space", f"Bearer  {key}"),
                        ("key twice", f"Bearer {key}{key}")]:
        cases.append(Case(g, f"/v1/models {name}", "raw", None, "status:401", method="GET", path="/v1/models",
                          headers={"Authorization": value}))
    # A NUL in a header value is malformed HTTP: the HTTP layer may answer a bare 400.
    cases.append(Case(g, "/v1/models NUL after key", "raw", None, "status:4xx-raw", method="GET", path="/v1/models",
                      headers={"Authorization": f"Bearer {key}\x00"}))
    cases.append(Case(g, "/v1/models trailing space (OWS)", "raw", None, "any", method="GET", path="/v1/models",
                      headers={"Authorization": f"Bearer {key} "}))
    cases.append(Case(g, "/v1/models lowercase 'bearer'", "raw", None, "any", method="GET", path="/v1/models",
                      headers={"Authorization": f"bearer {key}"}))
    cases.append(Case(g, "GET /health?x=1 no key", "raw", None, "any", method="GET", path="/health?x=1"))
    return cases


# --------------------------------------------------------------------------- evaluation

def param_matches(got, want):
    if want is None:
        return True
    if got is None:
        return False
    return got == want or got.startswith(want + ".") or got.startswith(want + "[")


def evaluate(case, status, headers, data):
    """None when the answer meets the case's expectation; else the problem."""
    if status >= 500:
        return f"{status} (5xx): {data[:200]!r}"
    expect = case.expect
    if expect == "status:4xx-raw":  # any 4xx; a bare protocol-level answer is fine
        return None if 400 <= status < 500 else f"expected 4xx, got {status}: {data[:160]!r}"
    if expect.startswith("status:"):
        want = int(expect.split(":")[1])
        if status != want:
            return f"expected {want}, got {status}: {data[:160]!r}"
        if status >= 400:
            return error_shape_problem(status, headers, data)
        return None
    if status == 200:
        if expect == "err":
            return f"expected 4xx, got 200: {data[:160]!r}"
        return ok_problem(case, headers, data)
    if 400 <= status < 500:
        if expect == "ok":
            return f"expected 200, got {status}: {data[:200]!r}"
        problem = error_shape_problem(status, headers, data)
        if problem:
            return problem
        error = json.loads(data)["error"]
        if case.param is not None and not param_matches(error.get("param"), case.param):
            return f"{status} with param {error.get('param')!r}, expected {case.param[:40]!r}: {error.get('message', '')[:120]!r}"
        if case.code is not None and error.get("code") != case.code:
            return f"{status} with code {error.get('code')!r}, expected {case.code!r}: {error.get('message', '')[:120]!r}"
        if case.message_contains and case.message_contains not in error.get("message", ""):
            return f"message {error.get('message', '')[:120]!r} lacks {case.message_contains[:60]!r}"
        return None
    return f"unexpected status {status}: {data[:160]!r}"


def ok_problem(case, headers, data):
    if case.endpoint in ("completions", "chat"):
        if case.stream:
            if "text/event-stream" not in headers.get("content-type", ""):
                return f"stream Content-Type {headers.get('content-type')!r}"
            events, _, problem = parse_sse(data)
            if problem:
                return problem
            problem = stream_problem(events, case.endpoint, case.n, case.include_usage)
            if problem:
                return problem
            return case.check(events) if case.check else None
        try:
            body = json.loads(data)
        except ValueError:
            return f"200 body is not JSON: {data[:120]!r}"
        problem = completion_problem(body, case.endpoint, case.n)
        if problem:
            return problem
        return case.check(body) if case.check else None
    if case.check:
        try:
            body = json.loads(data)
        except ValueError:
            return f"200 body is not JSON: {data[:120]!r}"
        return case.check(body)
    if case.endpoint in ("tokenize", "detokenize"):
        try:
            json.loads(data)
        except ValueError:
            return f"200 body is not JSON: {data[:120]!r}"
    return None


def run_case(port, case):
    """Sends one case; returns (status or None, problem or None, seconds)."""
    if isinstance(case, RawCase):
        return run_raw_case(port, case)
    started = time.monotonic()
    try:
        status, headers, data = request(port, case.method, case.url(), case.body, case.headers, timeout=case.timeout)
    except (OSError, http.client.HTTPException) as error:
        return None, f"connection failed: {type(error).__name__}: {error}", time.monotonic() - started
    # A streamed request whose stream field is set in the body but whose case does not say so.
    if status == 200 and not case.stream and "text/event-stream" in headers.get("content-type", ""):
        case.stream = True
    return status, evaluate(case, status, headers, data), time.monotonic() - started


def gather_context(port):
    ctx = Context()
    status, models = get_json(port, "/v1/models")
    if status == 200 and models.get("data"):
        ctx.model = models["data"][0]["id"]
    eos = []
    for text in ("<|im_end|>", "<|endoftext|>"):
        try:
            status, _, data = request(port, "POST", "/tokenize", dumps({"prompt": text, "add_special_tokens": False}))
            if status == 200:
                tokens = json.loads(data).get("tokens") or []
                if len(tokens) == 1:
                    eos.append(tokens[0])
        except (OSError, http.client.HTTPException, ValueError):
            pass
    if eos:
        ctx.eos_bias = {str(t): 100 for t in eos}
    try:
        status, _, data = request(port, "POST", "/tokenize", dumps({"messages": BASE["chat"]["messages"]}))
        if status == 200:
            ctx.chat_prompt_tokens = json.loads(data)["count"]
    except (OSError, http.client.HTTPException, ValueError, KeyError):
        pass
    return ctx


def all_cases(ctx):
    return (generation_cases(ctx, "completions") + generation_cases(ctx, "chat") + body_cases(ctx)
            + tokenize_cases(ctx) + misc_cases(ctx) + http_cases())


def run_groups(server, cases, results, verbose=False, workers=2):
    """Runs the cases group by group (`workers` at a time within a group); GET /health after each group."""
    groups = {}
    for case in cases:
        groups.setdefault(case.group, []).append(case)
    for group, members in groups.items():
        lock = threading.Lock()
        queue = list(members)
        def worker():
            while True:
                with lock:
                    if not queue:
                        return
                    case = queue.pop(0)
                status, problem, seconds = run_case(server.port, case)
                with lock:
                    results.append((case, status, problem, seconds))
                    if verbose:
                        print(f"  {'FAIL' if problem else 'ok  '} {seconds:6.2f}s {case.group} :: {case.name} -> {status}"
                              + (f"  {problem}" if problem else ""), flush=True)
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(workers, len(members)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        health = Case(group, "GET /health after the group", "raw", None, "status:200", method="GET", path="/health")
        if not server.alive():
            results.append((health, None, f"server process died (exit {server.process.returncode})", 0.0))
            return False
        status, problem, seconds = run_case(server.port, health)
        results.append((health, status, problem, seconds))
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--port", type=int, default=18100, help="port of the main server; the --api-key one uses port+1")
    parser.add_argument("--workers", type=int, default=2, help="concurrent requests within a group")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--only", help="run only groups containing this text")
    args = parser.parse_args()
    if args.port not in PORT_RANGE or args.port + 1 not in PORT_RANGE:
        sys.exit("--port and --port+1 must be in 18100-18199")
    started = time.monotonic()
    key = "sk-tandem-field-enumerator-key"
    server = Server(args.binary, args.port, label="fields").start()
    auth = Server(args.binary, args.port + 1, ["--api-key", key], label="auth").start()
    results = []
    try:
        try:
            load = server.wait_healthy(120)
            auth_load = auth.wait_healthy(120)
        except RuntimeError as error:
            print(f"FAIL: {error}")
            print("0 passed, 1 failed")
            return 1
        print(f"servers healthy after {load:.1f} s / {auth_load:.1f} s (logs {server.log.name}, {auth.log.name})")
        ctx = gather_context(server.port)
        print(f"model {ctx.model!r}, end-of-generation bias {ctx.eos_bias}, chat prompt {ctx.chat_prompt_tokens} tokens")
        cases = all_cases(ctx)
        auth_list = auth_cases(key)
        if args.only:
            cases = [c for c in cases if args.only in c.group or args.only in c.name]
            auth_list = [c for c in auth_list if args.only in c.group or args.only in c.name]
        run_groups(server, cases, results, args.verbose, args.workers)
        run_groups(auth, auth_list, results, args.verbose, args.workers)
    finally:
        for s in (server, auth):
            was_alive = s.alive()
            exited, seconds, code = s.stop()
            case = Case("shutdown", f"{s.label}: SIGTERM exits within grace+2 s", "raw", None, "ok")
            problem = None
            if not was_alive:
                problem = f"process had already exited with {s.process.returncode}"
            elif not exited:
                problem = f"still running {seconds:.1f} s after SIGTERM (grace {s.grace} s)"
            elif code not in (0, None):
                problem = f"exit status {code} after SIGTERM"
            results.append((case, code, problem, seconds))
    report(results, time.monotonic() - started, [server, auth])
    failed = sum(1 for r in results if r[2])
    return 1 if failed else 0


def report(results, elapsed, servers):
    groups = {}
    for case, status, problem, seconds in results:
        entry = groups.setdefault(case.group, [0, 0, 0.0])
        entry[0 if not problem else 1] += 1
        entry[2] += seconds
    width = max(len(g) for g in groups) if groups else 10
    print(f"\n{'group':<{width}}  {'pass':>5} {'fail':>5} {'secs':>6}")
    for group, (ok, bad, secs) in groups.items():
        print(f"{group:<{width}}  {ok:5d} {bad:5d} {secs:6.1f}{'  <--' if bad else ''}")
    failures = [r for r in results if r[2]]
    if failures:
        print(f"\nFAILURES ({len(failures)}):")
        for case, status, problem, seconds in failures:
            body = case.body[:160] if case.body else b""
            if case.body and len(case.body) > 160:
                body += f"... ({len(case.body)} bytes)".encode()
            print(f"- [{case.group}] {case.name}: {case.method} {case.url()} expect {case.expect}"
                  f"{' param=' + repr(case.param[:40]) if case.param else ''}{' code=' + case.code if case.code else ''}"
                  f" -> {status}: {problem}\n    body: {body!r}")
        dead = [s for s in servers if s.process and s.process.returncode not in (0, None)]
        for s in dead:
            print(f"\n{s.label} log tail ({s.log.name}):\n{s.tail()}")
    slowest = sorted(results, key=lambda r: -r[3])[:3]
    print(f"\nslowest: " + "; ".join(f"{r[0].name[:50]} {r[3]:.1f}s" for r in slowest))
    print(f"elapsed {elapsed:.1f} s")
    passed = sum(1 for r in results if not r[2])
    print(f"{passed} passed, {len(results) - passed} failed")


if __name__ == "__main__":
    sys.exit(main())
