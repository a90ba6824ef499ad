"""Second half of the interoperability check: does transformers load our export and compute the same
function? Run scripts/hf/export-fixture.ts first; it writes the export to DIR and our own logits and
token ids to DIR.check.json.

    npx tsx scripts/hf/export-fixture.ts /tmp/hf-export
    .cache/hf-venv/bin/python scripts/hf/check-export.py /tmp/hf-export

Checks (exit status 1 on any failure):
  - GPT2LMHeadModel.from_pretrained(DIR) loads with no missing or unexpected weights, and its logits
    on the same ids match ours within 1e-4 max abs;
  - AutoTokenizer.from_pretrained(DIR) (tokenizer.json) and GPT2Tokenizer from vocab.json + merges.txt
    alone both give our token ids on the fixture's string set.
"""

import json
import os
import shutil
import sys
import tempfile

import torch
from transformers import AutoTokenizer, GPT2LMHeadModel, GPT2Tokenizer

TOLERANCE = 1e-4


def check_model(export_dir: str, check: dict) -> bool:
    model, info = GPT2LMHeadModel.from_pretrained(export_dir, output_loading_info=True)
    model.eval()
    # The tied lm_head is not stored (as save_pretrained does); transformers ties it to wte on load.
    problems = {k: v for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs") and v}
    if problems:
        print(f"FAIL loading info: {problems}")
        return False
    with torch.no_grad():
        theirs = model(input_ids=torch.tensor(check["input_ids"])).logits
    ours = torch.tensor(check["logits"])
    diff = (theirs - ours).abs().max().item()
    print(f"logits: transformers vs ours, shape {list(theirs.shape)}, max abs diff {diff:.3e} (tolerance {TOLERANCE})")
    return diff <= TOLERANCE


def check_tokenizer(export_dir: str, check: dict) -> bool:
    fast = AutoTokenizer.from_pretrained(export_dir)
    with tempfile.TemporaryDirectory() as classic_dir:
        for f in ("vocab.json", "merges.txt", "special_tokens_map.json"):
            shutil.copy(os.path.join(export_dir, f), classic_dir)
        classic = GPT2Tokenizer.from_pretrained(classic_dir)
        ok = True
        for row in check["tokenizer"]:
            for label, tok in (("tokenizer.json", fast), ("vocab+merges", classic)):
                theirs = tok.encode(row["text"], add_special_tokens=False)
                if theirs != row["ids"]:
                    print(f"FAIL tokenizer ({label}) on {row['text']!r}: transformers {theirs}, ours {row['ids']}")
                    ok = False
    print(f"tokenizer: {len(check['tokenizer'])} strings, {type(fast).__name__} and GPT2Tokenizer(vocab+merges) "
          f"{'match' if ok else 'DIFFER'}")
    return ok


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    export_dir = sys.argv[1].rstrip("/")
    with open(export_dir + ".check.json", encoding="utf-8") as f:
        check = json.load(f)
    ok_model = check_model(export_dir, check)
    ok_tok = check_tokenizer(export_dir, check)
    print("OK" if ok_model and ok_tok else "FAILED")
    sys.exit(0 if ok_model and ok_tok else 1)


if __name__ == "__main__":
    main()
