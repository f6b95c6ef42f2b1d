#!/usr/bin/env bash
# Compile-time measurement (issue 26, part 3; docs/performance.md "Compile time"): compiles each given
# source file once, alone, with the exact command of build/<preset>/compile_commands.json (ccache off),
# and prints "file user_s sys_s wall_s maxrss_kb". A file not in the database (the probe
# tools/compile_time/star_train_step.cpp) gets train_msr's command. Usage:
#   tools/compile_time/measure.sh [--build build/default] [--extra "-DFOO"] file.cpp...
set -euo pipefail
build=build/default
extra=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --extra) extra="$2"; shift 2 ;;
    *) break ;;
  esac
done
root="$(cd "$(dirname "$0")/../.." && pwd)"
db="$root/$build/compile_commands.json"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for f in "$@"; do
  abs="$(realpath "$f")"
  cmd="$(python3 - "$db" "$abs" "$root/examples/train_msr.cpp" <<'PY'
import json, shlex, sys
db, f, fallback = sys.argv[1:4]
entries = json.load(open(db))
e = next((e for e in entries if e["file"] == f), None)
probe = e is None
if probe:
    e = next(e for e in entries if e["file"] == fallback)
args = shlex.split(e["command"])
# drop the output and the source; the caller adds its own
clean, skip = [], False
for a in args:
    if skip: skip = False; continue
    if a == "-o": skip = True; continue
    if a == "-c" or a == e["file"]: continue
    clean.append(a)
print(e["directory"])
print(shlex.join(clean + (["-I" + sys.argv[3].rsplit("/examples/", 1)[0] + "/include"] if probe else [])))
PY
)"
  dir="$(head -1 <<<"$cmd")"
  cc="$(tail -1 <<<"$cmd")"
  ( cd "$dir" && CCACHE_DISABLE=1 /usr/bin/time -f "%U %S %e %M" -o "$out/t" \
      nice -n 19 bash -c "$cc $extra -c '$abs' -o '$out/o.o'" )
  printf '%s %s\n' "${abs#$root/}" "$(cat "$out/t")"
done
