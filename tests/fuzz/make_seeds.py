#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora, corpus/TARGET/ (README.md here).

usage: make_seeds.py [SHARED_DIR]   (default: $ALBERT_CL_SHARED, else ../shared)

The seeds are committed; this script says where each comes from and remakes
them after a format change.  Standard library only.
"""
import base64
import gzip
import json
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


# ------------------------------------------------------------ safetensors

def f16(x):
    return struct.pack("<e", x)


def bf16(x):
    return struct.pack("<f", x)[2:]


DTYPES = {"F32": ("<f", 4), "F64": ("<d", 8), "I64": ("<q", 8), "I32": ("<i", 4),
          "I16": ("<h", 2), "I8": ("<b", 1), "U8": ("<B", 1), "BOOL": ("<?", 1)}


def pack(dtype, values):
    if dtype == "F16":
        return b"".join(f16(v) for v in values)
    if dtype == "BF16":
        return b"".join(bf16(v) for v in values)
    fmt, _ = DTYPES[dtype]
    return b"".join(struct.pack(fmt, v) for v in values)


def safetensors(tensors, metadata=None):
    """TENSORS: (name, dtype, shape, values) in file order."""
    header, blob = {}, b""
    for name, dtype, shape, values in tensors:
        data = pack(dtype, values)
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + blob


# The micro ALBERT: every tensor AlbertModel has, a few KiB in all, so the
# config target loads a whole model per input.  Mostly F32, one F16 and one
# BF16 tensor for the conversions.
MICRO = {"vocab_size": 16, "embedding_size": 4, "hidden_size": 8, "intermediate_size": 8,
         "num_attention_heads": 2, "num_hidden_layers": 2, "num_hidden_groups": 1,
         "inner_group_num": 1, "max_position_embeddings": 8, "type_vocab_size": 2,
         "hidden_act": "gelu", "layer_norm_eps": 1e-12, "model_type": "albert",
         "pad_token_id": 0, "position_embedding_type": "absolute"}


def micro_tensors():
    c = MICRO
    V, E, H, I = c["vocab_size"], c["embedding_size"], c["hidden_size"], c["intermediate_size"]
    shapes = [("embeddings.word_embeddings.weight", [V, E]),
              ("embeddings.position_embeddings.weight", [c["max_position_embeddings"], E]),
              ("embeddings.token_type_embeddings.weight", [c["type_vocab_size"], E]),
              ("embeddings.LayerNorm.weight", [E]), ("embeddings.LayerNorm.bias", [E]),
              ("encoder.embedding_hidden_mapping_in.weight", [H, E]),
              ("encoder.embedding_hidden_mapping_in.bias", [H]),
              ("pooler.weight", [H, H]), ("pooler.bias", [H])]
    layer = "encoder.albert_layer_groups.0.albert_layers.0."
    for part in ("query", "key", "value", "dense"):
        shapes += [(layer + "attention.%s.weight" % part, [H, H]),
                   (layer + "attention.%s.bias" % part, [H])]
    shapes += [(layer + "attention.LayerNorm.weight", [H]), (layer + "attention.LayerNorm.bias", [H]),
               (layer + "ffn.weight", [I, H]), (layer + "ffn.bias", [I]),
               (layer + "ffn_output.weight", [H, I]), (layer + "ffn_output.bias", [H]),
               (layer + "full_layer_layer_norm.weight", [H]),
               (layer + "full_layer_layer_norm.bias", [H])]
    out = []
    for k, (name, shape) in enumerate(shapes):
        n = 1
        for d in shape:
            n *= d
        values = [((i * 37 + k * 11) % 17 - 8) / 16.0 for i in range(n)]
        dtype = "F16" if name.endswith("pooler.weight") else \
            "BF16" if name.endswith("ffn.weight") else "F32"
        out.append(("albert." + name, dtype, shape, values))
    return out


def safetensors_seeds():
    write("safetensors", "micro-albert.safetensors",
          safetensors(micro_tensors(), {"format": "pt"}))
    write("safetensors", "every-dtype.safetensors", safetensors([
        ("f64", "F64", [2], [1.5, -2.25]), ("i64", "I64", [2], [-1, 2 ** 40]),
        ("i32", "I32", [3], [7, -7, 0]), ("i16", "I16", [2], [-3, 3]),
        ("i8", "I8", [3], [1, -1, 127]), ("u8", "U8", [1], [255]),
        ("bool", "BOOL", [2], [True, False]), ("scalar", "F32", [], [3.0]),
        ("empty", "F16", [0, 3], []), ("cube", "BF16", [2, 1, 2], [1.0, -1.0, 0.5, 2.0])]))
    # Known bug (issue 14): a shape whose element count overflows int64.
    header = json.dumps({"t": {"dtype": "U8", "shape": [1e12] * 8, "data_offsets": [0, 0]}})
    write("safetensors", "regress-shape-overflow.safetensors",
          struct.pack("<Q", len(header)) + header.encode())


# ------------------------------------------------------------ config

def config_seeds(shared):
    for model in sorted(os.listdir(os.path.join(shared, "models"))):
        src = os.path.join(shared, "models", model, "config.json")
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(CORPUS, "config", model + ".json"))
    write("config", "micro-albert.json", json.dumps(MICRO, indent=1))
    # Known bug (issue 14): sizes whose weight count, in floats, is 2^62 + 4,
    # so that its byte count wraps to 16 while the word embeddings, which
    # match the micro model and load first, take 256.
    huge = dict(MICRO, hidden_size=900000000, num_attention_heads=1, intermediate_size=312047780,
                max_position_embeddings=76917507, type_vocab_size=76917507)
    write("config", "regress-huge-sizes.json", json.dumps(huge))


# ------------------------------------------------------------ tokenizer

def tok_seed(text, pair=None, kind=0, max_length=512, null_outputs=False, fast=False,
             left=False):
    """fuzz_tokenizer.c's layout: flags, max_length + 2 (little-endian), text[TAB pair]."""
    flags = kind | (8 if pair is not None else 0) | (16 if null_outputs else 0) | (32 if fast else 0)
    flags |= 64 if left else 0
    body = text if pair is None else text + "\t" + pair
    return bytes([flags]) + struct.pack("<H", max_length + 2) + body.encode("utf-8")


