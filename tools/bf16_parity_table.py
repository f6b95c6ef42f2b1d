#!/usr/bin/env python3
"""Paired bf16 - FP32 test AUC per model from two `scenario_benchmark --runs` CSVs (one per `--compute`),
as in docs/results.md "bf16 mixed-precision training: accuracy parity".

A pair is the same model on the same seed (same split, initialisation and batch order); only seeds present
in both files are paired. Per model: mean AUC of each precision, the paired difference mean ± sample std,
each seed's difference, mean epochs and training seconds. Then the pooled summary over every pair and over
the pairs of models that run bf16 products at all (`--fp32-identical` names the models whose bf16 run is
the FP32 run by construction: no product is 32 wide in both dimensions).

Usage: python3 tools/bf16_parity_table.py FP32_RUNS.csv BF16_RUNS.csv [--fp32-identical mmoe,ple]
"""
import argparse
import csv
import statistics


def read(path):
    runs = {}
    for r in csv.DictReader(open(path)):
        runs[(r["model"], int(r["seed"]))] = r
    return runs


def sd(v):
    return statistics.stdev(v) if len(v) > 1 else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fp32")
    ap.add_argument("bf16")
    ap.add_argument("--fp32-identical", default="mmoe,ple")
    ap.add_argument("--limit", type=float, default=0.002)
    a = ap.parse_args()
    fp, bf = read(a.fp32), read(a.bf16)
    identical = set(x for x in a.fp32_identical.split(",") if x)
    models = list(dict.fromkeys(m for m, _ in fp))
    print("| model | seeds | AUC FP32 | AUC bf16 | ΔAUC bf16 − FP32 (paired, mean ± std) | per seed | epochs FP32 / bf16 | train s FP32 / bf16 |")
    print("|---|---|---|---|---|---|---|---|")
    all_d, bf16_d, model_means = [], [], {}
    for m in models:
        seeds = sorted(s for (mm, s) in fp if mm == m and (mm, s) in bf)
        if not seeds:
            continue
        d = [float(bf[(m, s)]["auc"]) - float(fp[(m, s)]["auc"]) for s in seeds]
        af = [float(fp[(m, s)]["auc"]) for s in seeds]
        ab = [float(bf[(m, s)]["auc"]) for s in seeds]
        ef = statistics.mean(float(fp[(m, s)]["epochs"]) for s in seeds)
        eb = statistics.mean(float(bf[(m, s)]["epochs"]) for s in seeds)
        tf = statistics.mean(float(fp[(m, s)]["train_seconds"]) for s in seeds)
        tb = statistics.mean(float(bf[(m, s)]["train_seconds"]) for s in seeds)
        all_d += d
        if m not in identical:
            bf16_d += d
            model_means[m] = statistics.mean(d)
        print(f"| {m} | {len(seeds)} | {statistics.mean(af):.4f} | {statistics.mean(ab):.4f} | "
              f"{statistics.mean(d):+.4f} ± {sd(d):.4f} | {' '.join(f'{x:+.4f}' for x in d)} | {ef:.1f} / {eb:.1f} | {tf:.1f} / {tb:.1f} |")
    print()
    print(f"All pairs: {len(all_d)}, mean {statistics.mean(all_d):+.4f}, std {sd(all_d):.4f}, max |d| {max(abs(x) for x in all_d):.4f}.")
    if bf16_d:
        n_in = sum(1 for x in bf16_d if abs(x) <= a.limit)
        se = sd(bf16_d) / len(bf16_d) ** 0.5
        print(f"Pairs with bf16 products ({len(model_means)} models): {len(bf16_d)}, mean {statistics.mean(bf16_d):+.4f} "
              f"± {se:.4f} (s.e.), std {sd(bf16_d):.4f}, within ±{a.limit}: {n_in}/{len(bf16_d)}, "
              f"bf16 higher in {sum(1 for x in bf16_d if x > 0)}, lower in {sum(1 for x in bf16_d if x < 0)}.")
        worst = max(model_means.items(), key=lambda kv: abs(kv[1]))
        inside = sum(1 for v in model_means.values() if abs(v) <= a.limit)
        print(f"Per-model paired means within ±{a.limit}: {inside}/{len(model_means)} (largest |mean|: {worst[0]} {worst[1]:+.4f}).")


if __name__ == "__main__":
    main()
