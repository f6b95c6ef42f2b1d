#!/usr/bin/env python3
"""The PyTorch peer of examples/serve: the same model served the way a PyTorch user serves one
(FastAPI + uvicorn, one worker process, torch.set_num_threads(1), inference_mode), same JSON API.

The model is the PyTorch port of the reference structure from tools/parity/msr_parity.py (MMoE,
STAR, ... as the Scenario-Wise Rec reference code builds them), with the weights of a recblocks
checkpoint loaded by name, in float32. Train the checkpoint with `--variant reference` for the
models whose paper variant differs from the reference (STAR, ...), so both services compute the same
function; bench/serve_load.sh checks that their probabilities agree before timing anything.

    python bench/peers/serve_torch.py --checkpoint ckpt/mmoe --port 8081
    POST /score {"rows": [{feature: value, ...}]} -> {"model_version": ..., "probabilities": [...]}
"""
import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "parity"))
import msr_parity  # noqa: E402  (the PyTorch ports of the reference models)

torch.set_default_dtype(torch.float32)  # msr_parity defaults to float64 for its parity check


def load(checkpoint):
    ck = Path(checkpoint)
    manifest = json.loads((ck / "model.json").read_text())
    name = manifest["model"]["name"]
    options = manifest["model"]["config"]
    features = manifest["schema"]["features"]
    meta = {
        "sparse": [{"name": f["name"], "vocabulary": f["vocabulary"]} for f in features if f["kind"] == "sparse"],
        "dense": [f["name"] for f in features if f["kind"] == "dense"],
        "scenario_feature": next(f["name"] for f in features if f["kind"] == "scenario"),
        "scenarios": next(f["scenarios"] for f in features if f["kind"] == "scenario"),
    }
    torch.manual_seed(0)
    model = msr_parity.MODELS[name](meta, options)
    weights = msr_parity.load_safetensors(ck / manifest["weights"]["file"])
    msr_parity.load_weights(model, weights, model.name_map(meta, options), meta)
    model = model.float().eval()
    return model, meta, manifest["weights"]["fnv1a64"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, meta, version = load(a.checkpoint)
    sparse_names = [f["name"] for f in meta["sparse"]]
    dense_names = meta["dense"]
    scenario = meta["scenario_feature"]

    from fastapi import FastAPI, HTTPException, Request
    import uvicorn

    app = FastAPI()

    @app.get("/health")
    def health():
        return {"status": "ok", "version": version}

    @app.post("/score")
    async def score(request: Request):
        try:
            rows = (await request.json())["rows"]
            x = {
                "sparse": torch.tensor([[r[n] for n in sparse_names] for r in rows], dtype=torch.long),
                "dense": torch.tensor([[float(r[n]) for n in dense_names] for r in rows], dtype=torch.float32).reshape(len(rows), len(dense_names)),
                "domain": torch.tensor([r[scenario] for r in rows], dtype=torch.long),
            }
        except (KeyError, TypeError, ValueError) as e:
            raise HTTPException(status_code=400, detail=str(e))
        with torch.inference_mode():
            p = torch.sigmoid(model(x)).reshape(-1).tolist()
        return {"model_version": version, "probabilities": p}

    print(f"listening on http://{a.host}:{a.port}", flush=True)
    uvicorn.run(app, host=a.host, port=a.port, workers=1, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
