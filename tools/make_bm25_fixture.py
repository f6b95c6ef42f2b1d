#!/usr/bin/env python3
"""Generates tests/retrieval/fixtures/bm25_scifact.json: BM25 top-10 scores from PyPI's `bm25s`
(method="lucene", k1=0.9, b=0.4) over the shared SciFact corpus (title + " " + text), for the first
300 queries of queries.jsonl, with the tokenizer of recblocks::retrieval::bm25::simple_tokenize
(ASCII lower-case, runs of [a-z0-9] and bytes >= 0x80). Usage:
    $HOME/.cache/recblocks/venv-torch/bin/python tools/make_bm25_fixture.py ../shared/data/scifact-beir
"""
import glob, json, os, re, sys
import numpy as np
import bm25s

TOKEN = re.compile(rb"[a-z0-9\x80-\xff]+")

def tokenize(s):
    return [t.decode("utf-8", "surrogateescape") for t in TOKEN.findall(s.encode("utf-8").lower())]

def main():
    root = sys.argv[1]
    files = [os.path.join(root, "corpus.jsonl")]
    if not os.path.exists(files[0]):
        files = sorted(glob.glob(os.path.join(root, "corpus.part*.jsonl")))
    docs = [json.loads(l) for f in files for l in open(f, encoding="utf-8") if l.strip()]
    texts = [(d.get("title") or "") + " " + d["text"] if d.get("title") else d["text"] for d in docs]
    queries = [json.loads(l) for l in open(os.path.join(root, "queries.jsonl"), encoding="utf-8") if l.strip()]
    r = bm25s.BM25(k1=0.9, b=0.4, method="lucene", idf_method="lucene")
    r.index([tokenize(t) for t in texts], show_progress=False)
    out = {"generator": f"bm25s {bm25s.__version__}, method=lucene, k1=0.9, b=0.4",
           "k1": 0.9, "b": 0.4, "documents": len(docs), "queries": []}
    for q in queries[:300]:
        toks = tokenize(q["text"])
        s = np.asarray(r.get_scores(toks), dtype=np.float64)
        order = sorted(range(len(s)), key=lambda i: (-s[i], i))[:10]
        out["queries"].append({"id": q["_id"], "top": [[docs[i]["_id"], round(float(s[i]), 6)] for i in order]})
    json.dump(out, open("tests/retrieval/fixtures/bm25_scifact.json", "w"), separators=(",", ":"))

main()
