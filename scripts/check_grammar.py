#!/usr/bin/env python3
"""Checks Tandem's compiled grammars against validators nobody here wrote.

    python3 scripts/check_grammar.py [--tandem PATH] [--samples 20]

For every schema of scripts/structured/corpus.py (hand-written and generated), `tandem grammar`
prints random documents the compiled grammar accepts; each must parse and validate under Python's
`jsonschema`, and so must every random JSON text the grammar accepts. For every regular
expression, each sample must match it in full (Python `re`, ASCII classes as in ECMAScript) and the
grammar must accept exactly the random strings `re.fullmatch` accepts. Unsupported keywords must be
refused by name. Exits non-zero on the first kind of failure, after printing a summary.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from structured.corpus import HANDWRITTEN, REGEXES, generated, random_strings  # noqa: E402

import jsonschema  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

REFUSED = [
    ({"type": "object", "patternProperties": {"a": {}}}, "patternProperties"),
    ({"type": "number", "multipleOf": 3}, "multipleOf"),
    ({"type": "object", "minProperties": 1}, "minProperties"),
    ({"type": "string", "format": "color"}, "format"),
    ({"not": {"type": "string"}}, "not"),
    ({"if": {"type": "string"}, "then": {}}, "if"),
    ({"type": "number", "maximum": 3.5}, "maximum"),
    ({"$ref": "https://example.com/schema"}, "local references"),
    ({"allOf": [{"properties": {"a": {}}}, {"additionalProperties": False}]}, "additionalProperties"),
    ({"oneOf": [{"type": "string"}, {"type": "string", "maxLength": 3}]}, "anyOf"),
]

GBNF = [
    ('root ::= "a" b* "c"\nb ::= [0-9] | "x"', ["ac", "a1x9c", "ab", "c"], [True, True, False, False]),
    ('root ::= item ("," item){0,2}\nitem ::= [a-z]+  # words', ["a", "ab,c", "a,b,c,d", "a,", ""], [True, True, False, False, False]),
    ('root ::= "é" | [α-ω]{2}\n', ["é", "αβ", "α", "e"], [True, True, False, False]),
    ('root ::= ( "x" |\n  "y" ) "!"', ["x!", "y!", "z!"], [True, True, False]),
]


def random_json(rnd: random.Random, depth: int = 0):
    roll = rnd.random()
    if depth > 2 or roll < 0.4:
        return rnd.choice([0, 1, -3, 2.5, 17, 250, "a", "b c", "", "ok", True, False, None, "2024-01-31", "x\"y"])
    if roll < 0.7:
        keys = rnd.sample(["id", "name", "value", "items", "kind", "a", "b", "ok", "count", "tags"], rnd.randint(0, 3))
        return {key: random_json(rnd, depth + 1) for key in keys}
    return [random_json(rnd, depth + 1) for _ in range(rnd.randint(0, 3))]


def run_tandem(tandem: str, entries: list[dict], samples: int) -> list[dict]:
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
        for entry in entries:
            handle.write(json.dumps(entry) + "\n")
        path = handle.name
    output = subprocess.run([tandem, "grammar", "--corpus", path, "--samples", str(samples)], check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in output.split("\n") if line]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tandem", default=str(REPO / ".build/release/tandem"))
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--generated", type=int, default=150)
    args = parser.parse_args()
    rnd = random.Random(11)

    schemas = HANDWRITTEN + generated(args.generated)
    entries: list[dict] = []
    for index, schema in enumerate(schemas):
        texts = [json.dumps(random_json(rnd), separators=(",", ":")) for _ in range(30)]
        entries.append({"id": f"schema-{index}", "kind": "json_schema", "value": schema, "texts": texts})
    for index, pattern in enumerate(REGEXES):
        entries.append({"id": f"regex-{index}", "kind": "regex", "value": pattern, "texts": random_strings(pattern, rnd, 60)})
    for index, (source, texts, _) in enumerate(GBNF):
        entries.append({"id": f"gbnf-{index}", "kind": "gbnf", "value": source, "texts": texts})
    for index, (schema, _) in enumerate(REFUSED):
        entries.append({"id": f"refused-{index}", "kind": "json_schema", "value": schema, "texts": []})
    entries.append({"id": "object", "kind": "json_object", "value": None, "texts": ['{"a":[1,{}]}', "[1]", "{}", '{"a":}']})

    results = {result["id"]: result for result in run_tandem(args.tandem, entries, args.samples)}
    failures: list[str] = []
    counts = {"schemas": 0, "documents": 0, "accepted random texts": 0, "abandoned": 0, "regexes": 0, "regex samples": 0, "regex checks": 0}

    for index, schema in enumerate(schemas):
        result = results[f"schema-{index}"]
        if "error" in result:
            failures.append(f"schema {index} did not compile: {result['error']}\n  {json.dumps(schema)}")
            continue
        counts["schemas"] += 1
        counts["abandoned"] += result["abandoned"]
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        for text in result["samples"]:
            counts["documents"] += 1
            try:
                document = json.loads(text)
            except json.JSONDecodeError as error:
                failures.append(f"schema {index}: sample is not JSON ({error}): {text!r}")
                continue
            problems = list(validator.iter_errors(document))
            if problems:
                failures.append(f"schema {index}: sample does not validate ({problems[0].message}): {text!r}\n  {json.dumps(schema)}")
        for text, accepted in zip(entries[index]["texts"], result["accepts"]):
            if accepted:
                counts["accepted random texts"] += 1
                if list(validator.iter_errors(json.loads(text))):
                    failures.append(f"schema {index}: accepts the invalid {text!r}")

    for index, pattern in enumerate(REGEXES):
        result = results[f"regex-{index}"]
        if "error" in result:
            failures.append(f"regex {pattern!r} did not compile: {result['error']}")
            continue
        counts["regexes"] += 1
        compiled = re.compile(pattern, re.ASCII)
        for text in result["samples"]:
            counts["regex samples"] += 1
            if not compiled.fullmatch(text):
                failures.append(f"regex {pattern!r}: sample {text!r} does not match")
        entry = entries[len(schemas) + index]
        for text, accepted in zip(entry["texts"], result["accepts"]):
            counts["regex checks"] += 1
            if accepted != bool(compiled.fullmatch(text)):
                failures.append(f"regex {pattern!r}: {text!r} accepted={accepted}, re.fullmatch says {not accepted}")

    for index, (source, texts, expected) in enumerate(GBNF):
        result = results[f"gbnf-{index}"]
        if result.get("accepts") != expected:
            failures.append(f"gbnf {index}: accepts {result.get('accepts')} {result.get('error', '')}, expected {expected}")
    for index, (_, keyword) in enumerate(REFUSED):
        error = results[f"refused-{index}"].get("error", "")
        if keyword not in error:
            failures.append(f"refused schema {index}: expected an error naming {keyword!r}, got {error!r}")
    if results["object"].get("accepts") != [True, False, True, False]:
        failures.append(f"json_object accepts {results['object'].get('accepts')}")
    for text in results["object"].get("samples", []):
        if not isinstance(json.loads(text), dict):
            failures.append(f"json_object sample is not an object: {text!r}")

    print("structured output grammars: " + ", ".join(f"{value} {name}" for name, value in counts.items()))
    failures.sort(key=lambda f: 'compile' not in f)
    for failure in failures[:30]:
        print("FAIL " + failure)
    if failures:
        print(f"{len(failures)} failures")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
