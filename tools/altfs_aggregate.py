#!/usr/bin/env python3
"""Aggregate the `raw` per-seed lines of examples/altfs (issue 15) into the docs' tables.

The example's seeds are independent, so a run can be split across processes (`--seed-first K --seeds 1`);
this script reads the outputs of such processes (or of one `--seeds N` run) and prints the same
mean ± sd (sample sd over seeds) tables as a single run:

    tools/altfs_aggregate.py docs/results/altfs_movielens_seed*.txt

MovieLens: paired ΔAUC / Δlog loss against no selection (same seed), per policy and d.
Synthetic: Spearman / Kendall / precision@d with the truth, test AUC after retraining and its paired
difference with all fields.
"""
import statistics
import sys
from collections import defaultdict


def pm(v, digits=4):
    if not v:
        return "n/a"
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    return f"{statistics.fmean(v):+.{digits}f} ± {sd:.{digits}f}"


def pm_plain(v, digits=4):
    if not v:
        return "n/a"
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    return f"{statistics.fmean(v):.{digits}f} ± {sd:.{digits}f}"


def main(files):
    ml = {}       # (seed, policy, d) -> (auc, ll, none_auc, none_ll, top)
    mlw = {}      # (seed, bridge) -> (weights, seconds, plain)
    syn = {}      # (seed, policy, d) -> (auc, all)
    synr = {}     # (seed, policy) -> dict
    order = []
    for f in files:
        for line in open(f, encoding="utf-8"):
            t = line.split()
            if not t or t[0] != "raw":
                continue
            seed = int(t[3])
            if t[1] == "movielens" and t[4] == "policy":
                p, d = t[5], int(t[7])
                top = line.split(" top ", 1)[1].strip()
                ml[(seed, p, d)] = (float(t[9]), float(t[11]), float(t[13]), float(t[15]), top)
                if p not in order:
                    order.append(p)
            elif t[1] == "movielens" and t[4] == "bridge":
                i = t.index("seconds")
                mlw[(seed, t[5])] = ([float(x) for x in t[7:i]], float(t[i + 1]), float(t[i + 3]))
            elif t[1] == "synthetic" and "d" in t:
                p, d = t[5], int(t[7])
                syn[(seed, p, d)] = (float(t[9]), float(t[11]))
                if p not in order:
                    order.append(p)
            elif t[1] == "synthetic":
                synr[(seed, t[5])] = {t[i]: float(t[i + 1]) for i in range(6, len(t) - 1, 2)}
    if ml:
        seeds = sorted({k[0] for k in ml})
        ds = sorted({k[2] for k in ml})
        none_auc = [next(v[2] for k, v in ml.items() if k[0] == s) for s in seeds]
        none_ll = [next(v[3] for k, v in ml.items() if k[0] == s) for s in seeds]
        print(f"MovieLens seeds {seeds}: no selection AUC {pm_plain(none_auc)}, log loss {pm_plain(none_ll)}")
        print("| policy | d | top-d fields (first seed) | ΔAUC | Δlog loss | seeds ΔAUC > 0 |\n|---|---|---|---|---|---|")
        for p in order:
            for d in ds:
                rows = [ml[(s, p, d)] for s in seeds if (s, p, d) in ml]
                if not rows:
                    continue
                da = [r[0] - r[2] for r in rows]
                dl = [r[1] - r[3] for r in rows]
                print(f"| {p} | {d} | {rows[0][4]} | {pm(da)} | {pm(dl)} | {sum(x > 0 for x in da)}/{len(da)} |")
        for b in sorted({k[1] for k in mlw}):
            ws = [mlw[(s, b)][0] for s in seeds if (s, b) in mlw]
            mean_w = [statistics.fmean(col) for col in zip(*ws)]
            sec = [mlw[(s, b)][1] for s in seeds if (s, b) in mlw]
            plain = [mlw[(s, b)][2] for s in seeds if (s, b) in mlw]
            print(f"{b}: softmax(w/4) seed mean ({', '.join(f'{x:.4f}' for x in mean_w)}); bridge stage "
                  f"{statistics.fmean(sec):.1f} s vs plain training {statistics.fmean(plain):.1f} s per seed")
    if syn or synr:
        seeds = sorted({k[0] for k in synr})
        ds = sorted({k[2] for k in syn})
        print(f"Synthetic seeds {seeds}")
        print("| policy | Spearman | Kendall tau-b | precision@2 | precision@4 | precision@6 |\n|---|---|---|---|---|---|")
        for p in order:
            vals = [synr[(s, p)] for s in seeds if (s, p) in synr]
            col = lambda k, dg: pm_plain([v[k] for v in vals], dg)
            print(f"| {p} | {col('spearman', 3)} | {col('kendall', 3)} | {col('p2', 2)} | {col('p4', 2)} | {col('p6', 2)} |")
        alls = [next(v[1] for k, v in syn.items() if k[0] == s) for s in seeds]
        print(f"all fields: AUC {pm_plain(alls)}")
        print("| policy |" + "".join(f" d = {d} | Δ vs all |" for d in ds) + "\n|---|" + "---|---|" * len(ds))
        for p in order:
            cells = []
            for d in ds:
                rows = [syn[(s, p, d)] for s in seeds if (s, p, d) in syn]
                cells.append(f" {pm_plain([r[0] for r in rows])} | {pm([r[0] - r[1] for r in rows])} |")
            print(f"| {p} |" + "".join(cells))


if __name__ == "__main__":
    main(sys.argv[1:])
