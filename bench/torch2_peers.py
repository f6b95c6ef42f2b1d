#!/usr/bin/env python3
"""MMoE, STAR and M2M in recblocks against PyTorch 2.x (from PyPI), eager and torch.compile (inductor, CPU).

Issue 26, part 2. The PyTorch side is written the way a PyTorch user writes these models, in two styles:

* reference: as Scenario-Wise Rec writes them (and as bench/peers/torch_*.cpp for libtorch 1.13):
  every scenario's gate / tower / layers on every row, then torch.where selects each row's output;
* routed: each scenario's head only on its rows (per-scenario `nonzero` + `index_select`, results put back
  with `index_copy`), the way an expert user avoids the wasted work.

M2M has no per-scenario head (the scenario conditions generated weights per sample), so it has one style.
recblocks runs its library models (bench/torch2_rb.cpp: the options and input of bench/compare_libtorch,
bench/bench_spec.hpp): 8 sparse fields x 10k x 16, 3 scenarios, BCE with logits, Adam(1e-3). In training
with default options recblocks' STAR runs each scenario's batch-normed layers on the whole batch (routing
auto = masked: the reference's batch statistics); the routed PyTorch STAR normalises per scenario, the
function of recblocks' `routing = sorted`, so its training cases are compared with that (star_sorted).

Equivalence before timing: recblocks trains each model 20 steps, exports every parameter and buffer by
name (`torch2_rb export`); this script loads them into every PyTorch variant (each style, eager and
compiled) and compares the inference logits on 64 rows (max |diff| <= 1e-4, else exit status 1).

Timing: one thread on both sides (torch.set_num_threads(1), set_num_interop_threads(1), OMP/MKL/OpenBLAS
env = 1, inductor compile_threads = 1; recblocks: openblas_set_num_threads(1), Eigen 1 thread), each call
timed by the calling thread's CPU time, median per call with compare_libtorch's call counts
(bench/timing.hpp). Each PyTorch case is compiled once (torch._dynamo.reset() between cases, default
automatic dynamic shapes), warmed up, then timed in 3 rounds; the reported time is the median of the 3
rounds. recblocks: `torch2_rb time` run 3 times, median. Output, per case, compare_libtorch's format:

    speedup <model>_<infer|train>_b<N>_t1_<eager|compiled>_<reference|routed> R     R = PyTorch / recblocks
    speedup <model>_<infer|train>_b<N>_t1_<reference|routed> R                      vs the faster of the two

bf16: recblocks also runs every case with bf16 GEMMs and FP32 accumulation (`torch2_rb` cases `_bf16`:
mixed precision in training with FP32 master weights and Adam state, as autocast). Its peer is the faster
of PyTorch in FP32 (eager, compiled) and PyTorch under `torch.autocast("cpu", dtype=torch.bfloat16)`
(eager; the way a PyTorch user asks for bf16 on CPU; not at batch 1, where it only adds casts):

    speedup <model>_<infer|train>_b<N>_t1_eager_autocast_<style> R        R = PyTorch autocast / recblocks bf16
    speedup <model>_<infer|train>_b<N>_t1_<style>_bf16 R                   vs the fastest PyTorch of the three

Training: PyTorch's embedding gradients are dense with torch.optim.Adam (default foreach implementation;
torch.compile compiles the model, the optimizer step runs eager, the common usage); recblocks' are
row-sparse (lazy Adam). Inference: eval(), torch.inference_mode(), sigmoid of the logits.

    cmake --preset bench && cmake --build build/bench --target torch2_rb
    python3 bench/torch2_peers.py [--rb build/bench/bench/torch2_rb] [--only star] [--rounds 3] [--quick]

The script re-executes itself in $HOME/.cache/recblocks/venv-torch (created with torch, numpy and
safetensors from PyPI when missing).
"""
import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV = Path.home() / ".cache" / "recblocks" / "venv-torch"
ROOT = Path(__file__).resolve().parent.parent


def ensure_venv():
    """Re-executes under the venv's python (created from PyPI when missing)."""
    py = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not py.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
        subprocess.check_call([str(py), "-m", "pip", "install", "torch>=2.0", "numpy", "safetensors"])
    os.execv(str(py), [str(py)] + sys.argv)


