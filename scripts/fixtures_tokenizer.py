#!/usr/bin/env python3
"""Reference tokenizations for the Swift Tokenizer tests.

Usage: python3 scripts/fixtures_tokenizer.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]
       python3 scripts/fixtures_tokenizer.py --tekken [path]   (only adds the tekken family)
       python3 scripts/fixtures_tokenizer.py --phi3            (only writes phi3_strip.json)
       (default: $TANDEM_MODEL or ~/.cache/tandem/SmolLM2-135M-Instruct.Q4_1.gguf)

Needs: gguf, tokenizers, transformers (optional cross-check), sentencepiece (SPM fixture).

Writes (committed, small):
  Tests/Fixtures/tokenizer/smollm2.json       SmolLM2 vocab, pre-tokenizer `smollm`: text -> ids
  Tests/Fixtures/tokenizer/bpe_families.json  SmolLM2 vocab re-run with the gpt2 / llama3 / qwen2
                                              pre-tokenizers: text -> ids per family
  Tests/Fixtures/tokenizer/spm_tiny.json      a small trained SentencePiece BPE vocabulary
                                              (tokens, scores, types) and text -> ids
Writes (gitignored): Tests/Fixtures/tokenizer/generated/*.gguf, tensor-less GGUFs for llama.cpp.
The Swift tests read the 49k SmolLM2 vocabulary from the model file itself (never committed).

References are independent of llama.cpp's code: Hugging Face `tokenizers` with the pre-tokenizer
each family's original tokenizer.json uses, and the `sentencepiece` library. For SmolLM2 the
llama.cpp itself (llama-cpp-python, `Llama(path, vocab_only=True).tokenize(..., special=True)`) is
the second reference for every fixture: the SmolLM2 GGUF, the same vocabulary rewritten with another
`tokenizer.ggml.pre` (tensor-less GGUFs under generated/), and the SentencePiece vocabulary written
as a `llama` GGUF. The transformers GGUF loader is tried too. Disagreements are recorded under
"notes" in each fixture (and printed).
"""
import json
import os
import sys
import tempfile

import gguf
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "tokenizer")

CORPUS = [
    "",
    " ",
    "  ",
    "Hello world",
    " Hello world",
    "Hello, world! How are you today?",
    "The quick brown fox jumps over the lazy dog.",
    "don't I'LL we've you're she'd it's THEY'RE 'tis",
    "Digits: 1234567 and 3.14159, 42nd, 1,000,000",
    "   leading and trailing spaces   ",
    "tabs\tand\t\ttabs",
    "line one\nline two\n\nline four\n",
    "windows\r\nline\r\n",
    "trailing newlines\n\n\n",
    "accents: café naïve résumé Ångström Œuvre façade",
    "Grüße aus München – «Français» — ¿Qué tal?",
    "中文测试：你好，世界！日本語のテキスト。한국어 텍스트",
    "emoji 😀👍🏽 and family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 ❤️",
    "math ∑∫√∞ ≤ ≥ ≠ and symbols © ® ™ € £ ¥",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "for (int i = 0; i < 10; ++i) {\n\tprintf(\"%d\\n\", i);\n}",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n",
    "text<|endoftext|>more text",
    "a <|im_end|> b<|im_start|>c",
    "Ελληνικά και русский язык, עברית, العربية, हिन्दी",
    "URL: https://example.com/path?query=1&x=2#frag email@example.org",
    "ALL CAPS SHOUTING AND MiXeD CaSe WoRdS",
    "repeated!!!!!!! ??? ... ---- ==== ____",
    "x" * 40 + " " + "ab" * 30,
    "multiple     spaces    between      words",
    "\n\n\n",
    "  \n  indented\n",
    "1 22 333 4444 55555 666666",
    "zero-width\u200bspace and non\u00a0breaking\u2003em space",
    "unassigned x\u0378y \u0378\u0378! private \ue000\ue001 z \U000e0001 \U0003fffd end",
    "combining e\u0301 a\u0308\u0304 and Hangul jamo \u1100\u1161\u11a8",
    # U+B55F8 starts with byte 0xF2, which has no byte token in SmolLM2: llama.cpp drops it.
    "3\U000b55f88 and control \x04\x06 bytes",
]
LONG = (
    "Tokenization is the process of splitting text into units. "
    "In 2024, models like SmolLM2 used byte-level BPE with 49,152 tokens; "
    "the quick brown fox 🦊 jumped over 13 lazy dogs 🐕 — twice!\n"
) * 8
CORPUS.append(LONG)


