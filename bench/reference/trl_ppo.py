"""TRL's own PPO trainer (trl 0.7.11 PPOTrainer + AutoModelForCausalLMWithValueHead) on a randomly
initialised GPT-2 of the same size as ml/'s bench policy, for bench/trl-compare.ts (issue 6,
benchmark 4). Only the protocol's JSON lines go to stdout; everything else goes to stderr.

Usage: .cache/trl-venv/bin/python bench/reference/trl_ppo.py '<json spec>'   (trl-compare.ts builds it;
the venv comes from bench/reference/setup-trl-venv.sh). spec.threads: torch threads, 0 = torch's default.

A small line protocol, so that trl-compare.ts can interleave TRL's samples with ml/'s (A B A B on
the shared cores, so that load changes hit both sides alike): the script builds the trainer,
prints one JSON line describing it, then answers each line {"op": "rollout"} or {"op": "step"}
on stdin with one JSON line: that call's wall-clock and process-CPU seconds (and for a step,
TRL's own phase timings). It ends when stdin closes.

Like for like with ml/ (bench/lib/workload.ts):
  - GPT2Config with the spec's layers, heads, width and context; vocabulary 259 = ByT5's byte
    tokenizer without extra ids (pad, eos, unk + 256 bytes), the size of ml/'s byte vocabulary
    (256 bytes + BOS + EOS + PAD); no dropout anywhere (ml/ trains without it); LM head tied to wte;
  - LoRA (peft) of the spec's rank and alpha on c_attn, attn.c_proj, c_fc and mlp.c_proj, plus the
    value head: the trained variables of ml/'s PPO. With a peft policy TRL 0.7 uses the same model
    with adapters disabled as its reference, as ml/ does;
  - the spec's PPO batch, minibatch, epochs, KL, GAE, clip and value settings; AdamW with the
    spec's learning rate, betas, eps and weight decay (TRL's default Adam when weight decay is 0);
  - a fixed synthetic score per row (no reward model in the timing); prompts and responses are
    random byte ids of the spec's lengths, as on ml/'s side.
Timed calls:
  - rollout: `ppo_trainer.generate` of the batch's prompts in one batch, newTokens each, sampling
    at the spec's temperature with no top-k/top-p and no EOS stop;
  - step: `ppo_trainer.step` on a fixed batch (no-grad policy and reference forward, KL-penalised
    rewards, GAE, whitening, ppo_epochs of minibatch updates, statistics), with TRL's own phase
    timings (time/ppo/*, wall-clock).
Process CPU time (all threads) is far less sensitive than wall time to other processes on shared
cores; trl-compare.ts reports both.
"""
import contextlib
import json
import sys
import time

import numpy as np
import peft
import torch
import transformers
import trl
from peft import LoraConfig
from transformers import ByT5Tokenizer, GPT2Config, GPT2LMHeadModel
from trl import AutoModelForCausalLMWithValueHead, PPOConfig, PPOTrainer, set_seed

BYTE_OFFSET = 3  # ByT5 ids: 0 pad, 1 eos, 2 unk, then the 256 bytes
LORA_TARGETS = ["c_attn", "c_proj", "c_fc"]  # "c_proj" matches attn.c_proj and mlp.c_proj
TRL_PHASES = ("forward_pass", "compute_rewards", "compute_advantages", "optimize_step", "calc_stats", "total")


def byte_tokenizer():
    tok = ByT5Tokenizer(extra_ids=0)
    assert len(tok) == 259, f"ByT5 byte vocabulary is {len(tok)}, expected 259"
    return tok


