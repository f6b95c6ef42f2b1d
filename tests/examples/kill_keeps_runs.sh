#!/usr/bin/env bash
# scenario_benchmark appends each finished run at once (issue 25, item 4): start a benchmark of three
# models, wait until the runs file holds the first model's row, kill -9 the process before the second
# finishes, and check that the finished run's row is complete. (Before the fix nothing was written
# until every run had finished, so the killed benchmark left no file.)
#   kill_keeps_runs.sh <scenario_benchmark> <work dir>
set -euo pipefail
bench="$1"
dir="$2/kill_keeps_runs"
rm -rf "$dir" && mkdir -p "$dir"
runs="$dir/results_runs.csv"
"$bench" --models shared_bottom,mmoe,ple --rows 20000 --epochs 8 --patience 8 --quiet --out "$dir/results.csv" \
  > "$dir/stdout" 2> "$dir/stderr" &
pid=$!
for _ in $(seq 1 2400); do
  [ -f "$runs" ] && [ "$(wc -l < "$runs")" -ge 2 ] && break
  kill -0 "$pid" 2> /dev/null || break
  sleep 0.1
done
kill -9 "$pid" 2> /dev/null || true
wait "$pid" 2> /dev/null || true
[ -f "$runs" ] || { echo "FAIL: no runs file after the first run finished"; cat "$dir/stderr"; exit 1; }
head -1 "$runs" | grep -q '^model,seed,auc,logloss' || { echo "FAIL: no header"; cat "$runs"; exit 1; }
row="$(sed -n 2p "$runs")"
echo "$row" | grep -Eq '^shared_bottom,2022,[0-9.]+,[0-9.]+(,[0-9.e+-]+)+$' || { echo "FAIL: first row incomplete: '$row'"; exit 1; }
[ "$(awk -F, 'NR==1{n=NF} NR==2{print (NF==n)}' "$runs")" = 1 ] || { echo "FAIL: row and header widths differ"; exit 1; }
[ -f "$dir/results.csv" ] && { echo "FAIL: the benchmark finished before the kill (summary written): test inconclusive"; exit 1; }
echo "ok: the killed benchmark kept its finished run: $row"
