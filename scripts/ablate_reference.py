#!/usr/bin/env python3
"""How far each architectural feature moves the synthetic fixtures' logits.

    python3 scripts/ablate_reference.py [Tests/Fixtures/generated [NAME ...]]

For tiny-qwen3, tiny-gemma3, tiny-gemma2, the Phi-3 files, tiny-mistral, tiny-qwen2-yarn and the
mixtures of experts (tiny-qwen3moe, tiny-mixtral, tiny-olmoe, tiny-qwen3moe-q8) (written by
make_fixtures.py --synthetic), re-runs the float64 reference with one feature removed and prints the error measure of
Tests/ModelTests/SyntheticModelReferenceTests.swift (worst |Δlogit| / max |logit| of the row) against
the stored fixture logits. A forward pass that forgot the feature would be off by that much, so a
value far above the test's tolerance (1e-4 for these F32 files) shows that the test would catch it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import ReferenceModel  # noqa: E402


def worst(model: ReferenceModel, doc: dict) -> float:
    w = 0.0
    for p in doc["prompts"]:
        expected = np.array(p["logits"])
        got = model.logits(p["tokens"])
        w = max(w, float(np.max(np.abs(got - expected) / np.abs(expected).max(axis=1, keepdims=True))))
    return w


def expert_ablations(arch: str):
    """Mixture-of-experts mistakes: renormalisation toggled, experts mis-indexed, k off by one."""
    def toggle_norm(m):
        m.cfg.expert_norm = not m.cfg.expert_norm

    def shifted_experts(m):  # expert e computed with expert e+1's weights
        for i in range(m.cfg.n_layer):
            for t in ("gate", "up", "down"):
                name = f"blk.{i}.ffn_{t}_exps.weight"
                m.tensors[name] = np.roll(m.tensors[name], -1, axis=0)

    def swapped_down(m):  # experts 3 and 4 exchange their down matrices
        for i in range(m.cfg.n_layer):
            t = m.tensors[f"blk.{i}.ffn_down_exps.weight"]
            t[[3, 4]] = t[[4, 3]]

    def fewer(m):
        m.cfg.n_expert_used -= 1

    def more(m):
        m.cfg.n_expert_used += 1

    out = [("top-k renormalisation toggled", toggle_norm),
           ("every expert read from the next one's weights", shifted_experts),
           ("experts 3 and 4 with each other's down matrix", swapped_down),
           ("one expert fewer per token", fewer),
           ("one expert more per token", more)]
    if arch == "olmoe":
        def no_qk_norm(m):
            m.cfg.qk_norm = m.cfg.qk_norm_full = False
        out.append(("no q/k norms", no_qk_norm))
    return out


def phi3_ablations(name: str):
    """Phi-3 (and Mistral's, YaRN's) features, by fixture."""
    def swap_gate_up(m):
        for i in range(m.cfg.n_layer):
            w = m.tensors[f"blk.{i}.ffn_up.weight"]
            m.tensors[f"blk.{i}.ffn_up.weight"] = np.concatenate([w[m.cfg.n_ff:], w[:m.cfg.n_ff]])

    def no_factors(m):
        m.cfg.rope_scaling_type = "none"
        m.cfg.rope_attn_factor = 1.0

    def other_factors(m):
        m.cfg.longrope_long = not m.cfg.longrope_long

    def no_attention_factor(m):
        m.cfg.rope_attn_factor = 1.0

    def neox_off(m):
        m.cfg.rope_neox = False

    def no_window(m):
        m.cfg.local_layers = [False] * m.cfg.n_layer

    def linear_instead_of_yarn(m):
        m.cfg.rope_scaling_type = "linear"

    if name == "tiny-mistral" or name == "tiny-phi3-q8":
        out = [("no sliding window (every layer global)", no_window)]
        return out if name == "tiny-mistral" else out + [("gate and up halves of ffn_up swapped", swap_gate_up)]
    if name == "tiny-qwen2-yarn":
        return [("no YaRN (plain RoPE, no attention factor)", no_factors),
                ("YaRN without its attention factor", no_attention_factor),
                ("linear scaling by the factor instead of the YaRN ramp", linear_instead_of_yarn)]
    return [("gate and up halves of ffn_up swapped", swap_gate_up),
            ("normal RoPE instead of NeoX", neox_off),
            ("no LongRoPE (plain RoPE, no attention factor)", no_factors),
            ("the other LongRoPE factor set (short/long)", other_factors),
            ("LongRoPE without its attention factor", no_attention_factor)]


def ablations(arch: str):
    """(name, function that changes a fresh ReferenceModel) pairs."""
    def no_qk_norm(m):
        m.cfg.qk_norm = False

    def neox_off(m):
        m.cfg.rope_neox = False

    out = [("normal RoPE instead of NeoX", neox_off)]
    if arch != "gemma2":
        out.insert(0, ("no per-head q/k norm", no_qk_norm))
    if arch == "qwen3":
        return out

    def no_window(m):
        m.cfg.local_layers = [False] * m.cfg.n_layer

    def all_local(m):
        m.cfg.local_layers = [True] * m.cfg.n_layer

    def global_rope_everywhere(m):
        m.cfg.local_rope_base = m.cfg.rope_freq_base

    def no_global_scaling(m):
        m.cfg.rope_scaling_type = "none"

    def no_post_norms(m):
        tensors = m.tensors
        for i in range(m.cfg.n_layer):
            for t in ("post_attention_norm", "post_ffw_norm"):
                tensors[f"blk.{i}.{t}.weight"] = None
        original = m._norm

        def norm(x, name):
            return x if m.tensors.get(name, 0) is None else original(x, name)
        m._norm = norm

    def unshifted_norms(m):
        original = m._rms_norm_1p
        m._rms_norm_1p = lambda x, w: original(x, w + 1.0)  # (1 + w) applied to GGUF's already shifted w

    def unscaled_embedding(m):
        m.cfg.embedding_scale = 1.0

    def silu_gate(m):
        m.cfg.activation = "silu"

    def query_scale_27b(m):
        m.cfg.query_scale = 1.0 / np.sqrt(m.cfg.n_embd / m.cfg.n_head)

    def no_attention_cap(m):
        m.cfg.attn_logit_softcap = 0.0

    def no_final_cap(m):
        m.cfg.final_logit_softcap = 0.0

    if arch == "gemma2":
        return out + [
            ("no sliding window (every layer global)", no_window),
            ("no attention soft-capping", no_attention_cap),
            ("no final logit soft-capping", no_final_cap),
            ("no post-attention / post-feed-forward norms", no_post_norms),
            ("embedding not scaled by sqrt(n_embd)", unscaled_embedding),
        ]
    out += [
        ("no sliding window (every layer global)", no_window),
        ("every layer local", all_local),
        ("local layers with the global RoPE base", global_rope_everywhere),
        ("no linear RoPE scaling on the global layer", no_global_scaling),
        ("no post-attention / post-feed-forward norms", no_post_norms),
        ("(1 + w) on GGUF's already shifted norm weights", unshifted_norms),
        ("embedding not scaled by sqrt(n_embd)", unscaled_embedding),
        ("SiLU gate instead of GELU (tanh)", silu_gate),
        ("query scale 1/sqrt(n_embd/n_head) instead of 1/sqrt(head_dim)", query_scale_27b),
    ]
    return out


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "Tests/Fixtures/generated"
    names = ("tiny-qwen3", "tiny-gemma3", "tiny-gemma2", "tiny-phi3", "tiny-phi3-short", "tiny-phi3-q8",
             "tiny-mistral", "tiny-qwen2-yarn", "tiny-qwen3moe", "tiny-mixtral", "tiny-olmoe", "tiny-qwen3moe-q8")
    for name in sys.argv[2:] or names:
        doc = json.loads((root / f"{name}.json").read_text())
        emulated = bool(doc.get("activation_quantization"))
        run_context = doc["config"].get("run_context", 0)
        base = ReferenceModel(root / f"{name}.gguf", activation_quantization=emulated, run_context=run_context)
        print(f"{name}: reference vs its fixture {worst(base, doc):.2e}")
        arch = base.cfg.architecture
        if base.cfg.n_expert:
            changes = expert_ablations(arch)
        elif arch in ("qwen3", "gemma2", "gemma3"):
            changes = ablations(arch)
        else:
            changes = phi3_ablations(name)
        for label, change in changes:
            m = ReferenceModel(root / f"{name}.gguf", activation_quantization=emulated, run_context=run_context)
            change(m)
            print(f"  {label:66s} {worst(m, doc):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
