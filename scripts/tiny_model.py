#!/usr/bin/env python3
"""Make the `tiny` tier's teacher: a small random NemotronH (hybrid Mamba/MLP/attention) model and a small
BPE tokenizer trained on the corpus the kit ships, saved as a Hugging Face checkpoint. No download.

Deterministic: the same seed, corpus and versions give the same weights."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "recipes" / "tiny" / "corpus.jsonl"
_TYPES = {"M": "mamba", "-": "mlp", "*": "attention"}


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--pattern", default="M-M*-M-", help="hybrid pattern: M mamba, - mlp, * attention")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--ffn", type=int, default=768)
    p.add_argument("--mamba-heads", type=int, default=16)
    p.add_argument("--mamba-head-dim", type=int, default=32)
    p.add_argument("--vocab", type=int, default=1024)
    p.add_argument("--seed", type=int, default=1234)
    a = p.parse_args()

    import torch
    from transformers import NemotronHConfig, NemotronHForCausalLM

    torch.manual_seed(a.seed)
    tok = build_tokenizer(a.out, a.vocab)
    config = NemotronHConfig(
        vocab_size=len(tok), hidden_size=a.hidden, layers_block_type=[_TYPES[c] for c in a.pattern],
        num_attention_heads=4, num_key_value_heads=2, head_dim=64, intermediate_size=a.ffn,
        mamba_num_heads=a.mamba_heads, mamba_head_dim=a.mamba_head_dim, n_groups=2, ssm_state_size=16,
        conv_kernel=4, max_position_embeddings=4096, tie_word_embeddings=False,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    model = NemotronHForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(a.out)
    n = sum(x.numel() for x in model.parameters())
    print(f"tiny NemotronH: pattern {a.pattern}, hidden {a.hidden}, {n:,} parameters, vocab {len(tok)} -> {a.out}")


if __name__ == "__main__":
    main()
