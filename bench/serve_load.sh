#!/usr/bin/env bash
# Load test of the HTTP scoring service (examples/serve) against its PyTorch peer (FastAPI + uvicorn,
# bench/peers/serve_torch.py), same machine, same model weights, same JSON, same load (issue 21).
#
#   bash bench/serve_load.sh            # MMoE and STAR trained on MovieLens-100K, 1/8/64 connections
#   DURATION=5 CONNS="1 8" MODELS=mmoe bash bench/serve_load.sh
#
# Steps: trains each model with train_msr on MovieLens-100K (--variant reference, so the PyTorch port of
# the reference computes the same function; 3 epochs) unless its checkpoint exists; writes a one-row
# request (seeded random ids in range); starts, one at a time: recblocks with micro-batching (up to 64
# rows, waiting up to 500 us for company), with micro-batching without waiting (--max-wait-us 0: what
# queued while the worker was busy shares the next batch), without (--max-batch-rows 1), and the
# PyTorch service; checks that recblocks and PyTorch
# answer the same probabilities; loads each with wrk (closed loop, 1 wrk thread, DURATION seconds per
# connection count), recording requests/s, p50/p99/p99.9 latency, non-2xx/socket errors, and the CPU
# seconds the server process used. Scoring runs on one thread in every service (recblocks: --workers 1;
# PyTorch: one uvicorn worker, torch.set_num_threads(1)); recblocks' connection threads mostly wait in
# poll(), and the CPU column shows what each service spent in total.
# Then the reload check on the real process: 20 POST /reload (every other one with a corrupt
# model.json swapped into the served folder) while wrk loads it and a checker verifies every answer
# against the version it names.
#
# Everything targets 127.0.0.1; every loop is bounded in count and time. Needs: wrk (apt), the data
# in ../shared/data or $RECBLOCKS_DATA, and the PyTorch venv ($VENV, default
# ~/.cache/recblocks/venv-torch; fastapi and uvicorn are pip-installed into it when missing).
# Results: $OUT/results.md (default build/serve_load).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD:-$ROOT/build/default}"
OUT="${OUT:-$ROOT/build/serve_load}"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-1 8 64}"
MODELS="${MODELS:-mmoe star}"
VENV="${VENV:-$HOME/.cache/recblocks/venv-torch}"
export RECBLOCKS_DATA="${RECBLOCKS_DATA:-$(cd "$ROOT/../shared/data" 2>/dev/null && pwd)}"
PY="$VENV/bin/python"
mkdir -p "$OUT/ckpt"
: >"$OUT/agreement.txt"
command -v wrk >/dev/null || { echo "serve_load: wrk not found (apt-get install wrk)" >&2; exit 1; }
[ -x "$PY" ] || { echo "serve_load: no Python venv at $VENV (python3 -m venv $VENV && $VENV/bin/pip install torch numpy)" >&2; exit 1; }
"$PY" -c "import fastapi, uvicorn" 2>/dev/null || "$VENV/bin/pip" install -q fastapi uvicorn
cmake --build "$BUILD" --target serve train_msr -j2 >/dev/null

PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

cpu_seconds() {  # utime + stime of a process, seconds
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}

# start_server <name> <command...>: starts it, waits for "listening on http://H:P", sets URL and PID
start_server() {
  local name=$1
  shift
  local log="$OUT/$name.log"
  "$@" >"$log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 300); do
    URL=$(sed -n 's/^listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$log" | head -1)
    if [ -n "$URL" ] && curl -sf "$URL/health" >/dev/null 2>&1; then return 0; fi
    kill -0 "$PID" 2>/dev/null || { echo "serve_load: $name exited:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.2
  done
  echo "serve_load: $name did not start in 60 s" >&2
  exit 1
}

stop_server() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }

cat >"$OUT/post.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open(os.getenv("BODY_FILE")):read("*a")
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %.3f %d %d %d %d %d\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), e.status, e.connect + e.read + e.write + e.timeout))
end
EOF

