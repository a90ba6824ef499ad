"""Tiny GPT with a value head and LoRA adapters, in PyTorch: the reference for bench/throughput.ts.

Mirrors ml/model.ts operation for operation so timings compare like with like and the parity
fixture (bench/reference/parity.py) matches to 1e-5:
  - token + learned position embeddings, pre-LN blocks, fused qkv [C, 3C], GELU (tanh) MLP of
    width 4C, final LN, LM head tied to wte (Radford et al. 2019; karpathy/nanoGPT model.py);
  - weights in HF GPT-2 Conv1D layout [in, out] and HF names (h.{i}.attn.c_attn.weight, ...);
  - LoRA (Hu et al. 2021) on c_attn, attn.c_proj, c_fc, mlp.c_proj: y = xW + b + (xA)B * alpha/r;
  - value head Linear C -> 1 on the final hidden state (TRL AutoModelForCausalLMWithValueHead);
  - position ids cumsum(mask) - 1 clamped at 0; masked keys get an additive -1e9 bias; every
    query may see itself (so pad queries stay finite).
"""
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

MASKED_BIAS = -1e9
ADAPTED = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")


@dataclass
class ModelConfig:
    vocab_size: int = 259
    block_size: int = 128
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    lora_rank: int = 8
    lora_alpha: float = 16.0


def adapted_shape(path: str, c: int):
    return {"attn.c_attn": (c, 3 * c), "attn.c_proj": (c, c), "mlp.c_fc": (c, 4 * c), "mlp.c_proj": (4 * c, c)}[path]


def init_weights(cfg: ModelConfig, gen: torch.Generator):
    """Weights by HF GPT-2 name with GPT-2's init (std 0.02, residual projections / sqrt(2 n_layer))."""
    c = cfg.n_embd
    w = {}
    normal = lambda *shape, std=0.02: torch.randn(*shape, generator=gen) * std
    w["wte.weight"] = normal(cfg.vocab_size, c)
    w["wpe.weight"] = normal(cfg.block_size, c)
    for i in range(cfg.n_layer):
        h = f"h.{i}"
        w[f"{h}.ln_1.weight"], w[f"{h}.ln_1.bias"] = torch.ones(c), torch.zeros(c)
        w[f"{h}.ln_2.weight"], w[f"{h}.ln_2.bias"] = torch.ones(c), torch.zeros(c)
        for p in ADAPTED:
            i_dim, o_dim = adapted_shape(p, c)
            std = 0.02 / math.sqrt(2 * cfg.n_layer) if p.endswith("c_proj") else 0.02
            w[f"{h}.{p}.weight"] = normal(i_dim, o_dim, std=std)
            w[f"{h}.{p}.bias"] = torch.zeros(o_dim)
    w["ln_f.weight"], w["ln_f.bias"] = torch.ones(c), torch.zeros(c)
    if cfg.lora_rank > 0:
        for i in range(cfg.n_layer):
            for p in ADAPTED:
                i_dim, o_dim = adapted_shape(p, c)
                bound = 1 / math.sqrt(i_dim)  # PEFT kaiming_uniform_(a=sqrt 5) on A
                w[f"h.{i}.{p}.lora_A"] = (torch.rand(i_dim, cfg.lora_rank, generator=gen) * 2 - 1) * bound
                w[f"h.{i}.{p}.lora_B"] = torch.zeros(cfg.lora_rank, o_dim)
    w["v_head.weight"] = normal(c, 1)
    w["v_head.bias"] = torch.zeros(1)
    return w


def gelu_tanh(x):
    """GPT-2's gelu_new (Hendrycks & Gimpel 2016): 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))."""
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)))


