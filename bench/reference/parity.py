"""Writes bench/reference/parity-fixture.json: one fixed PPO batch and what PyTorch computes on it.

The TypeScript side (test/bench/parity.test.ts) loads the same weights into ml/model.ts and must
reproduce every number to 1e-5, so the throughput comparison in bench/throughput.ts times the
same computation on both sides. Run: .cache/hf-venv/bin/python bench/reference/parity.py
"""
import json
import os

import torch

from model import GptModel, ModelConfig, init_weights
from ppo import (PpoConfig, clipped_policy_loss, clipped_value_loss, entropy_from_logits, gae,
                 kl_penalised_rewards, masked_mean, masked_whiten, shifted_forward)

torch.set_num_threads(2)
SEED = 20260
BOS, EOS, PAD = 256, 257, 258


def as_list(t):
    return t.detach().to(torch.float32).reshape(-1).tolist()


def main():
    gen = torch.Generator().manual_seed(SEED)
    cfg = ModelConfig(vocab_size=259, block_size=16, n_layer=1, n_head=2, n_embd=16, lora_rank=2, lora_alpha=4.0)
    weights = init_weights(cfg, gen)
    # Non-zero adapters and value head so the policy differs from the reference and values are not ~0.
    for k in weights:
        if k.endswith("lora_B"):
            weights[k] = torch.randn(weights[k].shape, generator=gen) * 0.3
    weights["v_head.weight"] = torch.randn(cfg.n_embd, 1, generator=gen) * 0.5
    model = GptModel(cfg, weights)

    # [BOS] prompt response (EOS) PAD..., right-padded as ml/ppo-forward.ts packSequences.
    query_lens, resp_lens, t = [3, 5, 2, 4], [6, 4, 8, 3], 12
    b = len(query_lens)
    ids = torch.full((b, t), PAD, dtype=torch.long)
    attn = torch.zeros(b, t)
    resp_mask = torch.zeros(b, t - 1)
    for r, (q, n) in enumerate(zip(query_lens, resp_lens)):
        seq = [BOS] + torch.randint(97, 123, (q - 1,), generator=gen).tolist() + torch.randint(0, 256, (n,), generator=gen).tolist()
        ids[r, :len(seq)] = torch.tensor(seq)
        attn[r, :len(seq)] = 1
        resp_mask[r, q - 1:q - 1 + n] = 1
    scores = torch.randn(b, generator=gen)
    ppo = PpoConfig(temperature=0.7)
    kl_coef = 0.2

    with torch.no_grad():
        logp, values, _ = shifted_forward(model, ids, attn, True, ppo.temperature)
        ref_logp, _, _ = shifted_forward(model, ids, attn, False, ppo.temperature)
        rewards, non_score, kl = kl_penalised_rewards(scores, logp, ref_logp, resp_mask, kl_coef, "k1")
        adv_raw, returns = gae(rewards, values, resp_mask, ppo.gamma, ppo.lam)
        adv = masked_whiten(adv_raw, resp_mask)
    # "Old" rollout quantities: the current ones moved by fixed noise, so ratios leave the clip range.
    old_logp = logp + torch.randn(logp.shape, generator=gen) * 0.3
    old_values = values + torch.randn(values.shape, generator=gen) * 0.3

    lora_and_head = model.trainable("lora")
    new_logp, new_values, logits = shifted_forward(model, ids, attn, True, ppo.temperature)
    pg = clipped_policy_loss(new_logp, old_logp, adv, resp_mask, ppo.cliprange)
    vf = clipped_value_loss(new_values, old_values, returns, resp_mask, ppo.cliprange_value)
    total = pg["loss"] + ppo.vf_coef * vf["loss"]
    grads = torch.autograd.grad(total, lora_and_head)
    grad_norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
    entropy = masked_mean(entropy_from_logits(logits), resp_mask)

    fixture = {
        "about": "bench/reference/parity.py (PyTorch %s); checked by test/bench/parity.test.ts" % torch.__version__,
        "model": {"vocabSize": cfg.vocab_size, "blockSize": cfg.block_size, "nLayer": cfg.n_layer, "nHead": cfg.n_head,
                  "nEmbd": cfg.n_embd, "dropout": 0, "lora": {"rank": cfg.lora_rank, "alpha": cfg.lora_alpha, "dropout": 0}},
        "ppo": {"gamma": ppo.gamma, "lam": ppo.lam, "cliprange": ppo.cliprange, "cliprangeValue": ppo.cliprange_value,
                "vfCoef": ppo.vf_coef, "temperature": ppo.temperature, "klCoef": kl_coef, "klEstimator": "k1"},
        "weights": {k: as_list(v) for k, v in weights.items()},
        "batch": {"shape": [b, t], "ids": ids.reshape(-1).tolist(), "attentionMask": as_list(attn),
                  "responseMask": as_list(resp_mask), "scores": as_list(scores),
                  "oldLogprobs": as_list(old_logp), "oldValues": as_list(old_values)},
        "expected": {
            "logprobs": as_list(logp), "refLogprobs": as_list(ref_logp), "values": as_list(values),
            "rewards": as_list(rewards), "kl": as_list(kl), "advantagesRaw": as_list(adv_raw),
            "advantages": as_list(adv), "returns": as_list(returns),
            "policyLoss": pg["loss"].item(), "policyClipFrac": pg["clipfrac"].item(), "approxKl": pg["approxkl"].item(),
            "ratioMean": pg["ratio_mean"].item(), "valueLoss": vf["loss"].item(), "valueClipFrac": vf["clipfrac"].item(),
            "totalLoss": total.item(), "entropy": entropy.item(), "gradNorm": grad_norm.item(),
        },
    }
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "parity-fixture.json")
    with open(out, "w") as f:
        json.dump(fixture, f)
    print("wrote", out, {k: v for k, v in fixture["expected"].items() if not isinstance(v, list)})


if __name__ == "__main__":
    main()