def random_corpus(count=60, seed=1234):
    """Seeded random strings over a pool that exercises every pre-tokenizer branch."""
    import random
    rng = random.Random(seed)
    pool = (list("aAbBzZ'sStTdDlLmMrReEvV") + list("0123456789") + [" "] * 8 + ["\n", "\r", "\t", "\u00a0"]
            + list(".,!?;:-_()[]{}<>/\\|+=*&^%$#@~`\"") + list("éÅñßœ中文日本한글ςЖ") + ["😀", "👍🏽", "🦊", "\u200d", "\ufe0f"]
            + ["٣", "Ⅻ", "½", "²"] + ["<|im_start|>", "<|im_end|>"])
    return ["".join(rng.choice(pool) for _ in range(rng.randint(1, 30))) for _ in range(count)]


CORPUS += random_corpus()

GPT2_FAMILY_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
# Mistral Nemo's tekken: words split where lower case turns to upper case ("camelCase" -> "camel",
# "Case"), single digits, no contractions. Its tokenizer.json regex uses Unicode case categories
# (TEKKEN_REGEX_ORIGINAL); llama.cpp rewrites the classes as "a letter but not a-z" / "a letter but
# not A-Z" (TEKKEN_REGEX), so every non-ASCII letter is in both and marks in neither: llama.cpp
# splits "ÉCOLE" into "É", "COLE" and Devanagari words at their vowel signs where the original keeps
# them whole. Tandem follows llama.cpp; the reference here uses llama.cpp's form.
TEKKEN_REGEX_ORIGINAL = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
                         r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
                         r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
TEKKEN_REGEX = (r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+"
                r"|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*"
                r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# Extra texts for tekken's case rules (upper/lower runs, titlecase, non-Latin case, marks).
TEKKEN_EXTRA = [
    "camelCaseWord HTTPServer XMLHttpRequest iPhone McDonald's getHTTPResponseCode",
    "ÉCOLE École éCOLE Straße STRASSE ǅemal ǲ ΑΘΗΝΑ Αθήνα МОСКВА Москва",
    "path/to/file.txt\nC:\\dir\\x // comment /* */ a/b/c/\n",
    "मनुष्य नमस्ते ab\u0301cD e\u0301E Ǆx ﬁne ＡＢＣａｂｃ",
    "don't  stop\n\n  x1234 ÉCOLE éCOLE",
    "ÀÉÎ ÀÉÎõ õÀÉÎ aÀ Àa ǅǅa aǅ ʰaʰ ʰA Aʰ",
]


def tekken_probe():
    """A byte-level vocabulary in which every tekken piece of TEKKEN_EXTRA (and every pair of
    adjacent pieces) is one token, so token ids show exactly where a pre-tokenizer splits: llama.cpp
    (pre = tekken, merges ignored) against `tokenizers` with TEKKEN_REGEX and with the original regex.
    Returns notes for the fixture."""
    from reference.synthetic import bytes_to_unicode  # the GPT-2 byte table

    b2u = bytes_to_unicode()
    regex = pre_tokenizers.Split(Regex(TEKKEN_REGEX), behavior="isolated", invert=False)
    pieces = []
    for text in TEKKEN_EXTRA:
        split = [p for p, _ in regex.pre_tokenize_str(text)]
        pieces += split + [a + b for a, b in zip(split, split[1:])]
    tokens = ["<s>", "</s>", "<unk>"] + list(b2u.values())
    merges, have = [], set(tokens)
    for piece in pieces:
        chars = "".join(b2u[b] for b in piece.encode("utf-8"))
        current = chars[0]
        for ch in chars[1:]:
            if current + ch not in have:
                merges.append(f"{current} {ch}")
                tokens.append(current + ch)
                have.add(current + ch)
            current += ch
    path = os.path.join(OUT, "generated", "tekken_probe.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("tekken")
    w.add_token_list(tokens)
    w.add_token_types([3, 3, 3] + [1] * (len(tokens) - 3))
    w.add_token_merges(merges)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    theirs = llama_cpp_ids(path, TEKKEN_EXTRA)
    notes = []
    for label, pattern in (("llama.cpp's regex", TEKKEN_REGEX), ("tokenizer.json's regex", TEKKEN_REGEX_ORIGINAL)):
        tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)},
                                   merges=[tuple(m.split(" ")) for m in merges], ignore_merges=True))
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        same = sum(tok.encode(t, add_special_tokens=False).ids == i for t, i in zip(TEKKEN_EXTRA, theirs))
        notes.append(f"probe vocabulary (every piece one token): tokenizers with {label} equals llama.cpp "
                     f"on {same} of {len(TEKKEN_EXTRA)} texts")
        print(notes[-1])
    return notes


