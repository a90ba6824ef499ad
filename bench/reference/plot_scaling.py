"""Draws bench/plots/scaling.png from the JSON that bench/scaling.ts passes on argv[1]:
{"points": [{"seqLen", "width", "ours", "torch"}], "fixedWidth", "fixedSeqLen", "out", "title"} (seconds per update)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    spec = json.loads(sys.argv[1])
    pts = spec["points"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    panels = [
        ("seqLen", "width", spec["fixedWidth"], f"sequence length (width {spec['fixedWidth']})"),
        ("width", "seqLen", spec["fixedSeqLen"], f"model width (sequence length {spec['fixedSeqLen']})"),
    ]
    for ax, (x_key, fixed_key, fixed, xlabel) in zip(axes, panels):
        sel = sorted((p for p in pts if p[fixed_key] == fixed), key=lambda p: p[x_key])
        xs = [p[x_key] for p in sel]
        ax.plot(xs, [p["ours"] for p in sel], "o-", label="ours (tfjs WASM)")
        ax.plot(xs, [p["torch"] for p in sel], "s-", label="PyTorch CPU, 1 thread")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels([str(x) for x in xs])
        ax.set_xlabel(xlabel)
        ax.set_ylabel("seconds per PPO update (median)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(spec["title"])
    fig.tight_layout()
    fig.savefig(spec["out"], dpi=110)


if __name__ == "__main__":
    main()