if __name__ == "__main__":
    ensure_venv()
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[k] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Input: bench/bench_spec.hpp
# ---------------------------------------------------------------------------------------------
FIELDS, VOCAB, DIM, SCENARIOS = 8, 10000, 16, 3
INPUT = FIELDS * DIM
MASK = (1 << 64) - 1
INFER_SEED, TRAIN_SEED, INFER_POOL, TRAIN_POOL = 100, 200, 16, 8


def make_batch(size, seed):
    """bench_spec::make_batch: ids [F, B] (field-major), scenario = field-0 id mod 3, 30 % positives."""
    s = (seed * 0x9E3779B97F4A7C15 + 1) & MASK

    def nxt():
        nonlocal s
        s ^= (s << 13) & MASK
        s ^= s >> 7
        s ^= (s << 17) & MASK
        return s

    ids = [nxt() % VOCAB for _ in range(FIELDS * size)]
    labels = [1.0 if nxt() % 10 < 3 else 0.0 for _ in range(size)]
    t_ids = torch.tensor(ids, dtype=torch.long).reshape(FIELDS, size)
    return t_ids, t_ids[0] % SCENARIOS, torch.tensor(labels, dtype=torch.float32).reshape(size, 1)


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------

class MLP(nn.Module):
    """torch-rechub / Scenario-Wise Rec MLP: Linear -> BatchNorm1d -> activation per hidden layer, then an
    optional Linear(., 1)."""

    def __init__(self, d_in, dims, leaky=False, output_layer=False):
        super().__init__()
        layers = []
        for d in dims:
            layers += [nn.Linear(d_in, d), nn.BatchNorm1d(d), nn.LeakyReLU(0.01) if leaky else nn.ReLU()]
            d_in = d
        if output_layer:
            layers.append(nn.Linear(d_in, 1))
        self.net = nn.Sequential(*layers)
        self.hidden = len(dims)
        self.output_layer = output_layer

    def forward(self, x):
        return self.net(x)

    def names(self, prefix):
        out = {}
        for l in range(self.hidden):
            lin, bn = self.net[3 * l], self.net[3 * l + 1]
            out.update(linear_names(f"{prefix}.{l}.linear", lin))
            out.update(bn_names(f"{prefix}.{l}.bn", bn))
        if self.output_layer:
            out.update(linear_names(f"{prefix}.output", self.net[-1]))
        return out


def linear_names(prefix, lin):
    return {f"{prefix}.weight": (lin.weight, True), f"{prefix}.bias": (lin.bias, False)}


def bn_names(prefix, bn):
    return {f"{prefix}.gamma": (bn.weight, False), f"{prefix}.beta": (bn.bias, False),
            f"{prefix}.running_mean": (bn.running_mean, False), f"{prefix}.running_var": (bn.running_var, False)}


class Embeddings(nn.Module):
    def __init__(self):
        super().__init__()
        self.tables = nn.ModuleList([nn.Embedding(VOCAB, DIM) for _ in range(FIELDS)])

    def forward(self, ids):  # [F, B] -> [B, F * 16]
        return torch.cat([t(ids[f]) for f, t in enumerate(self.tables)], dim=1)

    def names(self):
        return {f"embedding.f{f}.table": (t.weight, False) for f, t in enumerate(self.tables)}


def rows_of(scenario, d):
    return (scenario == d).nonzero().squeeze(1)


class MMoE(nn.Module):
    """compare_libtorch's MMoE: 4 experts 128->256->128 (ReLU), a softmax gate and a 128->64->1 tower per
    scenario, no batch norm."""

    def __init__(self, routed):
        super().__init__()
        self.routed = routed
        self.embedding = Embeddings()
        self.experts = nn.ModuleList([nn.Sequential(nn.Linear(INPUT, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU())
                                      for _ in range(4)])
        self.gates = nn.ModuleList([nn.Linear(INPUT, 4) for _ in range(SCENARIOS)])
        self.towers = nn.ModuleList([nn.Sequential(nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 1)) for _ in range(SCENARIOS)])

    def forward(self, ids, scenario):
        x = self.embedding(ids)
        E = torch.stack([e(x) for e in self.experts], 1)  # [B, K, 128]
        if not self.routed:
            out = torch.zeros(x.shape[0], 1)
            for d in range(SCENARIOS):
                g = torch.softmax(self.gates[d](x), 1).unsqueeze(2)
                out = torch.where((scenario == d).unsqueeze(1), self.towers[d]((E * g).sum(1)), out)
            return out
        out = x.new_zeros(x.shape[0], 1)
        for d in range(SCENARIOS):
            idx = rows_of(scenario, d)
            g = torch.softmax(self.gates[d](x.index_select(0, idx)), 1).unsqueeze(2)
            out = out.index_copy(0, idx, self.towers[d]((E.index_select(0, idx) * g).sum(1)))
        return out

    def names(self):
        out = self.embedding.names()
        for k, e in enumerate(self.experts):
            out.update(linear_names(f"expert.{k}.0.linear", e[0]))
            out.update(linear_names(f"expert.{k}.1.linear", e[2]))
        for d in range(SCENARIOS):
            out.update(linear_names(f"gate.{d}.0.linear", self.gates[d]))
            out.update(linear_names(f"tower.{d}.0.linear", self.towers[d][0]))
            out.update(linear_names(f"tower.{d}.output", self.towers[d][2]))
        return out


