#!/usr/bin/env python3
"""Single-stream decode with and without speculative decoding, against llama.cpp's prompt lookup.

    python3 scripts/compare_speculative.py [--tandem .build/release/tandem] [--model PATH]
        [--max-tokens 200] [--rounds 2] [--threads 2] [--no-llamacpp]

Six chat prompts (SmolLM2 or Gemma chat format, by the file name), greedy: four input-grounded (two code edits, a summary that quotes its source,
extraction from a document) and two open-ended prose. Each round runs, per prompt: `tandem generate
--json` with `--speculative off` and `--speculative ngram`, then llama.cpp (llama-cpp-python, built
from source by pip) without drafts and with `LlamaPromptLookupDecoding`, all on the same machine
one after another. Decode tok/s = (tokens - 1) / (time from the first token to the last), the best
of the rounds; geometric means per group. The machines are shared and noisy: quote the ratios.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

CODE = '''def compute_average(values):
    """Return the average of a list of numbers."""
    if not values:
        return 0.0
    total = 0
    for value in values:
        total += vlaue
    return total / len(values)


def median(values):
    """Return the median of a list of numbers."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2 == 0:
        return (ordered[middle - 1] + ordered[middle]) / 2
    return ordered[middle]'''

ARTICLE = (
    "The city council met on Tuesday to discuss the new library. The mayor said that the library "
    "will open in the spring of next year. The building will have three floors, a children's room, "
    "and a cafe. The council approved a budget of two million dollars for the project. Several "
    "residents asked for longer opening hours, and the council agreed to open the library from "
    "eight in the morning until nine in the evening on weekdays."
)

DOCUMENT = (
    "Meeting notes. Present: Alice Martin, Bob Chen, Carla Diaz, David Okafor. Alice Martin will "
    "send the budget on March 3. Bob Chen presents the design review on March 10. Carla Diaz hands "
    "in the test report on March 17. David Okafor leads the release on March 24."
)

PROMPTS = [
    ("grounded", "code: fix a typo", f"Fix the typo in this Python code and return the whole code:\n\n{CODE}"),
    ("grounded", "code: add type hints", f"Add type hints to these Python functions and return the whole code:\n\n{CODE}"),
    ("grounded", "summary quoting the source", f"Summarize this article, quoting its most important sentences exactly:\n\n{ARTICLE}"),
    ("grounded", "extraction from a document", f"List every person in these notes with their task and date, one per line:\n\n{DOCUMENT}"),
    ("prose", "story", "Write a short story about a lighthouse keeper who finds a message in a bottle."),
    ("prose", "explanation", "Explain in a few paragraphs why the sky is blue and sunsets are red."),
]


def chat(question: str, gemma: bool) -> str:
    if gemma:
        return f"<start_of_turn>user\n{question}<end_of_turn>\n<start_of_turn>model\n"
    return f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"


def tandem(binary: str, model: str | None, prompt: str, max_tokens: int, speculative: str, threads: int,
           extra: list[str]) -> dict:
    command = [binary, "generate", "--json", "--temperature", "0", "--max-tokens", str(max_tokens),
               "--speculative", speculative, "--threads", str(threads), "--prompt", prompt] + extra
    if model:
        command += ["--model", model]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    report = json.loads(output.strip().splitlines()[-1])
    timings = report["timings"]
    return {"tokens": report["token_ids"], "tok_s": timings["decode_tokens_per_s"],
            "drafted": timings["drafted_tokens"], "accepted": timings["accepted_draft_tokens"]}


class LlamaCpp:
    def __init__(self, model: str, threads: int, lookup: bool):
        from llama_cpp import Llama
        from llama_cpp.llama_speculative import LlamaPromptLookupDecoding
        draft = LlamaPromptLookupDecoding(num_pred_tokens=10) if lookup else None
        self.llm = Llama(model_path=model, n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                         draft_model=draft, verbose=False)

    def run(self, prompt: str, max_tokens: int) -> dict:
        tokens = self.llm.tokenize(prompt.encode(), add_bos=False, special=True)
        self.llm.reset()
        start = time.perf_counter()
        first = last = None
        count = 0
        for _ in self.llm.create_completion(tokens, max_tokens=max_tokens, temperature=0.0, top_k=1, stream=True):
            last = time.perf_counter()
            first = first or last
            count += 1
        seconds = (last - first) if first and last else 0
        del start
        return {"tokens": count, "tok_s": (count - 1) / seconds if seconds > 0 else 0.0}


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 else "n/a"


def geometric_mean(values: list[float]) -> float:
    values = [v for v in values if v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tandem", default=".build/release/tandem")
    parser.add_argument("--model", help="a GGUF file (default: tandem's default model)")
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-llamacpp", action="store_true")
    parser.add_argument("--tandem-option", action="append", default=[],
                        help="an extra option for the speculative tandem runs (repeatable), e.g. --tandem-option=--spec-costs=0.1,0.3")
    args = parser.parse_args()

    model = args.model or str(Path(os.environ.get("TANDEM_CACHE", Path.home() / ".cache" / "tandem"))
                              / "SmolLM2-135M-Instruct.Q4_1.gguf")
    peers = {}
    if not args.no_llamacpp:
        if not Path(model).exists():
            sys.exit(f"{model} is missing: run tandem once to fetch the default model, or give --model")
        peers = {"llama.cpp": LlamaCpp(model, args.threads, lookup=False),
                 "llama.cpp lookup": LlamaCpp(model, args.threads, lookup=True)}

    best: dict[tuple[str, str], float] = {}
    details: dict[str, dict] = {}
    for round_ in range(args.rounds):
        for group, name, question in PROMPTS:
            prompt = chat(question, gemma="gemma" in Path(model).name.lower())
            off = tandem(args.tandem, args.model, prompt, args.max_tokens, "off", args.threads, [])
            on = tandem(args.tandem, args.model, prompt, args.max_tokens, "ngram", args.threads, args.tandem_option)
            if off["tokens"] != on["tokens"]:
                sys.exit(f"{name}: speculative decoding changed the greedy output")
            runs = {"tandem": off, "tandem ngram": on}
            for label, peer in peers.items():
                runs[label] = peer.run(prompt, args.max_tokens)
            for label, run in runs.items():
                best[(name, label)] = max(best.get((name, label), 0.0), run["tok_s"])
            details[name] = {"group": group, "tokens": len(on["tokens"]), "drafted": on["drafted"], "accepted": on["accepted"]}
            print(f"round {round_ + 1}: {name}: " + ", ".join(f"{k} {v['tok_s']:.1f}" for k, v in runs.items()),
                  file=sys.stderr, flush=True)

    labels = ["tandem", "tandem ngram"] + list(peers)
    print("| prompt | group | tokens | drafts accepted | " + " | ".join(f"{label} tok/s" for label in labels)
          + " | ngram / off" + (" | ngram / llama.cpp lookup" if peers else "") + " |")
    print("|---|---|---:|---:|" + "---:|" * len(labels) + "---:|" + ("---:|" if peers else ""))
    for _, name, _ in PROMPTS:
        d = details[name]
        row = [name, d["group"], str(d["tokens"]), f"{d['accepted']} of {d['drafted']}"]
        row += [f"{best[(name, label)]:.1f}" for label in labels]
        row.append(ratio(best[(name, 'tandem ngram')], best[(name, 'tandem')]))
        if peers:
            row.append(ratio(best[(name, 'tandem ngram')], best[(name, 'llama.cpp lookup')]))
        print("| " + " | ".join(row) + " |")
    for group in ("grounded", "prose"):
        names = [name for g, name, _ in PROMPTS if g == group]
        means = {label: geometric_mean([best[(name, label)] for name in names]) for label in labels}
        line = f"{group}: geometric mean decode tok/s " + ", ".join(f"{label} {v:.1f}" for label, v in means.items())
        line += f"; ngram / off {ratio(means['tandem ngram'], means['tandem'])}"
        if peers:
            line += f"; tandem ngram / llama.cpp lookup {ratio(means['tandem ngram'], means['llama.cpp lookup'])}"
        print(line)


if __name__ == "__main__":
    main()
