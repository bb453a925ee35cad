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
writes (modules.json, sentence_bert_config.json, 1_Pooling/config.json, the
Dense modules' folders with their weights; config_sentence_transformers.json
where the case has prompts) and expected.json: the lines, the input_ids
sentence-transformers tokenizes them to (with the default prompt before
them) and its encode() vectors, and for a case with prompts or other runs
"runs": what encode() gives with another prompt or truncate_dim, with
albert-cl's options for it.  The weights, config.json and tokenizer.json
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

# Prompts a case's config_sentence_transformers.json holds, the default
# among them, and Pooling's include_prompt; then the other encode() runs its
# expected.json keeps, as albert-cl's options ask for them.
PROMPTS = {"query": "query: ", "passage": "passage: "}
PROMPT_RUNS = [(["--prompt-name", "passage"], {"prompt_name": "passage"}),
               (["--prompt", "Represent this sentence for retrieval: "],
                {"prompt": "Represent this sentence for retrieval: "}),
               (["--prompt", ""], {"prompt": ""})]
# Matryoshka: encode() with the model's truncate_dim, and with
# normalize_embeddings, which comes after the cut.
TRUNCATE_RUNS = [(["--truncate-dim", "8"], {"truncate_dim": 8}),
                 (["--truncate-dim", "8", "--normalize"],
                  {"truncate_dim": 8, "normalize_embeddings": True}),
                 (["--truncate-dim", "1", "--normalize"],
                  {"truncate_dim": 1, "normalize_embeddings": True}),
                 (["--truncate-dim", "16"], {"truncate_dim": 16})]

# name: (pooling mode, Normalize module, max_seq_length or None: the model's,
#        Dense modules after the Pooling one: (out_features, activation, bias),
#        whether SentenceTransformer.save writes safetensors,
#        None or (default_prompt_name, include_prompt) with PROMPTS,
#        the other encode() runs: PROMPT_RUNS where there are prompts)
CASES = {
    "mean-normalize": ("mean", True, 16, [], True),
    "cls": ("cls", False, None, [], True),
    "max": ("max", False, 24, [], True),
    "mean-sqrt-len": ("mean_sqrt_len_tokens", False, 16, [], True),
    "weightedmean-normalize": ("weightedmean", True, None, [], True),
    "lasttoken": ("lasttoken", False, 24, [], True),
    "dense-tanh-normalize": ("mean", True, 16, [(16, torch.nn.Tanh(), True)], True),
    # every activation albert-cl runs, weights in pytorch_model.bin files
    "dense-chain-bin": ("cls", False, None,
                        [(24, torch.nn.GELU(), True), (20, torch.nn.SiLU(), False),
                         (12, torch.nn.Sigmoid(), True), (10, torch.nn.ReLU(), True),
                         (8, torch.nn.Identity(), True)], False),
    # a default prompt, and the pooling with or without the prompt's tokens
    "prompt-default-mean": ("mean", True, 16, [], True, ("query", True)),
    "prompt-excluded-mean": ("mean", True, 24, [], True, ("query", False)),
    "prompt-excluded-weightedmean": ("weightedmean", False, None, [], True, ("query", False)),
    "prompt-excluded-max-dense": ("max", False, 24, [(8, torch.nn.Tanh(), True)], True,
                                  ("passage", False)),
    # several modes at once: their vectors end to end (a tuple: the flags turned on)
    "mean-max": (("mean_tokens", "max_tokens"), False, 16, [], True),
    "cls-mean-max-dense-normalize": (("cls_token", "mean_tokens", "max_tokens"), True, None,
                                     [(16, torch.nn.Tanh(), True)], True),
    "prompt-default-mean-max": (("mean_tokens", "max_tokens"), True, 16, [], True,
                                ("query", True)),
    # not with CLS: sentence-transformers' CLS vector is a view of the token
    # vectors its max pooling overwrites with -1e9 where the prompt was
    "five-modes-prompt-excluded": (("max_tokens", "mean_tokens", "mean_sqrt_len_tokens",
                                    "weightedmean_tokens", "lasttoken"), False, 24, [], True,
                                   ("query", False)),
    "truncate-dense-normalize": ("mean", True, 16, [(16, torch.nn.Tanh(), True)], True, None,
                                 TRUNCATE_RUNS),
}