class STAR(nn.Module):
    """STAR with recblocks' default options (bench/peers/torch_star.cpp): partitioned norm (one
    BatchNorm1d(affine=False, eps 1e-6), then scenario d's (gamma * gamma_d, beta + beta_d)), star layers
    [128, 64, 32] + a plain linear logit with per-scenario BN + ReLU on the hidden layers, aux MLP [32] + 1."""

    def __init__(self, routed):
        super().__init__()
        self.routed = routed
        self.embedding = Embeddings()
        widths = [INPUT, 128, 64, 32, 1]
        self.L = len(widths) - 1
        self.pn = nn.BatchNorm1d(INPUT, affine=False, eps=1e-6)
        self.pn_gamma = nn.Parameter(torch.ones(INPUT))
        self.pn_beta = nn.Parameter(torch.zeros(INPUT))
        self.pn_gamma_d = nn.Parameter(torch.ones(SCENARIOS, INPUT))
        self.pn_beta_d = nn.Parameter(torch.zeros(SCENARIOS, INPUT))

        def w(i):
            return nn.Parameter(nn.init.kaiming_uniform_(torch.empty(widths[i], widths[i + 1])))

        def b(i):
            return nn.Parameter(torch.rand(widths[i + 1]))

        self.w = nn.ParameterList([w(i) for i in range(self.L)])
        self.b = nn.ParameterList([b(i) for i in range(self.L)])
        self.w_d = nn.ParameterList([w(i) for _ in range(SCENARIOS) for i in range(self.L)])
        self.b_d = nn.ParameterList([b(i) for _ in range(SCENARIOS) for i in range(self.L)])
        self.bn_d = nn.ModuleList([nn.BatchNorm1d(widths[i + 1]) for _ in range(SCENARIOS) for i in range(self.L - 1)])
        self.aux = MLP(INPUT, [32], output_layer=True)

    def head(self, d, xhat):
        h = (self.pn_gamma * self.pn_gamma_d[d]) * xhat + (self.pn_beta + self.pn_beta_d[d])
        for i in range(self.L):
            h = torch.addmm(self.b[i] + self.b_d[d * self.L + i], h, self.w[i] * self.w_d[d * self.L + i])
            if i + 1 < self.L:
                h = torch.relu(self.bn_d[d * (self.L - 1) + i](h))
        return h

    def forward(self, ids, scenario):
        emb = self.embedding(ids)
        aux = self.aux(emb)
        xhat = self.pn(emb)
        if not self.routed:
            out = torch.zeros(emb.shape[0], 1)
            for d in range(SCENARIOS):
                out = torch.where((scenario == d).unsqueeze(1), self.head(d, xhat), out)
            return out + aux
        out = emb.new_zeros(emb.shape[0], 1)
        for d in range(SCENARIOS):
            idx = rows_of(scenario, d)
            out = out.index_copy(0, idx, self.head(d, xhat.index_select(0, idx)))
        return out + aux

    def names(self):
        out = self.embedding.names()
        out.update({"norm.gamma_shared": (self.pn_gamma, False), "norm.beta_shared": (self.pn_beta, False),
                    "norm.gamma_scenario": (self.pn_gamma_d, False), "norm.beta_scenario": (self.pn_beta_d, False),
                    "norm.running_mean": (self.pn.running_mean, False), "norm.running_var": (self.pn.running_var, False)})
        for i in range(self.L):
            out[f"fcn.{i}.weight_shared"] = (self.w[i], False)
            out[f"fcn.{i}.bias_shared"] = (self.b[i], False)
            for d in range(SCENARIOS):
                out[f"fcn.{i}.scenario.{d}.weight"] = (self.w_d[d * self.L + i], False)
                out[f"fcn.{i}.scenario.{d}.bias"] = (self.b_d[d * self.L + i], False)
        for j, bn in enumerate(self.bn_d):
            out.update(bn_names(f"bn.{j}", bn))
        out.update(self.aux.names("aux"))
        return out


