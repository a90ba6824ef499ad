"""PyTorch side of bench/throughput.ts and bench/scaling.ts: times the same workloads on the same
config as ml/, and prints one JSON object on stdout.

Usage: python bench/reference/bench.py '<json spec>'   (the TS benches build the spec)
  spec.mode = "throughput": tokens/s of rollout (KV-cache sampling), SFT step, PPO update
  spec.mode = "scaling":    seconds per PPO update for each (seqLen, width) in spec.points
Every figure is measured with torch.set_num_threads(t) for each t in spec.threads (WASM, the
TypeScript backend here, is single-threaded, so 1 thread is the like-for-like row).
"""
import json
import sys
import time

import torch

from model import GptModel, ModelConfig, init_weights
from ppo import PpoConfig, ppo_update, rollout_targets


def model_config(m):
    return ModelConfig(vocab_size=m["vocabSize"], block_size=m["blockSize"], n_layer=m["nLayer"], n_head=m["nHead"],
                       n_embd=m["nEmbd"], lora_rank=m["lora"]["rank"], lora_alpha=float(m["lora"]["alpha"]))


def ppo_config(p):
    return PpoConfig(batch_size=p["batchSize"], mini_batch_size=p["miniBatchSize"], ppo_epochs=p["ppoEpochs"],
                     gamma=p["gamma"], lam=p["lam"], cliprange=p["cliprange"], cliprange_value=p["cliprangeValue"],
                     vf_coef=p["vfCoef"], ratio_threshold=p["ratioThreshold"], max_grad_norm=p["optim"]["maxGradNorm"],
                     learning_rate=p["optim"]["learningRate"], temperature=p["generation"]["temperature"])


def timed(runs, fn, warmup=1):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def ppo_batch(model, cfg: PpoConfig, b, prompt_len, t, gen):
    """Random ids [B, T]; response = positions after the prompt; targets from the no-grad pass."""
    ids = torch.randint(0, 256, (b, t), generator=gen)
    attn = torch.ones(b, t)
    resp = torch.zeros(b, t - 1)
    resp[:, prompt_len - 1:] = 1
    scores = torch.randn(b, generator=gen)
    logp, values, adv, returns = rollout_targets(model, ids, attn, resp, scores, 0.2, cfg)
    return {"ids": ids, "attn_mask": attn, "resp_mask": resp, "old_logp": logp, "old_values": values, "adv": adv, "returns": returns}


def ppo_model(mcfg, gen):
    model = GptModel(mcfg, init_weights(mcfg, gen))
    for name, p in model.named_weights().items():
        p.requires_grad_("lora_" in name or name.startswith("v_head"))
    return model


def throughput(spec, runs):
    gen = torch.Generator().manual_seed(spec["seed"])
    mcfg, cfg = model_config(spec["model"]), ppo_config(spec["ppo"])
    w = spec["workload"]
    p_len, n_new = w["promptLength"], w["newTokens"]
    t = p_len + n_new
    model = ppo_model(mcfg, gen)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate,
                            betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    prompts = torch.randint(0, 256, (cfg.batch_size, p_len), generator=gen)
    prompt_mask = torch.ones(cfg.batch_size, p_len)
    rollout_s = timed(runs, lambda: model.generate(prompts, prompt_mask, n_new, gen, cfg.temperature))

    batch = ppo_batch(model, cfg, cfg.batch_size, p_len, t, gen)
    update_s = timed(runs, lambda: ppo_update(model, opt, batch, cfg, gen))

    # SFT: base weights train (adapters off), next-token cross-entropy on every position.
    sft_model = GptModel(mcfg, init_weights(mcfg, gen))
    base = [p for n, p in sft_model.named_weights().items() if "lora_" not in n and not n.startswith("v_head")]
    for n, p in sft_model.named_weights().items():
        p.requires_grad_("lora_" not in n and not n.startswith("v_head"))
    sft_opt = torch.optim.AdamW(base, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    sft_ids = torch.randint(0, 256, (w["sftBatchSize"], t), generator=gen)
    sft_mask = torch.ones(w["sftBatchSize"], t)

    def sft_steps():
        for _ in range(w["sftStepsPerRun"]):
            logits, _ = sft_model(sft_ids, sft_mask, adapters=False)
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), sft_ids[:, 1:].reshape(-1))
            sft_opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(base, 1.0)
            sft_opt.step()

    sft_s = timed(runs, sft_steps)
    return {
        "rolloutTokensPerSec": [cfg.batch_size * n_new / s for s in rollout_s],
        "sftTokensPerSec": [w["sftStepsPerRun"] * w["sftBatchSize"] * t / s for s in sft_s],
        "ppoUpdateTokensPerSec": [cfg.ppo_epochs * cfg.batch_size * t / s for s in update_s],
        "ppoUpdateSeconds": update_s,
    }


def scaling(spec, runs):
    gen = torch.Generator().manual_seed(spec["seed"])
    out = []
    for point in spec["points"]:
        m = dict(spec["model"], nEmbd=point["width"], blockSize=point["seqLen"])
        mcfg, cfg = model_config(m), ppo_config(spec["ppo"])
        model = ppo_model(mcfg, gen)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate)
        batch = ppo_batch(model, cfg, cfg.batch_size, point["seqLen"] // 2, point["seqLen"], gen)
        out.append({**point, "seconds": timed(runs, lambda: ppo_update(model, opt, batch, cfg, gen))})
    return out


def main():
    spec = json.loads(sys.argv[1])
    result = {"torch": torch.__version__, "byThreads": {}}
    for threads in spec["threads"]:
        torch.set_num_threads(threads)
        fn = throughput if spec["mode"] == "throughput" else scaling
        result["byThreads"][str(threads)] = fn(spec, spec["runs"])
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
