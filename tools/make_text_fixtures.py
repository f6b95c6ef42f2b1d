#!/usr/bin/env python3
"""Produces the reference fixtures of the text/ layer's tests (run with the torch venv):

    tests/text/fixtures/wordpiece_ids.jsonl      {"t": text, "ids": base64(uint16 LE ids)} per line, >= 2000 strings,
                                                  ids from Hugging Face's `tokenizers` (tokenizer.json of the model),
                                                  with [CLS]/[SEP], no truncation
    tests/text/fixtures/pair_ids.jsonl           {"a", "b", "ids", "types"} text pairs, truncation longest_first, 64
    tests/text/fixtures/embedding_texts.jsonl    {"t": text} per line, 200+ texts of mixed length
    tests/text/fixtures/embeddings.npy           float32 [n, 384]: sentence-transformers' encode(), normalised

Usage: python tools/make_text_fixtures.py [model_dir] [data_dir]
  model_dir defaults to ${RECBLOCKS_MODELS:-~/.cache/recblocks/models}/all-MiniLM-L6-v2
  data_dir  defaults to ../shared/data (SciFact, Amazon games, MovieLens-100K)
"""
import base64, json, os, random, re, sys
from pathlib import Path

import numpy as np

root = Path(__file__).resolve().parent.parent
model_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(os.environ.get("RECBLOCKS_MODELS", Path.home() / ".cache/recblocks/models")) / "all-MiniLM-L6-v2"
data_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else root.parent / "shared" / "data"
out = root / "tests" / "text" / "fixtures"
out.mkdir(parents=True, exist_ok=True)
rng = random.Random(23)

def jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]

claims = [q["claim"] for q in jsonl(data_dir / "scifact-beir/claims_train.jsonl")]
corpus = []
for part in sorted((data_dir / "scifact-beir").glob("corpus.part*.jsonl")):
    corpus += jsonl(part)
sentences = []
for d in corpus:
    sentences += [s.strip() for s in re.split(r"(?<=[.!?])\s+", d["text"]) if s.strip()]
games = []
with open(data_dir / "amazon-videogames-llmrank/games.item.tsv", encoding="utf-8") as f:
    next(f)
    games = [line.rstrip("\n").split("\t", 1)[1] for line in f if "\t" in line]
movies = []
with open(data_dir / "movielens-100k/u.item", encoding="latin-1") as f:
    movies = [line.split("|")[1] for line in f]

hostile = [
    "", " ", "\t\n\r", "a", "A", "Hello, World!", "héllo wörld", "Crème Brûlée à la carte", "ÀÉÎÕÜ àéîõü ñ Ñ ç Ç",
    "İstanbul ıiIİ", "ǅungla ǈ ǋ", "Straße STRASSE ß ẞ", "ﬁ ﬂ ﬃ ligatures", "Ａｂｃ　ｆｕｌｌｗｉｄｔｈ １２３", "e\u0301 e\u0300\u0323 a\u030a",
    "o\u0308\u0304 combining stack", "Z\u0351\u0358\u0360a\u0336\u0337l\u0489g\u0334o\u0335", "\u0000null\u0000byte", "ctrl\u0001\u0002\u0003\u0007\u001b chars",
    "zero\u200bwidth\u200cjoiner\u200dhere\ufeff", "soft\u00adhyphen", "nbsp\u00a0here\u2007\u202f", "line\u2028sep\u2029para", "next\u0085line",
    "vtab\u000bform\u000cfeed", "tab\tsep", "bidi \u202etext\u202c \u200e\u200f", "replacement \ufffd char", "private \ue000\uf8ff use",
    "unassigned \u0378 \u05ff \U000e0080", "tags \U000e0041\U000e0042", "variation \ufe0f\ufe0e", "中文分词测试", "日本語のテキストです。カタカナ",
    "한국어 텍스트", "混合English和中文", "𠀀𠀁 ext-b 𪜀 ext-c 𫝀 ext-d 𫠠 ext-e 𬺰 ext-f", "豈 compatibility 丽 supplement", "ㄅㄆ bopomofo ㆠ",
    "emoji 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈", "flags 🇺🇸🇫🇷", "new emoji 🥰 🫠 🪿 🫎", "math 𝐀𝐁𝐂 𝔸𝔹 ∑∫∂ ≤≥≠", "arrows → ← ⇒ ↔", "currency $ € £ ¥ ₹ ₿",
    "punct !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "unicode punct ¡¿ «» „“ ‘’ — – … · ※ ‰ ′″ ¶ §", "brackets 【】「」『』〈〉《》", "dashes ‐‑‒–—―",
    "Ελληνικά κείμενο ΆΈΉ", "Русский текст ЁЖЗ", "العربية النص", "עברית טקסט", "हिन्दी पाठ", "ภาษาไทย", "ქართული", "Tiếng Việt có dấu",
    "[CLS] [SEP] [PAD] [MASK] [UNK]", "text[SEP]inside", "[cls] lower", "##prefix word##", "[unused0]", "a" * 500, "x" * 100, "y" * 101,
    "supercalifragilisticexpialidocious antidisestablishmentarianism", "pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "12345678901234567890 3.14159 1,000,000 1e-10 0x1F", "email@example.com http://x.y/z?q=1&r=2#f", "C++ C# F# .NET node.js",
    "mixedCASE CamelCaseWord snake_case_word kebab-case-word", "   leading and trailing   ", "multiple     spaces\n\n\nnewlines",
    "ﬀ ﬅ ﬆ", "Ⅰ Ⅱ Ⅻ ⅰ ⅱ", "① ② ⑳ ㉑", "½ ¾ ⅓", "x² x³ H₂O", "™ ® © ℃ ℉ Å", "Ωhm Ω K", "µ μ", "ǲ ǳ Ǳ", "ᾈ ᾼ ῼ", "ﷺ ﷻ",
    "\U0001d11e music \U0001f3b5", "hieroglyph 𓀀 𓁐", "cuneiform 𒀀", "ᚠᛇᚻ runes", "ꙮ multiocular", "\u0e01\u0e34\u0e4a thai marks",
    "a\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308\u0309\u030a", "\u0301leading mark", "mark at end\u0301", "ᄀ\u1161\u11a8 jamo",
    "한\u0301글", "Ǆ ǅ ǆ", "ΣΊΣΥΦΟΣ σς", "ＡＢＣ！？", "ｶﾀｶﾅ half width", "〜〰", "\u3000ideographic space\u3000", "\u1680ogham space",
    "surrogate-free 𝟘𝟙𝟚", "∀x∈ℝ: x²≥0", "naïve coöperate résumé façade", "Åström Ørsted Łódź Dvořák", "ŒUVRE œuvre Æsir æ",
    "ĳ Ĳ ŉ ſ", "ﬃnancial ﬁnance", "Ⓐ ⓐ ⒜", "🄰 🅐 🅰", "ｑｕｏｔｅ＂ｓ", "'single' \"double\" `back`", "a.b.c,d;e:f", "end.",
]
hostile.append("".join(chr(c) for c in range(0x20, 0x7f)))
hostile.append("".join(chr(c) for c in range(0xa0, 0x180)))
hostile.append(" ".join(chr(c) for c in range(0x2000, 0x2070)))
hostile.append(" ".join(chr(c) for c in range(0x3000, 0x3040)))
hostile.append(" ".join(chr(c) for c in range(0xff00, 0xff70)))
hostile.append(" ".join(chr(c) for c in range(0x300, 0x370)))
for _ in range(60):  # random code points from the whole range (no surrogates)
    cps = []
    while len(cps) < rng.randint(1, 30):
        c = rng.choice([rng.randint(0, 0x7f), rng.randint(0x80, 0x7ff), rng.randint(0x800, 0xffff), rng.randint(0x10000, 0x10ffff)])
        if not 0xd800 <= c <= 0xdfff:
            cps.append(c)
    hostile.append("".join(chr(c) for c in cps))

