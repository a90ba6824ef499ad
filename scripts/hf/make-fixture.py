"""Builds test/fixtures/tiny-gpt2: a randomly initialised tiny GPT2LMHeadModel with its own tiny
byte-level BPE tokenizer, saved with save_pretrained, plus expected.json (logits on fixed token ids,
and the ids transformers gives for a fixed multilingual string set).

Offline and deterministic (every RNG seeded). Run once, commit the output:

    python3 -m venv .cache/hf-venv && .cache/hf-venv/bin/pip install -r scripts/hf/requirements.txt
    .cache/hf-venv/bin/python scripts/hf/make-fixture.py [--out test/fixtures/tiny-gpt2] [--sharded-out DIR]

--sharded-out also saves the same model sharded (model.safetensors.index.json + shards) for a
one-off check of the sharded reader against transformers' own output; it is not committed.
"""

import argparse
import json
import os
import random
import shutil

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

SEED = 1234
SPECIAL = "<|endoftext|>"
# Small enough that the committed fixture stays well under 1 MB: 256 byte symbols + 1 special + merges.
VOCAB_SIZE = 400

# Training text for the tokenizer: enough repetition that merges cover English words,
# contractions, accented Latin, CJK and emoji byte sequences.
CORPUS = [
    "The quick brown fox jumps over the lazy dog. It's the dog's bone, isn't it? They'll say we've won.",
    "Feedback rows hold a prompt, a response and a score; the reward model learns the score.",
    "Café, naïve, résumé, déjà vu, über, São Paulo, Ærøskøbing, façade, jalapeño.",
    "日本語のテキストです。中文文本。한국어 텍스트. Привет, мир! Γειά σου κόσμε.",
    "Emoji: 🙂 🚀 👍🏽 🎉 ❤️ — and numbers 2024, 3.14159, 1,000,000.",
    "    indented code:\n\tdef f(x):\n\t\treturn x * 2\n\n",
    "I'm sure you'd like it; she's here, we're there, you've seen, I'll go, he'd know.",
]

# The string set the tokenizer must reproduce. Not all of it is in the corpus on purpose.
TOKENIZER_STRINGS = [
    "Hello world",
    "The cat's toy isn't here; they'll find it, we've looked, I'm sure you'd agree.",
    "Café naïve résumé déjà vu über",
    "日本語のテキストと中文、한국어",
    "🙂👍🏽 family 👨‍👩‍👧 🚀!",
    "a   b\t\tc\n\n  d   ",
    "   leading and trailing   ",
    "numbers 12345 and 3.14159, 1,000",
    "mixed: English, Français, 日本, emoji 🎉 and 'quotes' \"double\"",
    "before<|endoftext|>after",
    "",
    "x",
    "Straße ΑΒΓ привет мир",
    # Whitespace by Unicode's definition (NEL U+0085 is, BOM U+FEFF and ZWSP U+200B are not), which
    # JS's \s gets wrong; plus NBSP, ideographic space, vertical tab, form feed, a combining accent.
    "a\u0085'll b\ufeff's c\u200b'd",
    "x\u00a0y\u3000z\x0b\x0cw e\u0301 \u00a0 ",
]

# Fixed token ids for the logits check: 2 rows × 20 positions.
LOGITS_BATCH, LOGITS_LENGTH = 2, 20


def train_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=1,
        special_tokens=[SPECIAL],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 20, trainer=trainer)
    return tok


def randomise(model: GPT2LMHeadModel) -> None:
    """Every parameter gets distinct, non-trivial values, so swapping any two tensors (ln_1 vs ln_2,
    weight vs bias, a transposed Conv1D) changes the logits well beyond the 1e-4 tolerance."""
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
                p.copy_(1.0 + 0.2 * noise)
            elif name.endswith(".bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(0.15 * noise)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="test/fixtures/tiny-gpt2")
    parser.add_argument("--sharded-out", default=None)
    args = parser.parse_args()

    random.seed(SEED)
    torch.manual_seed(SEED)
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)

    raw = train_tokenizer()
    tokenizer = GPT2Tokenizer(
        vocab=raw.get_vocab(),
        merges=[tuple(m) for m in json.loads(raw.to_str())["model"]["merges"]],
        bos_token=SPECIAL,
        eos_token=SPECIAL,
        unk_token=SPECIAL,
    )
    tokenizer.save_pretrained(args.out)
    # GPT2Tokenizer's classic files too, so the vocab.json + merges.txt reader is tested on real output.
    raw.model.save(args.out)

    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=64,
        n_embd=64,
        n_layer=2,
        n_head=4,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    randomise(model)
    model.eval()
    model.save_pretrained(args.out)
    if args.sharded_out:
        model.save_pretrained(args.sharded_out, max_shard_size="100KB")

    # Reload both from disk, so the expectations describe the committed files.
    model = GPT2LMHeadModel.from_pretrained(args.out).eval()
    fast = AutoTokenizer.from_pretrained(args.out)
    classic_dir = args.out + ".classic"
    os.makedirs(classic_dir, exist_ok=True)
    for f in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if os.path.exists(os.path.join(args.out, f)):
            shutil.copy(os.path.join(args.out, f), classic_dir)
    classic = GPT2Tokenizer.from_pretrained(classic_dir)
    shutil.rmtree(classic_dir)

    token_ids = []
    for s in TOKENIZER_STRINGS:
        ids = fast.encode(s, add_special_tokens=False)
        assert ids == classic.encode(s, add_special_tokens=False), f"tokenizer.json and vocab+merges disagree on {s!r}"
        token_ids.append({"text": s, "ids": ids, "decoded": fast.decode(ids)})

    gen = torch.Generator().manual_seed(SEED + 1)
    input_ids = torch.randint(0, config.vocab_size, (LOGITS_BATCH, LOGITS_LENGTH), generator=gen)
    with torch.no_grad():
        logits = model(input_ids=input_ids).logits  # [B, T, V]

    expected = {
        "description": "Made by scripts/hf/make-fixture.py with transformers " + __import__("transformers").__version__
        + ", torch " + torch.__version__ + ". Logits of GPT2LMHeadModel.from_pretrained on input_ids (no padding).",
        "config": {"vocab_size": config.vocab_size, "n_positions": 64, "n_embd": 64, "n_layer": 2, "n_head": 4},
        "special": {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id},
        "input_ids": input_ids.tolist(),
        "logits_shape": list(logits.shape),
        # 8 significant digits: float32 round-trips to well under the 1e-4 tolerance.
        "logits": [[[float(f"{x:.8g}") for x in row] for row in seq] for seq in logits.tolist()],
        "tokenizer": token_ids,
    }
    with open(os.path.join(args.out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"wrote {args.out}: {sorted(os.listdir(args.out))}, {total} bytes, vocab {config.vocab_size}")


if __name__ == "__main__":
    main()
