#!/usr/bin/env bash
# Runs bench/bench_text (recblocks) and its PyTorch peer (bench/peers/text_peer.py) in the same run and
# prints "speedup <case> R" (R > 1: recblocks faster):
#     speedup encode_b32_t1 R    speedup encode_b32_t2 R    speedup encode_b1_t1 R    speedup train_b16 R
# The peer runs in a virtual environment with PyPI's torch (CPU) and sentence-transformers, created on
# first use in ${RECBLOCKS_TORCH_VENV:-$HOME/.cache/recblocks/venv-torch}. Needs the model
# (tools/install_models.sh) and ../shared/data/scifact-beir (or $RECBLOCKS_DATA).
# Usage: bench/run_text_bench.sh [--docs N]   (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
docs=2000
if [[ "${1:-}" == "--docs" ]]; then docs="$2"; fi
venv="${RECBLOCKS_TORCH_VENV:-$HOME/.cache/recblocks/venv-torch}"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import sentence_transformers" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --index-url https://download.pytorch.org/whl/cpu torch || "$venv/bin/pip" install --quiet torch
  "$venv/bin/pip" install --quiet sentence-transformers
fi
bash tools/install_models.sh
cmake --preset bench -DRECBLOCKS_BUILD_TESTS=OFF > /dev/null
cmake --build build/bench --target bench_text -j2
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
ours="$(mktemp)"; theirs="$(mktemp)"
trap 'rm -f "$ours" "$theirs"' EXIT
build/bench/bench/bench_text --docs "$docs" | tee "$ours"
OMP_NUM_THREADS=2 "$venv/bin/python" bench/peers/text_peer.py --docs "$docs" | tee "$theirs"
python3 - "$ours" "$theirs" <<'PY'
import sys
def read(p, who):
    out = {}
    for line in open(p):
        parts = line.split()
        if len(parts) == 3 and parts[0] == who:
            try: out[parts[1]] = float(parts[2])
            except ValueError: pass
    return out
o, t = read(sys.argv[1], "recblocks"), read(sys.argv[2], "pytorch")
for case, higher_better in [("encode_b32_t1", True), ("encode_b32_t2", True), ("encode_b1_t1", False), ("train_b16", True)]:
    if case in o and case in t:
        r = o[case] / t[case] if higher_better else t[case] / o[case]
        print(f"speedup {case} {r:.2f}")
print(f"peak_rss_mb recblocks {o.get('peak_rss_mb', 0):.0f} pytorch {t.get('peak_rss_mb', 0):.0f}")
PY