# load <label> <model>: wrk at each connection count against $URL/$PID, one table row each
load() {
  local label=$1 model=$2
  for c in $CONNS; do
    local before after
    before=$(cpu_seconds "$PID")
    local line
    line=$(BODY_FILE="$OUT/body_$model.json" wrk -t1 -c"$c" -d"${DURATION}s" --timeout 10s -s "$OUT/post.lua" "$URL/score" | grep '^RESULT')
    after=$(cpu_seconds "$PID")
    read -r _ n secs p50 p99 p999 non2xx sockerr <<<"$line"
    printf '| %s | %s | %d | %.0f | %.2f | %.2f | %.2f | %d | %.2f |\n' "$model" "$label" "$c" "$(echo "$n / $secs" | bc -l)" \
      "$(echo "$p50 / 1000" | bc -l)" "$(echo "$p99 / 1000" | bc -l)" "$(echo "$p999 / 1000" | bc -l)" "$((non2xx + sockerr))" \
      "$(echo "($after - $before) * 1000 / $n" | bc -l)" | tee -a "$OUT/results.md"
  done
}

{
  echo "# serve_load $(date -u +%FT%TZ) on $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "One-row requests, wrk -t1, ${DURATION} s per row. Latency in ms; CPU = server CPU milliseconds per request."
  echo
  echo "| model | service | connections | requests/s | p50 | p99 | p99.9 | errors | CPU ms/req |"
  echo "|---|---|---|---|---|---|---|---|---|"
} >"$OUT/results.md"

for model in $MODELS; do
  ck="$OUT/ckpt/$model"
  if [ ! -f "$ck/model.json" ]; then
    "$BUILD/examples/train_msr" --model "$model" --data movielens --variant reference --epochs 3 --out "$ck" --quiet >"$OUT/train_$model.log"
  fi
  # a one-row request of the checkpoint's schema: seeded random ids in range (the cost does not depend on them)
  "$PY" - "$ck" "$OUT/body_$model.json" <<'EOF'
import json, random, sys
m = json.load(open(sys.argv[1] + "/model.json"))
random.seed(7)
row = {}
for f in m["schema"]["features"]:
    if f["kind"] == "sparse": row[f["name"]] = random.randrange(1, f["vocabulary"])
    elif f["kind"] == "dense": row[f["name"]] = round(random.random(), 4)
    elif f["kind"] == "scenario": row[f["name"]] = random.randrange(f["scenarios"])
