"""PyTorch side of bench/gpt2-small.ts: GPT-2 small's shape (124M, random weights, LoRA r=8) on CPU.

Usage: python bench/reference/gpt2_small.py '<json spec>'   (bench/gpt2-small.ts builds the spec)
Times the three workloads of issue 10 with the reference model of model.py (the same maths as
ml/model.ts) and prints one JSON object {torch, threads, forward, train, generate} (seconds per run):
  - forward:  B x T ids, adapters on, logits for every position, no grad;
  - train:    one LoRA step (adapters + value head train, base frozen): next-token cross-entropy
              on every position, backward, global-norm clip 1, AdamW;
  - generate: KV-cache sampling of `newTokens` tokens after `promptLen`-token prompts.
"""
import json
import sys
import time

import torch
import torch.nn.functional as F

from model import GptModel, ModelConfig, init_weights


def timed(runs, fn):
    fn()  # warm-up
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main():
    spec = json.loads(sys.argv[1])
    torch.set_num_threads(spec["threads"])
    gen = torch.Generator().manual_seed(spec["seed"])
    m = spec["model"]
    cfg = ModelConfig(vocab_size=m["vocabSize"], block_size=m["blockSize"], n_layer=m["nLayer"], n_head=m["nHead"],
                      n_embd=m["nEmbd"], lora_rank=spec["lora"]["rank"], lora_alpha=float(spec["lora"]["alpha"]))
    model = GptModel(cfg, init_weights(cfg, gen))
    for name, p in model.named_weights().items():
        p.requires_grad_("lora_" in name or name.startswith("v_head"))
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    v = cfg.vocab_size

    f = spec["forward"]
    fwd_ids = torch.randint(0, v - 1, (f["batch"], f["seqLen"]), generator=gen)
    fwd_mask = torch.ones(f["batch"], f["seqLen"])

    def forward():
        with torch.no_grad():
            model(fwd_ids, fwd_mask)

    t = spec["train"]
    tr_ids = torch.randint(0, v - 1, (t["batch"], t["seqLen"]), generator=gen)
    tr_mask = torch.ones(t["batch"], t["seqLen"])

    def train():
        logits, _ = model(tr_ids, tr_mask)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, v), tr_ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()

    g = spec["generate"]
    prompts = torch.randint(0, v - 1, (g["batch"], g["promptLen"]), generator=gen)
    prompt_mask = torch.ones(g["batch"], g["promptLen"])

    def generate():
        model.generate(prompts, prompt_mask, g["newTokens"], gen, 1.0)

    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "forward": timed(f["runs"], forward),
        "train": timed(t["runs"], train),
        "generate": timed(g["runs"], generate),
    }
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