class GptModel(torch.nn.Module):
    def __init__(self, cfg: ModelConfig, weights):
        super().__init__()
        self.cfg = cfg
        self.w = torch.nn.ParameterDict({k.replace(".", "__"): torch.nn.Parameter(v.clone()) for k, v in weights.items()})
        self.lora_scale = cfg.lora_alpha / cfg.lora_rank if cfg.lora_rank > 0 else 0.0

    def p(self, name):
        return self.w[name.replace(".", "__")]

    def named_weights(self):
        return {k.replace("__", "."): v for k, v in self.w.items()}

    def trainable(self, mode: str):
        """'lora': adapters + value head (base frozen, as PPO); 'full': everything (as SFT)."""
        named = self.named_weights()
        if mode == "full" or self.cfg.lora_rank == 0:
            return list(named.values())
        return [v for k, v in named.items() if "lora_" in k or k.startswith("v_head")]

    def project(self, x, layer, path, adapters):
        pre = f"h.{layer}.{path}"
        y = x @ self.p(f"{pre}.weight") + self.p(f"{pre}.bias")
        if not adapters or self.cfg.lora_rank == 0:
            return y
        return y + (x @ self.p(f"{pre}.lora_A")) @ self.p(f"{pre}.lora_B") * self.lora_scale

    def attention(self, x, layer, bias, adapters, past):
        b, t, c = x.shape  # [B, T, C]
        nh = self.cfg.n_head
        d = c // nh
        q, k, v = self.project(x, layer, "attn.c_attn", adapters).split(c, dim=2)  # [B, T, C] x3
        heads = lambda z: z.view(b, t, nh, d).transpose(1, 2)  # [B, H, T, D]
        q, k, v = heads(q), heads(k), heads(v)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)  # [B, H, L, D]
            v = torch.cat([past[1], v], dim=2)
        att = torch.softmax(q @ k.transpose(-2, -1) * (1.0 / math.sqrt(d)) + bias, dim=-1)  # [B, H, T, L]
        y = (att @ v).transpose(1, 2).reshape(b, t, c)  # [B, T, C]
        return self.project(y, layer, "attn.c_proj", adapters), (k, v)

    def trunk(self, ids, pos, bias, adapters, past=None):
        x = self.p("wte.weight")[ids] + self.p("wpe.weight")[pos]  # [B, T, C]
        present = []
        for i in range(self.cfg.n_layer):
            h = f"h.{i}"
            a, kv = self.attention(
                F.layer_norm(x, (x.shape[-1],), self.p(f"{h}.ln_1.weight"), self.p(f"{h}.ln_1.bias"), 1e-5),
                i, bias, adapters, None if past is None else past[i])
            present.append(kv)
            x = x + a
            m = F.layer_norm(x, (x.shape[-1],), self.p(f"{h}.ln_2.weight"), self.p(f"{h}.ln_2.bias"), 1e-5)
            x = x + self.project(gelu_tanh(self.project(m, i, "mlp.c_fc", adapters)), i, "mlp.c_proj", adapters)
        return F.layer_norm(x, (x.shape[-1],), self.p("ln_f.weight"), self.p("ln_f.bias"), 1e-5), present

    def forward(self, ids, mask, adapters=True):
        """ids int64 [B, T], mask float [B, T] -> logits [B, T, V], values [B, T]."""
        hidden, _ = self.trunk(ids, position_ids(mask), causal_bias(mask), adapters)
        logits = hidden @ self.p("wte.weight").t()  # [B, T, V]
        values = (hidden @ self.p("v_head.weight") + self.p("v_head.bias")).squeeze(-1)  # [B, T]
        return logits, values

    @torch.no_grad()
    def generate(self, prompt_ids, prompt_mask, max_new_tokens, gen: torch.Generator, temperature=1.0):
        """Sampling with a KV cache, as ml/sampling.ts: left-padded prompts, then one token per step."""
        b, t = prompt_ids.shape
        hidden, past = self.trunk(prompt_ids, position_ids(prompt_mask), causal_bias(prompt_mask), True)
        logits = hidden[:, -1] @ self.p("wte.weight").t()  # [B, V]
        key_mask = prompt_mask
        next_pos = prompt_mask.sum(1, keepdim=True).long()  # [B, 1]
        out = []
        for _ in range(max_new_tokens):
            probs = torch.softmax(logits / temperature, dim=-1)
            tok = torch.multinomial(probs, 1, generator=gen)  # [B, 1]
            out.append(tok)
            if len(out) == max_new_tokens:  # the last sampled token is never fed back (as ml/sampling.ts)
                break
            key_mask = torch.cat([key_mask, torch.ones(b, 1)], dim=1)  # [B, L+1]
            bias = ((1 - key_mask) * MASKED_BIAS).view(b, 1, 1, -1)  # [B, 1, 1, L+1]
            hidden, past = self.trunk(tok, next_pos, bias, True, past)
            logits = hidden[:, -1] @ self.p("wte.weight").t()
            next_pos = next_pos + 1
        return torch.cat(out, dim=1)  # [B, N]


def position_ids(mask):
    """cumsum(mask) - 1 clamped at 0 (HF GPT-2 with attention_mask). [B, T] -> int64 [B, T]."""
    return (mask.cumsum(1) - 1).clamp(min=0).long()


def causal_bias(mask):
    """[B, 1, T, T]: query i sees key j iff j <= i and key j is a token; every query sees itself."""
    b, t = mask.shape
    causal = torch.tril(torch.ones(t, t))
    allowed = torch.maximum(causal.view(1, 1, t, t) * mask.view(b, 1, 1, t), torch.eye(t).view(1, 1, t, t))
    return (1 - allowed) * MASKED_BIAS