json.dump({"rows": [row]}, open(sys.argv[2], "w"))
EOF
  # same answers from both services
  start_server "recblocks_$model" "$BUILD/examples/serve" --checkpoint "$ck" --workers 1 --max-batch-rows 64 --max-wait-us 500
  ours=$(curl -sf -H 'Content-Type: application/json' --data-binary @"$OUT/body_$model.json" "$URL/score")
  load "recblocks, micro-batching (wait 500 us)" "$model"
  stop_server
  start_server "recblocks_greedy_$model" "$BUILD/examples/serve" --checkpoint "$ck" --workers 1 --max-batch-rows 64 --max-wait-us 0
  load "recblocks, micro-batching (no wait)" "$model"
  stop_server
  start_server "recblocks_nobatch_$model" "$BUILD/examples/serve" --checkpoint "$ck" --workers 1 --max-batch-rows 1
  load "recblocks, no batching" "$model"
  stop_server
  port=$("$PY" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
  start_server "torch_$model" "$PY" "$ROOT/bench/peers/serve_torch.py" --checkpoint "$ck" --port "$port" --threads 1
  theirs=$(curl -sf -H 'Content-Type: application/json' --data-binary @"$OUT/body_$model.json" "$URL/score")
  "$PY" -c "import json,sys; a=json.loads(sys.argv[1])['probabilities']; b=json.loads(sys.argv[2])['probabilities']; d=max(abs(x-y) for x,y in zip(a,b)); print(f'{sys.argv[3]}: recblocks {a[0]:.7f} vs PyTorch {b[0]:.7f}, |diff| {d:.2e}'); sys.exit(d > 1e-5)" \
    "$ours" "$theirs" "$model" | tee -a "$OUT/agreement.txt"
  load "PyTorch (FastAPI + uvicorn)" "$model"
  stop_server
done

# ---- reload under load (real process): 20 reloads, every other one corrupt -----------------------
model=$(echo "$MODELS" | cut -d' ' -f1)
ck="$OUT/ckpt/$model"
# other weights of the same schema (the encoders are fitted on the seed's training split, so the
# same seed): one epoch instead of three
ck2="$OUT/ckpt/${model}_epoch1"
[ -f "$ck2/model.json" ] || "$BUILD/examples/train_msr" --model "$model" --data movielens --variant reference --epochs 1 --fixed-epochs --out "$ck2" --quiet >"$OUT/train_${model}_epoch1.log"
live="$OUT/live"
rm -rf "$live" && cp -r "$ck" "$live"
start_server "recblocks_reload" "$BUILD/examples/serve" --checkpoint "$live" --workers 1
# the expected answer of each version
declare -A expected
for src in "$ck2" "$ck"; do
  rm -rf "$live" && cp -r "$src" "$live"
  v=$(curl -sf -d "" "$URL/reload" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['version'])")
  expected[$v]=$(curl -sf -H 'Content-Type: application/json' --data-binary @"$OUT/body_$model.json" "$URL/score" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['probabilities'][0])")
done
exp_json=$("$PY" -c "import json,sys; print(json.dumps(dict(zip(sys.argv[1::2], map(float, sys.argv[2::2])))))" $(for k in "${!expected[@]}"; do echo "$k ${expected[$k]}"; done))
BODY_FILE="$OUT/body_$model.json" wrk -t1 -c8 -d25s --timeout 10s -s "$OUT/post.lua" "$URL/score" >"$OUT/reload_wrk.txt" &
WRK=$!
"$PY" - "$URL" "$OUT/body_$model.json" "$exp_json" >"$OUT/reload_checker.txt" <<'EOF' &
import json, sys, time, urllib.request
url, body, expected = sys.argv[1], open(sys.argv[2], "rb").read(), json.loads(sys.argv[3])
n = wrong = unknown = failed = 0
end = time.time() + 22
while time.time() < end:
    try:
        r = urllib.request.urlopen(urllib.request.Request(url + "/score", body, {"Content-Type": "application/json"}), timeout=10)
        a = json.load(r)
        n += 1
        if a["model_version"] not in expected: unknown += 1
        elif abs(a["probabilities"][0] - expected[a["model_version"]]) > 1e-6: wrong += 1
    except Exception:
        failed += 1
print(f"checker: {n} answers, {wrong} wrong, {unknown} of an unknown version, {failed} failed")
EOF
CHECKER=$!
sleep 1
ok=0 refused=0
for k in $(seq 1 20); do
  src=$([ $(((k / 2) % 2)) -eq 0 ] && echo "$ck2" || echo "$ck")
  rm -rf "$live.next" && cp -r "$src" "$live.next"
  [ $((k % 2)) -eq 0 ] && echo "{ corrupt" >"$live.next/model.json"
  rm -rf "$live" && mv "$live.next" "$live"
  code=$(curl -s -o /dev/null -w "%{http_code}" -d "" "$URL/reload")
  [ "$code" = 200 ] && ok=$((ok + 1))
  [ "$code" = 409 ] && refused=$((refused + 1))
  sleep 1
done
wait "$CHECKER" "$WRK"
read -r _ n _ _ _ _ non2xx sockerr < <(grep '^RESULT' "$OUT/reload_wrk.txt")
{
  echo
  echo "Reload under load ($model, wrk -c8 25 s + a checking client): 20 reloads, $ok accepted, $refused refused (corrupt model.json);"
  echo "wrk: $n requests, $((non2xx + sockerr)) non-2xx or socket errors; $(cat "$OUT/reload_checker.txt")"
  echo
  echo "Agreement of the answers (one-row request):"
  cat "$OUT/agreement.txt"
} | tee -a "$OUT/results.md"
stop_server
echo "serve_load: results in $OUT/results.md"
