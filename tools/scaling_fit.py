#!/usr/bin/env python3
"""Fits the communication/compute cost model of docs/scaling.md to the measurements of
`train_msr_mpi --measure` (JSON lines) and prints the fitted constants and the predictions for
8, 64 and 512 ranks with a 1-billion-row table.

    python3 tools/scaling_fit.py docs/results/scaling/measure.jsonl docs/results/scaling/simulation.jsonl \
        docs/results/scaling/collectives.jsonl

Model (per step, per rank, n ranks, global batch G, local batch B = G / n; docs/scaling.md):
    compute  T_c = c * B * P            (P = dense parameters; c = seconds per row per parameter)
    bytes    all-reduce  A = 2 (n-1)/n * 4 (P + p + 1)          (p = number of dense tensors: flags)
             all-gather  R = (n-1)/n * G * F_r * (8 + 4 d)      (F_r replicated tables, d = dim)
             all-to-all  S = 2 (n-1)/n * u * F_s * (8 + 4 d)    (F_s sharded tables, u <= B distinct ids)
    time     T = T_c + alpha * m + bytes / beta                 (m = collective calls)
Only the standard library is used.
"""
import json
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def lstsq2(xs, ys):
    """y = a * x0 + b * x1, least squares without numpy."""
    s00 = sum(x[0] * x[0] for x in xs)
    s01 = sum(x[0] * x[1] for x in xs)
    s11 = sum(x[1] * x[1] for x in xs)
    t0 = sum(x[0] * y for x, y in zip(xs, ys))
    t1 = sum(x[1] * y for x, y in zip(xs, ys))
    det = s00 * s11 - s01 * s01
    return (t0 * s11 - t1 * s01) / det, (s00 * t1 - s01 * t0) / det