def tokenizer_seeds(shared):
    golden = os.path.join(shared, "golden")
    texts = [json.loads(line)["text"] for line in open(os.path.join(golden, "tokenize.jsonl"),
                                                       encoding="utf-8")]
    pairs = [json.loads(line) for line in open(os.path.join(golden, "pairs-fast.jsonl"),
                                               encoding="utf-8")]
    picks = [(3, 0, 512), (7, 0, 6), (8, 4, 512), (9, 1, 512), (13, 2, 512), (14, 6, 512),
             (15, 0, 512), (19, 0, 512), (29, 3, 512), (39, 5, 512), (64, 7, 512), (65, 0, 8)]
    for i, kind, max_length in picks:
        write("tokenizer", "golden-%03d" % i, tok_seed(texts[i], kind=kind, max_length=max_length))
    for i, p in enumerate(pairs):
        write("tokenizer", "pair-%d" % i, tok_seed(p["text"], p["text_pair"], kind=i,
                                                   max_length=(512, 9, 3)[i % 3]))
    write("tokenizer", "added-tokens",
          tok_seed("[CLS] x [SEP] y <pad> z [MASK] <unk>[SEP]", null_outputs=True))
    write("tokenizer", "too-short", tok_seed("abc", "", max_length=2))
    # The fast kind (tokenizer.json): the golden lines where it differs from
    # the slow one, and its pairs.
    fast = [json.loads(line) for line in open(os.path.join(golden, "tokenize-fast.jsonl"),
                                              encoding="utf-8")]
    slow = [json.loads(line) for line in open(os.path.join(golden, "tokenize.jsonl"),
                                              encoding="utf-8")]
    differ = [i for i in range(len(fast)) if fast[i]["ids"] != slow[i]["ids"]]
    for i in differ:
        write("tokenizer", "fast-golden-%03d" % i, tok_seed(texts[i], fast=True,
                                                            max_length=(512, 7)[i % 2]))
    for i, p in enumerate(pairs):
        write("tokenizer", "fast-pair-%d" % i, tok_seed(p["text"], p["text_pair"], fast=True,
                                                        max_length=(512, 9, 4)[i % 3]))
    write("tokenizer", "fast-added-tokens",
          tok_seed("[CLS] x [SEP] y <pad> z  [MASK] <unk>(a)-b.c\u2013", fast=True,
                   null_outputs=True))
    # Known bug (issue 13): a Replace match at the start of a piece appended
    # nothing to a buffer that had none yet (UBSan: null pointer + 0).
    write("tokenizer", "regress-fast-replace-first", tok_seed("``x [``.", fast=True))
    # Known bug (issue 14): an empty text.
    write("tokenizer", "regress-empty-pair", tok_seed("", "", max_length=3))
    # Truncation at the start: the parts' last tokens.
    for fast_kind in (False, True):
        name = "left-fast" if fast_kind else "left"
        write("tokenizer", name + "-golden", tok_seed(texts[7], max_length=12, fast=fast_kind,
                                                      left=True))
        write("tokenizer", name + "-pair", tok_seed(pairs[1]["text"], pairs[1]["text_pair"],
                                                    max_length=9, fast=fast_kind, left=True))


