#!/usr/bin/env python3
"""Structured output through a running `tandem serve`, checked by `jsonschema`.

    python3 scripts/check_structured.py [BASE_URL] [--generated 150] [--seeds 1] [--concurrency 32]

Sends every schema of scripts/structured/corpus.py (hand-written and generated) as a chat request
with `response_format: json_schema` at temperature 1 with a random seed, half of them streamed, all
at once (so constrained requests share batches with each other and with the free requests sent
alongside). Every output that finishes with `stop` must parse and validate under the schema;
outputs cut by `max_tokens` are counted apart. Exits non-zero on any invalid document.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from structured.corpus import HANDWRITTEN, generated  # noqa: E402

import jsonschema  # noqa: E402


def post(base: str, body: dict) -> dict:
    request = urllib.request.Request(f"{base}/chat/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        if not body.get("stream"):
            return json.loads(response.read())
        content, finish = "", None
        for line in response:
            line = line.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            for choice in chunk.get("choices", []):
                content += choice.get("delta", {}).get("content") or ""
                finish = choice.get("finish_reason") or finish
        return {"choices": [{"message": {"content": content}, "finish_reason": finish}]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_url", nargs="?", default="http://127.0.0.1:8080/v1")
    parser.add_argument("--generated", type=int, default=150)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()
    base = args.base_url.rstrip("/")
    rnd = random.Random(5)

    jobs = []
    for seed in range(args.seeds):
        for index, schema in enumerate(HANDWRITTEN + generated(args.generated)):
            body = {
                "messages": [{"role": "user", "content": f"Reply with a JSON document that fits this schema: {json.dumps(schema)}"}],
                "max_tokens": args.max_tokens, "temperature": 1, "seed": rnd.randrange(1 << 31),
                "response_format": {"type": "json_schema", "json_schema": {"name": f"s{index}", "schema": schema, "strict": True}},
                "stream": index % 2 == 1,
            }
            jobs.append((index, schema, body))
    # Free requests in the same batches.
    free = [{"messages": [{"role": "user", "content": f"Tell me a fact about the number {i}."}], "max_tokens": 32, "temperature": 1, "seed": i} for i in range(16)]

    def run(job):
        index, schema, body = job
        answer = post(base, body)["choices"][0]
        return index, schema, answer["message"]["content"], answer["finish_reason"]

    counts = {"stop": 0, "length": 0, "other": 0}
    failures = []
    with ThreadPoolExecutor(args.concurrency) as pool:
        free_futures = [pool.submit(post, base, body) for body in free]
        for index, schema, content, finish in pool.map(run, jobs):
            if finish != "stop":
                counts["length" if finish == "length" else "other"] += 1
                continue
            counts["stop"] += 1
            try:
                document = json.loads(content)
            except json.JSONDecodeError as error:
                failures.append(f"schema {index}: not JSON ({error}): {content!r}")
                continue
            problems = list(jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).iter_errors(document))
            if problems:
                failures.append(f"schema {index}: invalid ({problems[0].message}): {content!r}")
        for future in free_futures:
            future.result()
    total = sum(counts.values())
    print(f"structured output through the server: {total} schema requests; {counts['stop']} finished with stop, all checked; "
          f"{counts['length']} cut by max_tokens ({args.max_tokens}), {counts['other']} other; {len(failures)} invalid")
    for failure in failures[:20]:
        print("FAIL " + failure)
    return 1 if failures or counts["other"] else 0


if __name__ == "__main__":
    sys.exit(main())
