#!/usr/bin/env python3
"""Make the `tiny` tier's teacher: a small random NemotronH (hybrid Mamba/MLP/attention) model and a small
BPE tokenizer trained on the corpus the kit ships, saved as a Hugging Face checkpoint. No download.

Deterministic: the same seed, corpus and versions give the same weights.

Where NemotronHConfig comes from, and how the hybrid pattern is spelt (facts: research/drift/FACTS.md §4):
- transformers >= 5.3 has a native NemotronHConfig. It stores `layers_block_type` (a list) and converts a
  `hybrid_override_pattern` kwarg itself; 5.3-5.5 cannot map '-' (MLP) at all (no "mlp" layer type), 5.6 adds
  it, and later 5.x rename the layer types (5.23 here: linear_attention / full_attention).
- transformers 4.x (4.57.6 is Megatron-Bridge 0.3.0's lock) has none; a NemotronH loads as the Hub's remote code,
  whose config takes `hybrid_override_pattern`. Pass that code with --remote-code DIR (a directory holding
  configuration_nemotron_h.py and modeling_nemotron_h.py); the kit does not ship it, its image fetches it at build
  time (Containerfile, $NEMOTRON_H_REMOTE_CODE, the default of --remote-code), so the tiny tier needs no network.
  That is also what the pinned image's tools need: Megatron-Bridge 0.3.0 (transformers 4.x) loads the teacher
  only through the code it carries (auto_map), never through a 5.x native class.
The spelling is chosen by trying the config class, never by version string: `hybrid_override_pattern` first
(the class maps the characters to its own layer names, which survives renames), then `layers_block_type` with
the legacy names; a spelling counts only if the built config holds the pattern asked for. No usable class:
a one-paragraph message and exit 2, no traceback.

What was run for real (2026-11-24, CPU): the native build under transformers 5.23.0 (tests/test_tiers.py);
the --remote-code path under 5.23.0 with a stand-in remote module, and the "no NemotronHConfig" message under
transformers 4.57.6 (tests/test_tiny.py; 4.57.6 by hand from a separate install). Not run: the Hub's real
remote code, transformers 5.3-5.22 and 5.24 (their spelling behaviour is covered by stand-in classes only)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "recipes" / "tiny" / "corpus.jsonl"
# Pattern characters -> the layer names of the Hub code and transformers 5.3-5.22 (the spelling tried second).
_LEGACY_TYPES = {"M": "mamba", "-": "mlp", "*": "attention", "E": "moe"}
# Every layer name a NemotronHConfig has used, back to its character (for reading a built config back).
_TO_CHAR = {"mamba": "M", "linear_attention": "M", "mlp": "-", "attention": "*", "full_attention": "*", "moe": "E"}
REMOTE_FILES = ("configuration_nemotron_h.py", "modeling_nemotron_h.py")


class NoNemotronH(Exception):
    """No NemotronHConfig that can express the pattern: the message says what was tried and what to do."""


def build_tokenizer(out: Path, vocab: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = [json.loads(l)["text"] for l in CORPUS.read_text().splitlines() if l.strip()]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>")
    fast.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    fast.save_pretrained(out)
    return fast


def held_pattern(cfg) -> str | None:
    """The hybrid pattern a built config holds, whichever way it stores it; None if it cannot be read."""
    try:
        p = getattr(cfg, "hybrid_override_pattern", None)  # 4.x remote: an attribute; 5.x: a computed property
    except Exception:  # 5.3-5.5's property raises KeyError on a layer type it cannot map back
        p = None
    if isinstance(p, str):
        return p
    types = getattr(cfg, "layers_block_type", None)
    if isinstance(types, (list, tuple)) and all(t in _TO_CHAR for t in types):
        return "".join(_TO_CHAR[t] for t in types)
    return None


def configure(config_cls, pattern: str, **base):
    """(spelling, config): the first spelling of `pattern` that `config_cls` accepts AND holds afterwards.

    Tried in order: hybrid_override_pattern=<pattern>, then layers_block_type=[legacy names]. A class that
    raises, or that takes the keyword but keeps another pattern (an unknown kwarg stored as a plain attribute),
    has not accepted it. NoNemotronH, naming every attempt, when neither works."""
    unknown = sorted(set(pattern) - set(_LEGACY_TYPES))
    if unknown:
        raise NoNemotronH(f"pattern {pattern!r} has characters no NemotronH layer has: {' '.join(unknown)} "
                          f"(M mamba, - mlp, * attention, E moe)")
    tried = []
    for name, value in (("hybrid_override_pattern", pattern),
                        ("layers_block_type", [_LEGACY_TYPES[c] for c in pattern])):
        try:
            cfg = config_cls(**base, **{name: value})
        except Exception as e:  # the class's own validation: KeyError '-', ValueError invalid types, TypeError
            tried.append(f"{name}={value!r}: {type(e).__name__}: {e}")
            continue
        held = held_pattern(cfg)
        if held == pattern:
            return name, cfg
        tried.append(f"{name}={value!r}: accepted, but the config holds {held!r}")
    where = f"{config_cls.__module__}.{config_cls.__qualname__}"
    raise NoNemotronH(f"{where} cannot express the pattern {pattern!r}. Tried: " + "; ".join(tried) + ". "
                      "transformers 5.3-5.5 have no MLP layer type ('-'); use transformers >= 5.6, or the Hub's "
                      "remote code with --remote-code DIR.")


def nemotron_h_classes(remote_code: Path | None):
    """(config class, model class, where from). --remote-code wins over the installed transformers."""
    import transformers

    if remote_code is not None:
        missing = [f for f in REMOTE_FILES if not (remote_code / f).is_file()]
        if missing:
            raise NoNemotronH(f"--remote-code {remote_code} lacks {', '.join(missing)}; it must hold the Hub's "
                              f"{' and '.join(REMOTE_FILES)}")
        from transformers.dynamic_module_utils import get_class_from_dynamic_module

        cfg_cls = get_class_from_dynamic_module("configuration_nemotron_h.NemotronHConfig", str(remote_code))
        model_cls = get_class_from_dynamic_module("modeling_nemotron_h.NemotronHForCausalLM", str(remote_code))
        # save_pretrained then copies the code beside the weights and writes config.json's auto_map, so the
        # tools load the teacher with --trust_remote_code and no Hub access.
        cfg_cls.register_for_auto_class()
        model_cls.register_for_auto_class("AutoModelForCausalLM")
        return cfg_cls, model_cls, f"remote code in {remote_code}"
    try:
        from transformers import NemotronHConfig, NemotronHForCausalLM
    except ImportError:
        raise NoNemotronH(
            f"transformers {transformers.__version__} has no NemotronHConfig (native from transformers 5.3.0; one "
            "that can express the tiny pattern's MLP layers '-' from 5.6.0). Either use transformers >= 5.6, or pass "
            f"--remote-code DIR: a directory holding the Hub's {' and '.join(REMOTE_FILES)} (e.g. the snapshot "
            "of nvidia/NVIDIA-Nemotron-Nano-9B-v2 in your HF cache).") from None
    return NemotronHConfig, NemotronHForCausalLM, f"transformers {transformers.__version__}"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--pattern", default="M-M*-M-", help="hybrid pattern: M mamba, - mlp, * attention")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--ffn", type=int, default=768)
    p.add_argument("--mamba-heads", type=int, default=16)
    p.add_argument("--mamba-head-dim", type=int, default=32)
    p.add_argument("--vocab", type=int, default=1024)
    p.add_argument("--seed", type=int, default=1234)
    env = os.environ.get("NEMOTRON_H_REMOTE_CODE") or None  # the kit's image sets it (Containerfile)
    p.add_argument("--remote-code", type=Path, default=Path(env) if env else None,
                   help=f"a directory with the Hub's {' and '.join(REMOTE_FILES)} (for transformers without a "
                        "native NemotronH); used instead of the installed transformers' class "
                        "(default: $NEMOTRON_H_REMOTE_CODE, which the kit's image sets to the copy it fetched at build)")
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    try:
        config_cls, model_cls, source = nemotron_h_classes(a.remote_code)
        import torch

        torch.manual_seed(a.seed)
        tok = build_tokenizer(a.out, a.vocab)
        spelling, config = configure(
            config_cls, a.pattern, num_hidden_layers=len(a.pattern),
            vocab_size=len(tok), hidden_size=a.hidden, num_attention_heads=4, num_key_value_heads=2, head_dim=64,
            intermediate_size=a.ffn, mamba_num_heads=a.mamba_heads, mamba_head_dim=a.mamba_head_dim, n_groups=2,
            ssm_state_size=16, conv_kernel=4, max_position_embeddings=4096, tie_word_embeddings=False,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        )
    except NoNemotronH as e:
        print(f"tiny_model: {e}", file=sys.stderr)
        return 2
    torch.manual_seed(a.seed)  # the weights depend on the seed only, not on how many configs were probed
    model = model_cls(config).to(torch.bfloat16)
    model.save_pretrained(a.out)
    n = sum(x.numel() for x in model.parameters())
    print(f"tiny NemotronH ({source}, pattern as {spelling}): pattern {a.pattern}, hidden {a.hidden}, {n:,} parameters, "
          f"vocab {len(tok)} -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