# ------------------------------------------------------------ tokenizer.json

def tiny_charsmap():
    """A sentencepiece character map (darts-clone double array, then the
    replacements) that maps "A" -> "a", "B" -> "bb" and "\u00e9" -> "e"."""
    units = [0] * 512  # room for every byte's step, as HF indexes without checking
    units[0] = 1 << 10                        # the root: children at 1 ^ byte
    leaf = lambda label, offset: (offset << 10) | (1 << 8) | label
    units[1 ^ 0x41] = leaf(0x41, 2)           # "A"
    units[(1 ^ 0x41) ^ 2] = 0                 # -> "a"
    units[1 ^ 0x42] = leaf(0x42, 2)           # "B"
    units[(1 ^ 0x42) ^ 2] = 2                 # -> "bb"
    units[1 ^ 0xC3] = (3 << 10) | 0xC3        # "\xc3", no leaf
    second = ((1 ^ 0xC3) ^ 3) ^ 0xA9
    units[second] = leaf(0xA9, 1)             # "\xc3\xa9"
    units[second ^ 1] = 5                     # -> "e"
    trie = b"".join(struct.pack("<I", u) for u in units)
    blob = struct.pack("<I", len(trie)) + trie + b"a\0bb\0e\0"
    return base64.b64encode(blob).decode()


def tiny_tokenizer(**changes):
    """A tokenizer.json of the ALBERT shape with a small vocabulary."""
    pieces = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]", "(", ")", "-", ".", "\u2581"]
    pieces += [c for c in "abcdefghijklmnopqrstuvwxyz0123456789,"]
    pieces += ["\u2581" + w for w in ("hello", "world", "a", "caf", "e", "quoted", "3", "the")]
    pieces += ["ing", "ed", "er", "\"", "\u65e5\u672c"]
    vocab = [[p, 0.0 if i < 10 else -1.0 - i / 7] for i, p in enumerate(pieces)]
    added = [{"id": i, "content": p, "single_word": False, "lstrip": p == "[MASK]",
              "rstrip": False, "normalized": False, "special": i < 5}
             for i, p in enumerate(pieces[:9])]
    special = lambda name, type_id: {"SpecialToken": {"id": name, "type_id": type_id}}
    seq = lambda name, type_id: {"Sequence": {"id": name, "type_id": type_id}}
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Replace", "pattern": {"String": "``"}, "content": "\""},
            {"type": "Replace", "pattern": {"String": "''"}, "content": "\""},
            {"type": "NFKD"}, {"type": "StripAccents"}, {"type": "Lowercase"},
            {"type": "Precompiled", "precompiled_charsmap": tiny_charsmap()},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581",
                          "prepend_scheme": "always", "split": True},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [special("[CLS]", 0), seq("A", 0), special("[SEP]", 0)],
            "pair": [special("[CLS]", 0), seq("A", 0), special("[SEP]", 0), seq("B", 1),
                     special("[SEP]", 1)],
            "special_tokens": {n: {"id": n, "ids": [pieces.index(n)], "tokens": [n]}
                               for n in ("[CLS]", "[SEP]")}},
        "decoder": None,
        "model": {"type": "Unigram", "unk_id": 1, "vocab": vocab, "byte_fallback": False},
    }
    for path, value in changes.items():
        node = tok
        keys = path.split("/")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        node[keys[-1] if isinstance(node, dict) else int(keys[-1])] = value
    return json.dumps(tok, ensure_ascii=False, indent=1)