def policy_with_value_head(m, tok):
    """GPT-2 of the spec's size, LoRA adapters on every projection, TRL's value head."""
    config = GPT2Config(
        vocab_size=len(tok), n_positions=m["blockSize"], n_embd=m["nEmbd"], n_layer=m["nLayer"], n_head=m["nHead"],
        activation_function="gelu_new", layer_norm_epsilon=1e-5, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    lora = LoraConfig(r=m["lora"]["rank"], lora_alpha=m["lora"]["alpha"], lora_dropout=0.0, target_modules=LORA_TARGETS,
                      fan_in_fan_out=True, bias="none", task_type="CAUSAL_LM")  # fan_in_fan_out: GPT-2's Conv1D is [in, out]
    return AutoModelForCausalLMWithValueHead.from_pretrained(GPT2LMHeadModel(config), peft_config=lora, summary_dropout_prob=0.0)


def ppo_config(spec):
    p = spec["ppo"]
    if p["klEstimator"] != "k1":
        raise ValueError(f"TRL 0.7 has no '{p['klEstimator']}' KL estimator; run with klEstimator k1")
    return PPOConfig(
        seed=spec["seed"], learning_rate=p["optim"]["learningRate"], batch_size=p["batchSize"],
        mini_batch_size=p["miniBatchSize"], gradient_accumulation_steps=p["gradientAccumulationSteps"],
        ppo_epochs=p["ppoEpochs"], init_kl_coef=p["initKlCoef"], adap_kl_ctrl=p["adaptiveKl"], target=p["klTarget"],
        horizon=p["klHorizon"], kl_penalty="kl", gamma=p["gamma"], lam=p["lam"], cliprange=p["cliprange"],
        cliprange_value=p["cliprangeValue"], vf_coef=p["vfCoef"], ratio_threshold=p["ratioThreshold"],
        max_grad_norm=p["optim"]["maxGradNorm"], log_with=None,
    )


def optimizer_for(model, optim):
    params = [q for q in model.parameters() if q.requires_grad]
    return torch.optim.AdamW(params, lr=optim["learningRate"], betas=(optim["beta1"], optim["beta2"]), eps=optim["eps"],
                             weight_decay=optim["weightDecay"])


def random_byte_ids(rows, length, gen):
    return [torch.randint(BYTE_OFFSET, BYTE_OFFSET + 256, (length,), generator=gen) for _ in range(rows)]


def timed(fn):
    """fn's result with its wall-clock and process-CPU (all threads) seconds."""
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return result, {"wall": time.perf_counter() - w0, "cpu": time.process_time() - c0}


class TrlPpo:
    """TRL's PPOTrainer on the spec's model with fixed synthetic prompts, responses and scores."""

    def __init__(self, spec):
        set_seed(spec["seed"])  # random, numpy (TRL's minibatch permutation) and torch
        gen = torch.Generator().manual_seed(spec["seed"])
        p, w = spec["ppo"], spec["workload"]
        b, self.new_tokens = p["batchSize"], w["newTokens"]
        self.tok = byte_tokenizer()
        self.model = policy_with_value_head(spec["model"], self.tok)
        self.trainer = PPOTrainer(ppo_config(spec), self.model, ref_model=None, tokenizer=self.tok,
                                  optimizer=optimizer_for(self.model, p["optim"]))
        self.queries = random_byte_ids(b, w["promptLength"], gen)
        self.responses = random_byte_ids(b, self.new_tokens, gen)
        self.scores = [s for s in torch.randn(b, generator=gen)]  # fixed synthetic rewards, one per row
        # PPOTrainer.generate's own arguments (one batch, responses only, no EOS truncation), then
        # Hugging Face sampling arguments: plain sampling, never stopping at EOS (as ml/'s bench).
        self.generate_args = {"batch_size": b, "return_prompt": False, "remove_padding": False,
                              "max_new_tokens": self.new_tokens, "do_sample": True,
                              "temperature": p["generation"]["temperature"], "top_k": 0, "top_p": 1.0, "min_length": -1,
                              "pad_token_id": self.tok.pad_token_id, "eos_token_id": None}

    def rollout(self):
        out, seconds = timed(lambda: self.trainer.generate(self.queries, **self.generate_args))
        lengths = {len(r) for r in out}
        if lengths != {self.new_tokens}:
            raise RuntimeError(f"generate returned responses of lengths {sorted(lengths)}, expected {self.new_tokens} each")
        return seconds

    def step(self):
        stats, seconds = timed(lambda: self.trainer.step(self.queries, self.responses, self.scores))
        return {**seconds, "phases": {ph: float(stats[f"time/ppo/{ph}"]) for ph in TRL_PHASES}}


def answer(obj):
    sys.__stdout__.write(json.dumps(obj) + "\n")
    sys.__stdout__.flush()


def main():
    spec = json.loads(sys.argv[1])
    if spec["threads"] > 0:  # 0: torch's default (one per core)
        torch.set_num_threads(spec["threads"])
    with contextlib.redirect_stdout(sys.stderr):  # library chatter must not corrupt the JSON lines
        ppo = TrlPpo(spec)
        answer({"versions": {"trl": trl.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
                             "torch": torch.__version__, "numpy": np.__version__},
                "threads": torch.get_num_threads(), "vocabSize": len(ppo.tok),
                "trainableParams": sum(q.numel() for q in ppo.model.parameters() if q.requires_grad)})
        ops = {"rollout": ppo.rollout, "step": ppo.step}
        for line in sys.stdin:
            answer(ops[json.loads(line)["op"]]())


if __name__ == "__main__":
    main()
