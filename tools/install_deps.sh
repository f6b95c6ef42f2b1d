#!/usr/bin/env bash
# Installs the Debian 12 packages recblocks' build, tests and examples need (run as root).
# Optional peers for benchmarks (libtorch-dev, libfaiss-dev) are installed by bench/run_peers.sh.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  cmake g++ make pkg-config ccache
  libeigen3-dev libxtensor-dev libxsimd-dev nlohmann-json3-dev catch2
  libopenblas-dev libhnswlib-dev libthrust-dev libcub-dev libcurl4-openssl-dev
  libbenchmark-dev
  libutf8proc-dev               # text/: Unicode categories and decompositions of the WordPiece tokenizer
  zlib1g-dev                    # recblocks::llm_records: gzip record files of recorded LLM answers
  clang-14 libclang-rt-14-dev   # libFuzzer targets in fuzz/
  gnuplot-nox                   # charts of the scenario benchmark (optional at run time)
  libcpp-httplib-dev            # examples/serve: the HTTP scoring service on serve/ (and its test)
  libopenmpi-dev openmpi-bin    # recblocks::mpi (issue 22): data-parallel / row-sharded training, tests/mpi
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
