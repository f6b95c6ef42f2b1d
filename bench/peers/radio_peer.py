#!/usr/bin/env python3
"""Speed peer of examples/radio_scifact --timing: sentence-transformers' CrossEncoder (PyTorch, CPU, FP32)
on all-MiniLM-L6-v2 with a one-label head, on the same 20 (claim, abstract) pairs and the same
fine-tuning step (groups of 7 pairs, batch 4 groups, group softmax cross-entropy, AdamW lr 6e-5).

Usage: ~/.cache/recblocks/venv-torch/bin/python bench/peers/radio_peer.py PAIRS.json [--max-length 128]
PAIRS.json is written by `radio_scifact --timing --pairs-out PAIRS.json`: {"query": str, "docs": [20 str]}.
Prints, per thread count 1 and 2: median ms to score the 20 pairs (7 runs, tokenisation included), and
fine-tuning pairs/s (median of 5 steps after one warm-up step); at one thread also the scoring under
`torch.autocast("cpu", dtype=torch.bfloat16)` (PyTorch's bf16 peer of `radio_scifact --timing --compute bf16`).
"""
import argparse, json, os, statistics, sys, time
import torch
from sentence_transformers import CrossEncoder

ap = argparse.ArgumentParser()
ap.add_argument("pairs")
ap.add_argument("--max-length", type=int, default=128)
a = ap.parse_args()
d = json.load(open(a.pairs))
model_dir = os.path.expanduser(os.environ.get("RECBLOCKS_MODELS", "~/.cache/recblocks/models")) + "/all-MiniLM-L6-v2"
ce = CrossEncoder(model_dir, num_labels=1, max_length=a.max_length, device="cpu")
pairs = [(d["query"], x) for x in d["docs"]]
for threads in (1, 2):
    torch.set_num_threads(threads)
    ce.model.eval()
    ce.predict(pairs, batch_size=32, show_progress_bar=False)
    ms = []
    clock = time.process_time if threads == 1 else time.perf_counter  # one thread: CPU time (shared machine)
    for _ in range(7):
        t = clock()
        ce.predict(pairs, batch_size=32, show_progress_bar=False)
        ms.append(1e3 * (clock() - t))
    print(f"pytorch rerank20_t{threads}_ms {statistics.median(ms):.1f} ({'CPU' if threads == 1 else 'wall'})")
    if threads == 1:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            ce.predict(pairs, batch_size=32, show_progress_bar=False)
            ms = []
            for _ in range(7):
                t = clock()
                ce.predict(pairs, batch_size=32, show_progress_bar=False)
                ms.append(1e3 * (clock() - t))
        print(f"pytorch rerank20_t1_bf16_ms {statistics.median(ms):.1f} (CPU, autocast bf16)")
    # fine-tuning: 4 groups of 7 pairs (the 20 documents reused), softmax CE with the positive first
    model, tok = ce.model, ce.tokenizer
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=6e-5, weight_decay=0.01)
    groups = [[d["docs"][(g * 5 + k) % len(d["docs"])] for k in range(7)] for g in range(4)]
    times = []
    for step in range(6):
        t = clock()
        enc = tok([d["query"]] * 28, [x for g in groups for x in g], truncation="longest_first", max_length=a.max_length,
                  padding=True, return_tensors="pt")
        logits = model(**enc).logits.view(4, 7)
        loss = torch.nn.functional.cross_entropy(logits, torch.zeros(4, dtype=torch.long))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step:
            times.append(clock() - t)
    print(f"pytorch train_t{threads}_pairs_per_s {28 / statistics.median(times):.2f}")
import transformers, sentence_transformers
print(f"torch {torch.__version__}, transformers {transformers.__version__}, sentence-transformers {sentence_transformers.__version__}", file=sys.stderr)
