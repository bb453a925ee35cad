#!/usr/bin/env python3
"""Writes tests/data/sentence-transformers/: what sentence-transformers itself
gives for tiny-gelu saved as a SentenceTransformer, for tests/test_cli.py's
SentenceTransformers class to hold albert-cl's defaults on such a folder to.

    python3 tools/gen-st-golden.py [SHARED [CASE...]]

(CASE...: only those cases, the others' files left as they are.)

Needs sentence-transformers (with torch, transformers, sentencepiece and
protobuf; written with sentence-transformers 3.0.1, transformers 4.44.2,
torch 1.13; mean-sqrt-len, weightedmean-normalize and lasttoken with torch
2.15: expected.json says which).  Per case CASE/ gets the small files SentenceTransformer.save
writes (modules.json, sentence_bert_config.json, 1_Pooling/config.json) and
expected.json: the lines, the input_ids sentence-transformers tokenizes them
to and its encode() vectors.  The weights, config.json and tokenizer.json
stay in SHARED (the test links them: tiny-gelu's, and albert-base-v2's
tokenizer.json, the same vocabulary converted as AutoTokenizer converts it)."""

import json
import os
import shutil
import sys
import tempfile

import sentence_transformers
import torch
import transformers
from sentence_transformers import SentenceTransformer, models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "sentence-transformers")

# Whitespace that Python's str.strip() removes, digits with commas and
# brackets (where the slow and fast tokenizers differ), quotes and dashes
# (added tokens), non-Latin scripts, a line past max_seq_length.
LINES = [
    "Paris is a beautiful city",
    "  leading and trailing spaces   ",
    "numbers 1,234,567 and (3.0,4.0) in text",
    "Unicode: na\u00efve caf\u00e9, \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac, "
    "\u65e5\u672c\u8a9e and emoji \U0001f642",
    "\"quoted\" text -- with \u2013 dashes \u00a35 \u20ac10",
    "a much longer line that goes on and on with many words so that it is truncated",
    "\u3000ideographic space and nbsp\u00a0",
    "x",
]

# name: (pooling mode, Normalize module, max_seq_length or None: the model's)
CASES = {
    "mean-normalize": ("mean", True, 16),
    "cls": ("cls", False, None),
    "max": ("max", False, 24),
    "mean-sqrt-len": ("mean_sqrt_len_tokens", False, 16),
    "weightedmean-normalize": ("weightedmean", True, None),
    "lasttoken": ("lasttoken", False, 24),
}

SAVED = ["modules.json", "sentence_bert_config.json", os.path.join("1_Pooling", "config.json")]


def write_case(name, tiny, mode, normalize, max_seq_length):
    transformer = models.Transformer(tiny, max_seq_length=max_seq_length)
    pooling = models.Pooling(transformer.get_word_embedding_dimension(), pooling_mode=mode)
    modules = [transformer, pooling] + ([models.Normalize()] if normalize else [])
    with tempfile.TemporaryDirectory() as tmp:
        SentenceTransformer(modules=modules, device="cpu").save(tmp)
        model = SentenceTransformer(tmp, device="cpu")
        vectors = model.encode(LINES, batch_size=4, convert_to_tensor=True).tolist()
        ids = [model.tokenize([line])["input_ids"][0].tolist() for line in LINES]
        case = os.path.join(OUT, name)
        shutil.rmtree(case, ignore_errors=True)
        for f in SAVED:
            os.makedirs(os.path.dirname(os.path.join(case, f)), exist_ok=True)
            shutil.copyfile(os.path.join(tmp, f), os.path.join(case, f))
    expected = {
        "generator": f"tools/gen-st-golden.py: sentence-transformers {sentence_transformers.__version__}, "
                     f"transformers {transformers.__version__}, torch {torch.__version__}",
        "tokenizer": type(model.tokenizer).__name__,
        "lines": LINES,
        "input_ids": ids,
        "embeddings": [[float(f"{x:.9g}") for x in v] for v in vectors],
    }
    with open(os.path.join(case, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"{name}: {len(LINES)} lines, tokenizer {expected['tokenizer']}")


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared")
    tiny = os.path.join(shared, "models", "tiny-gelu")
    torch.manual_seed(0)
    only = sys.argv[2:]
    for name, (mode, normalize, max_seq_length) in CASES.items():
        if not only or name in only:
            write_case(name, tiny, mode, normalize, max_seq_length)


if __name__ == "__main__":
    main()
