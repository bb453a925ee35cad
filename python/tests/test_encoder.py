"""albert_cl against the albert-cl CLI built from the same sources.

Environment:
  ALBERT_CL_LIBRARY  the libalbertcl.so albert_cl loads (else its own search)
  ALBERT_CL_BINARY   the albert-cl CLI (default: beside the loaded library,
                     else REPO/build/albert-cl, else REPO/build*/albert-cl)
  ALBERT_CL_SHARED   the shared data folder (default: REPO/../shared)
A missing CLI or shared folder fails the tests: nothing here is skipped
except the OpenCL half of the multi-device test on a machine without OpenCL.
"""

import ctypes
import json
import os
import shutil
import subprocess
import sys
import threading
import _thread
from pathlib import Path

import numpy as np
import pytest

import albert_cl

REPO = Path(__file__).resolve().parents[2]  # python/tests/ -> the repository

# Lines for the CLI's text format: no newlines or tabs inside.  The empty
# line is [CLS] [SEP]; the long one is truncated (tiny-gelu has 64 positions).
TEXTS = [
    "Hello world",
    "",
    "The quick brown fox jumps over the lazy dog.",
    "Unicode: naïve café, Ελληνικά, 日本語 and emoji 🙂",
    "  whitespace   runs and 1,234,567 digits  ",
    " ".join(f"word{i}" for i in range(80)),
    "[CLS] added tokens [SEP] in the text <unk>",
]
PAIRS = [
    ("Hello", "world there"),
    ("A question?", "An answer, with more words in it."),
    ("", "empty first"),
    ("long " * 40, "pair " * 40),
]


def _find_cli():
    env = os.environ.get("ALBERT_CL_BINARY")
    if env:
        candidates = [Path(env)]
    else:
        candidates = [Path(albert_cl.library_path).resolve().parent / "albert-cl",
                      REPO / "build" / "albert-cl"] + sorted(REPO.glob("build*/albert-cl"))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    raise FileNotFoundError("albert-cl CLI not found (set ALBERT_CL_BINARY); tried: "
                            + ", ".join(map(str, candidates)))


@pytest.fixture(scope="session")
def cli():
    return _find_cli()


@pytest.fixture(scope="session")
def shared():
    path = Path(os.environ.get("ALBERT_CL_SHARED", REPO.parent / "shared"))
    if not (path / "models" / "tiny-gelu" / "config.json").is_file():
        raise FileNotFoundError(f"shared folder {path} has no models/tiny-gelu (set ALBERT_CL_SHARED)")
    return path


@pytest.fixture(scope="session")
def tiny(shared):
    return shared / "models" / "tiny-gelu"


@pytest.fixture(scope="module")
def enc(tiny):
    with albert_cl.Encoder(tiny, device="cpu") as e:
        yield e


def run_cli(cli, model, lines, *flags):
    """The CLI's jsonl records for LINES, one per line."""
    proc = subprocess.run([str(cli), "--model", str(model), "--device", "cpu", "--quiet", *flags],
                          input="".join(line + "\n" for line in lines), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, f"albert-cl {' '.join(flags)} failed: {proc.stderr}"
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["index"] for r in records] == list(range(len(lines)))
    return records


def cli_embeddings(cli, model, lines, *flags):
    return np.array([r["embedding"] for r in run_cli(cli, model, lines, *flags)], dtype=np.float32)


# ---------------------------------------------------------------- equal to the CLI


@pytest.mark.parametrize("pooling,normalize", [("pooler", False), ("cls", False),
                                               ("mean", False), ("mean", True), ("pooler", True),
                                               ("max", False), ("mean_sqrt_len", False),
                                               ("weightedmean", True), ("lasttoken", False)])
def test_encode_equals_cli(cli, tiny, pooling, normalize):
    with albert_cl.Encoder(tiny, device="cpu", pooling=pooling, normalize=normalize) as e:
        got = e.encode(TEXTS, batch_size=32)
    flags = ["--pooling", pooling, "--batch-size", "32"] + (["--normalize"] if normalize else [])
    want = cli_embeddings(cli, tiny, TEXTS, *flags)
    assert got.dtype == np.float32 and got.shape == want.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    if normalize:
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
    else:  # per call, as SentenceTransformer.encode's normalize_embeddings
        with albert_cl.Encoder(tiny, device="cpu", pooling=pooling) as e:
            unit = e.encode(TEXTS, batch_size=32, normalize_embeddings=True)
        want = cli_embeddings(cli, tiny, TEXTS, *flags, "--normalize")
        np.testing.assert_allclose(unit, want, rtol=0, atol=1e-6)