def main():
    rows = load(sys.argv[1])
    print("| model | ranks | global batch | tables | step s | compute s | all-reduce s | all-gather s | all-to-all s | "
          "wire bytes / rank / step | collectives / step |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        calls = r["allreduce_calls"] + r["alltoall_calls"] + r["allgather_calls"]
        print(f"| {r['model']} | {r['ranks']} | {r['global_batch']} | {'sharded' if r['sharded'] else 'replicated'} | "
              f"{r['step_seconds']:.4f} | {r['compute_seconds']:.4f} | {r['allreduce_seconds']:.4f} | "
              f"{r['allgather_seconds']:.4f} | {r['alltoall_seconds']:.4f} | {r['bytes_sent_per_rank']:.0f} | {calls:.0f} |")
    # compute coefficient from the one-rank runs: seconds per row per dense parameter
    one = [r for r in rows if r["ranks"] == 1]
    cs = [r["compute_seconds"] / (r["global_batch"] * r["dense_parameters"]) for r in one]
    c = sorted(cs)[len(cs) // 2]
    print(f"\ncompute: c = {c:.3e} s per row per dense parameter (median of {len(cs)} one-rank runs; "
          f"range {min(cs):.2e} .. {max(cs):.2e})")
    # alpha, beta of this machine from bench_mpi_collectives (all-reduce, 2 ranks, fastest of 9 calls)
    if len(sys.argv) > 3:
        coll = [r for r in load(sys.argv[3]) if r["ranks"] == 2]
        small = min(coll, key=lambda r: r["bytes"])
        big = [r for r in coll if r["bytes"] >= 1 << 20]
        # wire bytes of a 2-rank all-reduce = the buffer; slope over >= 1 MB
        xs = [(1.0, float(r["bytes"])) for r in big]
        a0, inv_b = lstsq2(xs, [r["allreduce_min_s"] for r in big])
        print(f"collectives (bench_mpi_collectives, 2 ranks, fastest of 9): latency {small['allreduce_min_s'] * 1e6:.1f} us "
              f"at {small['bytes']} B; bandwidth {1 / inv_b / 1e9:.3f} GB/s (slope over 1-64 MB, intercept {a0 * 1e3:.1f} ms)")
        for r in coll:
            print(f"  {r['bytes']:>9} B: all-reduce {r['allreduce_min_s'] * 1e3:8.3f} ms (median {r['allreduce_median_s'] * 1e3:8.3f}), "
                  f"all-to-all {r['alltoall_min_s'] * 1e3:8.3f} ms (median {r['alltoall_median_s'] * 1e3:8.3f})")
    # apparent communication cost inside training steps: time = alpha * calls + bytes / beta over the two-rank runs
    two = [r for r in rows if r["ranks"] == 2]
    xs = [(r["allreduce_calls"] + r["alltoall_calls"] + r["allgather_calls"], r["bytes_sent_per_rank"]) for r in two]
    ys = [r["allreduce_seconds"] + r["alltoall_seconds"] + r["allgather_seconds"] for r in two]
    alpha, inv_beta = lstsq2(xs, ys)
    print(f"apparent, inside training steps (2 ranks, oversubscribed: waits for the peer's CPU included): alpha = {alpha * 1e6:.1f} us per collective, "
          f"1/beta = {inv_beta * 1e9:.3f} ns per byte (beta = {1 / inv_beta / 1e9 if inv_beta > 0 else float('inf'):.3f} GB/s)")
    for r, y, x in zip(two, ys, xs):
        pred = alpha * x[0] + inv_beta * x[1]
        print(f"  {r['model']} G={r['global_batch']} {'sharded' if r['sharded'] else 'replicated'}: "
              f"measured {y * 1e3:.1f} ms, fitted {pred * 1e3:.1f} ms")
    for r in one:
        over = [t for t in two if t["model"] == r["model"] and t["global_batch"] == r["global_batch"]
                and bool(t["sharded"]) == bool(r["sharded"])]
        if over:
            print(f"  overhead of 2 ranks over 1: {r['model']} G={r['global_batch']} "
                  f"{'sharded' if r['sharded'] else 'replicated'}: step {r['step_seconds'] * 1e3:.1f} -> "
                  f"{over[0]['step_seconds'] * 1e3:.1f} ms ({over[0]['step_seconds'] / r['step_seconds']:.2f}x)")
    if len(sys.argv) > 2:
        sim = load(sys.argv[2])
        print("\nsimulation (MMoE, G = 512, MovieLens ids, --oversubscribe): collective calls and bytes vs the model")
        print("| ranks | tables | calls / step | wire bytes / rank / step | model bytes (all-reduce part) |")
        print("|---|---|---|---|---|")
        for r in sim:
            n = r["ranks"]
            ar = 2 * (n - 1) / n * 4 * (r["dense_parameters"] + 1)
            calls = r["allreduce_calls"] + r["alltoall_calls"] + r["allgather_calls"]
            print(f"| {n} | {'sharded' if r['sharded'] else 'replicated'} | {calls:.0f} | {r['bytes_sent_per_rank']:.0f} | >= {ar:.0f} |")
    # projection: DLRM-class model, 1e9-row table, d = 128, 26 sparse fields, local batch 8192
    d, fields, rows_total, B = 128, 26, 1e9, 8192
    P = 2.6e6  # DLRM (MLPerf) bottom 13-512-256-128 + top 479-1024-1024-512-256-1 MLPs, ~2.6M dense parameters
    print("\nprojection: 1e9 rows x d=128 (fp32, Adam: 3 copies), 26 fields, local batch 8192, P = 2.6M dense parameters")
    print("| ranks | table memory / rank | compute / step (1 core, c above) | all-reduce bytes | all-to-all bytes | "
          "comm at 12.5 GB/s (100 Gb/s IB) | comm at 50 GB/s (400 Gb/s) | network-bound at 12.5 GB/s? |")
    print("|---|---|---|---|---|---|---|---|")
    for n in (8, 64, 512):
        mem = rows_total * d * 4 * 3 / n
        tc = c * B * P
        ar = 2 * (n - 1) / n * 4 * P
        a2a = 2 * (n - 1) / n * B * fields * (8 + 4 * d)
        calls = 1 + 4 * fields
        t12 = calls * 5e-6 * (n - 1) + (ar + a2a) / 12.5e9
        t50 = calls * 5e-6 * (n - 1) + (ar + a2a) / 50e9
        print(f"| {n} | {mem / 2**30:.1f} GiB | {tc:.2f} s | {ar / 1e6:.1f} MB | {a2a / 1e6:.0f} MB | {t12 * 1e3:.0f} ms | "
              f"{t50 * 1e3:.0f} ms | {'yes' if t12 > tc else 'no'} |")


if __name__ == "__main__":
    main()
