#!/usr/bin/env python3
"""PyTorch peer of bench/bench_text.cpp: sentence-transformers (all-MiniLM-L6-v2, FP32, eager) on the
same SciFact abstracts, the same cases and the same output format ("pytorch <case> <value>").
One-thread cases are timed in thread CPU time (time.thread_time), two-thread cases in wall time.

Usage: text_peer.py [--docs N] [--models DIR] [--data DIR]
"""
import argparse, json, os, resource, statistics, time
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("--docs", type=int, default=2000)
ap.add_argument("--models", default=os.environ.get("RECBLOCKS_MODELS", str(Path.home() / ".cache/recblocks/models")))
ap.add_argument("--data", default=os.environ.get("RECBLOCKS_DATA", "../shared/data"))
a = ap.parse_args()

import torch
from sentence_transformers import SentenceTransformer

data = Path(a.data) / "scifact-beir"
docs, abstracts = [], []
for part in (1, 2, 3):
    with open(data / f"corpus.part{part}.jsonl", encoding="utf-8") as f:
        for line in f:
            if len(docs) >= a.docs:
                break
            if line.strip():
                j = json.loads(line)
                docs.append(j["title"] + " " + j["text"])
                abstracts.append(j["text"])
claims = []
with open(data / "claims_train.jsonl", encoding="utf-8") as f:
    for line in f:
        if len(claims) < 16 and line.strip():
            claims.append(json.loads(line)["claim"])

model_dir = str(Path(a.models) / "all-MiniLM-L6-v2")
torch.set_num_threads(1)
model = SentenceTransformer(model_dir, device="cpu")
model.eval()
query = "Vitamin D supplementation reduces the risk of fractures in elderly women with low bone density."
print(f"pytorch docs {len(docs)}")
print(f"pytorch query_tokens {len(model.tokenizer(query)['input_ids'])}")

with torch.inference_mode():
    t0 = time.thread_time()
    model.encode(docs, batch_size=32, convert_to_numpy=True)
    print(f"pytorch encode_b32_t1 {len(docs) / (time.thread_time() - t0):.3f}", flush=True)
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    model.encode(docs, batch_size=32, convert_to_numpy=True)
    print(f"pytorch encode_b32_t2 {len(docs) / (time.perf_counter() - t0):.3f}", flush=True)
    torch.set_num_threads(1)
    for _ in range(20):
        model.encode([query], batch_size=1, convert_to_numpy=True)
    lat = []
    start = time.perf_counter()
    while len(lat) < 200 or time.perf_counter() - start < 2.0:
        t0 = time.thread_time()
        model.encode([query], batch_size=1, convert_to_numpy=True)
        lat.append(time.thread_time() - t0)
    print(f"pytorch encode_b1_t1 {statistics.median(lat) * 1e3:.4f}", flush=True)

print(f"pytorch peak_rss_mb_encode {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
# fine-tuning step: 16 claims vs 16 abstracts, max 128 tokens, in-batch softmax (scale 20), AdamW
ft = SentenceTransformer(model_dir, device="cpu")
ft.max_seq_length = 128
ft.train()
opt = torch.optim.AdamW(ft.parameters(), lr=2e-5, weight_decay=0.01)
labels = torch.arange(16)
def embed(texts):
    feats = ft.tokenize(texts)
    return ft(feats)["sentence_embedding"]
def step():
    opt.zero_grad()
    q, d = embed(claims), embed(abstracts[:16])
    loss = torch.nn.functional.cross_entropy(20.0 * q @ d.T, labels)
    loss.backward()
    opt.step()
    return loss.item()
step()
times = []
for _ in range(5):
    t0 = time.thread_time()
    loss = step()
    times.append(time.thread_time() - t0)
print(f"pytorch train_b16 {16 / statistics.median(times):.3f}")
print(f"pytorch train_loss {loss:.4f}")
print(f"pytorch peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
import platform, sentence_transformers, transformers
print(f"pytorch versions python {platform.python_version()} torch {torch.__version__} transformers {transformers.__version__} "
      f"sentence-transformers {sentence_transformers.__version__}")
