#!/usr/bin/env bash
# Compile time of a translation unit that includes recblocks/recblocks.hpp (and, second, one that
# also instantiates a small training step), at -O2, median of 3.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/include_only.cpp" <<'CPP'
#include <recblocks/recblocks.hpp>
int main() { return 0; }
CPP
cat > "$tmp/train_step.cpp" <<'CPP'
#include <recblocks/recblocks.hpp>
using namespace recblocks;
int main() {
  rng gen(1);
  nn::mlp<float> net({.input_dim = 8, .hidden = {16}, .output_layer = true}, gen);
  optim::adam<float> opt(nn::parameters(net));
  matrix<float> x = matrix<float>::Random(4, 8), y = matrix<float>::Zero(4, 1);
  tape<float> t;
  t.backward(loss::bce_with_logits(t, net(t, t.constant(x)), t.constant(y)));
  opt.step();
}
CPP
for f in include_only train_step; do
  times=()
  for i in 1 2 3; do
    s=$(date +%s.%N)
    g++ -std=c++20 -O2 -I"$root/include" -I/usr/include/eigen3 -c "$tmp/$f.cpp" -o "$tmp/$f.o"
    e=$(date +%s.%N)
    times+=("$(echo "$e - $s" | bc)")
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
  echo "compile_seconds $f $median"
done