texts = []
texts += rng.sample(claims, 800)
texts += rng.sample(sentences, 700)
texts += rng.sample(games, 300)
texts += rng.sample(movies, 300)
texts += hostile
texts += [d["title"] + " " + d["text"] for d in rng.sample(corpus, 20)]  # long: > 256 tokens for some

from tokenizers import Tokenizer
tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
tok.no_truncation()
tok.no_padding()

def pack(ids):
    return base64.b64encode(np.asarray(ids, dtype="<u2").tobytes()).decode()

with open(out / "wordpiece_ids.jsonl", "w", encoding="utf-8") as f:
    for t in texts:
        enc = tok.encode(t)
        f.write(json.dumps({"t": t, "ids": pack(enc.ids)}, ensure_ascii=True) + "\n")

tok.enable_truncation(64, strategy="longest_first")
pairs = [(rng.choice(claims), rng.choice(sentences)) for _ in range(40)]
pairs += [(rng.choice(claims), d["text"]) for d in rng.sample(corpus, 10)]
pairs += [(d["text"], rng.choice(claims)) for d in rng.sample(corpus, 10)]
pairs += [("", "b"), ("a", ""), (hostile[40], hostile[33])]
with open(out / "pair_ids.jsonl", "w", encoding="utf-8") as f:
    for a, b in pairs:
        enc = tok.encode(a, b)
        f.write(json.dumps({"a": a, "b": b, "ids": pack(enc.ids), "types": pack(enc.type_ids)}, ensure_ascii=True) + "\n")

from sentence_transformers import SentenceTransformer
import torch
torch.set_num_threads(1)
model = SentenceTransformer(str(model_dir), device="cpu")
emb_texts = []
emb_texts += rng.sample(claims, 60)
emb_texts += rng.sample(games, 40)
emb_texts += rng.sample(movies, 30)
emb_texts += [d["title"] + " " + d["text"] for d in rng.sample(corpus, 50)]  # many exceed 256 tokens: truncated
emb_texts += hostile[:30]
with open(out / "embedding_texts.jsonl", "w", encoding="utf-8") as f:
    for t in emb_texts:
        f.write(json.dumps({"t": t}, ensure_ascii=True) + "\n")
emb = model.encode(emb_texts, batch_size=16, convert_to_numpy=True, normalize_embeddings=False).astype(np.float32)
np.save(out / "embeddings.npy", emb)

import platform, tokenizers, transformers, sentence_transformers
print(f"wrote {len(texts)} tokenizer strings, {len(pairs)} pairs, {len(emb_texts)} embeddings; python {platform.python_version()}, "
      f"tokenizers {tokenizers.__version__}, transformers {transformers.__version__}, sentence-transformers "
      f"{sentence_transformers.__version__}, torch {torch.__version__}, numpy {np.__version__}")