class M2M(nn.Module):
    """M2M with recblocks' default options (bench/peers/torch_m2m.cpp): the 8 field embeddings and the
    scenario embedding as 9 tokens, nn.TransformerEncoder (2 post-norm layers, 4 heads, ff 16, dropout 0,
    batch_first) within each sample, 4 experts MLP_bn([16]) on the 9 encoded tokens, meta attention and meta
    tower with weights generated by Linear -> BN -> LeakyReLU, output MLP [64, 32] + 1. One style: no
    per-scenario head to route."""

    def __init__(self, routed=False):
        super().__init__()
        self.embedding = Embeddings()
        self.scenario_table = nn.Embedding(SCENARIOS, DIM)
        self.scenario_mlp = MLP(DIM, [16], leaky=True)
        self.task_mlp = MLP(DIM, [16], leaky=True)
        layer = nn.TransformerEncoderLayer(DIM, 4, dim_feedforward=16, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.experts = nn.ModuleList([MLP(9 * DIM, [16], leaky=True) for _ in range(4)])
        self.vw_mlp = MLP(16, [32 * 32], leaky=True)
        self.vb_mlp = MLP(16, [32], leaky=True)
        self.v = nn.Parameter(torch.ones(32, 1))
        self.tower_w_mlp = MLP(16, [16 * 16], leaky=True)
        self.tower_b_mlp = MLP(16, [16], leaky=True)
        self.output_mlp = MLP(16, [64, 32], output_layer=True)

    def forward(self, ids, scenario):
        B = scenario.shape[0]
        dom = self.scenario_table(scenario)
        tokens = torch.stack([t(ids[f]) for f, t in enumerate(self.embedding.tables)] + [dom], 1)  # [B, 9, 16]
        encoded = self.encoder(tokens).reshape(B, 9 * DIM)
        c = self.scenario_mlp(dom)
        task = self.task_mlp(dom)
        E = torch.stack([e(encoded) for e in self.experts], 1)  # [B, 4, 16]
        meta_in = torch.cat([E, task.unsqueeze(1).expand(B, 4, 16)], 2)
        W = self.vw_mlp(c).reshape(B, 32, 32)
        bias = self.vb_mlp(c).unsqueeze(1)
        score = torch.matmul(F.leaky_relu(torch.matmul(meta_in, W) + bias, 0.01), self.v).squeeze(2)
        rt = (torch.softmax(score, 1).unsqueeze(2) * E).sum(1)
        Wt = self.tower_w_mlp(c).reshape(B, 16, 16)
        o = F.leaky_relu(torch.matmul(rt.unsqueeze(1), Wt).squeeze(1) + self.tower_b_mlp(c) + rt, 0.01)
        return self.output_mlp(o)

    def names(self):
        out = self.embedding.names()
        out["embedding.scenario.table"] = (self.scenario_table.weight, False)
        out.update(self.scenario_mlp.names("scenario"))
        out.update(self.task_mlp.names("task"))
        for l, layer in enumerate(self.encoder.layers):
            p = f"encoder.{l}."
            for j, n in enumerate("qkv"):
                out[p + n + ".weight"] = (layer.self_attn.in_proj_weight, ("rows_t", j * DIM, DIM))
                out[p + n + ".bias"] = (layer.self_attn.in_proj_bias, ("rows", j * DIM, DIM))
            out.update(linear_names(p + "o", layer.self_attn.out_proj))
            out[p + "ln1.gamma"], out[p + "ln1.beta"] = (layer.norm1.weight, False), (layer.norm1.bias, False)
            out.update(linear_names(p + "ff1", layer.linear1))
            out.update(linear_names(p + "ff2", layer.linear2))
            out[p + "ln2.gamma"], out[p + "ln2.beta"] = (layer.norm2.weight, False), (layer.norm2.bias, False)
        for k, e in enumerate(self.experts):
            out.update(e.names(f"expert.{k}"))
        out.update(self.vw_mlp.names("attention.score.weight_generator"))
        out.update(self.vb_mlp.names("attention.score.bias_generator"))
        out["attention.v"] = (self.v, False)
        out.update(self.tower_w_mlp.names("meta_tower.0.weight_generator"))
        out.update(self.tower_b_mlp.names("meta_tower.0.bias_generator"))
        out.update(self.output_mlp.names("tower"))
        return out


MODELS = {"mmoe": MMoE, "star": STAR, "m2m": M2M}
STYLES = {"mmoe": ["reference", "routed"], "star": ["reference", "routed"], "m2m": ["reference"]}


def load_recblocks(model, path):
    """Copies every tensor of the recblocks export into `model`; raises on a missing or left-over name, a
    shape mismatch, or a float parameter / buffer of `model` left uncovered."""
    from safetensors.numpy import load_file
    state = load_file(str(path))
    targets = model.names()
    missing = sorted(set(state) - set(targets))
    unused = sorted(set(targets) - set(state))
    if missing or unused:
        raise RuntimeError(f"weight map: recblocks names without a target {missing[:5]}, targets never filled {unused[:5]}")
    copied = 0
    with torch.no_grad():
        for name, a in state.items():
            dst, how = targets[name]
            src = torch.from_numpy(np.array(a, dtype=np.float32))
            if how is True:
                src = src.t()
            if isinstance(how, tuple):
                kind, start, n = how
                dst = dst.narrow(0, start, n)
                if kind == "rows_t":
                    src = src.t()
            if src.numel() != dst.numel() or (src.dim() == dst.dim() and src.shape != dst.shape):
                raise RuntimeError(f"weight map: {name} is {tuple(src.shape)}, torch has {tuple(dst.shape)}")
            dst.copy_(src.reshape(dst.shape))
            copied += dst.numel()
    total = sum(p.numel() for p in model.parameters()) + sum(
        b.numel() for b in model.buffers() if b.dtype == torch.float32)
    if total != copied:
        raise RuntimeError(f"weight map: copied {copied} scalars, the torch model has {total}")


# ---------------------------------------------------------------------------------------------
# Timing (bench/timing.hpp)
# ---------------------------------------------------------------------------------------------

def median_seconds(f, warmup, min_calls, min_seconds):
    for _ in range(warmup):
        f()
    t = []
    start = time.perf_counter()
    while len(t) < min_calls or time.perf_counter() - start < min_seconds:
        a = time.thread_time()
        f()
        t.append(time.thread_time() - a)
    return sorted(t)[len(t) // 2]  # nth_element(size / 2), as bench/timing.hpp


def infer_counts(b, quick):
    return (20, 50, 0.2) if quick else (200, 2000 if b <= 1 else 300, 1.0)


def train_counts(b, quick):
    return (2, 5, 0.2) if quick else (5, 20 if b >= 4096 else 60, 2.0)


def autocast_if(on):
    return torch.autocast("cpu", dtype=torch.bfloat16) if on else contextlib.nullcontext()


def time_infer(model, b, compiled, rounds, quick, autocast=False):
    model.eval()
    fwd = torch.compile(model) if compiled else model
    batches = [make_batch(b, INFER_SEED + i)[:2] for i in range(INFER_POOL)]
    k = [0]

    def call():
        ids, scen = batches[k[0] % len(batches)]
        k[0] += 1
        with autocast_if(autocast):
            y = torch.sigmoid(fwd(ids, scen).float())
        return float(y[0, 0])

    with torch.inference_mode():
        return [median_seconds(call, *infer_counts(b, quick)) for _ in range(rounds)]


def time_train(model, b, compiled, rounds, quick, autocast=False):
    model.train()
    fwd = torch.compile(model) if compiled else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = [make_batch(b, TRAIN_SEED + i) for i in range(TRAIN_POOL)]
    k = [0]

    def step():
        ids, scen, labels = batches[k[0] % len(batches)]
        k[0] += 1
        opt.zero_grad()
        with autocast_if(autocast):
            logits = fwd(ids, scen)
        loss = F.binary_cross_entropy_with_logits(logits.float(), labels)
        loss.backward()
        opt.step()

    return [median_seconds(step, *train_counts(b, quick)) for _ in range(rounds)]


def fresh(name, routed):
    torch.manual_seed(1)
    return MODELS[name](routed)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rb", default=str(ROOT / "build" / "bench" / "bench" / "torch2_rb"))
    ap.add_argument("--only", default="", help="keep the cases whose name contains this")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="few calls (a smoke test, not a measurement)")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--no-bf16", action="store_true", help="FP32 cases only (no recblocks bf16, no autocast peer)")
    ap.add_argument("--equivalence-only", action="store_true", help="check the logits, time nothing")
    a = ap.parse_args()

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    import torch._inductor.config as inductor_config
    inductor_config.compile_threads = 1
    torch._dynamo.config.cache_size_limit = 64
    modes = ["eager"] + ([] if a.no_compile else ["compiled"])
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, CPU {cpu}, load {os.getloadavg()[0]:.2f}", flush=True)

    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.check_call([a.rb, "export", tmp], stdout=subprocess.DEVNULL)
        ids, scen, _ = make_batch(64, 900)
        for name in MODELS:
            if a.only and not any(a.only in f"{name}_{c}" for c in ("infer_b1", "infer_b128", "train_b512", "train_b4096")):
                continue
            ours = np.load(Path(tmp) / f"{name}_logits.npy").reshape(-1)
            for style in STYLES[name]:
                for mode in modes:
                    torch._dynamo.reset()
                    m = fresh(name, style == "routed")
                    load_recblocks(m, Path(tmp) / f"{name}.safetensors")
                    m.eval()
                    fwd = torch.compile(m) if mode == "compiled" else m
                    with torch.inference_mode():
                        theirs = fwd(ids, scen).reshape(-1).numpy()
                    diff = float(np.abs(theirs - ours).max())
                    ok = diff <= 1e-4
                    status |= 0 if ok else 1
                    print(f"equivalence {name} {style} {mode} max_abs_logit_diff {diff:.3e}  (batch of 64: max |logit| "
                          f"{np.abs(ours).max():.3f}){'' if ok else '  FAILED: > 1e-4'}", flush=True)

    if a.equivalence_only:
        return status
    rb = {}
    for r in range(a.rounds):
        # the model's cases (star: with star_sorted_*, the routed peer's training counterpart)
        rb_filter = next((m for m in MODELS if a.only.startswith(m)), a.only)
        out = subprocess.run([a.rb, "time", rb_filter], check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            _, case, sec = line.split()
            rb.setdefault(case, []).append(float(sec))
    rb = {k: statistics.median(v) for k, v in rb.items()}

    for name in MODELS:
        for train, b in ((False, 1), (False, 128), (True, 512), (True, 4096)):
            case = f"{name}_{'train' if train else 'infer'}_b{b}"
            if a.only and a.only not in case:
                continue
            times = {}
            peer_modes = modes + (["eager_autocast"] if not a.no_bf16 and b > 1 else [])
            for style in STYLES[name]:
                for mode in peer_modes:
                    torch._dynamo.reset()
                    m = fresh(name, style == "routed")
                    f = time_train if train else time_infer
                    rounds = f(m, b, mode == "compiled", a.rounds, a.quick, autocast=mode == "eager_autocast")
                    times[(style, mode)] = statistics.median(rounds)
                    print(f"# {case}_t1 {mode} {style}: rounds " + " ".join(f"{x * 1e6:.1f}" for x in rounds) + " us", flush=True)
            for style in STYLES[name]:
                ours_key = f"star_sorted_train_b{b}" if (name == "star" and train and style == "routed") else case
                ours = rb[ours_key]
                cols = "  ".join(f"{mode} {times[(style, mode)] * 1e6:10.1f} us" for mode in peer_modes)
                bf16_col = f"  recblocks bf16 {rb[ours_key + '_bf16'] * 1e6:10.1f} us" if ours_key + "_bf16" in rb else ""
                print(f"{case}_t1 {style:9s} recblocks {ours * 1e6:10.1f} us{bf16_col}  {cols}", flush=True)
                for mode in modes:
                    print(f"speedup {case}_t1_{mode}_{style} {times[(style, mode)] / ours:.2f}", flush=True)
                best = min(times[(style, mode)] for mode in modes)
                print(f"speedup {case}_t1_{style} {best / ours:.2f}", flush=True)
                if not a.no_bf16 and ours_key + "_bf16" in rb:
                    ours_bf16 = rb[ours_key + "_bf16"]
                    if "eager_autocast" in peer_modes:
                        print(f"speedup {case}_t1_eager_autocast_{style} {times[(style, 'eager_autocast')] / ours_bf16:.2f}", flush=True)
                    best_any = min(times[(style, mode)] for mode in peer_modes)
                    print(f"speedup {case}_t1_{style}_bf16 {best_any / ours_bf16:.2f}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