def tokenizer_json_seeds():
    seeds = {
        "albert-shape": {},
        "prepend-first": {"pre_tokenizer/prepend_scheme": "first"},
        "no-split": {"pre_tokenizer/split": False, "pre_tokenizer/prepend_scheme": "never"},
        "legacy-prefix": {"pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581",
                                            "add_prefix_space": True}},
        "nfc-no-pre": {"normalizer": {"type": "NFC"}, "pre_tokenizer": None},
        "no-post": {"post_processor": None, "normalizer": None},
        "no-unk": {"model/unk_id": None},
        "stripped-added": {"added_tokens/5/rstrip": True, "added_tokens/6/single_word": True,
                           "added_tokens/7/normalized": True},
    }
    for name, changes in seeds.items():
        write("tokenizer_json", name + ".json", tiny_tokenizer(**changes))
    pieces = json.loads(tiny_tokenizer())["model"]["vocab"]
    fallback = pieces + [["<0x%02X>" % b, -20.0] for b in range(256)]
    write("tokenizer_json", "byte-fallback.json",
          tiny_tokenizer(**{"model/vocab": fallback, "model/byte_fallback": True}))


# ------------------------------------------------------------ jsonl

def jsonl_seeds():
    records = {
        "text": {"text": "Hello, my dog is cute"},
        "pair": {"text": "How old are you?", "text_pair": "I am 6 years old."},
        "pair-null": {"text": "a", "text_pair": None},
        "ids": {"input_ids": [2, 10975, 15, 3], "attention_mask": [1, 1, 1, 0],
                "token_type_ids": [0, 0, 1, 1]},
        "ids-only": {"input_ids": [2, 3], "attention_mask": None, "token_type_ids": None},
    }
    for name, rec in records.items():
        write("jsonl", name + ".jsonl", json.dumps(rec) + "\n")
    write("jsonl", "escapes.jsonl",
          '{"text": "caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\t\\n", "text_pair": "\\u00e9"}\n')
    mixed = "".join(json.dumps(r) + "\n" for r in records.values()) + '{"text": 1}\n\n[]\n'
    write("jsonl", "mixed.jsonl", mixed)
    # The reader inflates gzip input: the same records compressed.
    write("jsonl", "mixed.jsonl.gz", gzip.compress(mixed.encode("utf-8"), mtime=0))
    # Known bug (issue 14): \u0000 in a string.
    write("jsonl", "regress-nul.jsonl", '{"text": "a\\u0000b", "text_pair": "\\u0000"}\n')


# ------------------------------------------------------------ resume

def resume_seeds():
    """fuzz_resume's inputs: a flags byte (1: .gz name, 2-4: --output-dtype,
    8: --pooling none, 16: --id-field, 32: --shard of 3, 64-128: which), the
    vectors' width, then the -o FILE a run left."""
    vec = [0.123456789, -1.5, 2.25e-05, 0.5]
    recs = [{"index": 0, "input_ids": [2, 3], "embedding": vec},
            {"index": 1, "error": "in.txt:2: bad"},
            {"index": 2, "input_ids": [2, 9, 3], "embedding": vec}]
    text = "".join(json.dumps(r) + "\n" for r in recs).encode()
    write("resume", "float32.bin", bytes([0, 4]) + text + b'{"index": 3, "inp')
    members = b"".join(gzip.compress(json.dumps(r).encode() + b"\n", mtime=0) for r in recs)
    write("resume", "float32-gz.bin", bytes([1, 4]) + members + gzip.compress(text, mtime=0)[:20])
    half = [0.12346, -1.5, 2.2471e-05, 0.5]
    write("resume", "float16-ids.bin", bytes([2 | 16, 4]) + (json.dumps(
        {"index": 0, "id": "a", "input_ids": [2, 3], "embedding": half}) + "\n").encode())
    write("resume", "tokens-shard.bin", bytes([8 | 32 | 64, 2]) + (json.dumps(
        {"index": 1, "input_ids": [2, 3], "embedding": [[1.25, -3], [0.5, 7]]}) + "\n").encode())
    write("resume", "binary.bin", bytes([4, 1]) + b'{"index": 0, "input_ids": [2, 3], '
          b'"embedding": [-77]}\n')


# ------------------------------------------------------------ profiles

def profile_seeds():
    for folder in ("profiles", os.path.join("tests", "data", "profiles")):
        for name in sorted(os.listdir(os.path.join(ROOT, folder))):
            if name.endswith(".json"):
                shutil.copyfile(os.path.join(ROOT, folder, name),
                                os.path.join(CORPUS, "profile", name))
    write("profile", "match-lists.json", json.dumps({
        "albert_cl_profile": 1, "name": "lists",
        "match": {"platform": ["Portable Computing Language", "Intel(R) OpenCL"],
                  "device": ["EPYC", "Xeon"], "driver": "", "type": ["CPU", "GPU"]},
        "kernels": {"wg_row": 64, "wg_elem": 256, "vec": 4, "gemm_mr": 4, "gemm_nr": 32,
                    "attention": 0},
        "tuned": {}}, indent=1))