# What the case keeps of a save: these files and the modules' folders; the
# Transformer's weights, config and tokenizer come from SHARED.
SAVED = ["modules.json", "sentence_bert_config.json"]


def keep_saved(tmp, case, prompts):
    for f in SAVED + (["config_sentence_transformers.json"] if prompts else []):
        shutil.copyfile(os.path.join(tmp, f), os.path.join(case, f))
    for d in sorted(os.listdir(tmp)):
        if os.path.isdir(os.path.join(tmp, d)) and os.listdir(os.path.join(tmp, d)):
            shutil.copytree(os.path.join(tmp, d), os.path.join(case, d))


def encode_run(model, kwargs):
    """encode()'s vectors and the ids of each line with the prompt it put
    before the line."""
    kwargs = dict(kwargs)
    with model.truncate_sentence_embeddings(kwargs.pop("truncate_dim", None)):
        vectors = model.encode(LINES, batch_size=4, convert_to_tensor=True, **kwargs).tolist()
    prompt = kwargs.get("prompt", model.prompts.get(kwargs.get("prompt_name",
                                                               model.default_prompt_name)))
    ids = [model.tokenize([(prompt or "") + line])["input_ids"][0].tolist() for line in LINES]
    return ids, [[float(f"{x:.9g}") for x in v] for v in vectors]


def write_case(name, tiny, mode, normalize, max_seq_length, dense, safe, prompts=None,
               other_runs=None):
    torch.manual_seed(sum(map(ord, name)))  # the Dense modules' weights, case by case
    transformer = models.Transformer(tiny, max_seq_length=max_seq_length)
    width = transformer.get_word_embedding_dimension()
    include_prompt = prompts[1] if prompts else True
    by_flags = {} if isinstance(mode, str) else dict(
        {"pooling_mode_mean_tokens": False}, **{"pooling_mode_" + m: True for m in mode})
    pooling = models.Pooling(width, pooling_mode=mode if isinstance(mode, str) else None,
                             include_prompt=include_prompt, **by_flags)
    modules = [transformer, pooling]
    width = pooling.get_sentence_embedding_dimension()
    for out, activation, bias in dense:
        modules.append(models.Dense(width, out, bias=bias, activation_function=activation))
        width = out
    modules += [models.Normalize()] if normalize else []
    with tempfile.TemporaryDirectory() as tmp:
        SentenceTransformer(modules=modules, device="cpu",
                            prompts=PROMPTS if prompts else None,
                            default_prompt_name=prompts[0] if prompts else None,
                            ).save(tmp, safe_serialization=safe)
        model = SentenceTransformer(tmp, device="cpu")
        ids, vectors = encode_run(model, {})
        runs = [dict(zip(("args", "input_ids", "embeddings"), (args, *encode_run(model, kwargs))))
                for args, kwargs in (other_runs or (PROMPT_RUNS if prompts else []))]
        case = os.path.join(OUT, name)
        shutil.rmtree(case, ignore_errors=True)
        os.makedirs(case)
        keep_saved(tmp, case, prompts)
    expected = {
        "generator": f"tools/gen-st-golden.py: sentence-transformers {sentence_transformers.__version__}, "
                     f"transformers {transformers.__version__}, torch {torch.__version__}",
        "tokenizer": type(model.tokenizer).__name__,
        "lines": LINES,
        "input_ids": ids,
        "embeddings": vectors,
    }
    if runs:
        expected["runs"] = runs
    with open(os.path.join(case, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"{name}: {len(LINES)} lines, tokenizer {expected['tokenizer']}")


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared")
    tiny = os.path.join(shared, "models", "tiny-gelu")
    only = sys.argv[2:]
    for name, case in CASES.items():
        if not only or name in only:
            write_case(name, tiny, *case)


if __name__ == "__main__":
    main()