def model_path():
    if len(sys.argv) > 1:
        return sys.argv[1]
    return os.environ.get("TANDEM_MODEL") or os.path.expanduser("~/.cache/tandem/SmolLM2-135M-Instruct.Q4_1.gguf")


def read_vocab(path):
    reader = gguf.GGUFReader(path)
    meta = {"__reader__": reader}
    for key, field in reader.fields.items():
        if key.startswith("tokenizer.") and key != "tokenizer.chat_template":
            meta[key] = field.contents()
    return meta


def write_vocab_gguf(reader, path, tokenizer_kv):
    """A tensor-less GGUF with the source model's hyper-parameters and the given tokenizer keys
    (key -> (value, GGUFValueType, array element type or None)), loadable with vocab_only."""
    writer = gguf.GGUFWriter(path, arch=reader.fields["general.architecture"].contents())
    for key, field in reader.fields.items():
        if key.startswith("tokenizer.") or key.startswith("GGUF.") or key == "general.architecture":
            continue
        vtype = field.types[0]
        sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY and len(field.types) > 1 else None
        writer.add_key_value(key, field.contents(), vtype, sub_type=sub)
    for key, (value, vtype, sub) in tokenizer_kv.items():
        writer.add_key_value(key, value, vtype, sub_type=sub)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def llama_cpp_ids(gguf_path, texts, special=True):
    """Token ids from llama.cpp (llama-cpp-python, vocab only), or None when it is unavailable."""
    try:
        from llama_cpp import Llama
    except ImportError:
        return None
    llm = Llama(model_path=gguf_path, vocab_only=True, verbose=False)
    return [llm.tokenize(t.encode("utf-8"), add_bos=False, special=special) for t in texts]


def llama_cpp_detokenizer(gguf_path):
    """llama_detokenize(ids, remove_special, unparse_special) as a Python function, or None."""
    try:
        import ctypes
        import llama_cpp
        from llama_cpp import Llama
    except ImportError:
        return None
    llm = Llama(model_path=gguf_path, vocab_only=True, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)

    def detok(ids, remove_special, unparse_special):
        arr = (llama_cpp.llama_token * max(len(ids), 1))(*ids)
        buf = ctypes.create_string_buffer(1 << 16)
        n = llama_cpp.llama_detokenize(vocab, arr, len(ids), buf, 1 << 16, remove_special, unparse_special)
        return buf.raw[:n].decode("utf-8", "replace")
    detok.keepalive = llm
    return detok


def compare(name, cases, other, label):
    """Records where llama.cpp disagrees with the first reference; llama.cpp's ids win (the
    engine follows llama.cpp), the other reference's ids are kept in the note."""
    notes = []
    if other is None:
        return [f"{label} unavailable"]
    for case, ids in zip(cases, other):
        if case["ids"] != ids:
            notes.append({"text": case["text"], "reference_ids": case["ids"], label: ids})
            case["ids"] = ids
    print(f"{name}: {len(cases)} cases, {len(notes)} disagreements with {label}")
    return notes


