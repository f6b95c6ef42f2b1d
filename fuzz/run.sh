#!/usr/bin/env bash
# Builds every fuzz/fuzz_*.cpp as a libFuzzer target (ASan + UBSan) and runs each for
# ${FUZZ_SECONDS:-60} seconds. Exits non-zero when a target fails to build or finds a crash
# (libFuzzer writes the reproducer as build/fuzz/<target>/crash-*).
#
#   bash fuzz/run.sh                   # all targets, 60 s each
#   FUZZ_SECONDS=10 bash fuzz/run.sh   # shorter
#   bash fuzz/run.sh fuzz_csv          # one target
#
# Seeds: fuzz/corpus/<target>/ (read-only); the growing corpus lives in build/fuzz/<target>/corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
CXX="${FUZZ_CXX:-clang++-14}"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
OUT="build/fuzz"
mkdir -p "$OUT"
targets=()
if [ "$#" -gt 0 ]; then
  for t in "$@"; do targets+=("fuzz/${t%.cpp}.cpp"); done
else
  for f in fuzz/fuzz_*.cpp; do [ -e "$f" ] && targets+=("$f"); done
fi
[ "${#targets[@]}" -gt 0 ] || { echo "fuzz/run.sh: no fuzz/fuzz_*.cpp targets" >&2; exit 1; }
status=0
failed=()   # "<target>: <why>" lines, repeated at the end: CI shows only the tail of the output
for src in "${targets[@]}"; do
  name="$(basename "$src" .cpp)"
  dir="$OUT/$name"
  mkdir -p "$dir/corpus"
  echo "== $name: building"
  # extra link flags of a target: a "// fuzz-libs: ..." line in its source (e.g. -lutf8proc)
  read -r -a libs <<< "$(sed -n 's|^// fuzz-libs: ||p' "$src")"
  if ! "$CXX" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      -I include -I/usr/include/eigen3 "$src" -o "$dir/$name" "${libs[@]}"; then
    failed+=("$name: does not build")
    status=1
    continue
  fi
  seeds=()
  [ -d "fuzz/corpus/$name" ] && seeds+=("fuzz/corpus/$name")
  echo "== $name: running ${SECONDS_PER_TARGET}s"
  log="$PWD/$dir/last_run.log"
  if ! (cd "$dir" && UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "./$name" -max_total_time="$SECONDS_PER_TARGET" \
          -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 corpus "${seeds[@]/#/../../../}" 2>&1 | tee "$log"); then
    echo "== $name: FAILED (reproducer in $dir)" >&2
    # the sanitizer's or libFuzzer's one-line verdict, the first frames, and the reproducer's bytes
    why="$(grep -m1 -E "Assertion .* failed|runtime error:|==[0-9]+== ?ERROR|ALARM|out-of-memory" "$log" || true)"
    failed+=("$name: ${why:-see $log}")
    grep -m20 -E '^ +#[0-9]+ ' "$log" >&2 || true
    for crash in "$dir"/crash-* "$dir"/oom-* "$dir"/timeout-* "$dir"/leak-*; do
      [ -e "$crash" ] && { echo "-- $crash (base64):" >&2; head -c 4096 "$crash" | base64 -w 0 >&2; echo >&2; }
    done
    status=1
  fi
done
if ((${#failed[@]})); then
  echo "== fuzz/run.sh: ${#failed[@]} target(s) failed:" >&2
  printf '  %s\n' "${failed[@]}" >&2
fi
exit "$status"
