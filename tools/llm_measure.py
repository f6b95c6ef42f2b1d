#!/usr/bin/env python3
"""Measures a local llama-server the way docs/llm.md reports it (standard library only).

    tools/llm_server.sh start chat && eval "$(tools/llm_server.sh env)"
    python3 tools/llm_measure.py --threads 1,2 --out docs/results/llm_gemma3_270m.json

For each thread count it starts a private llama-server (RECBLOCKS_LLAMA_SERVER, RECBLOCKS_LLM_GGUF)
on a free port, then measures
  * prompt and generation speed (tokens/s from the server's own `timings`) and latency of one
    request (a 200-token prompt, 64 generated tokens), median of --repeats;
  * latency and throughput of 1, 2 and 4 concurrent requests (2 server slots);
  * the share of schema-valid answers on a fixed prompt set of --prompts ranking questions, free
    text vs `json_object` (any JSON) vs `json_schema` (constrained decoding), each with max_tokens.
Prints a JSON report (and writes it with --out). Numbers depend on the machine and its load.
"""
import argparse
import concurrent.futures
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

FILMS = ["Alien", "Paddington 2", "The Thing", "Event Horizon", "Mamma Mia!", "Heat", "Up", "Se7en",
         "Amelie", "Jaws", "Frozen", "Psycho", "Rocky", "Cars", "Arrival", "Gravity"]
LIKED = ["Alien", "Toy Story", "The Godfather", "Titanic", "The Matrix", "Jurassic Park", "Shrek",
         "Casablanca", "Inception", "Grease"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def post(url, body, timeout=300):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=timeout) as r:
        out = json.loads(r.read())
    return out, time.perf_counter() - t0


def start_server(threads, slots=2, ctx=4096):
    port = free_port()
    cmd = [os.environ["RECBLOCKS_LLAMA_SERVER"], "-m", os.environ["RECBLOCKS_LLM_GGUF"], "--host", "127.0.0.1",
           "--port", str(port), "-t", str(threads), "-tb", str(threads), "-c", str(ctx), "-np", str(slots),
           "--no-jinja", "--chat-template", "gemma", "--no-webui"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while True:
        if proc.poll() is not None:
            sys.exit(f"llama-server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            pass
        time.sleep(0.1)
    return proc, url, time.perf_counter() - t0


def chat_body(prompt, max_tokens, fmt=None, seed=1):
    b = {"messages": [{"role": "user", "content": prompt}], "temperature": 0.0, "seed": seed,
         "max_tokens": max_tokens}
    if fmt is not None:
        b["response_format"] = fmt
    return b


def speed(url, repeats):
    prompt = ("Here is a list of films a user watched, in order: " + ", ".join(FILMS * 3) +
              ". Describe this user's taste in film in a few sentences.")
    rows = []
    for i in range(repeats):
        out, dt = post(url + "/v1/chat/completions", chat_body(prompt + " " * i, 64, seed=i))
        t = out.get("timings", {})
        rows.append({"latency_s": dt, "prompt_tokens": t.get("prompt_n"), "prompt_tok_s": t.get("prompt_per_second"),
                     "gen_tokens": t.get("predicted_n"), "gen_tok_s": t.get("predicted_per_second")})
    med = lambda k: statistics.median(r[k] for r in rows)
    return {"requests": repeats, "prompt_tokens": med("prompt_tokens"), "generated_tokens": med("gen_tokens"),
            "prompt_tok_s": round(med("prompt_tok_s"), 1), "gen_tok_s": round(med("gen_tok_s"), 1),
            "latency_s": round(med("latency_s"), 2)}


def concurrency(url, n):
    prompts = [f"List some films like {LIKED[i % len(LIKED)]}:" for i in range(n)]
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        res = list(ex.map(lambda p: post(url + "/v1/chat/completions", chat_body(p, 32)), prompts))
    wall = time.perf_counter() - t0
    toks = sum(r[0]["usage"]["completion_tokens"] for r in res)
    return {"concurrent": n, "wall_s": round(wall, 2), "mean_latency_s": round(statistics.mean(r[1] for r in res), 2),
            "max_latency_s": round(max(r[1] for r in res), 2), "gen_tok_s_total": round(toks / wall, 1)}


def ranking_schema(candidates):
    return {"type": "object", "additionalProperties": False, "required": ["ranking"],
            "properties": {"ranking": {"type": "array", "minItems": len(candidates), "maxItems": len(candidates),
                                       "items": {"type": "string", "enum": candidates}}}}


def valid(text, candidates):
    try:
        j = json.loads(text.strip().removeprefix("```json").removesuffix("```").strip())
    except (json.JSONDecodeError, ValueError):
        return False, False
    ok = (isinstance(j, dict) and set(j) == {"ranking"} and isinstance(j["ranking"], list) and
          len(j["ranking"]) == len(candidates) and all(x in candidates for x in j["ranking"]))
    return True, ok


def schema_share(url, n_prompts):
    modes = {"free_text": None, "json_object": {"type": "json_object"}, "json_schema": "schema"}
    out = {}
    for name, fmt in modes.items():
        parsed = good = 0
        lat = []
        for i in range(n_prompts):
            cands = [FILMS[(i * 3 + k) % len(FILMS)] for k in range(4)]
            prompt = (f"A viewer loved {LIKED[i % len(LIKED)]}. Rank these films for them, best first: "
                      f"{', '.join(cands)}. Answer with a JSON object {{\"ranking\": [...]}}.")
            f = ({"type": "json_schema", "json_schema": {"name": "ranking", "strict": True,
                                                          "schema": ranking_schema(cands)}}
                 if fmt == "schema" else fmt)
            res, dt = post(url + "/v1/chat/completions", chat_body(prompt, 80, f))
            lat.append(dt)
            p, g = valid(res["choices"][0]["message"]["content"] or "", cands)
            parsed += p
            good += g
        out[name] = {"prompts": n_prompts, "json_parsed": parsed, "schema_valid": good,
                     "valid_share": round(good / n_prompts, 3), "median_latency_s": round(statistics.median(lat), 2)}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--prompts", type=int, default=20)
    ap.add_argument("--concurrency", default="1,2,4")
    ap.add_argument("--out")
    a = ap.parse_args()
    report = {"model": os.path.basename(os.environ["RECBLOCKS_LLM_GGUF"]), "server": os.environ["RECBLOCKS_LLAMA_SERVER"],
              "cpu": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t"),
              "cores": os.cpu_count(), "load_1min_at_start": os.getloadavg()[0], "runs": []}
    for threads in [int(t) for t in a.threads.split(",")]:
        proc, url, start_s = start_server(threads)
        try:
            run = {"threads": threads, "start_s": round(start_s, 2), "speed": speed(url, a.repeats),
                   "concurrency": [concurrency(url, int(n)) for n in a.concurrency.split(",")]}
            if threads == 1 and a.prompts > 0:
                run["schema_valid"] = schema_share(url, a.prompts)
            report["runs"].append(run)
            print(json.dumps(run), file=sys.stderr, flush=True)
        finally:
            proc.kill()
            proc.wait()
    report["load_1min_at_end"] = os.getloadavg()[0]
    text = json.dumps(report, indent=2)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