def hf_bpe(meta, family):
    tokens = meta["tokenizer.ggml.tokens"]
    vocab = {t: i for i, t in enumerate(tokens)}
    merges = [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
    ignore_merges = family == "llama3"
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=ignore_merges))
    if family == "tekken":
        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=True))  # as llama.cpp sets it
    if family == "smollm":
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ])
    elif family == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        regex = {"llama3": LLAMA3_REGEX, "tekken": TEKKEN_REGEX}.get(family, QWEN2_REGEX)
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    tok.decoder = decoders.ByteLevel()
    specials = [AddedToken(t, special=True, normalized=False)
                for t, ty in zip(tokens, meta["tokenizer.ggml.token_type"]) if ty == 3]
    tok.add_special_tokens(specials)
    return tok


def transformers_ids(path, texts):
    try:
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
    except Exception as exc:  # transformers missing or unable to read the file
        return None, f"transformers unavailable: {exc}"
    return [tok.encode(t, add_special_tokens=False) for t in texts], None


def build_bpe(meta, path):
    ref = hf_bpe(meta, "smollm")
    cases = []
    for text in CORPUS:
        ids = ref.encode(text, add_special_tokens=False).ids
        cases.append({"text": text, "ids": ids})
    notes = compare("smollm2", cases, llama_cpp_ids(path, CORPUS), "llama_cpp_ids")
    tf_ids, err = transformers_ids(path, CORPUS)
    if err:
        notes.append(err)
    else:
        for case, other in zip(cases, tf_ids):
            if case["ids"] != other:
                notes.append({"text": case["text"], "transformers_gguf_ids": other})
    with open(os.path.join(OUT, "smollm2.json"), "w", encoding="utf-8") as f:
        json.dump({"model": os.path.basename(path), "pre": "smollm", "cases": cases,
                   "notes": notes}, f, ensure_ascii=False, indent=1)

    os.makedirs(os.path.join(OUT, "generated"), exist_ok=True)
    families, family_notes = {}, {}
    names = {"gpt2": "gpt-2", "llama3": "llama-bpe", "qwen2": "qwen2"}
    for family in ("gpt2", "llama3", "qwen2"):
        tok = hf_bpe(meta, family)
        families[family] = [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in CORPUS]
        # The same vocabulary with tokenizer.ggml.pre changed, for llama.cpp to tokenize.
        reader = meta["__reader__"]
        kv = {}
        for key, field in reader.fields.items():
            if key.startswith("tokenizer.") and key != "tokenizer.chat_template":
                vtype = field.types[0]
                sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
                kv[key] = (field.contents(), vtype, sub)
        kv["tokenizer.ggml.pre"] = (names[family], gguf.GGUFValueType.STRING, None)
        family_path = os.path.join(OUT, "generated", f"smollm2_vocab_{family}.gguf")
        write_vocab_gguf(reader, family_path, kv)
        family_notes[family] = compare(family, families[family], llama_cpp_ids(family_path, CORPUS),
                                       "llama_cpp_ids")
    # llama.cpp's `default` and `falcon` families have no tokenizer.json equivalent: llama.cpp is
    # the only reference for them.
    for family in ("default", "falcon"):
        kv["tokenizer.ggml.pre"] = (family, gguf.GGUFValueType.STRING, None)
        family_path = os.path.join(OUT, "generated", f"smollm2_vocab_{family}.gguf")
        write_vocab_gguf(reader, family_path, kv)
        ids = llama_cpp_ids(family_path, CORPUS)
        if ids is not None:
            families[family] = [{"text": t, "ids": i} for t, i in zip(CORPUS, ids)]
            family_notes[family] = ["reference: llama.cpp only"]
            print(f"{family}: {len(ids)} cases from llama.cpp")
    with open(os.path.join(OUT, "bpe_families.json"), "w", encoding="utf-8") as f:
        json.dump({"vocabulary": os.path.basename(path), "families": families, "notes": family_notes},
                  f, ensure_ascii=False, indent=1)

    with open(os.path.join(OUT, "generated", "smollm2_vocab.json"), "w", encoding="utf-8") as f:
        json.dump({k: v for k, v in meta.items() if not k.startswith("__")}, f, ensure_ascii=False)


SPM_TRAIN = [  # noqa: E501
    "The quick brown fox jumps over the lazy dog.",
    "Tokenizers split text into pieces; pieces map to ids.",
    "Hello world! Hello there, general Kenobi.",
    "SentencePiece treats the input as a raw stream, spaces included.",
    "Byte fallback encodes unknown characters as UTF-8 bytes.",
    "Numbers like 12345 and 3.14 appear in text too.",
    "the theory of the thing is that these then there",
    "walking talking running jumping reading writing",
]

