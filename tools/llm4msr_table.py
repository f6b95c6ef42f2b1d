#!/usr/bin/env python3
"""Merges llm4msr_movielens --out CSVs into the paired table of docs/models/llm4msr.md.

usage: tools/llm4msr_table.py runs1.csv [runs2.csv ...]
Each row: backbone,variant,seed,auc,log_loss,auc_s0..2,ll_s0..2,epochs,seconds,params[,auc_covered,auc_fallback,
infer_us_per_row]. Differences are paired on (backbone, seed) against the `plain` run (same split, same seed);
mean ± sample std; per-scenario paired ΔAUC as means. The coverage columns appear only when some test rows
fall back (a partial knowledge cache).
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
isnum = lambda x: x not in (None, "", "nan", "-nan")
# the coverage columns only when some test users fall back (a partial cache)
coverage = any(isnum(r.get("auc_fallback")) for r in rows)
head = ("| backbone | variant | seeds | AUC | log loss | AUC <25 | AUC 25-34 | AUC ≥35 | ΔAUC vs plain (paired) | wins | "
        "Δlog loss (paired) | ΔAUC <25 / 25-34 / ≥35 (paired) |")
if coverage:
    head += " ΔAUC users with a vector | ΔAUC users on the fallback |"
head += " epochs | s/run | µs/row inference | params |"
print(head)
print("|" + "---|" * (head.count("|") - 1))
for b in ["shared_bottom", "mmoe", "ple", "star"]:
    for v in order:
        runs = by.get((b, v))
        if not runs:
            continue
        f = lambda k: [float(r[k]) for r in runs.values()]
        d_auc, d_ll, wins, d_cov, d_fb, d_s = [], [], 0, [], [], [[], [], []]
        plain = by.get((b, "plain"), {})
        if v != "plain":
            for s, r in runs.items():
                if s in plain:
                    d_auc.append(float(r["auc"]) - float(plain[s]["auc"]))
                    d_ll.append(float(r["log_loss"]) - float(plain[s]["log_loss"]))
                    for k in range(3):
                        d_s[k].append(float(r[f"auc_s{k}"]) - float(plain[s][f"auc_s{k}"]))
                    wins += float(r["auc"]) > float(plain[s]["auc"])
                    if isnum(r.get("auc_covered")) and isnum(plain[s].get("auc_covered")):
                        d_cov.append(float(r["auc_covered"]) - float(plain[s]["auc_covered"]))
                    if isnum(r.get("auc_fallback")) and isnum(plain[s].get("auc_fallback")):
                        d_fb.append(float(r["auc_fallback"]) - float(plain[s]["auc_fallback"]))
        line = (f"| {b} | {v} | {len(runs)} | {ms(f('auc'))} | {ms(f('log_loss'))} | {statistics.mean(f('auc_s0')):.4f} | "
                f"{statistics.mean(f('auc_s1')):.4f} | {statistics.mean(f('auc_s2')):.4f} | {pm(d_auc)} | "
                f"{(str(wins) + '/' + str(len(d_auc))) if d_auc else '—'} | {pm(d_ll)} | "
                + (" / ".join(f"{statistics.mean(x):+.4f}" for x in d_s) if d_auc else "—") + " |")
        if coverage:
            line += f" {pm(d_cov)} | {pm(d_fb)} |"
        line += (f" {statistics.mean(f('epochs')):.1f} | {statistics.mean(f('seconds')):.0f} | "
                 f"{statistics.mean(f('infer_us_per_row')):.1f} | {int(float(next(iter(runs.values()))['params']))} |")
        print(line)

# the control: LLM vectors against random vectors of the same shape (both levels), paired on the seed
print()
print("| backbone | seeds | ΔAUC both − random (paired) | wins | Δlog loss both − random (paired) |")
print("|---|---|---|---|---|")
for b in ["shared_bottom", "mmoe", "ple", "star"]:
    both, rnd = by.get((b, "both"), {}), by.get((b, "random"), {})
    common = sorted(set(both) & set(rnd))
    if not common:
        continue
    d = [float(both[s]["auc"]) - float(rnd[s]["auc"]) for s in common]
    dl = [float(both[s]["log_loss"]) - float(rnd[s]["log_loss"]) for s in common]
    print(f"| {b} | {len(common)} | {pm(d)} | {sum(x > 0 for x in d)}/{len(d)} | {pm(dl)} |")
