#!/usr/bin/env python3
"""Fixture for tests/text/test_cross_encoder.cpp: all-MiniLM-L6-v2 as a cross-encoder
(transformers' BertForSequenceClassification, num_labels=1, its pooler from the checkpoint and a
classifier head drawn here with a fixed seed), scored on a few SciFact (claim, abstract) pairs and
hostile pairs, at max_length 512 and 64 (longest-first truncation).

Writes tests/text/fixtures/cross_encoder_head.safetensors (classifier.weight [1, 384], classifier.bias [1])
and tests/text/fixtures/cross_encoder_pairs.jsonl ({"q", "d", "max_length", "ids" (base64 uint16), "score"}).
Run with the torch venv: ~/.cache/recblocks/venv-torch/bin/python tools/make_cross_encoder_fixture.py
"""
import base64, json, os, sys
import numpy as np
import torch
from safetensors.torch import save_file
from transformers import AutoTokenizer, BertForSequenceClassification

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
model_dir = os.path.expanduser(os.environ.get("RECBLOCKS_MODELS", "~/.cache/recblocks/models")) + "/all-MiniLM-L6-v2"
data = os.environ.get("RECBLOCKS_DATA", os.path.join(root, "..", "shared", "data")) + "/scifact-beir"
out = os.path.join(root, "tests", "text", "fixtures")

torch.manual_seed(0)
tok = AutoTokenizer.from_pretrained(model_dir)
model = BertForSequenceClassification.from_pretrained(model_dir, num_labels=1).eval()
g = torch.Generator().manual_seed(1234)
with torch.no_grad():
    model.classifier.weight.copy_(torch.randn(1, 384, generator=g) * 0.5)
    model.classifier.bias.fill_(0.25)
save_file({"classifier.weight": model.classifier.weight.detach().contiguous(),
           "classifier.bias": model.classifier.bias.detach().contiguous()},
          os.path.join(out, "cross_encoder_head.safetensors"))

claims = [json.loads(l) for l in open(os.path.join(data, "claims_train.jsonl"))][:6]
docs = {}
for part in ("corpus.part1.jsonl", "corpus.part2.jsonl", "corpus.part3.jsonl"):
    for l in open(os.path.join(data, part)):
        d = json.loads(l)
        docs[d["_id"]] = d["title"] + " " + d["text"]
pairs = []
for c in claims:
    pairs.append((c["claim"], docs[str(c["cited_doc_ids"][0])]))
pairs.append((claims[0]["claim"], docs[str(claims[1]["cited_doc_ids"][0])]))
pairs += [("", "an empty query"), ("a query", ""), ("Café naïve — 東京 😀", "Ünïcödé text, with punctuation!?"),
          ("word " * 300, "short document"), ("short query", "long " * 600)]
rows = []
for max_len in (512, 64):
    for q, d in pairs:
        enc = tok(q, d, truncation="longest_first", max_length=max_len, return_tensors="pt")
        with torch.no_grad():
            s = model(**enc).logits[0, 0].item()
        ids = enc["input_ids"][0].numpy().astype("<u2").tobytes()
        rows.append({"q": q, "d": d, "max_length": max_len, "ids": base64.b64encode(ids).decode(), "score": s})
with open(os.path.join(out, "cross_encoder_pairs.jsonl"), "w") as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
import transformers
print(f"{len(rows)} pairs; torch {torch.__version__}, transformers {transformers.__version__}", file=sys.stderr)
