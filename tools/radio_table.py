#!/usr/bin/env python3
"""Aggregates the JSON lines of `radio_scifact --out FILE` (one per row and seed) into docs/radio.md's
table: mean ± std over seeds of NDCG@5, NDCG@10, Recall@5, and the paired NDCG@10 difference per dev
claim (seed means) against a base row (ft_retrieval, or bm25 when absent; --base ROW), mean ± standard
error, with wins/losses, and the per-seed differences of the mean NDCG@10 (same seed of the base row).
Usage: python3 tools/radio_table.py docs/results/radio_scifact.jsonl [--base ROW]"""
import json, math, statistics, sys
from collections import OrderedDict

args = [a for a in sys.argv[1:] if not a.startswith("--")]
base_row = sys.argv[sys.argv.index("--base") + 1] if "--base" in sys.argv else None
if base_row in args:
    args.remove(base_row)
runs = OrderedDict()
for line in open(args[0]):
    if line.strip():
        r = json.loads(line)
        runs.setdefault(r["row"], []).append(r)
def mean(v): return sum(v) / len(v)
def ms(v): return (mean(v), statistics.stdev(v) if len(v) > 1 else 0.0)
def per_claim(row, key="ndcg10"):
    rs = runs[row]
    return [mean([r[key][i] for r in rs]) for i in range(len(rs[0][key]))]
if base_row is None:
    base_row = "ft_retrieval" if "ft_retrieval" in runs else "bm25"
print(f"| row | seeds | NDCG@5 | NDCG@10 | Recall@5 | ΔNDCG@10 vs {base_row} (paired per claim, ± s.e.) | better / worse claims | ΔNDCG@10 per seed |")
print("|---|---|---|---|---|---|---|---|")
base = per_claim(base_row) if base_row in runs else None
for row, rs in runs.items():
    cells = []
    for k in ("ndcg5", "ndcg10", "recall5"):
        m, s = ms([mean(r[k]) for r in rs])
        cells.append(f"{m:.4f} ± {s:.4f}" if len(rs) > 1 else f"{m:.4f}")
    d = "—"
    bw = "—"
    per_seed = "—"
    if base is not None and row != base_row:
        bseed = {r["seed"]: mean(r["ndcg10"]) for r in runs[base_row]}
        ps = [mean(r["ndcg10"]) - bseed[r["seed"]] for r in rs if r["seed"] in bseed]
        per_seed = " ".join(f"{x:+.4f}" for x in ps) if ps else "—"
        v = per_claim(row)
        diffs = [a - b for a, b in zip(v, base)]
        m = mean(diffs)
        se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else 0.0
        d = f"{m:+.4f} ± {se:.4f}"
        bw = f"{sum(x > 1e-12 for x in diffs)} / {sum(x < -1e-12 for x in diffs)}"
    print(f"| {row} | {len(rs)} | {' | '.join(cells)} | {d} | {bw} | {per_seed} |")
g = {row: rs[0].get("groups") for row, rs in runs.items() if rs[0].get("groups")}
for row, x in g.items():
    print(f"{row}: {x['n']} groups, positive relevant in {x['pos_relevant']}, fallbacks {x['fallbacks']}")