SPM_CASES = [
    "", "Hello world", " Hello world", "  two leading spaces", "the quick brown fox",
    "unknown: 你好 😀 é", "line\nbreak", "Numbers 12345 and 999", "trailing space ",
    "<s>inside</s> text", "walking the theory",
] + [t.replace("<|im_start|>", "").replace("<|im_end|>", "") for t in random_corpus(30, seed=99)]


def build_spm(meta):
    try:
        import sentencepiece as spm
    except ImportError:
        print("sentencepiece not installed; skipping spm_tiny.json")
        return
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            for _ in range(20):
                f.write("\n".join(SPM_TRAIN) + "\n")
        prefix = os.path.join(tmp, "tiny")
        spm.SentencePieceTrainer.train(
            input=corpus, model_prefix=prefix, model_type="bpe", vocab_size=420,
            byte_fallback=True, normalization_rule_name="identity", add_dummy_prefix=True,
            remove_extra_whitespaces=False, split_by_whitespace=True, character_coverage=1.0,
            bos_id=1, eos_id=2, unk_id=0, pad_id=-1, minloglevel=2)
        sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        if sp.is_unknown(i):
            types.append(2)
        elif sp.is_control(i):
            types.append(3)
        elif sp.is_byte(i):
            types.append(6)
        elif sp.is_unused(i):
            types.append(5)
        else:
            types.append(1)
    # sentencepiece never parses "<s>" in text; llama.cpp does with parse_special, so the
    # reference is computed with parse_special off for texts holding control-token text.
    cases = [{"text": t, "ids": sp.encode(t)} for t in SPM_CASES]
    T = gguf.GGUFValueType
    spm_path = os.path.join(OUT, "generated", "spm_tiny.gguf")
    write_vocab_gguf(meta["__reader__"], spm_path, {
        "tokenizer.ggml.model": ("llama", T.STRING, None),
        "tokenizer.ggml.tokens": (tokens, T.ARRAY, T.STRING),
        "tokenizer.ggml.scores": (scores, T.ARRAY, T.FLOAT32),
        "tokenizer.ggml.token_type": (types, T.ARRAY, T.INT32),
        "tokenizer.ggml.bos_token_id": (1, T.UINT32, None),
        "tokenizer.ggml.eos_token_id": (2, T.UINT32, None),
        "tokenizer.ggml.unknown_token_id": (0, T.UINT32, None),
    })
    # llama.cpp adds the space prefix itself; special=False as sentencepiece never parses "<s>".
    notes = compare("spm_tiny", cases, llama_cpp_ids(spm_path, SPM_CASES, special=False), "llama_cpp_ids")
    # Decoding reference: llama.cpp's llama_detokenize (leading-space and BOS rules).
    detok = llama_cpp_detokenizer(spm_path)
    if detok is not None:
        for case in cases:
            case["decoded"] = detok(case["ids"], False, True)
            case["decoded_bos_skip_special"] = detok([1] + case["ids"], True, False)
    with open(os.path.join(OUT, "spm_tiny.json"), "w", encoding="utf-8") as f:
        json.dump({"tokens": tokens, "scores": scores, "types": types, "bos": 1, "eos": 2, "unk": 0,
                   "cases": cases, "notes": notes}, f, ensure_ascii=False, indent=1)
    print(f"spm_tiny: {len(tokens)} tokens, {len(cases)} cases")


