"""PPO maths and one PPO update in PyTorch, with TRL 0.7 semantics (trl/core.py and
PPOTrainer.compute_rewards / compute_advantages / loss / train_minibatch), the same recipe as
ml/ppo-math.ts, ml/ppo-advantages.ts and ml/ppo-update.ts. GAE here is TRL's reversed loop, an
independent evaluation of the recursion that ml/ppo-math.ts evaluates as one matmul.
"""
from dataclasses import dataclass

import torch


@dataclass
class PpoConfig:
    batch_size: int = 32
    mini_batch_size: int = 8
    ppo_epochs: int = 4
    gamma: float = 1.0
    lam: float = 0.95
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
    ratio_threshold: float = 10.0
    max_grad_norm: float = 1.0
    learning_rate: float = 3e-3
    temperature: float = 1.0


def masked_mean(x, mask, axis=None):
    if axis is None:
        return (x * mask).sum() / mask.sum()
    return (x * mask).sum(axis) / mask.sum(axis)


def masked_var(x, mask, unbiased=True):
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    if unbiased:
        n = mask.sum()
        var = var * n / (n - 1)
    return var


def masked_whiten(x, mask, shift_mean=True):
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    w = (x - mean) * torch.rsqrt(var + 1e-8)
    return w if shift_mean else w + mean


def kl_penalised_rewards(score, logp, ref_logp, mask, kl_coef, estimator="k1"):
    """-beta*kl per response token plus the score on each row's last response token (Ziegler et al. 2019)."""
    if estimator == "k1":
        kl = logp - ref_logp
    else:  # k3 (Schulman 2020)
        log_r = ref_logp - logp
        kl = (log_r.exp() - 1) - log_r
    kl = kl * mask
    non_score = -kl_coef * kl
    rewards = non_score.clone()
    t = mask.shape[1]
    last = (mask * torch.arange(1, t + 1, dtype=mask.dtype)).argmax(1)  # [B]
    rewards[torch.arange(mask.shape[0]), last] += score * mask[torch.arange(mask.shape[0]), last]
    return rewards, non_score, kl


def gae(rewards, values, mask, gamma, lam):
    """GAE (Schulman et al. 2015) as TRL 0.7 compute_advantages, before whitening: reversed loop."""
    rewards, values = rewards * mask, values * mask
    t = rewards.shape[1]
    last = torch.zeros(rewards.shape[0])
    adv = []
    for i in reversed(range(t)):
        next_v = values[:, i + 1] if i < t - 1 else torch.zeros(rewards.shape[0])
        delta = rewards[:, i] + gamma * next_v - values[:, i]
        last = delta + gamma * lam * last
        adv.append(last)
    advantages = torch.stack(adv[::-1], dim=1) * mask
    returns = (advantages + values) * mask
    return advantages, returns


def logprobs_from_logits(logits, labels):
    return torch.log_softmax(logits, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits):
    p = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (p * logits).sum(-1)


def clipped_policy_loss(logp, old_logp, adv, mask, cliprange):
    """PPO clipped surrogate (Schulman et al. 2017 eq. 7; TRL 0.7 loss)."""
    log_ratio = logp - old_logp
    ratio = log_ratio.exp()
    unclipped = -adv * ratio
    clipped = -adv * ratio.clamp(1 - cliprange, 1 + cliprange)
    return {
        "loss": masked_mean(torch.maximum(unclipped, clipped), mask),
        "clipfrac": masked_mean((clipped > unclipped).float(), mask),
        "approxkl": 0.5 * masked_mean(log_ratio ** 2, mask),
        "ratio_mean": masked_mean(ratio, mask),
    }


def clipped_value_loss(values, old_values, returns, mask, cliprange_value):
    """Clipped value loss (TRL 0.7 loss, from OpenAI baselines' PPO2)."""
    v_clip = torch.minimum(torch.maximum(values, old_values - cliprange_value), old_values + cliprange_value)
    e1, e2 = (values - returns) ** 2, (v_clip - returns) ** 2
    return {"loss": 0.5 * masked_mean(torch.maximum(e1, e2), mask), "clipfrac": masked_mean((e2 > e1).float(), mask)}


def shifted_forward(model, ids, attn_mask, adapters, temperature):
    """Shifted layout: position t predicts token t+1. -> logprobs, values [B, T-1], logits [B, T-1, V]."""
    logits, values = model(ids, attn_mask, adapters=adapters)
    logits = logits[:, :-1] / temperature
    return logprobs_from_logits(logits, ids[:, 1:]), values[:, :-1], logits


def rollout_targets(model, ids, attn_mask, resp_mask, scores, kl_coef, cfg: PpoConfig):
    """Phases 3-5: no-grad forward of policy and reference, KL-penalised rewards, GAE, whitening."""
    with torch.no_grad():
        logp, values, _ = shifted_forward(model, ids, attn_mask, True, cfg.temperature)
        ref_logp, _, _ = shifted_forward(model, ids, attn_mask, False, cfg.temperature)
        rewards, _, _ = kl_penalised_rewards(scores, logp, ref_logp, resp_mask, kl_coef)
        adv, returns = gae(rewards, values, resp_mask, cfg.gamma, cfg.lam)
        adv = masked_whiten(adv, resp_mask)
    return logp, values, adv, returns


def ppo_update(model, optimizer, batch, cfg: PpoConfig, gen: torch.Generator):
    """Phase 6: ppo_epochs passes of shuffled minibatches, clipped loss, global-norm clip, AdamW."""
    params = [p for p in model.parameters() if p.requires_grad]
    n = batch["ids"].shape[0]
    for _ in range(cfg.ppo_epochs):
        order = torch.randperm(n, generator=gen)
        for s in range(0, n, cfg.mini_batch_size):
            rows = order[s:s + cfg.mini_batch_size]
            mb = {k: v[rows] for k, v in batch.items()}
            logp, values, logits = shifted_forward(model, mb["ids"], mb["attn_mask"], True, cfg.temperature)
            pg = clipped_policy_loss(logp, mb["old_logp"], mb["adv"], mb["resp_mask"], cfg.cliprange)
            vf = clipped_value_loss(values, mb["old_values"], mb["returns"], mb["resp_mask"], cfg.cliprange_value)
            with torch.no_grad():  # logged statistic, as ml/ppo-update.ts computes it every minibatch
                masked_mean(entropy_from_logits(logits), mb["resp_mask"])
            if pg["ratio_mean"].item() > cfg.ratio_threshold:
                continue
            optimizer.zero_grad(set_to_none=True)
            (pg["loss"] + cfg.vf_coef * vf["loss"]).backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)  # Pascanu et al. 2013
            optimizer.step()