def test_precision_quantizes_as_sentence_transformers(cli, enc, tiny, tmp_path):
    """encode(precision=...) against sentence-transformers' quantize_embeddings
    formulas, and the CLI's --output-dtype in npy read by numpy itself."""
    floats = enc.encode(TEXTS)
    packed = np.packbits(floats > 0).reshape(len(TEXTS), -1)  # quantize_embeddings' own
    np.testing.assert_array_equal(enc.encode(TEXTS, precision="ubinary"), packed)
    binary = enc.encode(TEXTS, precision="binary")
    assert binary.dtype == np.int8
    np.testing.assert_array_equal(binary, (packed - 128).astype(np.int8))
    starts, ends = floats.min(axis=0), floats.max(axis=0)
    steps = (ends - starts) / 255
    np.testing.assert_array_equal(enc.encode(TEXTS, precision="uint8"),
                                  ((floats - starts) / steps).astype(np.uint8))
    int8 = enc.encode(TEXTS, precision="int8")
    assert int8.dtype == np.int8
    np.testing.assert_array_equal(int8, ((floats - starts) / steps - 128).astype(np.int8))
    with pytest.raises(ValueError, match="precision"):
        enc.encode(TEXTS, precision="float16")
    with pytest.raises(ValueError, match="sentence_embedding"):
        enc.encode(TEXTS, precision="binary", output_value="token_embeddings")

    def cli_npy(dtype):
        path = tmp_path / f"{dtype}.npy"
        proc = subprocess.run([str(cli), "--model", str(tiny), "--device", "cpu", "--quiet",
                               "--format", "npy", "--output-dtype", dtype, "-o", str(path)],
                              input="".join(t + "\n" for t in TEXTS), capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return np.load(path)
    cli_floats = cli_npy("float32")  # the CLI's own batches: its float32 values
    cli_packed = np.packbits(cli_floats > 0).reshape(len(TEXTS), -1)
    for dtype, want in (("float16", cli_floats.astype(np.float16)),
                        ("binary", (cli_packed - 128).astype(np.int8)), ("ubinary", cli_packed)):
        got = cli_npy(dtype)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("pooling", ["mean", "none"])
def test_cli_safetensors_loads_with_safetensors(cli, tiny, pooling, tmp_path):
    """The CLI's --format safetensors read by the safetensors library itself:
    the pooled vectors, or every line's token vectors in turn and their
    counts, as the binding gives them."""
    from safetensors.numpy import load_file

    path = tmp_path / "out.safetensors"
    proc = subprocess.run([str(cli), "--model", str(tiny), "--device", "cpu", "--quiet",
                           "--pooling", pooling, "--format", "safetensors", "-o", str(path)],
                          input="".join(line + "\n" for line in TEXTS), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = load_file(str(path))
    with albert_cl.Encoder(tiny, device="cpu", pooling="mean") as e:
        if pooling == "mean":
            assert sorted(got) == ["embeddings"]
            want = e.encode(TEXTS)
        else:
            assert sorted(got) == ["embeddings", "lengths"]
            tokens = e.encode(TEXTS, output_value="token_embeddings")
            assert got["lengths"].dtype == np.int32
            assert got["lengths"].tolist() == [len(t) for t in tokens]
            want = np.concatenate(tokens)
    assert got["embeddings"].dtype == np.float32 and got["embeddings"].shape == want.shape
    np.testing.assert_allclose(got["embeddings"], want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("layer", [0, 1, -2])
def test_layer_equals_cli(cli, tiny, layer):
    with albert_cl.Encoder(tiny, device="cpu", pooling="mean", layer=layer) as e:
        got = e.encode(TEXTS, batch_size=32)
        toks = e.encode(TEXTS[:2], output_value="token_embeddings")
    want = cli_embeddings(cli, tiny, TEXTS, "--pooling", "mean", "--layer", str(layer))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    records = run_cli(cli, tiny, TEXTS[:2], "--pooling", "none", "--layer", str(layer))
    for g, r in zip(toks, records):
        np.testing.assert_allclose(g, np.array(r["embedding"], dtype=np.float32), rtol=0, atol=1e-6)
    with albert_cl.Encoder(tiny, device="cpu", pooling="mean") as e:
        last = e.encode(TEXTS, batch_size=32)
    assert np.abs(got - last).max() > 1e-3  # another layer's vectors


@pytest.mark.parametrize("layer,combine", [([-4, -3, -2, -1], "mean"), ([3, 0], "concat"),
                                           ("all", "concat")])
def test_layers_combined_equal_cli(cli, tiny, layer, combine):
    flag = layer if isinstance(layer, str) else ",".join(map(str, layer))
    with albert_cl.Encoder(tiny, device="cpu", pooling="max", layer=layer,
                           layer_combine=combine) as e:
        got = e.encode(TEXTS, batch_size=32)
        toks = e.encode(TEXTS[:2], output_value="token_embeddings")
        n = 4 if layer == "all" else len(layer)
        width = e.dimension
    assert width == (n * 32 if combine == "concat" else 32)
    assert got.shape == (len(TEXTS), width)
    args = ["--pooling", "max", "--layer", flag, "--layer-combine", combine]
    np.testing.assert_allclose(got, cli_embeddings(cli, tiny, TEXTS, *args), rtol=0, atol=1e-6)
    records = run_cli(cli, tiny, TEXTS[:2], *args[2:], "--pooling", "none")
    for g, r in zip(toks, records):
        np.testing.assert_allclose(g, np.array(r["embedding"], dtype=np.float32), rtol=0, atol=1e-6)


def test_bad_layer(tiny):
    for layer, pooling in [(4, "mean"), (-5, "mean"), (1, "pooler"), ("1", "mean"),
                           ([1, -3], "mean"), ([], "mean"), ([1, 2], "pooler"), ([1, 1.0], "mean"),
                           ("every", "mean")]:
        with pytest.raises(ValueError):
            albert_cl.Encoder(tiny, device="cpu", pooling=pooling, layer=layer)
    with pytest.raises(ValueError):
        albert_cl.Encoder(tiny, device="cpu", pooling="mean", layer=[1, 2], layer_combine="sum")
    # One layer is that layer, whatever layer_combine says.
    with albert_cl.Encoder(tiny, device="cpu", pooling="mean", layer=-2,
                           layer_combine="concat") as e:
        with albert_cl.Encoder(tiny, device="cpu", pooling="mean", layer=[2]) as f:
            assert e.dimension == f.dimension == 32
            assert np.array_equal(e.encode("x"), f.encode("x"))
    with albert_cl.Encoder(tiny, device="cpu", layer_combine="concat") as e:
        assert e.dimension == 32 and e.encode("x").shape == (32,)
    with albert_cl.Encoder(tiny, device="cpu", layer=-1) as e:  # the last layer: the pooler too
        assert e.encode("x").shape == (32,)
    with albert_cl.Encoder(tiny, device="cpu", pooling="mean", layer=np.int64(1)) as e:
        with albert_cl.Encoder(tiny, device="cpu", pooling="mean", layer=1) as f:
            assert np.array_equal(e.encode("x"), f.encode("x"))


def test_encode_base_model_equals_cli(cli, shared):
    model = shared / "models" / "albert-base-v2-random"
    lines = TEXTS[:3]
    with albert_cl.Encoder(model, device="cpu") as e:
        assert e.hidden_size == 768 and e.max_length == 512
        got = e.encode(lines)
    want = cli_embeddings(cli, model, lines, "--batch-size", "32")
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def sentence_transformers_folder(tmp_path, shared, tiny):
    """tiny-gelu as a sentence-transformers folder: mean pooling, Normalize,
    max_seq_length 8, the fast tokenizer (albert-base-v2's, same vocabulary)."""
    d = tmp_path / "st"
    (d / "1_Pooling").mkdir(parents=True)
    for f in ["config.json", "model.safetensors", "spiece.model"]:
        (d / f).symlink_to(tiny / f)
    (d / "tokenizer.json").symlink_to(shared / "models" / "albert-base-v2" / "tokenizer.json")
    kinds = ["Transformer", "Pooling", "Normalize"]
    (d / "modules.json").write_text(json.dumps(
        [{"idx": i, "name": str(i), "path": p, "type": "sentence_transformers.models." + k}
         for i, (k, p) in enumerate(zip(kinds, ["", "1_Pooling", "2_Normalize"]))]))
    (d / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": False,
         "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False}))
    (d / "sentence_bert_config.json").write_text('{"max_seq_length": 8, "do_lower_case": false}')
    return d


@pytest.mark.parametrize("case", ["dense-tanh-normalize", "dense-chain-bin",
                                  "cls-mean-max-dense-normalize"])
def test_dense_modules_equal_sentence_transformers(tmp_path, shared, tiny, case):
    """tests/data/sentence-transformers/CASE (tools/gen-st-golden.py): what
    sentence-transformers itself gave with its Dense modules."""
    st = tmp_path / case
    shutil.copytree(REPO / "tests" / "data" / "sentence-transformers" / case, st)
    for f in ["config.json", "model.safetensors", "spiece.model"]:
        (st / f).symlink_to(tiny / f)
    (st / "tokenizer.json").symlink_to(shared / "models" / "albert-base-v2" / "tokenizer.json")
    want = json.loads((st / "expected.json").read_text(encoding="utf-8"))
    with albert_cl.Encoder(st, device="cpu") as e:
        assert e.dimension == len(want["embeddings"][0]) < 32
        got = e.encode(want["lines"])
        assert e.encode(want["lines"][:1], output_value="token_embeddings")[0].shape[1] == 32
    np.testing.assert_allclose(got, np.array(want["embeddings"], dtype=np.float32), rtol=0,
                               atol=1e-5)
    with pytest.raises(ValueError, match="Dense"):
        albert_cl.Encoder(st, device="cpu", pooling="mean", layer=[-2, -1],
                          layer_combine="concat")
    if case == "dense-chain-bin":  # its second Dense module first: not the model's width
        modules = json.loads((st / "modules.json").read_text())
        (st / "modules.json").write_text(json.dumps(modules[:2] + modules[3:]))
        with pytest.raises(albert_cl.AlbertError, match="takes vectors of 24 values") as info:
            albert_cl.Encoder(st, device="cpu")
        assert info.value.status == "ALBERT_E_FORMAT"


def golden_folder(tmp_path, shared, tiny, case):
    """tests/data/sentence-transformers/CASE in TMP_PATH with tiny-gelu's
    weights and albert-base-v2's tokenizer.json, and its expected.json."""
    st = tmp_path / case
    shutil.copytree(REPO / "tests" / "data" / "sentence-transformers" / case, st)
    for f in ["config.json", "model.safetensors", "spiece.model"]:
        (st / f).symlink_to(tiny / f)
    (st / "tokenizer.json").symlink_to(shared / "models" / "albert-base-v2" / "tokenizer.json")
    return st, json.loads((st / "expected.json").read_text(encoding="utf-8"))


def _devices():
    """The devices the tests compare: the CPU backend, and OpenCL device 0
    where there is one (as test_batch_size_and_devices_agree)."""
    return ["cpu"] + (["0"] if any(d["backend"] == "opencl" for d in albert_cl.list_devices())
                      else [])


def _prompt_kwargs(args):
    """A golden run's albert-cl arguments as encode()'s."""
    flag, value = args
    name = {"--prompt-name": "prompt_name", "--prompt": "prompt"}[flag]
    return {name: value}


PROMPT_CASES = ["prompt-default-mean", "prompt-excluded-mean", "prompt-excluded-weightedmean",
                "prompt-excluded-max-dense", "five-modes-prompt-excluded",
                "prompt-default-mean-max"]


@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize("case", PROMPT_CASES)
def test_prompts_equal_sentence_transformers(tmp_path, shared, tiny, case, device):
    """tests/data/sentence-transformers/prompt-* (tools/gen-st-golden.py):
    SentenceTransformer.encode's vectors and ids with the folder's default
    prompt and with each run's prompt_name or prompt, include_prompt false
    leaving the prompt's tokens out of the pooling."""
    st, want = golden_folder(tmp_path, shared, tiny, case)
    config = json.loads((st / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    lines = want["lines"]

    def check(got, want_embeddings):
        want_embeddings = np.array(want_embeddings, dtype=np.float32)
        assert got.shape == want_embeddings.shape
        assert np.abs(got - want_embeddings).max() < 1e-5

    with albert_cl.Encoder(st, device=device) as e:
        assert e.prompts == config["prompts"] == {"query": "query: ", "passage": "passage: "}
        assert e.default_prompt_name == config["default_prompt_name"]
        check(e.encode(lines), want["embeddings"])
        assert [t["input_ids"] for t in e.tokenize(lines)] == want["input_ids"]
        assert len(want["runs"]) == 3
        for run in want["runs"]:
            kwargs = _prompt_kwargs(run["args"])
            check(e.encode(lines, **kwargs), run["embeddings"])
            assert [t["input_ids"] for t in e.tokenize(lines, **kwargs)] == run["input_ids"]
        # Every token's vector, the prompt's too, whether it is pooled or not.
        both = e.encode(lines, output_value=None)
        check(np.array([b["sentence_embedding"] for b in both]), want["embeddings"])
        assert [len(b["token_embeddings"]) for b in both] == [len(i) for i in want["input_ids"]]


def test_prompt_arguments(tmp_path, shared, tiny):
    """encode()'s prompt and prompt_name as SentenceTransformer.encode's:
    prompt wins (with a warning), an unknown name is a ValueError naming the
    prompts, the attributes are read by every call."""
    st, want = golden_folder(tmp_path, shared, tiny, "prompt-default-mean")
    lines = want["lines"]
    runs = {tuple(r["args"]): np.array(r["embeddings"], dtype=np.float32) for r in want["runs"]}
    passage, empty = runs[("--prompt-name", "passage")], runs[("--prompt", "")]
    with albert_cl.Encoder(st, device="cpu") as e:
        with pytest.raises(ValueError, match="'query', 'passage'") as info:
            e.encode(lines, prompt_name="document")
        assert "document" in str(info.value)
        with pytest.raises(ValueError, match="document"):
            e.tokenize(lines, prompt_name="document")
        with pytest.warns(RuntimeWarning, match="prompt_name") as record:
            got = e.encode(lines, prompt="", prompt_name="passage")
        assert record[0].filename == __file__  # the warning names the caller's line
        np.testing.assert_allclose(got, empty, rtol=0, atol=1e-5)
        with pytest.warns(RuntimeWarning, match="prompt_name"):
            ids = e.tokenize(lines[0], prompt="passage: ", prompt_name="query")
        assert ids["input_ids"] == want["runs"][0]["input_ids"][0]
        with pytest.raises(ValueError, match="UTF-8"):
            e.encode(lines, prompt="lone \ud800")
        with pytest.raises(TypeError):
            e.encode(lines, prompt=b"query: ")
        with pytest.raises(TypeError):  # keyword-only: batch_size stays the second
            e.encode(lines, 32, False, "sentence_embedding", "float32", True, False, "query: ")
        one = e.encode(lines[0], prompt_name="passage")
        assert one.shape == (32,)
        np.testing.assert_allclose(one, passage[0], rtol=0, atol=1e-5)
        # The prompt goes before the first sentence of a pair.
        pair = e.encode([(lines[0], lines[1])], prompt="passage: ")
        np.testing.assert_allclose(pair, e.encode([("passage: " + lines[0], lines[1])], prompt=""),
                                   rtol=0, atol=1e-6)
        assert e.tokenize([(lines[0], "x")], prompt="passage: ")[0]["token_type_ids"][-3:] == \
            [0, 1, 1]
        # SentenceTransformer's attributes: every encode() reads them.
        e.default_prompt_name = "passage"
        np.testing.assert_allclose(e.encode(lines), passage, rtol=0, atol=1e-5)
        e.default_prompt_name = None  # no prompt: "" alone, as include_prompt is true
        np.testing.assert_allclose(e.encode(lines), empty, rtol=0, atol=1e-5)
        e.prompts["mine"] = "passage: "
        np.testing.assert_allclose(e.encode(lines, prompt_name="mine"), passage, rtol=0,
                                   atol=1e-5)


def test_prompts_without_sentence_transformers(cli, tiny, tmp_path, shared):
    """A folder without modules.json (or with it ignored) has no prompts; a
    prompt given is put before each text as it is (nothing stripped)."""
    texts = TEXTS[:4]
    with albert_cl.Encoder(tiny, device="cpu", pooling="mean") as e:
        assert e.prompts == {} and e.default_prompt_name is None
        with pytest.raises(ValueError, match=r"\[\]"):
            e.encode(texts, prompt_name="query")
        got = e.encode(texts, prompt=" query: ")
        np.testing.assert_allclose(got, e.encode([" query: " + t for t in texts]), rtol=0,
                                   atol=1e-6)
        np.testing.assert_allclose(got, cli_embeddings(cli, tiny, texts, "--pooling", "mean",
                                                       "--prompt", " query: "),
                                   rtol=0, atol=1e-6)
        np.testing.assert_array_equal(e.encode(texts, prompt=""), e.encode(texts))
    st, want = golden_folder(tmp_path, shared, tiny, "prompt-excluded-mean")
    with albert_cl.Encoder(st, device="cpu", sentence_transformers=False) as e:
        assert e.prompts == {} and e.default_prompt_name is None


def test_sentence_prompt_function(tmp_path, shared, tiny):
    """albert_sentence_prompt through the binding's prototype."""
    st, _ = golden_folder(tmp_path, shared, tiny, "prompt-excluded-max-dense")
    lib, err = albert_cl._lib.lib, albert_cl._lib.AlbertErrorStruct()
    buf = ctypes.create_string_buffer(64)
    path = os.fsencode(st)
    assert lib.albert_sentence_prompt(path, None, buf, len(buf), ctypes.byref(err)) == 0
    assert buf.value == b"passage: "  # its default_prompt_name's
    assert lib.albert_sentence_prompt(path, b"query", buf, len(buf), ctypes.byref(err)) == 0
    assert buf.value == b"query: "
    rc = lib.albert_sentence_prompt(path, b"nope", buf, len(buf), ctypes.byref(err))
    assert albert_cl._status_name(rc) == "ALBERT_E_ARG" and buf.value == b""
    assert b"query" in err.msg and b"passage" in err.msg
    info = albert_cl._sentence_config(st)
    got = (info.include_prompt, info.prompts, info.default_prompt, info.dense_width)
    assert got == (0, 2, 1, 8)


def test_sentence_transformers_folder_equals_cli(cli, tmp_path, shared, tiny):
    st = sentence_transformers_folder(tmp_path, shared, tiny)
    lines = ["\u3000Hello\u00a0", "The quick brown fox jumps over the lazy dog."]
    with albert_cl.Encoder(st, device="cpu") as e:
        assert e.max_length == 8
        got = e.encode(lines)
        # tokenize() strips as encode() does: the fast tokenizer would turn the
        # trailing U+00A0 into a token of its own.
        assert e.tokenize(lines[0])["input_ids"] == [2, 10975, 3]
        assert e.tokenize([(lines[0], " x ")])[0]["input_ids"] == [2, 10975, 3, 993, 3]
    want = cli_embeddings(cli, st, lines)
    plain = cli_embeddings(cli, st, [line.strip() for line in lines], "--no-sentence-transformers",
                           "--pooling", "mean", "--normalize", "--max-length", "8",
                           "--tokenizer", "fast")
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got, plain, rtol=0, atol=1e-6)
    with albert_cl.Encoder(st, device="cpu", sentence_transformers=False) as e:
        assert e.max_length == 64  # tiny-gelu's positions, not max_seq_length
        np.testing.assert_allclose(e.encode(lines[1:]), cli_embeddings(cli, tiny, lines[1:]),
                                   rtol=0, atol=1e-6)
    (st / "modules.json").write_text("[")
    with pytest.raises(albert_cl.AlbertError) as info:
        albert_cl.Encoder(st, device="cpu")
    assert str(st / "modules.json") in str(info.value) and info.value.status == "ALBERT_E_FORMAT"


def test_token_embeddings_equal_cli(cli, tiny, enc):
    got = enc.encode(TEXTS, output_value="token_embeddings")
    records = run_cli(cli, tiny, TEXTS, "--pooling", "none", "--batch-size", "32")
    assert len(got) == len(records)
    for g, r in zip(got, records):
        want = np.array(r["embedding"], dtype=np.float32)
        assert g.shape == (len(r["input_ids"]), 32)  # every token, [CLS] and [SEP] included
        np.testing.assert_allclose(g, want, rtol=0, atol=1e-6)
    # Both at once: the same vectors as the two calls apart.
    both = enc.encode(TEXTS, output_value=None)
    pooled = enc.encode(TEXTS)
    for b, g, p in zip(both, got, pooled):
        np.testing.assert_allclose(b["token_embeddings"], g, rtol=0, atol=1e-6)
        np.testing.assert_allclose(b["sentence_embedding"], p, rtol=0, atol=1e-6)


def test_pairs_equal_cli_tsv(cli, tiny, enc):
    got = enc.encode(PAIRS + [list(PAIRS[0])])  # tuples and lists both are pairs
    want = cli_embeddings(cli, tiny, [a + "\t" + b for a, b in PAIRS], "--input-format", "tsv",
                          "--batch-size", "32")
    np.testing.assert_allclose(got[:-1], want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got[-1], want[0], rtol=0, atol=1e-6)
    single = enc.encode([a for a, _ in PAIRS])
    assert np.abs(got[:-1] - single).max() > 1e-3  # the second sentence does count


def test_tokenize_equals_cli(cli, tiny, enc):
    got = enc.tokenize(TEXTS)
    want = run_cli(cli, tiny, TEXTS, "--tokenize")
    assert [g["input_ids"] for g in got] == [w["input_ids"] for w in want]
    assert all(g["token_type_ids"] == [0] * len(g["input_ids"]) for g in got)
    assert max(len(g["input_ids"]) for g in got) == enc.max_length == 64  # truncated to the model

    got = enc.tokenize(PAIRS)
    want = run_cli(cli, tiny, [a + "\t" + b for a, b in PAIRS], "--input-format", "tsv", "--tokenize")
    assert [(g["input_ids"], g["token_type_ids"]) for g in got] == \
           [(w["input_ids"], w["token_type_ids"]) for w in want]
    assert enc.tokenize("Hello world") == enc.tokenize(["Hello world"])[0]  # a str: one dict


def test_truncation_side_left_equals_cli(cli, tiny):
    """truncation_side="left" (an argument, then the attribute, read by
    every call) keeps long inputs' ends: the CLI's --truncation-side left."""
    flags = ("--max-length", "12", "--truncation-side", "left")
    with albert_cl.Encoder(tiny, device="cpu", max_length=12, truncation_side="left") as e:
        got_ids = [t["input_ids"] for t in e.tokenize(TEXTS)]
        got = e.encode(TEXTS)
        pairs = e.tokenize(PAIRS)
        e.truncation_side = "right"
        right = e.encode(TEXTS)
        e.truncation_side = "middle"
        with pytest.raises(ValueError, match="truncation_side"):
            e.encode(TEXTS)
    assert got_ids == [r["input_ids"] for r in run_cli(cli, tiny, TEXTS, "--tokenize", *flags)]
    np.testing.assert_allclose(got, cli_embeddings(cli, tiny, TEXTS, *flags), rtol=0, atol=1e-6)
    want = run_cli(cli, tiny, [a + "\t" + b for a, b in PAIRS], "--input-format", "tsv",
                   "--tokenize", *flags)
    assert [(p["input_ids"], p["token_type_ids"]) for p in pairs] == \
           [(w["input_ids"], w["token_type_ids"]) for w in want]
    assert np.abs(got - right).max() > 1e-3  # the long lines differ
    with pytest.raises(ValueError, match="truncation_side"):
        albert_cl.Encoder(tiny, device="cpu", truncation_side="up")


def test_truncation_side_from_tokenizer_config(tmp_path, tiny):
    """None (the default, or set later): the folder's side, as HF's
    tokenizer takes it from tokenizer_config.json."""
    for name in ("config.json", "model.safetensors", "spiece.model"):
        (tmp_path / name).symlink_to(tiny / name)
    text = "one two three four five six seven eight"
    with albert_cl.Encoder(tmp_path, device="cpu", max_length=6) as e:
        assert e.truncation_side is None
        right = e.tokenize(text)["input_ids"]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"truncation_side": "left"}))
    with albert_cl.Encoder(tmp_path, device="cpu", max_length=6) as e:
        left = e.tokenize(text)["input_ids"]
        assert left != right
        e.truncation_side = "right"
        assert e.tokenize(text)["input_ids"] == right
        e.truncation_side = None
        assert e.tokenize(text)["input_ids"] == left
    with albert_cl.Encoder(tmp_path, device="cpu", max_length=6, truncation_side="left") as e:
        assert e.tokenize(text)["input_ids"] == left


def test_similarity_as_sentence_transformers(tmp_path, shared, tiny, enc):
    """similarity / similarity_pairwise by similarity_fn_name: cosine (the
    default), dot, negative euclidean and manhattan distances; the folder's
    config_sentence_transformers.json names it."""
    a, b = enc.encode(TEXTS[:3]), enc.encode(TEXTS[3:7])
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)
    want = {"cosine": unit(a64) @ unit(b64).T, "dot": a64 @ b64.T,
            "euclidean": -np.sqrt(((a64[:, None] - b64[None]) ** 2).sum(-1)),
            "manhattan": -np.abs(a64[:, None] - b64[None]).sum(-1)}
    assert enc.similarity_fn_name == "cosine"
    try:
        for name, m in want.items():
            enc.similarity_fn_name = name
            got = enc.similarity(a, b)
            assert got.shape == (3, 4) and got.dtype == np.float32
            np.testing.assert_allclose(got, m, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(enc.similarity_pairwise(a, b[:3]), np.diag(m[:, :3]),
                                       rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(enc.similarity(a[0], b), m[:1], rtol=1e-5, atol=1e-5)
        enc.similarity_fn_name = "hamming"
        with pytest.raises(ValueError, match="similarity_fn_name"):
            enc.similarity(a, b)
    finally:
        enc.similarity_fn_name = "cosine"
    with pytest.raises(ValueError, match="shapes"):
        enc.similarity_pairwise(a, b)
    st = sentence_transformers_folder(tmp_path, shared, tiny)
    (st / "config_sentence_transformers.json").write_text(json.dumps({"similarity_fn_name": "dot"}))
    with albert_cl.Encoder(st, device="cpu") as e:
        assert e.similarity_fn_name == "dot"
    (st / "config_sentence_transformers.json").write_text(json.dumps({"similarity_fn_name": "l3"}))
    with pytest.raises(ValueError, match="l3"):
        albert_cl.Encoder(st, device="cpu")


# ---------------------------------------------------------------- shapes and options


def test_str_gives_one_vector(enc):
    v = enc.encode("Hello world")
    assert v.shape == (enc.hidden_size,) and v.dtype == np.float32
    np.testing.assert_array_equal(v, enc.encode(["Hello world"])[0])
    t = enc.encode("Hello world", output_value="token_embeddings")
    assert t.shape == (len(enc.tokenize("Hello world")["input_ids"]), enc.hidden_size)
    assert enc.encode([]).shape == (0, enc.hidden_size)
    listed = enc.encode(["a", "b"], convert_to_numpy=False)
    assert isinstance(listed, list) and len(listed) == 2 and listed[0].shape == (enc.hidden_size,)


def test_progress_bar(enc, capsys):
    enc.encode(TEXTS, show_progress_bar=True)
    assert f"{len(TEXTS)}/{len(TEXTS)}" in capsys.readouterr().err


def test_left_open_at_exit(tiny):
    # An Encoder nobody closed is freed by __del__, at exit too, quietly.
    script = (f"import albert_cl; e = albert_cl.Encoder({str(tiny)!r}, device='cpu'); "
              f"e.encode(['x']); f = albert_cl.Encoder({str(tiny)!r}, device='cpu'); del f")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_batch_size_and_devices_agree(tiny, enc):
    texts = TEXTS * 20  # 140 records, several batches at the small sizes
    base = enc.encode(texts, batch_size=32)
    for bs in (1, 5, 256):
        np.testing.assert_allclose(enc.encode(texts, batch_size=bs), base, rtol=0, atol=1e-5)
    devices = ["cpu"]
    if any(d["backend"] == "opencl" for d in albert_cl.list_devices()):
        devices.append("0")
    with albert_cl.Encoder(tiny, device=devices) as e:
        assert len(e.device_names) == len(devices)
        np.testing.assert_allclose(e.encode(texts, batch_size=4), base, rtol=0, atol=1e-5)


def test_list_devices():
    devices = albert_cl.list_devices()
    assert devices[-1]["id"] == "cpu" and devices[-1]["backend"] == "cpu"
    assert [d["index"] for d in devices] == list(range(len(devices)))
    assert all("fp32" in d["precisions"] for d in devices)


def test_bad_options(tiny):
    with pytest.raises(ValueError):
        albert_cl.Encoder(tiny, device="cpu", pooling="weighted")
    with pytest.raises(ValueError):
        albert_cl.Encoder(tiny, device="cpu", precision="fp64")
    with pytest.raises(ValueError):
        albert_cl.Encoder(tiny, device=["cpu", "cpu"])
    with albert_cl.Encoder(tiny, device="cpu", pooling="none") as e:
        with pytest.raises(ValueError):
            e.encode("x")  # no sentence embedding without pooling
        assert e.encode("x", output_value="token_embeddings").shape == (3, 32)
    e.close()  # twice is fine
    with pytest.raises(ValueError):
        e.encode("x")


# ---------------------------------------------------------------- errors


def test_missing_model_raises(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(albert_cl.AlbertError) as info:
        albert_cl.Encoder(missing, device="cpu")
    assert str(missing) in str(info.value) and info.value.status == "ALBERT_E_IO"
    assert isinstance(info.value, RuntimeError)


def test_hub_cache_name(cli, tiny, tmp_path, monkeypatch):
    """A model name found in the Hugging Face cache, as huggingface_hub lays
    it out (refs/main, snapshots/COMMIT): the folder's vectors."""
    commit = "d" * 40
    repo = tmp_path / "models--org--tiny"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for f in tiny.iterdir():
        (snapshot / f.name).symlink_to(f)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert albert_cl.locate("org/tiny") == str(snapshot)
    assert albert_cl.locate(tiny) == str(tiny)
    with albert_cl.Encoder("org/tiny", device="cpu", pooling="mean") as e:
        got = e.encode(TEXTS)
    np.testing.assert_allclose(got, cli_embeddings(cli, tiny, TEXTS, "--pooling", "mean"),
                               rtol=0, atol=1e-6)
    with pytest.raises(albert_cl.AlbertError) as info:
        albert_cl.Encoder("org/tiny@v9", device="cpu")
    assert info.value.status == "ALBERT_E_IO" and "no revision v9" in info.value.message


def test_unknown_device_raises(tiny):
    with pytest.raises(albert_cl.AlbertError) as info:
        albert_cl.Encoder(tiny, device="99")
    assert info.value.status == "ALBERT_E_ARG" and "99" in info.value.message
    with pytest.raises(albert_cl.AlbertError):
        albert_cl.Encoder(tiny, device=99)
    with pytest.raises(TypeError):
        albert_cl.Encoder(tiny, device=1.5)


def test_fast_tokenizer_missing_file_raises(tiny):
    with pytest.raises(albert_cl.AlbertError) as info:
        albert_cl.Encoder(tiny, device="cpu", tokenizer="fast")
    assert "tokenizer.json" in str(info.value)


def test_invalid_utf8_raises_with_index(enc):
    threads = threading.active_count()
    # More records than the scheduler holds (4 windows of 1024), the bad one
    # early: the pusher is still blocked in push when the error comes.
    texts = ["fine"] * 9000
    texts[10] = "lone \ud800 surrogate"
    with pytest.raises(albert_cl.AlbertError) as info:
        enc.encode(texts)
    assert info.value.index == 10 and info.value.status == "ALBERT_E_INPUT"
    assert "record 10" in str(info.value) and "UTF-8" in info.value.message
    with pytest.raises(albert_cl.AlbertError) as info:
        enc.tokenize(["ok", "\udfff"])
    assert info.value.index == 1
    assert threading.active_count() == threads  # the pusher was joined
    assert enc.encode(["fine"]).shape == (1, 32)  # and the encoder still works


def test_non_str_input_raises(enc):
    with pytest.raises(TypeError):
        enc.encode(["ok", 3])
    with pytest.raises(TypeError):
        enc.encode([("a", "b", "c")])


def test_keyboard_interrupt_cleans_up(enc):
    threads = threading.active_count()
    texts = [f"line {i} with a few words" for i in range(20000)]
    timer = threading.Timer(0.2, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        while True:  # the interrupt lands inside some encode()
            enc.encode(texts, batch_size=64)
    timer.join()
    assert threading.active_count() == threads
    assert enc.encode(["after"]).shape == (1, 32)


# ---------------------------------------------------------------- finding the library


def test_library_not_found_names_path(tmp_path):
    env = dict(os.environ, ALBERT_CL_LIBRARY=str(tmp_path / "nope.so"))
    proc = subprocess.run([sys.executable, "-c", "import albert_cl"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr and "nope.so" in proc.stderr


def test_library_found_in_build_tree(tmp_path):
    # The repository layout in a temporary folder: python/albert_cl beside
    # build/ (a sanitizer build, which must be skipped: loading it would kill
    # the interpreter) and build-release/ (the library under test).
    shutil.copytree(Path(albert_cl.__file__).parent, tmp_path / "python" / "albert_cl")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "libalbertcl.so").write_bytes(b"\x7fELF fake, needs libasan.so.8\0")
    (tmp_path / "build-release").mkdir()
    (tmp_path / "build-release" / "libalbertcl.so").symlink_to(Path(albert_cl.library_path).resolve())
    env = {k: v for k, v in os.environ.items() if k != "ALBERT_CL_LIBRARY"}
    env["PYTHONPATH"] = str(tmp_path / "python")
    script = ("import albert_cl, albert_cl._lib as l; print(albert_cl.library_path); "
              "print([what for what, _ in l._candidates()][0])")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=60, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    loaded, first = proc.stdout.splitlines()
    assert loaded == str(tmp_path / "build-release" / "libalbertcl.so")
    assert "skipped" in first and "libasan" in first


def test_older_library_refused():
    """A library older than the structures this package mirrors is refused:
    by the functions it lacks (0.15.x has no albert_sentence_prompt), and by
    its albert_version() where it has them all."""
    from albert_cl._lib import _SIGNATURES, _declare

    class Function:  # what _declare sets and calls of a ctypes function
        def __init__(self, result=None):
            self.result = result

        def __call__(self, *args):
            return self.result

    def fake(version, missing=()):
        lib = type("FakeLibrary", (), {})()
        for name in _SIGNATURES:
            if name not in missing:
                setattr(lib, name, Function())
        lib.albert_version = Function(version)
        return lib

    assert _declare(fake(albert_cl.lib.albert_version())) is not None
    with pytest.raises(AttributeError, match="albert_sentence_prompt"):
        _declare(fake(b"0.15.0", missing=["albert_sentence_prompt"]))
    for version in (b"0.18.0", b"0.20.0", b"1.19.0"):
        with pytest.raises(AttributeError, match=r"libalbertcl %s, not 0\.19\.x" %
                           version.decode().replace(".", r"\.")):
            _declare(fake(version))


def test_several_pooling_modes(tmp_path, shared, tiny):
    """A Pooling module with several modes (tests/data/sentence-transformers/
    mean-max): sentence-transformers' vectors, max's then mean's; the same
    as pooling="mean+max" by hand, and as each mode's own vectors end to end."""
    st, want = golden_folder(tmp_path, shared, tiny, "mean-max")
    with albert_cl.Encoder(st, device="cpu") as e:
        assert e.dimension == 64
        got = e.encode(want["lines"])
    np.testing.assert_allclose(got, np.array(want["embeddings"], dtype=np.float32), rtol=0,
                               atol=1e-5)
    plain = dict(device="cpu", sentence_transformers=False, tokenizer="fast", max_length=16)
    lines = [line.strip() for line in want["lines"]]
    with albert_cl.Encoder(st, pooling="mean+max", **plain) as e:
        both = e.encode(lines)
    with albert_cl.Encoder(st, pooling="max", **plain) as e:
        most = e.encode(lines)
    with albert_cl.Encoder(st, pooling="mean", **plain) as e:
        mean = e.encode(lines)
    np.testing.assert_allclose(both, np.concatenate([most, mean], axis=1), rtol=0, atol=1e-6)
    np.testing.assert_allclose(both, got, rtol=0, atol=1e-5)
    for bad in ("mean+none", "pooler+cls", "mean+bogus", "mean+", "mean+max+mean"):
        with pytest.raises(ValueError, match="pooling"):
            albert_cl.Encoder(st, pooling=bad, **plain)


def test_truncate_dim_equals_sentence_transformers(tmp_path, shared, tiny):
    """truncate_dim (tests/data/sentence-transformers/truncate-dense-normalize):
    SentenceTransformer's truncate_dim after its Dense and Normalize modules,
    with normalize_embeddings after the cut; the attribute, the context
    manager and `dimension` as sentence-transformers has them."""
    st, want = golden_folder(tmp_path, shared, tiny, "truncate-dense-normalize")
    lines = want["lines"]
    runs = {tuple(r["args"]): np.array(r["embeddings"], dtype=np.float32) for r in want["runs"]}

    def check(got, args):
        np.testing.assert_allclose(got, runs[tuple(args)], rtol=0, atol=1e-5)

    with albert_cl.Encoder(st, device="cpu", truncate_dim=8) as e:
        assert e.dimension == 8
        check(e.encode(lines), ["--truncate-dim", "8"])
        check(e.encode(lines, normalize_embeddings=True), ["--truncate-dim", "8", "--normalize"])
        both = e.encode(lines, output_value=None)  # the cut sentence embeddings, every token
        check(np.array([b["sentence_embedding"] for b in both]), ["--truncate-dim", "8"])
        assert [len(b["token_embeddings"]) for b in both] == [len(i) for i in want["input_ids"]]
        with e.truncate_sentence_embeddings(1):
            assert e.dimension == 1
            check(e.encode(lines, normalize_embeddings=True),
                  ["--truncate-dim", "1", "--normalize"])
        assert e.truncate_dim == 8
        e.truncate_dim = None
        assert e.dimension == 16
        np.testing.assert_allclose(e.encode(lines), np.array(want["embeddings"], np.float32),
                                   rtol=0, atol=1e-5)
        for bad in (17, 0, 8.0, True, "8"):
            e.truncate_dim = bad
            with pytest.raises(ValueError, match="truncate_dim"):
                e.encode(lines)
    # normalize=True given to the Encoder normalises the cut, as --normalize does.
    with albert_cl.Encoder(st, device="cpu", truncate_dim=8, normalize=True) as e:
        check(e.encode(lines), ["--truncate-dim", "8", "--normalize"])
    with pytest.raises(ValueError, match="from 1 to 16"):
        albert_cl.Encoder(st, device="cpu", truncate_dim=17)