# ------------------------------------------------------------ sentence-transformers

def sentence_config_seeds():
    """modules.json NUL pooling config NUL sentence_bert_config.json NUL
    2_Dense/config.json NUL config_sentence_transformers.json."""
    def module(i, path, kind):
        return {"idx": i, "name": str(i), "path": path,
                "type": "sentence_transformers.models." + kind}
    base = [module(0, "", "Transformer"), module(1, "1_Pooling", "Pooling")]
    modes = ["cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens",
             "weightedmean_tokens", "lasttoken"]

    def pooling(on):
        return dict({"word_embedding_dimension": 32, "include_prompt": True},
                    **{"pooling_mode_" + m: m == on for m in modes})
    seeds = {
        "mean-normalize": (base + [module(2, "2_Normalize", "Normalize")],
                           pooling("mean_tokens"), {"max_seq_length": 128, "do_lower_case": False}),
        "cls": (base, pooling("cls_token"), None),
        "max": (base, pooling("max_tokens"), {"max_seq_length": 8}),
        "weightedmean": (base, pooling("weightedmean_tokens"), None),
        "lasttoken-by-name": (base, dict(pooling("mean_tokens"), pooling_mode="LastToken"),
                              {"max_seq_length": 16}),
    }
    dense = [module(2, "2_Dense", "Dense")]
    dense_seeds = {  # the same 2_Dense/config.json for each Dense module
        "dense": (base + dense + [module(3, "3_Normalize", "Normalize")], pooling("mean_tokens"),
                  {"max_seq_length": 16},
                  {"in_features": 32, "out_features": 16, "bias": True,
                   "activation_function": "torch.nn.modules.activation.Tanh"}),
        "dense-twice": (base + dense + dense, pooling("cls_token"), {},
                        {"in_features": 32, "out_features": 32, "bias": False,
                         "activation_function": "torch.nn.modules.linear.Identity"}),
    }
    for name, (modules, pool, bert) in seeds.items():
        parts = [json.dumps(modules), json.dumps(pool)] + ([json.dumps(bert)] if bert else [])
        write("sentence_config", name + ".bin", "\0".join(parts).encode())
    for name, (modules, pool, bert, dense_config) in dense_seeds.items():
        parts = [json.dumps(modules), json.dumps(pool), json.dumps(bert), json.dumps(dense_config)]
        write("sentence_config", name + ".bin", "\0".join(parts).encode())
    prompts = {"prompts": {"query": "query: ", "passage": "passage: "},
               "default_prompt_name": "query"}
    parts = [json.dumps(base), json.dumps(dict(pooling("mean_tokens"), include_prompt=False)),
             json.dumps({"max_seq_length": 16}), "", json.dumps(prompts)]
    write("sentence_config", "prompts.bin", "\0".join(parts).encode())
    several = dict(pooling("mean_tokens"), pooling_mode_cls_token=True, pooling_mode_max_tokens=True)
    parts = [json.dumps(base + dense), json.dumps(several), "{}",
             json.dumps({"in_features": 96, "out_features": 16, "bias": True,
                         "activation_function": "torch.nn.modules.activation.Tanh"})]
    write("sentence_config", "several-modes.bin", "\0".join(parts).encode())
    write("sentence_config", "strip.bin", "\u3000 a b\u00a0\x1f\u2028".encode())


# ------------------------------------------------------------ torch_checkpoint

def torch_checkpoint_seeds():
    """The small files torch.save wrote (tools/gen-torch-checkpoints.py)."""
    src = os.path.join(ROOT, "tests", "data", "pytorch")
    for name in sorted(os.listdir(src)):
        if not name.startswith("tiny-"):
            with open(os.path.join(src, name), "rb") as f:
                write("torch_checkpoint", name, f.read())


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else \
        os.environ.get("ALBERT_CL_SHARED") or os.path.join(ROOT, "..", "shared")
    for target in ("safetensors", "config", "tokenizer", "tokenizer_json", "jsonl", "profile",
                   "sentence_config", "torch_checkpoint", "resume"):
        folder = os.path.join(CORPUS, target)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
    safetensors_seeds()
    config_seeds(shared)
    tokenizer_seeds(shared)
    tokenizer_json_seeds()
    jsonl_seeds()
    profile_seeds()
    sentence_config_seeds()
    torch_checkpoint_seeds()
    resume_seeds()


if __name__ == "__main__":
    main()