def add_tekken(meta, path):
    """Adds the `tekken` family (Mistral Nemo) to bpe_families.json: the SmolLM2 vocabulary with
    tokenizer.ggml.pre = tekken, references from `tokenizers` with tekken's original regex and
    from llama.cpp (whose ids win where they differ, recorded in the notes)."""
    texts = CORPUS + TEKKEN_EXTRA
    tok = hf_bpe(meta, "tekken")
    cases = [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in texts]
    reader = meta["__reader__"]
    kv = {}
    for key, field in reader.fields.items():
        if key.startswith("tokenizer.") and key != "tokenizer.chat_template":
            vtype = field.types[0]
            sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
            kv[key] = (field.contents(), vtype, sub)
    kv["tokenizer.ggml.pre"] = ("tekken", gguf.GGUFValueType.STRING, None)
    os.makedirs(os.path.join(OUT, "generated"), exist_ok=True)
    family_path = os.path.join(OUT, "generated", "smollm2_vocab_tekken.gguf")
    write_vocab_gguf(reader, family_path, kv)
    notes = compare("tekken", cases, llama_cpp_ids(family_path, texts), "llama_cpp_ids") + tekken_probe()
    fixture = os.path.join(OUT, "bpe_families.json")
    with open(fixture, encoding="utf-8") as f:
        doc = json.load(f)
    doc["families"]["tekken"] = cases
    doc["notes"]["tekken"] = notes
    with open(fixture, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)


PHI3_TOKENS = [("<|endoftext|>", 3), ("<|assistant|>", 4), ("<|system|>", 4), ("<|end|>", 3), ("<|user|>", 4)]
PHI3_TEXTS = [
    "<|user|>\n Hello  world<|end|>\n<|assistant|>\nHi<|end|>\n<|endoftext|> x</s> y",
    "<|system|>\nBe brief.<|end|>\n<|user|>\n\t\r\n walking the theory<|end|>\n<|assistant|>\n",
    "no special tokens at all\n",
    "<|end|>   \n\n<|end|>trailing<|user|>",
]


def build_phi3_strip():
    """Phi-3's special tokens strip the whitespace after them in llama.cpp when general.name says
    phi-3/phi3 (its RSTRIP attribute): the SentencePiece vocabulary of spm_tiny.json plus Phi-3's
    chat tokens, tokenized by llama.cpp under three model names (phi3_strip.json)."""
    spm_doc = json.load(open(os.path.join(OUT, "spm_tiny.json"), encoding="utf-8"))
    tokens = spm_doc["tokens"] + [t for t, _ in PHI3_TOKENS]
    scores = spm_doc["scores"] + [0.0] * len(PHI3_TOKENS)
    types = spm_doc["types"] + [ty for _, ty in PHI3_TOKENS]
    cases = []
    os.makedirs(os.path.join(OUT, "generated"), exist_ok=True)
    for name in ("Phi-3 mini 4k instruct", "Phi3", "Phi 3 Mini 4k Instruct"):
        path = os.path.join(OUT, "generated", "phi3_strip.gguf")
        w = gguf.GGUFWriter(path, "phi3")
        w.add_name(name)
        w.add_context_length(4096)
        w.add_embedding_length(64)
        w.add_block_count(1)
        w.add_feed_forward_length(128)
        w.add_head_count(4)
        w.add_layer_norm_rms_eps(1e-5)
        w.add_tokenizer_model("llama")
        w.add_tokenizer_pre("default")
        w.add_token_list(tokens)
        w.add_token_scores(scores)
        w.add_token_types(types)
        w.add_bos_token_id(1)
        w.add_eos_token_id(len(tokens) - 2)
        w.add_unk_token_id(0)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        ids = llama_cpp_ids(path, PHI3_TEXTS)
        if ids is None:
            raise SystemExit("phi3_strip.json needs llama-cpp-python")
        cases += [{"model_name": name, "text": t, "ids": i} for t, i in zip(PHI3_TEXTS, ids)]
    with open(os.path.join(OUT, "phi3_strip.json"), "w", encoding="utf-8") as f:
        json.dump({"tokens": tokens, "scores": scores, "types": types, "cases": cases,
                   "reference": "llama.cpp (llama-cpp-python), vocab_only"}, f, ensure_ascii=False, indent=1)
    print(f"phi3_strip: {len(cases)} cases")


def main():
    os.makedirs(OUT, exist_ok=True)
    if sys.argv[1:2] == ["--phi3"]:
        build_phi3_strip()
        return
    if sys.argv[1:2] == ["--tekken"]:
        del sys.argv[1]
        path = model_path()
        add_tekken(read_vocab(path), path)
        return
    path = model_path()
    meta = read_vocab(path)
    build_bpe(meta, path)
    build_spm(meta)
    add_tekken(meta, path)
    build_phi3_strip()


if __name__ == "__main__":
    main()
