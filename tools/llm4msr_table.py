#!/usr/bin/env python3
"""Merges llm4msr_movielens --out CSVs into the paired table of docs/models/llm4msr.md.

usage: tools/llm4msr_table.py runs1.csv [runs2.csv ...]
Each row: backbone,variant,seed,auc,log_loss,auc_s0..2,ll_s0..2,epochs,seconds,params. Differences are
paired on (backbone, seed) against the `plain` run (same split, same seed); mean ± sample std.
"""
import csv, statistics, sys
from collections import defaultdict

rows = []
for path in sys.argv[1:]:
    with open(path) as f:
        rows += list(csv.DictReader(f))
by = defaultdict(dict)
for r in rows:
    by[(r["backbone"], r["variant"])][int(r["seed"])] = r

def ms(v):
    if not v:
        return "—"
    return f"{statistics.mean(v):.4f} ± {statistics.stdev(v):.4f}" if len(v) > 1 else f"{v[0]:.4f}"

def pm(v):
    if not v:
        return "—"
    return f"{statistics.mean(v):+.4f} ± {statistics.stdev(v):.4f}" if len(v) > 1 else f"{v[0]:+.4f}"

order = ["plain", "both", "user", "scenario", "answer", "random"]
print("| backbone | variant | seeds | AUC | log loss | AUC <25 | AUC 25-34 | AUC ≥35 | ΔAUC vs plain (paired) | wins | Δlog loss (paired) | ΔAUC users with a vector | ΔAUC users on the fallback | epochs | s/run | µs/row inference | params |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for b in ["shared_bottom", "mmoe", "ple", "star"]:
    for v in order:
        runs = by.get((b, v))
        if not runs:
            continue
        f = lambda k: [float(r[k]) for r in runs.values()]
        d_auc, d_ll, wins, d_cov, d_fb = [], [], 0, [], []
        plain = by.get((b, "plain"), {})
        if v != "plain":
            for s, r in runs.items():
                if s in plain:
                    d_auc.append(float(r["auc"]) - float(plain[s]["auc"]))
                    d_ll.append(float(r["log_loss"]) - float(plain[s]["log_loss"]))
                    wins += float(r["auc"]) > float(plain[s]["auc"])
                    if r.get("auc_covered", "nan") != "nan" and plain[s].get("auc_covered", "nan") != "nan":
                        d_cov.append(float(r["auc_covered"]) - float(plain[s]["auc_covered"]))
                        d_fb.append(float(r["auc_fallback"]) - float(plain[s]["auc_fallback"]))
        print(f"| {b} | {v} | {len(runs)} | {ms(f('auc'))} | {ms(f('log_loss'))} | {statistics.mean(f('auc_s0')):.4f} | "
              f"{statistics.mean(f('auc_s1')):.4f} | {statistics.mean(f('auc_s2')):.4f} | {pm(d_auc)} | "
              f"{(str(wins) + '/' + str(len(d_auc))) if d_auc else '—'} | {pm(d_ll)} | {pm(d_cov)} | {pm(d_fb)} | {statistics.mean(f('epochs')):.1f} | "
              f"{statistics.mean(f('seconds')):.0f} | {statistics.mean(f('infer_us_per_row')):.1f} | {int(float(next(iter(runs.values()))['params']))} |")
