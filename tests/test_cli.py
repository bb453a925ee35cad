#!/usr/bin/env python3
"""End-to-end tests of the albert-cl command line.

usage: test_cli.py ALBERT_CL_BINARY [SHARED_DIR]
The shared data folder is $ALBERT_CL_SHARED, else SHARED_DIR (CMake's
ALBERT_SHARED_DIR).  Python 3 standard library only.
"""
import csv
import gzip
import itertools
import json
import math
import os
import random
import re
import resource
import select
import shutil
import struct
import subprocess
import sys
import unittest
import zlib

from cli_helpers import (COMPILER_NOISE, NO_HUB_CACHE, TempDirCase, add_to_hub_cache,
                         check_no_sanitizer_report, with_asan_suppressions,
                         devices_checked, program_args)

BINARY = None
SHARED = None
SOURCE_DIR = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(SOURCE_DIR, "data", "sample.txt")
CLS, SEP = 2, 3


def model(name):
    return os.path.join(SHARED, "models", name)


BASE = None  # albert-base-v2-random: real shapes and tokenizer
TINY = None  # tiny-gelu: fast, max_position_embeddings 64
OPENCL = None  # [(id, platform)] of every OpenCL device: OpenCL tests run on each
POCL = "Portable Computing Language"




def run(args, stdin=b"", env=None, cwd=None):
    """Runs albert-cl; returns (exit status, stdout bytes, stderr text
    without the driver's compiler summaries)."""
    full_env = dict(os.environ)
    full_env.pop("ALBERT_CL_MODEL", None)
    full_env.pop("ALBERT_CL_KEEP_BLAS", None)
    full_env["HF_HUB_CACHE"] = NO_HUB_CACHE
    full_env.update(env or {})
    p = subprocess.run([BINARY] + args, input=stdin, capture_output=True,
                       env=with_asan_suppressions(full_env), cwd=cwd, timeout=900)
    err = COMPILER_NOISE.sub("", p.stderr.decode("utf-8", "replace"))
    check_no_sanitizer_report(args, err)
    return p.returncode, p.stdout, err


def slurp(path, binary=True):
    with open(path, "rb" if binary else "r", encoding=None if binary else "utf-8") as f:
        return f.read()


def records(out):
    return [json.loads(line) for line in out.decode("utf-8").splitlines()]


def parse_safetensors(data):
    """{name: (dtype, shape, flat list)} of safetensors bytes, checked as
    the format demands: each tensor's bytes match its shape, and together
    they cover the data with no hole or overlap."""
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    base = 8 + n
    tensors, spans = {}, []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        code = {"F32": "f", "F16": "e", "I32": "i", "I64": "q", "I8": "b", "U8": "B"}[info["dtype"]]
        count = (end - begin) // struct.calcsize(code)
        assert count * struct.calcsize(code) == end - begin == \
            struct.calcsize(code) * math.prod(info["shape"]), (name, info)
        values = struct.unpack_from("<%d%s" % (count, code), data, base + begin)
        tensors[name] = (info["dtype"], info["shape"], list(values))
        spans.append((begin, end))
    at = 0
    for begin, end in sorted(spans):
        assert begin == at, "a hole or an overlap at byte %d of the data" % at
        at = end
    assert base + at == len(data), "data after the last tensor"
    return tensors


def read_safetensors(path):
    return parse_safetensors(slurp(path))


_golden = {}


def golden(name):
    if name not in _golden:
        path = os.path.join(SHARED, "golden", name)
        _golden[name] = (read_safetensors(path + ".safetensors"),
                         {c["name"]: c for c in json.loads(slurp(path + ".json", False))})
    return _golden[name]


def golden_rows(case):
    """Per row of a golden albert-base-v2-random case: (ids, types, mask, token
    vectors where mask is 1, pooler_output row)."""
    tensors, manifest = golden("albert-base-v2-random")
    B, T = manifest[case]["shape"]
    ids = tensors[case + ".input_ids"][2]
    types = tensors[case + ".token_type_ids"][2]
    mask = tensors[case + ".attention_mask"][2]
    lhs_shape, lhs = tensors[case + ".last_hidden_state"][1:]
    H = lhs_shape[2]
    pooler = tensors[case + ".pooler_output"][2]
    rows = []
    for b in range(B):
        r = slice(b * T, (b + 1) * T)
        vecs = [lhs[(b * T + t) * H:(b * T + t + 1) * H] for t in range(T) if mask[b * T + t]]
        rows.append((ids[r], types[r], mask[r], vecs, pooler[b * H:(b + 1) * H]))
    return rows


def max_abs_diff(a, b):
    """Max |a - b| over two equally shaped nested lists of floats."""
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), "shapes differ"
        return max((max_abs_diff(x, y) for x, y in zip(a, b)), default=0.0)
    return abs(a - b)


def parse_npy(data):
    """(descr, fortran_order, shape, flat values) of an NPY v1.0 file of
    float32, float16, int8 or uint8."""
    assert data[:8] == b"\x93NUMPY\x01\x00", "bad magic or version"
    (n,) = struct.unpack_from("<H", data, 8)
    assert (10 + n) % 64 == 0, "header not padded to 64 bytes"
    header = data[10:10 + n].decode("latin1")
    assert header.endswith("\n")
    descr = re.search(r"'descr': '([^']*)'", header).group(1)
    fortran = re.search(r"'fortran_order': (\w+)", header).group(1)
    shape = tuple(int(x) for x in re.search(r"'shape': \(([^)]*)\)", header).group(1).split(",")
                  if x.strip())
    body = data[10 + n:]
    code = {"<f4": "f", "<f2": "e", "|i1": "b", "|u1": "B"}[descr]
    values = list(struct.unpack("<%d%s" % (len(body) // struct.calcsize(code), code), body))
    return descr, fortran, shape, values


class Base(TempDirCase):
    prefix = "albert-cli-test-"

    def ok(self, args, stdin=b"", env=None):
        rc, out, err = run(args, stdin, env)
        self.assertEqual(rc, 0, "albert-cl %s failed: %s" % (" ".join(args), err))
        return out, err

    def devices(self):
        """{id: precisions} from --list-devices."""
        out, _ = self.ok(["--list-devices"])
        lines = out.decode().splitlines()
        column = lines[0].split("\t").index("precisions")
        return {row.split("\t")[0]: row.split("\t")[column].split(",") for row in lines[1:]}

    def devices_under_test(self):
        """devices() but the OpenCL ones opencl_tested() leaves out."""
        kept = {d for d, _ in opencl_tested()}
        return {d: p for d, p in self.devices().items() if d == "cpu" or d in kept}

    def embed(self, args, stdin=b""):
        return records(self.ok(args, stdin)[0])

    def golden_folder(self, case):
        """tests/data/sentence-transformers/CASE with tiny-gelu's files."""
        st = os.path.join(self.tmp, "golden-" + case)
        shutil.copytree(os.path.join(SOURCE_DIR, "data", "sentence-transformers", case), st)
        for f in ["config.json", "model.safetensors", "spiece.model"]:
            os.symlink(os.path.join(model("tiny-gelu"), f), os.path.join(st, f))
        os.symlink(os.path.join(model("albert-base-v2"), "tokenizer.json"),
                   os.path.join(st, "tokenizer.json"))
        with open(os.path.join(st, "expected.json"), encoding="utf-8") as f:
            return st, json.load(f)

    def fails(self, args, code, stdin=b"", must_mention=(), cwd=None, env=None, before=None):
        """Checks exit status CODE, a message naming MUST_MENTION and stdout
        holding whole records only (those before the failure: BEFORE of them
        when given)."""
        rc, out, err = run(args, stdin, cwd=cwd, env=env)
        self.assertEqual(rc, code, "albert-cl %s: status %d, stderr %r" % (args, rc, err))
        self.assertTrue(out == b"" or out.endswith(b"\n"), "a torn record on failure")
        got = records(out) if code != 2 else []
        self.assertEqual([r["index"] for r in got], list(range(len(got))), "records in order")
        if before is not None:
            self.assertEqual(len(got), before, "records written before the failure")
        if code == 2:
            self.assertEqual(out, b"", "output on a usage error")
        self.assertTrue(err.startswith("albert-cl: "), err)
        for word in must_mention:
            self.assertIn(word, err)
        return err


class HelpAndDevices(Base):
    def test_help_documents_every_option(self):
        out, _ = self.ok(["--help"])
        text = out.decode()
        for opt in ["--model", "--device", "--list-devices", "--input-format", "--pooling",
                    "--normalize", "--tokenize", "--tokenizer", "spiece.model", "tokenizer.json",
                    "slow", "fast", "--precision", "bf16", "--max-length", "--format", "--output",
                    "--batch-size", "--threads", "--validate", "--validate-tol", "--version",
                    "tsv", "jsonl", "npy", "safetensors", "pooler", "cls", "mean", "none", "text_pair",
                    "input_ids", "attention_mask", "token_type_ids", "--text-field",
                    "--pair-field", "--id-field", "--truncate-dim"]:
            self.assertIn(opt, text)

    def test_version_matches_header(self):
        header = slurp(os.path.join(SOURCE_DIR, "..", "include", "albert_cl.h"), False)
        version = re.search(r'#define ALBERT_CL_VERSION "([^"]+)"', header).group(1)
        out, _ = self.ok(["--version"])
        self.assertEqual(out.decode().split(), ["albert-cl", version])
        cmake = slurp(os.path.join(SOURCE_DIR, "..", "CMakeLists.txt"), False)
        self.assertIn("project(albert_cl VERSION %s " % version, cmake,
                      "the library's version (and so its file name) is the header's")

    def test_list_devices_lists_cpu(self):
        out, _ = self.ok(["--list-devices"])
        lines = out.decode().splitlines()
        self.assertTrue(lines[0].startswith("index\t"), lines)
        self.assertEqual(lines[-1].split("\t")[0], "cpu")
        for i, line in enumerate(lines[1:-1]):
            self.assertEqual(line.split("\t")[0], str(i))
            self.assertEqual(len(line.split("\t")), len(lines[0].split("\t")))

    def test_cpu_row_names_the_gemm_instructions_that_fit_the_cpu(self):
        # oneDNN picks its kernels from CPUID; ONEDNN_MAX_CPU_ISA caps them.
        def cpu_blas(env):
            rc, out, err = run(["--list-devices"], env=env)
            self.assertEqual(rc, 0, err)
            return out.decode().splitlines()[-1].split("\t")[6]
        auto = cpu_blas({})
        self.assertRegex(auto, r"^oneDNN \d+\.\d+\.\d+ [a-z0-9_]+$")
        flags = set()
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
        if "ONEDNN_MAX_CPU_ISA" not in os.environ:
            if "avx512bw" in flags:
                self.assertIn(" avx512_core", auto)
            elif "avx2" in flags:
                self.assertIn(" avx2", auto)
        self.assertTrue(cpu_blas({"ONEDNN_MAX_CPU_ISA": "AVX2"}).endswith(" avx2"))

    def test_list_devices_without_opencl(self):
        # The ICD loader finds no platform in an empty vendor folder.
        empty = os.path.join(self.tmp, "vendors")
        os.mkdir(empty)
        rc, out, err = run(["--list-devices"], env={"OCL_ICD_VENDORS": empty})
        self.assertEqual(rc, 0, err)
        lines = out.decode().splitlines()
        self.assertEqual([l.split("\t")[0] for l in lines], ["index", "cpu"])
        self.assertIn("no OpenCL device", err)
        # The default device then falls back to the CPU backend.
        rc, out, err = run(["--model", TINY, SAMPLE], env={"OCL_ICD_VENDORS": empty})
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(records(out)), 8)


class Precision(Base):
    def test_every_device_lists_its_precisions(self):
        devices = self.devices()
        for device, precisions in devices.items():
            self.assertEqual(precisions[0], "fp32", device)
            self.assertTrue(set(precisions) <= {"fp32", "bf16", "fp16", "int8"}, precisions)

    def test_a_precision_the_device_does_not_run_is_a_usage_error(self):
        self.fails(["--model", TINY, "--precision", "fp64", SAMPLE], 2,
                   must_mention=["--precision", "fp64", "fp32, bf16, fp16, int8"])
        for device, precisions in self.devices().items():
            for precision in ["bf16", "fp16", "int8"]:
                if precision in precisions:
                    continue
                err = self.fails(["--model", TINY, "--device", device, "--precision", precision,
                                  SAMPLE], 2, must_mention=["--precision " + precision])
                self.assertIn("device %s (" % device, err)
                self.assertIn("runs " + ",".join(precisions), err)

    def check_reduced_on_the_cpu(self, precision):
        if precision not in self.devices()["cpu"]:
            # Only where the CPU lacks the instructions; test_precision checks
            # the cpu lists a precision exactly when it has them.
            self.fails(["--model", TINY, "--device", "cpu", "--precision", precision, SAMPLE], 2)
            return
        self.check_reduced("cpu", precision)

    def check_reduced(self, device, precision, extra=()):
        """PRECISION on DEVICE against fp32 there, and --validate against the CPU."""
        args = ["--model", TINY, "--device", device] + list(extra) + [SAMPLE]
        fp32 = self.embed(args)
        reduced = self.embed(args + ["--precision", precision])
        self.assertEqual(len(reduced), len(fp32))
        for a, b in zip(fp32, reduced):
            self.assertEqual(a["input_ids"], b["input_ids"])
            dot = sum(x * y for x, y in zip(a["embedding"], b["embedding"]))
            na = sum(x * x for x in a["embedding"]) ** 0.5
            nb = sum(x * x for x in b["embedding"]) ** 0.5
            self.assertGreater(dot / (na * nb), 0.999, (precision, a["index"]))
            self.assertNotEqual(a["embedding"], b["embedding"], precision + " changed nothing")
        # --validate compares with the fp32 CPU backend, its tolerance the precision's.
        _, err = self.ok(args + ["--precision", precision, "--validate", "-o",
                                 os.path.join(self.tmp, "out.jsonl")])
        cosines = [float(c) for c in re.findall(r"min cosine ([0-9.]+)", err)]
        self.assertEqual(len(cosines), 2, err)  # pooled and last_hidden_state
        self.assertTrue(all(0.999 < c <= 1.0 for c in cosines), cosines)
        self.fails(args + ["--precision", precision, "--validate", "--validate-tol", "1e-6"], 1,
                   must_mention=["beyond the tolerance"])

    def test_bf16_on_the_cpu(self):
        self.check_reduced_on_the_cpu("bf16")

    def test_int8_on_the_cpu(self):
        self.check_reduced_on_the_cpu("int8")

    def test_fp16_on_every_opencl_device(self):
        # With or without cl_khr_fp16 (PoCL here has none, like NVIDIA's
        # drivers), under the device's profile and the GPU one (the other
        # fp16 GEMM).
        opencl = {d: p for d, p in self.devices().items() if d != "cpu"}
        self.assertTrue(opencl, "the suite installs PoCL and Intel's OpenCL runtime, "
                                "yet no OpenCL device is listed")
        self.assertEqual([d for d, p in opencl.items() if "fp16" not in p], [], opencl)
        gpu = os.path.join(SOURCE_DIR, "..", "profiles", "gpu-generic.json")
        for device in opencl:
            for extra in ([], ["--profile-file", gpu]):
                with self.subTest(device=device, extra=extra):
                    self.check_reduced(device, "fp16", extra)


class Tokenize(Base):
    def test_golden_tokenization_of_every_line(self):
        cases = [json.loads(l) for l in
                 slurp(os.path.join(SHARED, "golden", "tokenize.jsonl"), False).split("\n") if l]
        path = self.write("golden.txt", "".join(c["text"] + "\n" for c in cases))
        # albert-base-v2 has no weights: --tokenize must not need them.
        out, err = self.ok(["--model", model("albert-base-v2"), "--tokenize", path])
        got = records(out)
        self.assertEqual(len(got), len(cases))
        truncated = 0
        for i, (rec, case) in enumerate(zip(got, cases)):
            want = case["ids"]
            if len(want) > 512:
                want = want[:511] + [SEP]
                truncated += 1
                self.assertIn("%s:%d: %d tokens truncated to 512" % (path, i + 1, len(case["ids"])),
                              err)
            self.assertEqual(rec, {"index": i, "input_ids": want}, case["text"])
        self.assertGreater(truncated, 0, "golden set has a long line")

    def test_max_length_capped_by_model(self):
        words = " ".join(["word"] * 100)
        out, err = self.ok(["--model", TINY, "--tokenize", "--max-length", "512"],
                           stdin=words.encode())
        ids = records(out)[0]["input_ids"]
        self.assertEqual(len(ids), 64)  # tiny-gelu's max_position_embeddings
        self.assertEqual(ids[-1], SEP)
        self.assertIn("<stdin>:1: 102 tokens truncated to 64", err)

    def test_truncation_side_left_keeps_the_end(self):
        """--truncation-side left: each part keeps its last tokens, as many as
        on the right (the same longest-first budget), [CLS]/[SEP] where they
        are: HF's truncation_side "left" (the fast kind against HF tokenizers
        itself: test_tokenizer_fast); a text that fits is the same either way."""
        cases = [json.loads(l) for l in
                 slurp(os.path.join(SHARED, "golden", "tokenize.jsonl"), False).split("\n") if l]
        texts = [c["text"] for c in cases[:60]]
        objs = [{"text": t} for t in texts] + [{"text": a, "text_pair": b}
                                              for a, b in zip(texts[::2], texts[1::2])]
        full = self.tokenize_jsonl("slow", objs, ["--max-length", "512"])
        cut = 0
        for n in (5, 9, 16):
            right = self.tokenize_jsonl("slow", objs, ["--max-length", str(n)])
            left = self.tokenize_jsonl("slow", objs, ["--max-length", str(n),
                                                      "--truncation-side", "left"])
            for f, r, l in zip(full, right, left):
                ids, types = f["input_ids"], f.get("token_type_ids", [0] * len(f["input_ids"]))
                a = [i for i, t in zip(ids, types) if t == 0][1:-1]
                b = [i for i, t in zip(ids, types) if t == 1][:-1]
                rtypes = r.get("token_type_ids", [0] * len(r["input_ids"]))
                ka, kb = rtypes.count(0) - 2, max(rtypes.count(1) - 1, 0)
                want = [CLS] + (a[len(a) - ka:] if ka else []) + [SEP]
                if "token_type_ids" in f:
                    want += (b[len(b) - kb:] if kb else []) + [SEP]
                self.assertEqual(l["input_ids"], want, (n, f))
                self.assertEqual(l.get("token_type_ids"), r.get("token_type_ids"))
                cut += l["input_ids"] != r["input_ids"]
        self.assertGreater(cut, 50, "left and right differ where texts are cut")
        self.fails(["--model", TINY, "--tokenize", "--truncation-side", "middle"], 2,
                   must_mention=["--truncation-side"])

    def test_truncation_side_left_embeds_the_kept_end(self):
        text = "one two three four five six seven eight nine ten eleven twelve thirteen\n"
        args = ["--model", TINY, "--max-length", "10", "--truncation-side", "left"]
        ids = records(self.ok(args + ["--tokenize"], stdin=text.encode())[0])[0]["input_ids"]
        self.assertEqual(len(ids), 10)
        got = self.embed(args + ["--device", "cpu"], text.encode())[0]
        want = self.embed(["--model", TINY, "--device", "cpu", "--input-format", "jsonl"],
                          (json.dumps({"input_ids": ids}) + "\n").encode())[0]
        self.assertEqual(got["input_ids"], ids)
        self.assertLess(max_abs_diff([got["embedding"]], [want["embedding"]]), 1e-5)
        right = self.embed(["--model", TINY, "--max-length", "10", "--device", "cpu"],
                           text.encode())[0]
        self.assertGreater(max_abs_diff([got["embedding"]], [right["embedding"]]), 1e-3)

    def test_truncation_side_from_tokenizer_config(self):
        """Without --truncation-side the folder's tokenizer_config.json says,
        as HF's tokenizers take it; the flag wins; another value is refused."""
        folder = os.path.join(self.tmp, "left-folder")
        os.mkdir(folder)
        for name in ("config.json", "model.safetensors", "spiece.model"):
            os.symlink(os.path.join(TINY, name), os.path.join(folder, name))
        text = b"one two three four five six seven eight nine ten eleven twelve\n"

        def ids(*extra):
            out = self.ok(["--model", folder, "--tokenize", "--max-length", "6"] + list(extra),
                          stdin=text)[0]
            return records(out)[0]["input_ids"]

        right = ids()
        config = os.path.join(folder, "tokenizer_config.json")
        with open(config, "w") as f:
            json.dump({"truncation_side": "left", "do_lower_case": True}, f)
        self.assertEqual(ids(), ids("--truncation-side", "left"))
        self.assertNotEqual(ids(), right)
        self.assertEqual(ids("--truncation-side", "right"), right)
        with open(config, "w") as f:
            json.dump({"truncation_side": "middle"}, f)
        self.fails(["--model", folder, "--tokenize"], 1, stdin=text,
                   must_mention=[config, "truncation_side"])
        # jsonl input, which may need no tokenizer, still says why it fails.
        self.fails(["--model", folder, "--device", "cpu", "--input-format", "jsonl"], 1,
                   stdin=b'{"text": "a"}\n', must_mention=[config, "truncation_side"])
        # The fast kind falls back on tokenizer.json's truncation.direction.
        fast = os.path.join(self.tmp, "fast-left")
        os.mkdir(fast)
        base = model("albert-base-v2")
        os.symlink(os.path.join(base, "config.json"), os.path.join(fast, "config.json"))
        with open(os.path.join(base, "tokenizer.json"), encoding="utf-8") as f:
            spec = json.load(f)
        spec["truncation"] = {"direction": "Left", "max_length": 512, "strategy": "LongestFirst",
                              "stride": 0}
        with open(os.path.join(fast, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(spec, f)

        def fast_ids(*extra):
            out = self.ok(["--model", fast, "--tokenize", "--tokenizer", "fast", "--max-length",
                           "6"] + list(extra), stdin=text)[0]
            return records(out)[0]["input_ids"]

        self.assertEqual(fast_ids(), fast_ids("--truncation-side", "left"))
        self.assertNotEqual(fast_ids(), fast_ids("--truncation-side", "right"))

    PAIRS = [("How old are you?", "I am 6 years old."), ("one", ""),
             ("Paris is a beautiful city", "x [SEP] y")]

    def tokenize_jsonl(self, kind, objs, extra=()):
        data = "".join(json.dumps(o) + "\n" for o in objs).encode()
        return self.embed(["--model", model("albert-base-v2"), "--tokenize", "--tokenizer", kind,
                           "--input-format", "jsonl"] + list(extra), data)

    def check_pair_types(self, kind):
        # A pair is its two texts' encodings joined, the second one's [CLS] dropped.
        objs = [{"text": a, "text_pair": b} for a, b in self.PAIRS]
        objs += [{"text": t} for pair in self.PAIRS for t in pair]
        recs = self.tokenize_jsonl(kind, objs)
        singles = [r["input_ids"] for r in recs[len(self.PAIRS):]]
        for i, rec in enumerate(recs[:len(self.PAIRS)]):
            a, b = singles[2 * i], singles[2 * i + 1]
            self.assertEqual(rec, {"index": i, "input_ids": a + b[1:],
                                   "token_type_ids": [0] * len(a) + [1] * (len(b) - 1)},
                             (kind, self.PAIRS[i]))
        for rec in recs[len(self.PAIRS):]:
            self.assertEqual(sorted(rec), ["index", "input_ids"], "a single text has no types")
        tsv = "".join("%s\t%s\n" % pair for pair in self.PAIRS).encode()
        from_tsv = self.embed(["--model", model("albert-base-v2"), "--tokenize", "--tokenizer",
                               kind, "--input-format", "tsv"], tsv)
        self.assertEqual(from_tsv, recs[:len(self.PAIRS)], kind)

    def check_truncated_pair_types(self, kind):
        long_a, long_b = " ".join(["alpha"] * 20), " ".join(["beta"] * 20)
        rec, = self.tokenize_jsonl(kind, [{"text": long_a, "text_pair": long_b}],
                                   ["--max-length", "8"])
        ids, types = rec["input_ids"], rec["token_type_ids"]
        self.assertEqual(len(ids), 8)
        self.assertEqual(len(types), 8)
        first_sep = ids.index(SEP)
        self.assertEqual((ids[0], ids[-1]), (CLS, SEP))
        self.assertEqual(types, [0] * (first_sep + 1) + [1] * (7 - first_sep), rec)
        self.assertGreater(first_sep, 1, "both sentences keep tokens")
        self.assertLess(first_sep, 6, "both sentences keep tokens")

    def test_pair_output_has_token_type_ids(self):
        for kind in ["slow", "fast"]:
            self.check_pair_types(kind)
            self.check_truncated_pair_types(kind)

    def test_fast_tokenizer_feeds_the_model(self):
        # tiny-gelu's weights (its vocabulary is albert-base-v2's) with the fast
        # tokenizer: each record carries the fast ids and the embedding of
        # exactly those ids, on lines where the two kinds differ.
        folder = os.path.join(self.tmp, "tiny-fast")
        os.mkdir(folder)
        for name in ("config.json", "model.safetensors"):
            os.symlink(os.path.join(TINY, name), os.path.join(folder, name))
        os.symlink(os.path.join(model("albert-base-v2"), "tokenizer.json"),
                   os.path.join(folder, "tokenizer.json"))
        lines = ["(3.0,4.0)", "It costs $1,299.99, tax incl.", "  leading  "]
        text = "".join(line + "\n" for line in lines).encode()
        fast = self.embed(["--model", folder, "--tokenizer", "fast", "--device", "cpu"], text)
        slow = self.embed(["--model", TINY, "--device", "cpu"], text)
        ids = "".join(json.dumps({"input_ids": r["input_ids"]}) + "\n" for r in fast).encode()
        direct = self.embed(["--model", TINY, "--device", "cpu", "--input-format", "jsonl"], ids)
        self.assertEqual(len(fast), len(lines))
        for f, s, d in zip(fast, slow, direct):
            self.assertNotEqual(f["input_ids"], s["input_ids"], "the kinds agree on this line")
            self.assertEqual(f, d, "the fast ids did not reach the model as they are")

    def test_fast_tokenizer_needs_tokenizer_json(self):
        # tiny-gelu has spiece.model only.
        err = self.fails(["--model", TINY, "--tokenize", "--tokenizer", "fast", SAMPLE], 1,
                         must_mention=[os.path.join(TINY, "tokenizer.json")])
        self.assertEqual(len(err.splitlines()), 1, err)
        out, _ = self.ok(["--model", TINY, "--tokenize", "--tokenizer", "slow", SAMPLE])
        self.assertEqual(out, self.ok(["--model", TINY, "--tokenize", SAMPLE])[0],
                         "slow is the default")

    def test_max_length_option(self):
        out, err = self.ok(["--model", TINY, "--tokenize", "--max-length", "5"],
                           stdin=b"one two three four five six\nab\n")
        recs = records(out)
        self.assertEqual(len(recs[0]["input_ids"]), 5)
        self.assertEqual(recs[0]["input_ids"][0], CLS)
        self.assertEqual(recs[0]["input_ids"][-1], SEP)
        self.assertEqual(err.count("truncated"), 1, "one warning, for line 1 only")


class Lines(Base):
    def test_empty_blank_and_final_lines(self):
        out, _ = self.ok(["--model", TINY, "--tokenize"], stdin=b"a\n\n   \nb")
        recs = records(out)
        self.assertEqual([r["index"] for r in recs], [0, 1, 2, 3])
        self.assertEqual(recs[1]["input_ids"], [CLS, SEP])
        self.assertEqual(recs[2]["input_ids"], [CLS, SEP])
        self.assertEqual(recs[3]["input_ids"][-1], SEP)
        out2, _ = self.ok(["--model", TINY, "--tokenize"], stdin=b"a\n\n   \nb\n")
        self.assertEqual(out, out2, "a trailing newline adds no record")
        out3, _ = self.ok(["--model", TINY, "--tokenize"], stdin=b"")
        self.assertEqual(out3, b"", "empty input, no records")

    def test_empty_line_embeds(self):
        recs = self.embed(["--model", TINY, "--device", "cpu", "--pooling", "none"], b"\n")
        self.assertEqual(recs[0]["input_ids"], [CLS, SEP])
        self.assertEqual(len(recs[0]["embedding"]), 2)
        self.assertEqual(len(recs[0]["embedding"][0]), 32)

    def test_stdin_dash_and_file_agree(self):
        data = slurp(SAMPLE)
        args = ["--model", TINY, "--device", "cpu"]
        from_file, _ = self.ok(args + [SAMPLE])
        from_stdin, _ = self.ok(args, stdin=data)
        from_dash, _ = self.ok(args + ["-"], stdin=data)
        self.assertEqual(from_file, from_stdin)
        self.assertEqual(from_file, from_dash)
        self.assertEqual(len(records(from_file)), data.count(b"\n"))

    def test_multiple_files_continue_the_index(self):
        a = self.write("a.txt", "first\nsecond\n")
        b = self.write("b.txt", "third")
        both = self.write("both.txt", "first\nsecond\nthird\n")
        args = ["--model", TINY, "--device", "cpu", "--pooling", "mean"]
        out, _ = self.ok(args + [a, b])
        self.assertEqual([r["index"] for r in records(out)], [0, 1, 2])
        self.assertEqual(out, self.ok(args + [both])[0])

    def test_long_line_truncated_with_warning(self):
        path = self.write("long.txt", "short line\n" + " ".join(["hello"] * 30000) + "\n")
        out, err = self.ok(["--model", BASE, "--device", "cpu", path])
        recs = records(out)
        self.assertEqual(len(recs[1]["input_ids"]), 512)
        self.assertEqual(recs[1]["input_ids"][-1], SEP)
        self.assertEqual(len(recs[1]["embedding"]), 768)
        self.assertRegex(err, r"albert-cl: warning: %s:2: \d+ tokens truncated to 512"
                         % re.escape(path))
        self.assertNotIn(":1:", err)


class Numbers(Base):
    def test_paris_matches_golden(self):
        (ids, _, _, vecs, pooler), = golden_rows("paris")
        text = b"Paris is a beautiful city\n"
        rec, = self.embed(["--model", BASE, "--device", "cpu", "--pooling", "none"], text)
        self.assertEqual(rec["input_ids"], ids)
        self.assertLess(max_abs_diff(rec["embedding"], vecs), 1e-4)
        rec, = self.embed(["--model", BASE, "--device", "cpu"], text)
        self.assertLess(max_abs_diff(rec["embedding"], pooler), 1e-4)

    def test_pooling_modes_agree(self):
        args = ["--model", BASE, "--device", "cpu"]
        text = slurp(SAMPLE)
        tokens = self.embed(args + ["--pooling", "none"], text)
        cls = self.embed(args + ["--pooling", "cls"], text)
        mean = self.embed(args + ["--pooling", "mean"], text)
        most = self.embed(args + ["--pooling", "max"], text)
        pooler = self.embed(args + ["--pooling", "pooler"], text)
        default = self.embed(args, text)
        for t, c, m, x, p, d in zip(tokens, cls, mean, most, pooler, default):
            vecs = t["embedding"]
            self.assertEqual(len(vecs), len(t["input_ids"]))
            self.assertLess(max_abs_diff(c["embedding"], vecs[0]), 1e-5)
            want = [sum(col) / len(vecs) for col in zip(*vecs)]
            self.assertLess(max_abs_diff(m["embedding"], want), 1e-5)
            self.assertLess(max_abs_diff(x["embedding"], [max(col) for col in zip(*vecs)]), 1e-5)
            self.assertEqual(p, d, "pooler is the default")
            self.assertTrue(all(-1 <= x <= 1 for x in p["embedding"]), "pooler is a tanh")
            self.assertGreater(max_abs_diff(p["embedding"], c["embedding"]), 1e-3)

    def test_normalize_gives_unit_norms(self):
        for pooling in ["pooler", "cls", "mean"]:
            args = ["--model", BASE, "--device", "cpu", "--pooling", pooling]
            plain = self.embed(args, slurp(SAMPLE))
            unit = self.embed(args + ["--normalize"], slurp(SAMPLE))
            for p, u in zip(plain, unit):
                norm = math.sqrt(sum(x * x for x in u["embedding"]))
                self.assertAlmostEqual(norm, 1.0, delta=1e-5)
                scale = math.sqrt(sum(x * x for x in p["embedding"]))
                self.assertLess(max_abs_diff([x / scale for x in p["embedding"]],
                                             u["embedding"]), 1e-5)

    def test_pairs_tsv_and_jsonl_match_golden(self):
        rows = golden_rows("pair")
        _, manifest = golden("albert-base-v2-random")
        texts, pairs = manifest["pair"]["texts"], manifest["pair"]["pairs"]
        tsv = "".join("%s\t%s\n" % tp for tp in zip(texts, pairs))
        jsonl = "".join(json.dumps({"text": t, "text_pair": p}) + "\n" for t, p in zip(texts, pairs))
        args = ["--model", BASE, "--device", "cpu", "--pooling", "none"]
        from_tsv = self.embed(args + ["--input-format", "tsv"], tsv.encode())
        from_jsonl = self.embed(args + ["--input-format", "jsonl"], jsonl.encode())
        self.assertEqual(from_tsv, from_jsonl)
        for rec, (ids, types, mask, vecs, _) in zip(from_tsv, rows):
            n = sum(mask)
            self.assertEqual(rec["input_ids"], ids[:n])
            self.assertNotIn("token_type_ids", rec, "only --tokenize shows types")
            self.assertIn(1, types, "the second sentence has token type 1")
            # Token types change the numbers: matching golden shows they are used.
            self.assertLess(max_abs_diff(rec["embedding"], vecs), 1e-4)

    def test_jsonl_input_ids_with_masks(self):
        rows = golden_rows("batch_padded")
        # Padded rows with their masks, plus one row without mask or types.
        lines = [json.dumps({"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
                 for ids, types, mask, _, _ in rows]
        ids0, _, mask0, _, _ = rows[0]
        lines.append(json.dumps({"input_ids": ids0[:sum(mask0)]}))
        data = ("\n".join(lines) + "\n").encode()
        args = ["--model", BASE, "--device", "cpu", "--input-format", "jsonl"]
        tokens = self.embed(args + ["--pooling", "none"], data)
        pooled = self.embed(args, data)
        for i, (ids, _, mask, vecs, pooler) in enumerate(rows):
            self.assertEqual(tokens[i]["input_ids"], ids, "ids echo as given")
            self.assertEqual(len(tokens[i]["embedding"]), sum(mask), "mask-1 tokens only")
            self.assertLess(max_abs_diff(tokens[i]["embedding"], vecs), 1e-4)
            self.assertLess(max_abs_diff(pooled[i]["embedding"], pooler), 1e-4)
        self.assertLess(max_abs_diff(tokens[-1]["embedding"], rows[0][3]), 1e-4)

    def test_batch_size_invariance(self):
        for pooling in ["none", "mean"]:
            args = ["--model", BASE, "--device", "cpu", "--pooling", pooling, SAMPLE]
            one = records(self.ok(args + ["--batch-size", "1"])[0])
            many = records(self.ok(args + ["--batch-size", "32"])[0])
            self.assertEqual([r["input_ids"] for r in one], [r["input_ids"] for r in many])
            self.assertLess(max_abs_diff([r["embedding"] for r in one],
                                         [r["embedding"] for r in many]), 1e-5)

    def test_npy_matches_jsonl(self):
        args = ["--model", BASE, "--device", "cpu", "--pooling", "mean", SAMPLE]
        recs = records(self.ok(args)[0])
        data, _ = self.ok(args + ["--format", "npy"])
        descr, fortran, shape, values = parse_npy(data)
        self.assertEqual((descr, fortran, shape), ("<f4", "False", (len(recs), 768)))
        want = [x for r in recs for x in r["embedding"]]
        self.assertEqual(len(values), len(want))
        # jsonl prints float32 with 9 digits, which round-trips exactly.
        self.assertEqual(values, [struct.unpack("<f", struct.pack("<f", x))[0] for x in want])

    def safetensors(self, args, stdin=b""):
        """The tensors of albert-cl ARGS --format safetensors, whose data
        starts 64-byte aligned after a header padded with spaces."""
        data, _ = self.ok(args + ["--format", "safetensors"], stdin)
        (n,) = struct.unpack_from("<Q", data, 0)
        self.assertEqual((8 + n) % 64, 0, "data not 64-byte aligned")
        header = data[8:8 + n].decode("utf-8")
        self.assertEqual(header, header.rstrip(" ").ljust(n), "padding other than spaces")
        return parse_safetensors(data)

    def test_safetensors_matches_jsonl(self):
        """Pooled vectors as "embeddings" [N, H]; with --pooling none every
        record's token vectors in turn, and "lengths" [N]; equal to jsonl's
        floats.  An empty input gives tensors of no rows."""
        for model, pooling, width in [(BASE, "mean", 768), (TINY, "none", 32)]:
            args = ["--model", model, "--device", "cpu", "--pooling", pooling, SAMPLE]
            recs = records(self.ok(args)[0])
            got = self.safetensors(args)
            vectors = [r["embedding"] for r in recs]
            if pooling == "none":
                self.assertEqual(sorted(got), ["embeddings", "lengths"])
                self.assertEqual(got["lengths"], ("I32", [len(recs)], [len(v) for v in vectors]))
                vectors = [t for v in vectors for t in v]
            else:
                self.assertEqual(sorted(got), ["embeddings"])
            dtype, shape, values = got["embeddings"]
            self.assertEqual((dtype, shape), ("F32", [len(vectors), width]))
            want = [x for v in vectors for x in v]
            self.assertEqual(values, [struct.unpack("<f", struct.pack("<f", x))[0] for x in want])
            empty = self.safetensors(args[:-1], b"")
            self.assertEqual(empty["embeddings"], ("F32", [0, width], []))
            if pooling == "none":
                self.assertEqual(empty["lengths"], ("I32", [0], []))

    def test_safetensors_all_or_nothing(self):
        """-o FILE appears only when the run succeeds; what safetensors
        cannot hold is a usage error."""
        path = os.path.join(self.tmp, "out.safetensors")
        bad = os.path.join(self.tmp, "bad.txt")
        with open(bad, "wb") as f:
            f.write(b"fine\n\xff\xfe\n")
        base = ["--model", TINY, "--device", "cpu", "--format", "safetensors"]
        self.fails(base + ["--pooling", "none", "-o", path, bad], 1, must_mention=[bad + ":2"])
        self.assertEqual(os.listdir(self.tmp), ["bad.txt"], "no output, no temporary file")
        for extra, word in [(["--tokenize"], "safetensors"), (["--on-error", "skip"], "safetensors"),
                            (["--resume", "-o", path], "jsonl")]:
            self.fails(base + extra + [SAMPLE], 2, must_mention=[word])
        self.fails(["--model", TINY, "--format", "npy", "--pooling", "none", SAMPLE], 2,
                   must_mention=["--format safetensors"])

    def test_output_file(self):
        path = os.path.join(self.tmp, "out.npy")
        args = ["--model", TINY, "--device", "cpu", "--format", "npy", SAMPLE]
        out, _ = self.ok(args + ["-o", path])
        self.assertEqual(out, b"")
        self.assertEqual(slurp(path), self.ok(args)[0])
        out, _ = self.ok(args + ["--output=" + path])
        self.assertEqual(os.listdir(self.tmp), ["out.npy"], "no temporary file left")

    def test_default_device_agrees_with_cpu(self):
        args = ["--model", BASE, "--pooling", "none", SAMPLE]
        cpu = records(self.ok(args + ["--device", "cpu"])[0])
        default = records(self.ok(args)[0])
        self.assertLess(max_abs_diff([r["embedding"] for r in cpu],
                                     [r["embedding"] for r in default]), 1e-4)

    def test_validate_reports_differences(self):
        out, err = self.ok(["--model", BASE, "--validate", "--pooling", "mean", SAMPLE])
        self.assertEqual(len(records(out)), 8)
        for what in ["pooled", "last_hidden_state"]:
            m = re.search(r"validate: %s: max abs diff (\S+), max rel diff (\S+)" % what, err)
            self.assertIsNotNone(m, err)
            self.assertLessEqual(float(m.group(1)), 1e-4)


class SentenceTransformers(Base):
    """A sentence-transformers folder (modules.json): its pooling, Normalize
    module, max_seq_length, texts stripped and the fast tokenizer are the
    defaults, as SentenceTransformer.encode does."""

    POOLING_KEYS = ["pooling_mode_cls_token", "pooling_mode_mean_tokens",
                    "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
                    "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"]

    def folder(self, name, modes=("pooling_mode_mean_tokens",), normalize=True,
               bert_config='{"max_seq_length": 8, "do_lower_case": false}', modules=None,
               pooling_extra=None, bert_name="sentence_bert_config.json", st_config=None):
        """tiny-gelu's files (and albert-base-v2's tokenizer.json, the same
        vocabulary) with sentence-transformers' own."""
        d = os.path.join(self.tmp, name)
        os.makedirs(os.path.join(d, "1_Pooling"))
        for f in ["config.json", "model.safetensors", "spiece.model"]:
            os.symlink(os.path.join(model("tiny-gelu"), f), os.path.join(d, f))
        os.symlink(os.path.join(model("albert-base-v2"), "tokenizer.json"),
                   os.path.join(d, "tokenizer.json"))
        kinds = ["Transformer", "Pooling"] + (["Normalize"] if normalize else [])
        paths = ["", "1_Pooling", "2_Normalize"]
        if modules is None:
            modules = json.dumps([{"idx": i, "name": str(i), "path": paths[i],
                                   "type": "sentence_transformers.models." + k}
                                  for i, k in enumerate(kinds)])
        with open(os.path.join(d, "modules.json"), "w") as f:
            f.write(modules)
        pooling = {"word_embedding_dimension": 32, "include_prompt": True}
        pooling.update({k: k in modes for k in self.POOLING_KEYS})
        pooling.update(pooling_extra or {})
        with open(os.path.join(d, "1_Pooling", "config.json"), "w") as f:
            json.dump(pooling, f)
        if bert_config is not None:
            with open(os.path.join(d, bert_name), "w") as f:
                f.write(bert_config)
        if st_config is not None:
            with open(os.path.join(d, "config_sentence_transformers.json"), "w") as f:
                json.dump(st_config, f)
        return d

    # U+3000 and U+00A0 around a word: Python's str.strip() removes them; the
    # fast tokenizer left alone turns the trailing one into a "▁" token.
    TEXT = "\u3000Hello\u00a0\nthe quick brown fox jumps over the lazy dog\nshort  \n".encode()
    STRIPPED = b"Hello\nthe quick brown fox jumps over the lazy dog\nshort\n"

    def test_defaults_are_sentence_transformers(self):
        st = self.folder("st")
        got = self.embed(["--model", st, "--device", "cpu"], self.TEXT)
        want = self.embed(["--model", st, "--no-sentence-transformers", "--device", "cpu",
                           "--pooling", "mean", "--normalize", "--max-length", "8",
                           "--tokenizer", "fast"], self.STRIPPED)
        self.assertEqual(got, want)
        self.assertEqual(len(got[1]["input_ids"]), 8, "max_seq_length truncates")
        unstripped = self.embed(["--model", st, "--no-sentence-transformers", "--tokenizer",
                                 "fast", "--tokenize"], self.TEXT)
        self.assertEqual(unstripped[0]["input_ids"], [2, 10975, 13, 3], "the strip matters")
        self.assertEqual(got[0]["input_ids"], [2, 10975, 3])
        norms = [sum(x * x for x in r["embedding"]) for r in got]
        self.assertTrue(all(abs(n - 1) < 1e-5 for n in norms), norms)

    def test_cls_pooling_without_normalize_or_tokenizer_json(self):
        st = self.folder("st", modes=("pooling_mode_cls_token",), normalize=False,
                         bert_config=None)
        os.unlink(os.path.join(st, "tokenizer.json"))
        out, err = self.ok(["--model", st, "--device", "cpu"], self.TEXT)
        want = self.embed(["--model", model("tiny-gelu"), "--device", "cpu", "--pooling", "cls"],
                          self.STRIPPED)
        self.assertEqual(records(out), want)
        self.assertIn("has no tokenizer.json", err)
        self.assertNotIn("warning", self.ok(["--model", st, "--tokenizer", "slow", "--tokenize"],
                                            self.TEXT)[1])

    def test_pooling_mode_string_and_other_config_names(self):
        # pooling_mode overrides the flags, as Pooling.__init__ does;
        # sentence_albert_config.json is one of the names tried.
        st = self.folder("st", modes=("pooling_mode_mean_tokens",), normalize=False,
                         pooling_extra={"pooling_mode": "CLS"},
                         bert_config='{"max_seq_length": 5}',
                         bert_name="sentence_albert_config.json",
                         st_config={"prompts": {"query": "query: "}, "default_prompt_name": None})
        got = self.embed(["--model", st, "--device", "cpu"], self.TEXT)
        want = self.embed(["--model", st, "--no-sentence-transformers", "--device", "cpu",
                           "--pooling", "cls", "--max-length", "5", "--tokenizer", "fast"],
                          self.STRIPPED)
        self.assertEqual(got, want)
        self.assertEqual(len(got[1]["input_ids"]), 5)

    def test_options_override_and_opt_out(self):
        st = self.folder("st")
        plain = ["--model", model("tiny-gelu"), "--device", "cpu"]
        # The Normalize module normalises whatever pooling is asked for.
        self.assertEqual(self.embed(["--model", st, "--device", "cpu", "--pooling", "pooler",
                                     "--max-length", "512", "--tokenizer", "slow"], self.STRIPPED),
                         self.embed(plain + ["--normalize"], self.STRIPPED))
        self.assertEqual(self.embed(["--model", st, "--device", "cpu",
                                     "--no-sentence-transformers"], self.TEXT),
                         self.embed(plain, self.TEXT))

    # The golden folders whose pooling (and normalisation) the device runs:
    # every device gives them; the others pool, prompt, run Dense modules and
    # cut on the host, from the token vectors the first ones check, so the
    # cpu alone gives them (CI's time).
    ON_EVERY_DEVICE = {"mean-normalize", "cls", "max", "mean-sqrt-len", "weightedmean-normalize",
                       "lasttoken", "dense-tanh-normalize", "prompt-default-mean"}

    def test_equals_sentence_transformers_itself(self):
        """tests/data/sentence-transformers/CASE: the files SentenceTransformer.save
        wrote for tiny-gelu and what its encode() gave (tools/gen-st-golden.py)."""
        data = os.path.join(SOURCE_DIR, "data", "sentence-transformers")
        self.assertLessEqual(self.ON_EVERY_DEVICE, set(os.listdir(data)))
        for case in sorted(os.listdir(data)):
            with self.subTest(case=case):
                st, want = self.golden_folder(case)
                text = "".join(line + "\n" for line in want["lines"]).encode()
                # A case with prompts: the default one on every device, then
                # encode()'s other runs on the cpu (the prompt is the host's
                # work: the devices differ only in the token vectors).
                runs = [("" if case in self.ON_EVERY_DEVICE else "cpu", {"args": [], **want})]
                runs += [("cpu", r) for r in want.get("runs", [])]
                for device, (only, run) in itertools.product(self.devices_under_test(), runs):
                    if only and device != only:
                        continue
                    got = self.embed(["--model", st, "--device", device] + run["args"], text)
                    self.assertEqual([r["input_ids"] for r in got], run["input_ids"])
                    for i, (g, w) in enumerate(zip(got, run["embeddings"])):
                        self.assertLess(max_abs_diff(g["embedding"], w), 1e-5,
                                        "device %s, %s, line %d" % (device, run["args"], i))

    def test_several_pooling_modes(self):
        """--pooling mean+max: max's vector, then mean's (sentence-transformers'
        order, whatever the order given), in every format; a folder's
        several modes are its default; what does not combine is refused."""
        plain = ["--model", model("tiny-gelu"), "--device", "cpu"]
        text = b"Paris is a city\nx\n"
        both = self.embed(plain + ["--pooling", "max+mean"], text)
        self.assertEqual(both, self.embed(plain + ["--pooling", "mean+max"], text))
        most = self.embed(plain + ["--pooling", "max"], text)
        mean = self.embed(plain + ["--pooling", "mean"], text)
        for b, x, m in zip(both, most, mean):
            self.assertEqual(b["embedding"], x["embedding"] + m["embedding"])
        out, _ = self.ok(plain + ["--pooling", "mean+max", "--format", "npy"], text)
        self.assertIn(b"'shape': (2, 64)", out[:128])
        st, want = self.golden_folder("cls-mean-max-dense-normalize")
        got = self.embed(["--model", st, "--device", "cpu", "--validate"],
                         "".join(line + "\n" for line in want["lines"]).encode())
        self.assertEqual(len(got[0]["embedding"]), 16)
        self.fails(["--model", st, "--device", "cpu", "--pooling", "mean"], 1, text,
                   must_mention=["takes vectors of 96 values", "gives 32"])
        for bad, what in [("mean+none", "'none' does not combine"),
                          ("pooler+cls", "'pooler' does not combine"),
                          ("mean+bogus", "'bogus' is not one of"), ("mean+", "empty mode name"),
                          ("+mean", "empty mode name"), ("mean++max", "empty mode name"),
                          ("mean+max+mean", "'mean' twice")]:
            self.fails(plain + ["--pooling", bad], 2, text, must_mention=[what])

    def test_truncate_dim(self):
        """--truncate-dim N: each sentence embedding's first N values (after
        a folder's Dense and Normalize modules; --normalize normalises the
        cut), in every format; past the width, or where nothing is pooled,
        a usage error.  The values themselves: the golden folder
        truncate-dense-normalize (sentence-transformers' truncate_dim)."""
        plain = ["--model", model("tiny-gelu"), "--device", "cpu", "--pooling", "mean"]
        text = b"Paris is a city\nx\n"
        whole = self.embed(plain, text)
        cut = self.embed(plain + ["--truncate-dim", "5"], text)
        self.assertEqual([c["embedding"] for c in cut], [w["embedding"][:5] for w in whole])
        unit = self.embed(plain + ["--truncate-dim", "5", "--normalize", "--validate"], text)
        for u, c in zip(unit, cut):
            norm = math.sqrt(sum(x * x for x in c["embedding"]))
            self.assertLess(max_abs_diff(u["embedding"], [x / norm for x in c["embedding"]]), 1e-6)
        out, _ = self.ok(plain + ["--truncate-dim", "5", "--format", "npy"], text)
        self.assertIn(b"'shape': (2, 5)", out[:128])
        bits = self.embed(plain + ["--truncate-dim", "12", "--output-dtype", "ubinary"], text)
        self.assertEqual([len(b["embedding"]) for b in bits], [2, 2])
        st, _ = self.golden_folder("truncate-dense-normalize")
        for args, what in [(plain + ["--truncate-dim", "33"], "have 32 values"),
                           (["--model", st, "--truncate-dim", "17"], "have 16 values"),
                           (plain + ["--pooling", "mean+max", "--truncate-dim", "65"],
                            "have 64 values"),
                           (plain + ["--truncate-dim", "0"], "from 1 to"),
                           (plain + ["--pooling", "none", "--truncate-dim", "4"],
                            "not with --pooling none"),
                           (plain + ["--tokenize", "--truncate-dim", "4"], "not with --tokenize")]:
            self.fails(args, 2, text, must_mention=[what])
        self.ok(["--model", st, "--truncate-dim", "16"], text)
        self.fails(plain + ["--truncate-dim", "4", "--benchmark"], 2,
                   must_mention=["not with --truncate-dim"])

    def test_prompt_is_put_before_texts_only(self):
        """The folder's default prompt goes before every text (its ids
        first), not before input_ids; --no-sentence-transformers drops it."""
        st, want = self.golden_folder("prompt-excluded-mean")
        got = self.embed(["--model", st, "--tokenize"], b"Paris\n")[0]["input_ids"]
        self.assertEqual(got, self.embed(["--model", st, "--no-sentence-transformers",
                                          "--tokenizer", "fast", "--tokenize"],
                                         b"query: Paris\n")[0]["input_ids"])
        self.assertEqual(self.embed(["--model", st, "--no-sentence-transformers", "--tokenizer",
                                     "fast", "--tokenize"], b"Paris\n")[0]["input_ids"],
                         [2, got[-2], 3])
        st, want = self.golden_folder("prompt-default-mean")  # pools the prompt too
        ids = {"input_ids": want["input_ids"][0]}
        by_ids = self.embed(["--model", st, "--device", "cpu", "--input-format", "jsonl"],
                            (json.dumps(ids) + "\n").encode())
        self.assertEqual(by_ids[0]["input_ids"], ids["input_ids"], "no prompt before ids")
        self.assertLess(max_abs_diff(by_ids[0]["embedding"], want["embeddings"][0]), 1e-5)

    def test_prompt_left_out_of_pooling(self):
        """include_prompt false: the prompt's positions leave the pooling
        (under --validate too); a record left with nothing to pool fails."""
        st, want = self.golden_folder("prompt-excluded-mean")
        text = "".join(line + "\n" for line in want["lines"]).encode()
        device = min(self.devices_under_test())  # "0", an OpenCL one, where there is one
        out, err = self.ok(["--model", st, "--device", device, "--validate"], text)
        self.assertRegex(err, r"pooled: max abs diff [0-9.e-]+,")
        excluded = records(out)
        with open(os.path.join(st, "1_Pooling", "config.json")) as f:
            pooling = json.load(f)
        pooling["include_prompt"] = True
        with open(os.path.join(st, "1_Pooling", "config.json"), "w") as f:
            json.dump(pooling, f)
        included = self.embed(["--model", st, "--device", "cpu"], text)
        for e, i, w in zip(excluded, included, want["embeddings"]):
            self.assertLess(max_abs_diff(e["embedding"], w), 1e-5)
            self.assertGreater(max_abs_diff(i["embedding"], w), 1e-3, "the prompt counted")
        # "interna" alone is [CLS] ▁inter na [SEP]; "international" is one
        # piece: the prompt's 3 positions cover all of [CLS] ▁international [SEP]
        pooling["include_prompt"] = False
        with open(os.path.join(st, "1_Pooling", "config.json"), "w") as f:
            json.dump(pooling, f)
        args = ["--model", st, "--device", "cpu", "--prompt", "interna"]
        self.fails(args, 1, b"tional\n", must_mention=["<stdin>:1", "none is left to pool"])
        for extra in ([], ["--validate"]):  # the reference's pooling fails it too
            rc, out, err = run(args + ["--on-error", "skip"] + extra, b"tional\nx\n")
            self.assertEqual(rc, 3, err)
            self.assertIn("none is left to pool", records(out)[0]["error"])
            self.assertIn("embedding", records(out)[1])

    def test_prompt_of_no_ids_leaves_nothing_out(self):
        """A tokenizer with no template gives an empty prompt no ids:
        sentence-transformers' prompt_length would be -1; here nothing is
        left out, and the vectors are those without a prompt."""
        st, _ = self.golden_folder("prompt-excluded-mean")
        with open(os.path.join(st, "tokenizer.json"), encoding="utf-8") as f:
            tokenizer = json.load(f)
        tokenizer["post_processor"] = None
        os.unlink(os.path.join(st, "tokenizer.json"))
        with open(os.path.join(st, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tokenizer, f)
        text = b"ab\ncd ef\nthe lazy dog\n"
        empty = self.embed(["--model", st, "--device", "cpu", "--prompt", ""], text)
        self.assertNotEqual(empty[0]["input_ids"][0], 2, "no [CLS] without a template")
        plain = self.embed(["--model", st, "--device", "cpu", "--no-sentence-transformers",
                            "--tokenizer", "fast", "--pooling", "mean", "--normalize",
                            "--max-length", "24"], text)
        for e, p in zip(empty, plain):
            self.assertLess(max_abs_diff(e["embedding"], p["embedding"]), 1e-6)

    def test_prompt_errors(self):
        st, _ = self.golden_folder("prompt-default-mean")
        self.fails(["--model", st, "--prompt", "a", "--prompt-name", "query"], 2,
                   must_mention=["--prompt and --prompt-name"])
        self.fails(["--model", st, "--prompt-name", "nope"], 2,
                   must_mention=["config_sentence_transformers.json", "\"nope\"",
                                 "query, passage"])
        self.fails(["--model", model("tiny-gelu"), "--prompt-name", "query"], 2,
                   must_mention=["not a sentence-transformers folder"])
        self.fails(["--model", st, "--no-sentence-transformers", "--prompt-name", "query"], 2,
                   must_mention=["--no-sentence-transformers"])
        self.fails(["--model", st, "--prompt", "caf\udcc3"], 2, must_mention=["--prompt", "UTF-8"])
        self.fails(["--model", st, "--prompt", "x" * 65536], 2, must_mention=["65535 bytes"])
        config = os.path.join(st, "config_sentence_transformers.json")
        for bad, what in [('{"prompts": {"q": 1}}', 'prompt "q" is not a string'),
                          ('{"prompts": {"q": "q: "}, "default_prompt_name": "p"}',
                           '"p" is not one of its prompts')]:
            with open(config, "w") as f:
                f.write(bad)
            self.fails(["--model", st], 1, b"x\n", must_mention=[config, what])
        with open(config, "wb") as f:  # bytes cJSON takes as they are
            f.write(b'{"prompts": {"q": "caf\xc3 "}, "default_prompt_name": "q"}')
        self.fails(["--model", st], 1, must_mention=[config, "UTF-8"])
        with open(config, "w") as f:  # too long for albert-cl, and no --prompt-name to blame
            json.dump({"prompts": {"q": "x" * 65536}, "default_prompt_name": "q"}, f)
        self.fails(["--model", st], 1, must_mention=[config, "65535"])

    def test_dense_modules_in_every_output(self):
        """The Dense modules turn pooled vectors, in every format, under
        --validate and with options; token vectors are the Transformer's."""
        st, want = self.golden_folder("dense-tanh-normalize")
        text = "".join(line + "\n" for line in want["lines"]).encode()
        out, err = self.ok(["--model", st, "--device", "cpu", "--validate"], text)
        self.assertIn("pooled: max abs diff 0,", err)
        got = records(out)
        for i, w in enumerate(want["embeddings"]):
            self.assertLess(max_abs_diff(got[i]["embedding"], w), 1e-5, "line %d" % i)
        npy, _ = self.ok(["--model", st, "--device", "cpu", "--format", "npy"], text)
        self.assertIn(b"'shape': (8, 16)", npy[:128])
        arrays = parse_safetensors(self.ok(["--model", st, "--device", "cpu", "--format",
                                            "safetensors"], text)[0])
        self.assertEqual(arrays["embeddings"][1], [8, 16])
        self.assertEqual(arrays["embeddings"][2], [struct.unpack("<f", struct.pack("<f", x))[0]
                                                   for r in got for x in r["embedding"]])
        tokens = ["--device", "cpu", "--pooling", "none", "--max-length", "16"]
        self.assertEqual(self.embed(["--model", st] + tokens, text),
                         self.embed(["--model", st, "--no-sentence-transformers",
                                     "--tokenizer", "fast"] + tokens,
                                    "".join(line.strip() + "\n" for line in want["lines"])
                                    .encode()))
        self.fails(["--model", st, "--device", "cpu", "--layer", "-2,-1", "--layer-combine",
                    "concat"], 2, text, must_mention=["Dense modules", "--layer-combine"])

    def test_bad_dense_modules_fail_naming_the_file(self):
        def broken(name, edit):
            st, _ = self.golden_folder("dense-chain-bin")
            os.rename(st, os.path.join(self.tmp, name))
            st = os.path.join(self.tmp, name)
            edit(st)
            return st

        def config(module, **changes):
            def edit(st):
                path = os.path.join(st, module, "config.json")
                with open(path) as f:
                    doc = json.load(f)
                doc.update(changes)
                with open(path, "w") as f:
                    json.dump(doc, f)
            return edit

        def modules(edit_list):
            def edit(st):
                path = os.path.join(st, "modules.json")
                with open(path) as f:
                    doc = json.load(f)
                with open(path, "w") as f:
                    json.dump(edit_list(doc), f)
            return edit

        def swap_weights(st):  # 2_Dense's [24, 32] weights in 3_Dense, which wants [20, 24]
            shutil.copyfile(os.path.join(st, "2_Dense", "pytorch_model.bin"),
                            os.path.join(st, "3_Dense", "pytorch_model.bin"))

        normalize = {"path": "7_Normalize", "type": "sentence_transformers.models.Normalize"}
        cases = [
            ("activation", config("2_Dense", activation_function="torch.nn.modules.activation.ELU"),
             "2_Dense/config.json", "ELU"),
            ("chain", config("4_Dense", in_features=21), "4_Dense/config.json",
             "\"in_features\" is 21"),
            ("features", config("2_Dense", out_features=0), "2_Dense/config.json",
             "out_features"),
            ("no-weights", lambda st: os.unlink(os.path.join(st, "5_Dense", "pytorch_model.bin")),
             "5_Dense", "pytorch_model.bin"),
            ("shape", swap_weights, "3_Dense/pytorch_model.bin", "linear.weight"),
            ("after-normalize", modules(lambda d: d[:2] + [normalize] + d[2:]), "modules.json",
             "module 3 is Dense"),
            ("leaves", modules(lambda d: d[:2] + [dict(d[2], path="../2_Dense")] + d[3:]),
             "modules.json", "leaves the model folder"),
            # 3_Dense first: it takes 24 values, the model gives 32
            ("first", modules(lambda d: d[:2] + d[3:]), "", "takes vectors of 24 values"),
        ]
        for name, edit, where, what in cases:
            with self.subTest(case=name):
                st = broken(name, edit)
                self.fails(["--model", st, "--device", "cpu"], 1, b"Paris\n",
                           must_mention=[os.path.join(st, where).rstrip("/"), what])

    def test_bad_folders_fail_naming_the_file(self):
        dense = json.dumps([{"path": "", "type": "sentence_transformers.models.Transformer"},
                            {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                            {"path": "2_Dense", "type": "sentence_transformers.models.Dense"}])
        elsewhere = json.dumps([{"path": "0_Transformer",
                                 "type": "sentence_transformers.models.Transformer"},
                                {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}])
        cases = [
            ("dense", {"modules": dense}, "2_Dense/config.json", "No such file"),
            ("elsewhere", {"modules": elsewhere}, "modules.json", "0_Transformer"),
            ("truncated", {"modules": "[{"}, "modules.json", "malformed JSON"),
            ("not-a-list", {"modules": "{}"}, "modules.json", "not a JSON array"),
            ("lower", {"bert_config": '{"do_lower_case": true}'}, "sentence_bert_config.json",
             "do_lower_case"),
            ("length", {"bert_config": '{"max_seq_length": "long"}'},
             "sentence_bert_config.json", "max_seq_length"),
            ("mode-splade", {"pooling_extra": {"pooling_mode": "splade"}},
             "1_Pooling/config.json", '"pooling_mode": "splade"'),
            ("no-mode", {"modes": ()}, "1_Pooling/config.json", "no pooling mode"),
            ("prompt", {"st_config": {"prompts": {"q": "query: "}, "default_prompt_name": "p"}},
             "config_sentence_transformers.json", '"p" is not one of its prompts'),
        ]
        for name, kw, where, what in cases:
            with self.subTest(case=name):
                st = self.folder(name, **kw)
                self.fails(["--model", st, "--device", "cpu"], 1, self.TEXT,
                           must_mention=[os.path.join(st, where), what,
                                         "--no-sentence-transformers"])
        st = self.folder("no-pooling-config")
        os.unlink(os.path.join(st, "1_Pooling", "config.json"))
        self.fails(["--model", st, "--tokenize"], 1, self.TEXT,
                   must_mention=[os.path.join(st, "1_Pooling", "config.json")])


class Layers(Base):
    """--layer N: HF's hidden_states[N], and several combined (test_golden
    checks the values against the golden hidden_states through the
    library)."""

    TEXT = b"Hello world\nParis is a beautiful city\nthe quick brown fox\n"

    def test_layer_indexes_hidden_states(self):
        mean = ["--model", TINY, "--pooling", "mean"]
        for device in self.devices_under_test():
            with self.subTest(device=device):
                d = ["--device", device]
                last, _ = self.ok(mean + d, self.TEXT)
                # tiny-gelu has 3 layers: 3 and -1 are the last, -2 is 2.
                self.assertEqual(self.ok(mean + d + ["--layer", "3"], self.TEXT)[0], last)
                self.assertEqual(self.ok(mean + d + ["--layer", "-1"], self.TEXT)[0], last)
                two, _ = self.ok(mean + d + ["--layer", "2"], self.TEXT)
                self.assertEqual(self.ok(mean + d + ["--layer", "-2"], self.TEXT)[0], two)
                self.assertGreater(max(max_abs_diff(a["embedding"], b["embedding"])
                                       for a, b in zip(records(two), records(last))), 1e-3)
                cpu = self.embed(mean + ["--device", "cpu", "--layer", "0", "--pooling", "none"],
                                 self.TEXT)
                got = self.embed(mean + d + ["--layer", "0", "--pooling", "none"], self.TEXT)
                for g, w in zip(got, cpu):
                    self.assertEqual(len(g["embedding"]), len(w["embedding"]))
                    for gv, wv in zip(g["embedding"], w["embedding"]):
                        self.assertLess(max_abs_diff(gv, wv), 1e-5)
        out, _ = self.ok(["--model", TINY, "--device", "cpu", "--benchmark", "--pooling", "cls",
                          "--layer", "1", "--batch-size", "2", "--seq-len", "8",
                          "--iterations", "1", "--warmup", "0"])
        self.assertEqual(json.loads(out)["layer"], 1)

    def test_groups_that_do_not_divide_the_layers(self):
        """tiny-groups' 2 groups over 3 layers: HF's int(i / (3 / 2)) puts
        layers 0 and 1 in group 0, layer 2 in group 1, on every device."""
        d = os.path.join(self.tmp, "three-layers")
        os.makedirs(d)
        for f in ["model.safetensors", "spiece.model"]:
            os.symlink(os.path.join(model("tiny-groups"), f), os.path.join(d, f))
        with open(os.path.join(model("tiny-groups"), "config.json")) as f:
            cfg = json.load(f)
        cfg["num_hidden_layers"] = 3
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f)
        args = ["--model", d, "--pooling", "mean"]
        want = self.embed(args + ["--device", "cpu"], self.TEXT)
        for device in self.devices_under_test():
            got = self.embed(args + ["--device", device], self.TEXT)
            for g, w in zip(got, want):
                self.assertLess(max_abs_diff(g["embedding"], w["embedding"]), 1e-5, device)

    def test_layers_combined(self):
        """--layer N,M,...: every token's vectors the mean of the layers' (or
        end to end with --layer-combine concat, in the order given), pooled
        and normalised after combining, on every device."""
        base = ["--model", TINY]
        for device in self.devices_under_test():
            with self.subTest(device=device):
                d = base + ["--device", device]
                # --layer all, end to end: each token's 4 x 32 values, layer 0 first.
                every = self.embed(d + ["--layer", "all", "--layer-combine", "concat",
                                        "--pooling", "none"], self.TEXT)
                layer = {k: [[v[32 * k:32 * k + 32] for v in r["embedding"]] for r in every]
                         for k in range(4)}
                one = self.embed(d + ["--layer", "1", "--pooling", "none"], self.TEXT)
                self.assertLess(max_abs_diff([r["embedding"] for r in one], layer[1]), 1e-5)
                mean = self.embed(d + ["--layer", "-4,-3,-2,-1", "--pooling", "none"], self.TEXT)
                for i, rec in enumerate(mean):
                    want = [[sum(layer[k][i][t][j] for k in range(4)) / 4 for j in range(32)]
                            for t in range(len(rec["embedding"]))]
                    self.assertLess(max_abs_diff(rec["embedding"], want), 1e-5)
                # Pooling and --normalize see the 64 values: a unit vector whose
                # halves are the mean-pooled vectors of layers 3 and 0.
                pooled = self.embed(d + ["--layer", "3,0", "--layer-combine", "concat",
                                         "--pooling", "mean", "--normalize"], self.TEXT)
                for i, rec in enumerate(pooled):
                    v = [sum(col) / len(col) for col in zip(*layer[3][i])] + \
                        [sum(col) / len(col) for col in zip(*layer[0][i])]
                    norm = sum(x * x for x in v) ** 0.5
                    self.assertLess(max_abs_diff(rec["embedding"], [x / norm for x in v]), 1e-5)
        data, _ = self.ok(base + ["--device", "cpu", "--layer", "1,2", "--layer-combine", "concat",
                                  "--pooling", "cls", "--format", "npy"], self.TEXT)
        self.assertEqual(parse_npy(data)[2], (3, 64))
        out, _ = self.ok(base + ["--device", "cpu", "--benchmark", "--pooling", "max",
                                 "--layer", "2,-1", "--batch-size", "2", "--seq-len", "8",
                                 "--iterations", "1", "--warmup", "0"])
        self.assertEqual(json.loads(out)["layers"], [2, 3])
        self.assertEqual(json.loads(out)["layer_combine"], "mean")

    def test_bad_layer_is_a_usage_error(self):
        cases = [(["--layer", "4", "--pooling", "mean"], "hidden_states 0 to 3"),
                 (["--layer", "-5", "--pooling", "mean"], "hidden_states 0 to 3"),
                 (["--layer", "1"], "the pooler"),
                 (["--layer", "x"], "--layer"),
                 (["--layer", "1", "--tokenize"], "--tokenize"),
                 (["--layer", "2,3"], "the pooler"),
                 (["--layer", "all", "--pooling", "mean", "--tokenize"], "--tokenize"),
                 (["--layer", "1,-3", "--pooling", "mean"], "given twice"),
                 (["--layer", "1,,2", "--pooling", "mean"], "--layer"),
                 (["--layer", "1,4", "--pooling", "mean"], "hidden_states 0 to 3"),
                 (["--layer", "1,2", "--layer-combine", "sum", "--pooling", "mean"],
                  "is not one of mean, concat")]
        for args, what in cases:
            with self.subTest(args=args):
                self.fails(["--model", TINY, "--device", "cpu"] + args + [SAMPLE], 2,
                           must_mention=[what])


class PyTorchCheckpoints(Base):
    """pytorch_model.bin as torch.save wrote it (tests/data/pytorch,
    tools/gen-torch-checkpoints.py): the same records as tiny-f16's
    model.safetensors, byte for byte, on every device."""

    TEXT = b"Hello world\nParis is a beautiful city\n\nthe quick brown fox\n"

    def folder(self, name, weights):
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        for f in ["config.json", "spiece.model"]:
            os.symlink(os.path.join(model("tiny-f16"), f), os.path.join(d, f))
        shutil.copy(os.path.join(SOURCE_DIR, "data", "pytorch", weights),
                    os.path.join(d, "pytorch_model.bin"))
        return d

    def test_both_formats_equal_safetensors(self):
        for weights in ["tiny-f16-zip.bin", "tiny-f16-legacy.bin"]:
            d = self.folder(weights, weights)
            for device in self.devices_under_test():
                with self.subTest(weights=weights, device=device):
                    args = ["--device", device, "--pooling", "mean"]
                    want, _ = self.ok(["--model", model("tiny-f16")] + args, self.TEXT)
                    got, _ = self.ok(["--model", d] + args, self.TEXT)
                    self.assertEqual(got, want)
                    self.assertEqual(len(records(got)), 4)

    def test_bad_checkpoint_fails_naming_it(self):
        d = self.folder("complex", "complex.bin")
        self.fails(["--model", d, "--device", "cpu"], 1, self.TEXT,
                   must_mention=[os.path.join(d, "pytorch_model.bin"),
                                 "torch.ComplexFloatStorage"])
        d = self.folder("module", "module.bin")
        self.fails(["--model", d, "--device", "cpu"], 1, self.TEXT,
                   must_mention=[os.path.join(d, "pytorch_model.bin"),
                                 "torch.nn.modules.linear.Linear"])


class Errors(Base):
    def test_usage_errors_exit_2(self):
        for args in [["--bogus"], ["--pooling", "weighted"], ["--format", "csv"], ["--device", "gpu"],
                     ["--device", "-1"], ["--max-length", "0"], ["--max-length", "ten"],
                     ["--batch-size", "0"], ["--input-format", "xml"], ["--model"],
                     ["--validate-tol", "x"], ["--normalize=1"],
                     ["--format", "npy", "--pooling", "none"],
                     ["--pooling", "none", "--normalize"]]:
            err = self.fails([SAMPLE] + args, 2)
            self.assertIn("--help", err)
            self.assertEqual(len(err.splitlines()), 2, err)

    def test_unknown_tokenizer_kind(self):
        for args in [["--tokenizer", "bogus"], ["--tokenizer=Fast"], ["--tokenizer"]]:
            err = self.fails(["--model", TINY, "--tokenize", SAMPLE] + args, 2,
                             must_mention=["--tokenizer", "--help"])
            self.assertEqual(len(err.splitlines()), 2, err)
        err = self.fails(["--model", TINY, "--tokenize", "--tokenizer", "bogus", SAMPLE], 2)
        self.assertIn("'bogus' is not one of slow, fast", err)

    def test_missing_file(self):
        missing = os.path.join(self.tmp, "missing.txt")
        err = self.fails(["--model", TINY, "--device", "cpu", SAMPLE, missing], 1, must_mention=[missing])
        self.assertEqual(len(err.splitlines()), 1)

    def test_invalid_utf8_names_file_and_line(self):
        path = self.write("bad.txt", b"good line\nbad \xff byte\n")
        err = self.fails(["--model", TINY, "--device", "cpu", path], 1,
                         must_mention=[path + ":2:", "UTF-8"])
        self.assertEqual(len(err.splitlines()), 1)
        # The bad line is in a second file, after good ones: still no output.
        self.fails(["--model", TINY, "--device", "cpu", SAMPLE, path], 1)
        self.fails(["--model", TINY, "--tokenize", path], 1, must_mention=[path + ":2:"])

    def test_bad_jsonl_records(self):
        for record in ['{"text": 5}', '{"text": "a"', 'not json', '{"input_ids": [2, 1.5]}',
                       '{"input_ids": [2, 3], "attention_mask": [1]}',
                       '{"input_ids": [2, 30000, 3]}', '{"input_ids": [2, -1]}',
                       '{"input_ids": [2, 3], "token_type_ids": [0, 2]}',
                       '{"text": "a", "input_ids": [2, 3]}', '{}', '{"input_ids": []}',
                       '', '{"text": "a"} x']:
            path = self.write("bad.jsonl", '{"text": "fine"}\n' + record + "\n")
            err = self.fails(["--model", TINY, "--device", "cpu", "--input-format", "jsonl", path],
                             1, must_mention=[path + ":2:"])
            self.assertEqual(len(err.splitlines()), 1, record)

    def test_jsonl_escapes_and_unknown_keys(self):
        data = b'{"id": {"k": [1, null, true]}, "text": "Paris \\u0069s a \\"beautiful\\" city"}\n'
        rec, = self.embed(["--model", TINY, "--input-format", "jsonl", "--tokenize"], data)
        want, = self.embed(["--model", TINY, "--tokenize"], b'Paris is a "beautiful" city\n')
        self.assertEqual(rec, want)

    def test_jsonl_fields_and_ids(self):
        """--text-field and --pair-field read other members; --id-field's
        value comes out after "index" (error records too, as kept by
        --resume); what does not fit is refused."""
        jsonl = ["--model", TINY, "--device", "cpu", "--input-format", "jsonl"]
        mine = ['{"doc": "d1", "body": "Paris is a city", "q": "x", "text": "not this"}',
                '{"doc": 17, "body": "x", "q": null}', '{"doc": "d3", "body": 5}',
                '{"body": "no id"}', '{"doc": 9007199254740993, "body": "y"}',
                '{"doc": -9007199254740991, "input_ids": [2, 5, 3]}',
                '{"doc": "d7", "input_ids": [2, 40000, 3]}']
        path = self.write("mine.jsonl", "\n".join(mine) + "\n")
        plain = self.write("plain.jsonl", '{"text": "Paris is a city", "text_pair": "x"}\n'
                                          '{"text": "x"}\n')
        fields = ["--text-field", "body", "--pair-field", "q"]
        out = os.path.join(self.tmp, "out.jsonl")
        rc, _, err = run(jsonl + fields + ["--id-field", "doc", "--on-error", "skip", "-o", out,
                                           path])
        self.assertEqual(rc, 3, err)
        got = records(slurp(out))
        self.assertEqual([r.get("id") for r in got],
                         ["d1", 17, "d3", None, None, -9007199254740991, "d7"])
        self.assertEqual([list(r)[:2] for r in got], [["index", "id"]] * 3 + [["index", "error"]] * 2
                         + [["index", "id"]] * 2)
        want = self.embed(jsonl + [plain])
        self.assertEqual([r["input_ids"] for r in got[:2]], [r["input_ids"] for r in want])
        self.assertLess(max_abs_diff([r["embedding"] for r in got[:2]],
                                     [r["embedding"] for r in want]), 1e-5)
        for r, what in [(got[2], '"body" must be a string'), (got[3], '"doc" is missing'),
                        (got[4], "below 2^53"), (got[6], "40000")]:
            self.assertIn(what, r["error"])
        whole = slurp(out)
        with open(out, "wb") as f:  # killed in the middle of the sixth record
            f.write(whole[:whole.index(b'{"index": 5')] + b'{"index": 5, "id": -9')
        self.assertEqual(run(jsonl + fields + ["--id-field", "doc", "--on-error", "skip",
                                               "--resume", "-o", out, path])[0], 3)
        again = records(slurp(out))
        self.assertEqual([[r.get(k) for k in ("index", "id", "input_ids", "error")] for r in again],
                         [[r.get(k) for k in ("index", "id", "input_ids", "error")] for r in got])
        self.assertLess(max_abs_diff(again[5]["embedding"], got[5]["embedding"]), 1e-5)
        # The one kept error record has an id (a string holding what an error looks like)
        # and still makes the status 3.
        odd = self.write("odd.jsonl", '{"doc": "a\\", \\"error\\": ", "body": 5}\n'
                                      '{"doc": 2, "body": "fine"}\n')
        args = jsonl + fields + ["--id-field", "doc", "--on-error", "skip", "-o", out, odd]
        self.assertEqual(run(args)[0], 3)
        first = slurp(out).split(b"\n")[0] + b"\n"
        with open(out, "wb") as f:
            f.write(first)
        self.assertEqual(run(args + ["--resume"])[0], 3, "the kept error record counts")
        self.assertEqual(records(slurp(out))[0]["id"], 'a", "error": ')
        # A file written with ids goes on with them, one without them without.
        self.fails([a for a in args if a not in ("--id-field", "doc")] + ["--resume"], 1,
                   must_mention=[out + ':1: --resume: a record with "id"', "has no --id-field"])
        self.fails(jsonl + ["--resume", "-o", out, plain], 1)
        for args, what in [(["--text-field", "input_ids"], "pre-tokenized"),
                           (["--pair-field", ""], "empty name"),
                           (["--text-field", "q", "--pair-field", "q"], "both name 'q'"),
                           (["--id-field", "text"], "the member of a text"),
                           (["--id-field", "doc", "--format", "npy"], "not --format npy")]:
            self.fails(jsonl + args + [path], 2, must_mention=[what])
        self.fails(["--model", TINY, "--text-field", "body", SAMPLE], 2,
                   must_mention=["--input-format jsonl"])

    def test_input_format_from_names(self):
        """Without --input-format the FILEs' names choose it (*.jsonl, *.ndjson,
        *.csv, *.tsv in any case, also before .gz; stdin has no say); names
        that disagree are a usage error; --input-format wins."""
        tok = ["--model", TINY, "--tokenize"]
        record = b'{"body": "hello world", "text_pair": "and more"}\n'
        want = self.embed(tok + ["--input-format", "jsonl", "--text-field", "body",
                                 self.write("plain", record)])
        files = [self.write("a.jsonl", record), self.write("b.NDJSON.gz", gzip.compress(record)),
                 self.write("c.csv", b"body,text_pair\nhello world,and more\n"),
                 self.write("d.Tsv", b"hello world\tand more\n")]
        for path in files:
            with self.subTest(path=path):
                got = self.embed(tok + (["--text-field", "body"] if "d.Tsv" not in path else [])
                                 + [path])
                self.assertEqual(got, want)
        self.assertEqual(self.embed(tok + ["--text-field", "body", "-", files[0]], record),
                         want + [dict(want[0], index=1)])
        as_text = self.embed(tok + ["--input-format", "text", files[0]])
        self.assertNotEqual(as_text[0]["input_ids"], want[0]["input_ids"])
        txt = self.write("e.txt", b"hello world\n")
        self.fails(tok + [files[0], txt], 2, must_mention=[files[0], txt, "jsonl and text",
                                                          "--input-format"])
        self.fails(tok + ["--text-field", "body", txt], 2, must_mention=["*.jsonl"])

    def test_gzip_input(self):
        """gzip input, told by its bytes (a file, several members, zero padding,
        stdin, after a plain file, jsonl and csv), reads as its text does, line
        numbers counted in the text; a truncated or corrupt stream, or bytes
        after it that are not gzip, end the input with an error naming the
        file, after the whole records before it; zstd is refused."""
        text = slurp(SAMPLE)
        gz = self.write("sample.txt.gz", gzip.compress(text))
        self.assertEqual(self.ok(["--model", TINY, "--device", "cpu", gz])[0],
                         self.ok(["--model", TINY, "--device", "cpu", SAMPLE])[0])
        tok = ["--model", TINY, "--tokenize"]
        want = self.embed(tok + [SAMPLE])
        lines = text.splitlines(keepends=True)
        multi = self.write("multi", gzip.compress(b"".join(lines[:3])) +
                           gzip.compress(b"".join(lines[3:])) + b"\0" * 3)
        self.assertEqual(self.embed(tok + [multi]), want)
        self.assertEqual(self.embed(tok + ["-"], gzip.compress(text)), want)
        self.assertEqual(self.embed(tok + [SAMPLE, gz]),
                         want + [dict(r, index=r["index"] + len(want)) for r in want])
        jsonl = self.write("in.jsonl.gz", gzip.compress(
            b'{"text": "hello world"}\n{"text": "x", "text_pair": "y"}\n'))
        table = self.write("in.csv.gz", gzip.compress(b"text,text_pair\nhello world,\nx,y\n"))
        self.assertEqual(self.embed(tok + ["--input-format", "jsonl", jsonl]),
                         self.embed(tok + ["--input-format", "csv", table]))
        bad = self.write("bad.gz", gzip.compress(b"ok\nbad \xff\nfine\n"))
        rc, out, err = run(tok + ["--on-error", "skip", bad])
        self.assertEqual(rc, 3, err)
        self.assertEqual([r["index"] for r in records(out)], [0, 1, 2])
        self.assertIn(bad + ":2: invalid UTF-8", records(out)[1]["error"])
        _, err = self.ok(["--model", TINY, "--device", "cpu", "--progress", gz])
        self.assertRegex(err, r"albert-cl: 8 records, \d+ tokens/s, 100\.0%")
        # Broken streams: the records before the failure are whole lines' ones.
        plain = b"".join(b"line %d of a gzip stream\n" % i for i in range(20000))
        many = gzip.compress(plain)
        whole = self.embed(tok + [self.write("many.txt", plain)])
        bad_crc = many[:-8] + bytes([many[-8] ^ 0xFF]) + many[-7:]
        for name, data, why in [
                ("truncated.gz", many[:len(many) // 2], "truncated gzip data"),
                ("crc.gz", bad_crc, "corrupt gzip data (incorrect data check)"),
                ("method.gz", many + b"\x1f\x8b\x07" + many[3:], "corrupt gzip data"),
                ("junk.gz", many + b"junk\n",
                 "bytes after the gzip data that are not gzip (at byte %d of" % (len(many) + 1))]:
            path = self.write(name, data)
            rc, out, err = run(tok + [path])
            self.assertEqual((rc, err.count("\n")), (1, 1), err)
            self.assertIn("%s: cannot read: %s" % (path, why), err)
            got = records(out)
            self.assertEqual(got, whole[:len(got)])
            self.assertTrue(0 < len(got) and (len(got) < 20000 or name != "truncated.gz"))
        zstd = self.write("text.zst", b"\x28\xb5\x2f\xfd\x04\x58hello\n")
        self.fails(tok + [SAMPLE, zstd], 1, before=8,
                   must_mention=[zstd + ": cannot read: zstd-compressed", "zstdcat"])

    def test_gzip_records_stream_out_of_a_pipe(self):
        """A gzip stream flushed line by line gives each line's record while
        stdin stays open (the reader inflates what each read brought)."""
        env = dict(os.environ)
        env.pop("ALBERT_CL_MODEL", None)
        p = subprocess.Popen([BINARY, "--model", TINY, "--tokenize"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        deflate = zlib.compressobj(wbits=31)  # 31: a gzip wrapper
        try:
            p.stdin.write(deflate.compress(b"the first line\n") + deflate.flush(zlib.Z_SYNC_FLUSH))
            p.stdin.flush()
            ready, _, _ = select.select([p.stdout], [], [], 120)
            self.assertTrue(ready, "no record while stdin stays open")
            self.assertEqual(json.loads(p.stdout.readline())["index"], 0)
            p.stdin.write(deflate.compress(b"the second\n") + deflate.flush())
            p.stdin.close()
            self.assertEqual([r["index"] for r in records(p.stdout.read())], [1])
            self.assertEqual(p.wait(timeout=120), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()

    def test_csv_input(self):
        """--input-format csv reads what Python's csv.DictReader reads (quoted
        commas, doubled quotes and line breaks, spaces kept, CRLF, a BOM before
        a quoted header, blank lines, a header per file in any column order,
        empty and header-only files, stdin), pairs from text_pair (an empty
        cell: none) and ids from --id-field (strings, given back exactly, so
        they hold the tricky cells); a bad row is its record's error, bad
        quoting or a missing column ends the input."""
        first = (b'\xef\xbb\xbf"id","text","text_pair","extra"\r\n'
                 b'" a, b ","Paris, the city",x,e\r\n\r\n'
                 b'"He said ""hi""\r\nand left ","He said ""hi""\nand left",,e\r\n'
                 b' spaced  ,plain,"",e')
        second = b'text,id\na,"multi\nline"\n"x",\t10\n\n'
        files = [("first.csv", first), ("empty.csv", b""), ("header.csv", b"text,id\r\n"),
                 ("second.csv", second)]
        paths = [self.write(name, content) for name, content in files]
        want = []
        for path in paths:
            with open(path, encoding="utf-8-sig", newline="") as f:
                for row in csv.DictReader(f):
                    want.append(dict({"text": row["text"], "id": row["id"]},
                                     **({"text_pair": row["text_pair"]}
                                        if row.get("text_pair") else {})))
        self.assertEqual([w["id"] for w in want],
                         [" a, b ", 'He said "hi"\r\nand left ', " spaced  ", "multi\nline",
                          "\t10"])
        jsonl = self.write("want.jsonl", "".join(json.dumps(w) + "\n" for w in want))
        base = ["--model", TINY, "--tokenize", "--id-field", "id"]
        got = self.embed(base + ["--input-format", "csv"] + paths)
        self.assertEqual(got, self.embed(base + ["--input-format", "jsonl", jsonl]))
        self.assertEqual([g["id"] for g in got], [w["id"] for w in want])
        self.assertEqual(["token_type_ids" in g for g in got], [True] + [False] * 4)
        stdin = self.embed(base + ["--input-format", "csv", "-"], second)
        self.assertEqual([dict(r, index=r["index"] + 3) for r in stdin], got[3:])
        embedded = self.embed(["--model", TINY, "--device", "cpu", "--input-format", "csv",
                               "--pooling", "mean"] + paths)
        self.assertEqual([e["input_ids"] for e in embedded], [g["input_ids"] for g in got])
        # Rows that do not fit are their records' errors, named by the line they end on.
        bad = self.write("bad.csv", b'text,id\nok,1\ntoo,many,fields\n"bad \xff\nutf8",3\nfine,4\n')
        rc, out, err = run(base + ["--input-format", "csv", "--on-error", "skip", bad])
        self.assertEqual(rc, 3, err)
        got = records(out)
        self.assertEqual([g.get("id") for g in got], ["1", None, None, "4"])
        self.assertIn(bad + ":3: bad CSV record: 3 fields, and the header has 2", got[1]["error"])
        self.assertIn(bad + ":5: bad CSV record: column 1: invalid UTF-8 at byte 5",
                      got[2]["error"])
        for content, line, what, before in [(b'text\nok\n"open\n\n\nmore\n', 3, "left open", 1),
                                            (b'text\nok\nab"c\n', 3, "unquoted field", 1),
                                            (b'text\nok\rab"c\n', 2, "unquoted field", 1),
                                            (b'body,id\nx,1\n', 1, 'no column "text"', 0),
                                            (b'text,text\nx,y\n', 1, 'two columns "text"', 0)]:
            path = self.write("broken.csv", content)
            self.fails(["--model", TINY, "--tokenize", "--input-format", "csv", paths[3], path],
                       1, must_mention=["%s:%d: " % (path, line), what], before=2 + before)
        self.fails(base + ["--input-format", "csv", "--pair-field", "q", paths[3]], 1,
                   must_mention=['no column "q"'])
        self.ok(["--model", TINY, "--tokenize", "--input-format", "csv", "--text-field", "id",
                 "--pair-field", "text", paths[3]])

    def test_tsv_needs_one_tab(self):
        path = self.write("bad.tsv", "a\tb\nno tab here\n")
        self.fails(["--model", TINY, "--input-format", "tsv", "--tokenize", path], 1,
                   must_mention=[path + ":2:", "tab"])

    def test_bad_device_index(self):
        err = self.fails(["--model", TINY, "--device", "99", SAMPLE], 1)
        self.assertIn("99", err, "the message names the device asked for")
        self.assertIn("there are: ", err, "the message lists the devices there are")
        self.assertIn("cpu", err)

    def test_bad_ids_named_by_file_and_line(self):
        # The library checks ids (albert_batch_check); the CLI names the record,
        # with an engine (where the batch is sorted by length) and without.
        lines = ['{"input_ids": [2, 5, 6, 7, 8, 3]}', '{"input_ids": [2, 3]}',
                 '{"input_ids": [2, 29999, 30000, 3]}']
        path = self.write("ids.jsonl", "\n".join(lines) + "\n")
        for extra in [["--device", "cpu"], ["--tokenize"]] + [["--device", d] for d, _ in OPENCL]:
            err = self.fails(["--model", TINY, "--input-format", "jsonl", path] + extra, 1,
                             must_mention=[path + ":3: ", "30000", "position 2", "vocabulary"])
            self.assertNotIn("batch row", err)
            self.assertEqual(len(err.splitlines()), 1, err)
        # The first bad record in input order is the one named, though the
        # shorter second one comes first in a batch sorted by length.
        path = self.write("ids2.jsonl", '{"input_ids": [2, 5, 6, 7, 40000, 8, 9, 10, 3]}\n'
                                        '{"input_ids": [2, 50000, 3]}\n')
        for extra in [["--device", "cpu"], ["--tokenize"]] + [["--device", d] for d, _ in OPENCL]:
            self.fails(["--model", TINY, "--input-format", "jsonl", path] + extra, 1,
                       must_mention=[path + ":1: ", "40000", "position 4"])

    def test_folders_from_the_environment(self):
        # ALBERT_CL_CACHE_DIR and ALBERT_CL_KERNEL_DIR reach the library as
        # engine options: programs are cached there, kernels read from there.
        cache = os.path.join(self.tmp, "cache")
        self.ok(["--model", TINY, "--device", "0", SAMPLE], env={"ALBERT_CL_CACHE_DIR": cache})
        self.assertTrue([n for n in os.listdir(cache) if n.endswith(".bin")], "nothing cached")
        kernels = os.path.join(self.tmp, "kernels")
        os.mkdir(kernels)
        with open(os.path.join(kernels, "broken.cl"), "w") as f:
            f.write("__kernel void broken(__global int *x) { x[0] = undeclared; }\n")
        rc, out, err = run(["--model", TINY, "--device", "0", SAMPLE],
                           env={"ALBERT_CL_KERNEL_DIR": kernels})
        self.assertEqual((rc, out), (1, b""), err)
        # The driver's compiler may print the build log on stderr too: ours is
        # the last line.
        self.assertTrue(err.splitlines()[-1].startswith("albert-cl: clBuildProgram"), err)
        self.assertIn("undeclared", err.splitlines()[-1])

    def test_missing_model_folder(self):
        missing = os.path.join(self.tmp, "no-model")
        self.fails(["--model", missing, "--device", "cpu", SAMPLE], 1, must_mention=[missing])
        self.fails(["--model", missing, "--tokenize", SAMPLE], 1)
        # The default folder, models/albert-base-v2, is relative: none in an empty folder.
        self.fails(["--device", "cpu", SAMPLE], 1, cwd=self.tmp,
                   must_mention=["models/albert-base-v2", "Hugging Face cache"])

    def test_model_from_environment(self):
        rc, out, err = run(["--tokenize", SAMPLE], env={"ALBERT_CL_MODEL": TINY})
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(records(out)), 8)

    def test_corrupt_model_file(self):
        folder = os.path.join(self.tmp, "corrupt")
        os.mkdir(folder)
        for name in ["config.json", "spiece.model"]:
            shutil.copy(os.path.join(TINY, name), folder)
        weights = slurp(os.path.join(TINY, "model.safetensors"))
        with open(os.path.join(folder, "model.safetensors"), "wb") as f:
            f.write(weights[:len(weights) // 2])
        self.fails(["--model", folder, "--device", "cpu", SAMPLE], 1,
                   must_mention=["model.safetensors"])

    def test_failure_keeps_the_records_before_it(self):
        path = self.write("out.jsonl", "previous\n")
        bad = self.write("bad.txt", b"\xc3\x28\n")
        self.fails(["--model", TINY, "--device", "cpu", "-o", path, SAMPLE, bad], 1,
                   must_mention=[bad + ":1:"])
        want, _ = self.ok(["--model", TINY, "--device", "cpu", SAMPLE])
        self.assertEqual(slurp(path), want, "the sample's records, whole, and nothing else")
        self.assertEqual(sorted(os.listdir(self.tmp)), ["bad.txt", "out.jsonl"])


class HubCache(Base):
    """--model NAME: a model in the Hugging Face cache, found as
    huggingface_hub finds it (its variables, refs, snapshots)."""

    COMMIT = "a" * 40
    V1 = "b" * 40

    def setUp(self):
        super().setUp()
        self.cache = os.path.join(self.tmp, "hub")
        add_to_hub_cache(self.cache, "org/tiny", TINY, {"main": self.COMMIT})
        add_to_hub_cache(self.cache, "org/tiny", os.path.join(SHARED, "models", "tiny-groups"),
                         {"v1": self.V1})
        self.env = {"HF_HUB_CACHE": self.cache}

    def test_name_gives_the_folders_vectors(self):
        want, _ = self.ok(["--model", TINY, "--device", "cpu", SAMPLE])
        rc, out, err = run(["--model", "org/tiny", "--device", "cpu", SAMPLE], env=self.env)
        self.assertEqual((rc, out), (0, want), err)
        # HF_HOME/hub when HF_HUB_CACHE is not set; $ALBERT_CL_MODEL names it too
        hf_home = {"HF_HUB_CACHE": "", "HF_HOME": self.tmp, "ALBERT_CL_MODEL": "org/tiny"}
        rc, out, err = run(["--device", "cpu", SAMPLE], env=hf_home)
        self.assertEqual((rc, out), (0, want), err)

    def test_revision(self):
        want, _ = self.ok(["--model", model("tiny-groups"), "--device", "cpu", SAMPLE])
        for rev in ("v1", self.V1):
            rc, out, err = run(["--model", "org/tiny@" + rev, "--device", "cpu", SAMPLE],
                               env=self.env)
            self.assertEqual((rc, out), (0, want), "@%s: %s" % (rev, err))
        self.fails(["--model", "org/tiny@v2", "--device", "cpu", SAMPLE], 1, env=self.env,
                   must_mention=["org/tiny@v2", "no revision v2", "models--org--tiny"])

    def test_not_in_the_cache(self):
        self.fails(["--model", "org/other", "--tokenize", SAMPLE], 1, env=self.env,
                   must_mention=["org/other: no such folder", "models--org--other"])
        with open(os.path.join(self.cache, "models--org--tiny", "refs", "main"), "w") as f:
            f.write("garbage")
        self.fails(["--model", "org/tiny", "--tokenize", SAMPLE], 1, env=self.env,
                   must_mention=["refs/main: not a commit hash"])

    def test_default_model_found_in_the_cache(self):
        """No models/albert-base-v2 where it runs: the cache's, by either name."""
        for i, repo_id in enumerate(("albert-base-v2", "albert/albert-base-v2")):
            cache = os.path.join(self.tmp, "cache%d" % i)
            add_to_hub_cache(cache, repo_id, BASE, {"main": self.COMMIT})
            rc, out, err = run(["--tokenize"], b"Hello world\n", cwd=self.tmp,
                               env={"HF_HUB_CACHE": cache})
            self.assertEqual(rc, 0, err)
            self.assertEqual(records(out)[0]["input_ids"], [CLS, 10975, 126, SEP])
        # There but broken: said, not taken for none
        with open(os.path.join(cache, "models--albert--albert-base-v2", "refs", "main"), "w") as f:
            f.write("garbage")
        self.fails(["--tokenize"], 1, b"Hello world\n", cwd=self.tmp, env={"HF_HUB_CACHE": cache},
                   must_mention=["no model", "refs/main: not a commit hash"])


def half(x):
    """The float32 X (jsonl's 9 digits of it) rounded to float16, as numpy's
    astype(float16): through float32 first, or a tie of float32's would be
    broken by the decimal's last digits."""
    f32 = struct.unpack("<f", struct.pack("<f", x))[0]
    return struct.unpack("<e", struct.pack("<e", f32))[0]


def packbits(vector, signed):
    """sentence-transformers' quantize_embeddings "binary" (SIGNED) or
    "ubinary" of one vector: numpy.packbits(vector > 0), per row."""
    out = []
    for at in range(0, len(vector), 8):
        bits = [v > 0 for v in vector[at:at + 8]] + [False] * (8 - len(vector[at:at + 8]))
        byte = sum(bit << (7 - i) for i, bit in enumerate(bits))
        out.append(byte - 128 if signed else byte)
    return out


class OutputDtype(Base):
    """--output-dtype float16 | binary | ubinary: the float32 vectors
    converted, in jsonl, npy and safetensors."""

    def args(self, *extra, model_dir=None):
        return ["--model", model_dir or TINY, "--device", "cpu", "--pooling", "mean"] + list(extra)

    def test_float16(self):
        ref_out, _ = self.ok(self.args(SAMPLE))
        ref = [r["embedding"] for r in records(ref_out)]
        out, _ = self.ok(self.args("--output-dtype", "float16", SAMPLE))
        got = records(out)
        # jsonl's 5 digits give back each float16 value, and are no more than that
        self.assertEqual([[half(x) for x in r["embedding"]] for r in got],
                         [[half(x) for x in v] for v in ref])
        self.assertLess(len(out), 0.8 * len(ref_out))
        npy, _ = self.ok(self.args("--output-dtype", "float16", "--format", "npy", SAMPLE))
        descr, _, shape, values = parse_npy(npy)
        self.assertEqual((descr, shape), ("<f2", (len(ref), 32)))
        self.assertEqual(values, [half(x) for v in ref for x in v])
        tokens = ["--pooling", "none", "--output-dtype", "float16", "--format", "safetensors"]
        want = [x for r in self.embed(self.args("--pooling", "none", SAMPLE))
                for v in r["embedding"] for x in v]
        arrays = parse_safetensors(self.ok(self.args(*tokens, SAMPLE))[0])
        self.assertEqual(arrays["embeddings"][0], "F16")
        self.assertEqual(arrays["embeddings"][2], [half(x) for x in want])

    def test_binary_and_ubinary(self):
        ref = [r["embedding"] for r in self.embed(self.args(SAMPLE))]
        for dtype, signed, descr, st_dtype in (("binary", True, "|i1", "I8"),
                                                ("ubinary", False, "|u1", "U8")):
            with self.subTest(dtype=dtype):
                want = [packbits(v, signed) for v in ref]
                got = self.embed(self.args("--output-dtype", dtype, SAMPLE))
                self.assertEqual([r["embedding"] for r in got], want)
                npy, _ = self.ok(self.args("--output-dtype", dtype, "--format", "npy", SAMPLE))
                self.assertEqual(parse_npy(npy)[0::2], (descr, (len(ref), 4)))
                self.assertEqual(parse_npy(npy)[3], [b for v in want for b in v])
                st = parse_safetensors(self.ok(self.args("--output-dtype", dtype, "--format",
                                                         "safetensors", SAMPLE))[0])
                self.assertEqual(st["embeddings"], (st_dtype, [len(ref), 4],
                                                    [b for v in want for b in v]))

    @staticmethod
    def constant_weights(values):
        """A Dense module's safetensors whose output is VALUES whatever its
        input: weights 0, the bias VALUES."""
        n = len(values)
        header = json.dumps({"linear.weight": {"dtype": "F32", "shape": [n, 32],
                                               "data_offsets": [0, 128 * n]},
                             "linear.bias": {"dtype": "F32", "shape": [n],
                                             "data_offsets": [128 * n, 132 * n]}}).encode()
        return (struct.pack("<Q", len(header)) + header + struct.pack("<%df" % (32 * n),
                                                                      *[0.0] * (32 * n)) +
                struct.pack("<%df" % n, *values))

    def sentence_folder(self, name, modules, weights=None, width=4):
        """dense-chain-bin with MODULES of its modules.json; WEIGHTS
        (safetensors bytes, WIDTH outputs) replace 2_Dense's, which then is
        Identity."""
        st, _ = self.golden_folder("dense-chain-bin")
        os.rename(st, os.path.join(self.tmp, name))
        st = os.path.join(self.tmp, name)
        path = os.path.join(st, "modules.json")
        with open(path) as f:
            doc = json.load(f)
        with open(path, "w") as f:
            json.dump(modules(doc), f)
        if weights:
            os.unlink(os.path.join(st, "2_Dense", "pytorch_model.bin"))
            with open(os.path.join(st, "2_Dense", "model.safetensors"), "wb") as f:
                f.write(weights)
            with open(os.path.join(st, "2_Dense", "config.json"), "w") as f:
                json.dump({"in_features": 32, "out_features": width, "bias": True,
                           "activation_function": "torch.nn.modules.linear.Identity"}, f)
        return st

    def test_float16_edges(self):
        """Subnormals, ties to even, the largest finite half, a negative zero and
        1: each value as numpy rounds it."""
        values = [65519.99, -65504.0, 2.0 ** -25, 3 * 2.0 ** -25, 2.0 ** -14 - 2.0 ** -25, 6e-8,
                  1e-9, -1e-9, 1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11, 2047.5, 6.1e-5]
        st = self.sentence_folder("edges", lambda d: d[:3], self.constant_weights(values),
                                  width=len(values))
        out, _ = self.ok(self.args("--output-dtype", "float16", model_dir=st), b"Paris\n")
        got = json.loads(out, parse_int=float)  # "-0": negative zero
        self.assertEqual([struct.pack("<e", x) for x in got["embedding"]],
                         [struct.pack("<e", half(v)) for v in values])
        npy, _ = self.ok(self.args("--output-dtype", "float16", "--format", "npy", model_dir=st),
                         b"Paris\n")
        self.assertEqual([struct.pack("<e", x) for x in parse_npy(npy)[3]],
                         [struct.pack("<e", half(v)) for v in values])

    def test_rows_padded_to_whole_bytes(self):
        """20 values (two Dense modules): 3 bytes, the last with 4 zero bits."""
        st = self.sentence_folder("twenty", lambda d: d[:4])
        ref = [r["embedding"] for r in self.embed(self.args(SAMPLE, model_dir=st))]
        self.assertEqual({len(v) for v in ref}, {20})
        got = self.embed(self.args("--output-dtype", "ubinary", SAMPLE, model_dir=st))
        self.assertEqual([r["embedding"] for r in got], [packbits(v, False) for v in ref])
        self.assertTrue(all(r["embedding"][2] & 0x0F == 0 for r in got))

    def test_float16_range_and_usage(self):
        """A Dense module that gives 65520 (weights 0, the bias): float16's
        infinity, an error naming the line (an error record with --on-error
        skip); binary takes it."""
        st = self.sentence_folder("big", lambda d: d[:3],
                                  self.constant_weights([1.0, 65520.0, -3.0, 0.0]))
        self.fails(self.args("--output-dtype", "float16", model_dir=st), 1, b"Paris\n",
                   must_mention=["<stdin>:1:", "65520", "float16's range"])
        rc, out, err = run(self.args("--output-dtype", "float16", "--on-error", "skip",
                                     model_dir=st), b"Paris\nRome\n")
        self.assertEqual(rc, 3, err)
        self.assertEqual([sorted(r) for r in records(out)], [["error", "index"]] * 2)
        self.assertIn("<stdin>:2: the value 65520", records(out)[1]["error"])
        got = self.embed(self.args("--output-dtype", "binary", model_dir=st), b"Paris\n")
        self.assertEqual(got[0]["embedding"], [0xC0 - 128])
        self.fails(["--tokenize", "--output-dtype", "binary", SAMPLE], 2,
                   must_mention=["--output-dtype binary", "--tokenize"])
        self.fails(["--output-dtype", "int4", SAMPLE], 2, must_mention=["--output-dtype"])


def profile_rows(err):
    """{kernel name: calls} from a --profile table on stderr."""
    rows, in_kernels = {}, False
    for line in err.splitlines():
        if line.startswith("kernel "):
            in_kernels = True
        elif line.startswith("device total") or line.startswith("host phase"):
            in_kernels = False
        elif in_kernels:
            name, calls = line.split()[:2]
            rows[name] = int(calls)
    return rows


class Streaming(Base):
    """The library's scheduler through the CLI: several devices in one run,
    token budgets, --on-error, --resume, --shard, records streamed out of a
    pipe as they are done, the progress line, flat memory."""

    WORDS = "paris is a beautiful city of light the quick brown fox jumps over the lazy dog".split()

    def lines(self, n, seed=3):
        rnd = random.Random(seed)
        return "".join(" ".join(rnd.choice(self.WORDS) for _ in range(rnd.randint(0, 30))) + "\n"
                       for _ in range(n))

    def assert_same(self, got, want, tol=1e-5):
        """The same records (index, ids) and embeddings within the
        batch-invariance tolerance: batches are formed differently."""
        self.assertEqual([(r["index"], r["input_ids"]) for r in got],
                         [(r["index"], r["input_ids"]) for r in want])
        diff = max_abs_diff([r["embedding"] for r in got], [r["embedding"] for r in want])
        self.assertLessEqual(diff, tol)

    def test_several_devices_and_budgets(self):
        path = self.write("in.txt", self.lines(400))
        want = self.embed(["--model", TINY, "--device", "cpu", path])
        every = ",".join([d for d, _ in OPENCL] + ["cpu"])
        for args in [["--device", every], ["--device", "all"],
                     ["--device", "cpu", "--max-batch-tokens", "40", "--batch-size", "3"]]:
            with self.subTest(args=args):
                self.assert_same(self.embed(["--model", TINY, path] + args), want)
        prof = os.path.join(self.tmp, "profile.json")
        _, err = self.ok(["--model", TINY, "--device", every, "--profile", "--profile-json", prof,
                          path])
        devices = json.loads(slurp(prof))["devices"]
        self.assertEqual(len(devices), len(OPENCL) + 1)
        self.assertEqual(sum(d["records"] for d in devices), 400)
        self.assertAlmostEqual(sum(d["share_pct"] for d in devices), 100, 3)
        for d in devices:
            self.assertIn(d["name"][:30], err, "the --profile table has a row per device")
            self.assertLessEqual(d["tokens"], d["padded_tokens"])

    def test_device_lists(self):
        self.fails(["--model", TINY, "--device", "cpu,cpu", SAMPLE], 1, must_mention=["twice"])
        for bad in ["cpu,", "0,x", "all,0", ""]:
            self.fails(["--model", TINY, "--device", bad, SAMPLE], 2, must_mention=["--device"])
        self.fails(["--model", TINY, "--device", "cpu,0", "--benchmark"], 2,
                   must_mention=["one device"])

    def test_on_error(self):
        path = self.write("in.txt", b"first line\nbad \xff byte\nthird line\n")
        rc, out, err = run(["--model", TINY, "--device", "cpu", "--on-error", "skip", path])
        self.assertEqual(rc, 3, err)
        got = records(out)
        self.assertEqual([r["index"] for r in got], [0, 1, 2])
        self.assertEqual(sorted(got[1]), ["error", "index"])
        self.assertIn(path + ":2: ", got[1]["error"])
        self.assertIn("UTF-8", got[1]["error"])
        self.assertIn("skipped: " + path + ":2:", err)
        want = self.embed(["--model", TINY, "--device", "cpu"], b"first line\nthird line\n")
        self.assert_same([got[0], dict(got[2], index=1)], want)
        # fail, the default: the record before it, then exit 1 naming the line.
        self.fails(["--model", TINY, "--device", "cpu", path], 1, must_mention=[path + ":2:"],
                   before=1)
        self.fails(["--model", TINY, "--on-error", "skip", "--format", "npy", path], 2)
        self.fails(["--model", TINY, "--on-error", "maybe", path], 2)

    def test_resume(self):
        path = self.write("in.txt", self.lines(300))
        out = os.path.join(self.tmp, "out.jsonl")
        self.ok(["--model", TINY, "--device", "cpu", "-o", out, path])
        whole = slurp(out)
        lines = whole.split(b"\n")
        for kept, torn in [(100, 50), (0, 10), (300, 0)]:
            with self.subTest(kept=kept, torn=torn):
                # As a run killed in the middle of writing record KEPT leaves it.
                head = self.marked(b"".join(l + b"\n" for l in lines[:kept])) if kept else b""
                with open(out, "wb") as f:
                    f.write(head + lines[kept][:torn])
                self.ok(["--model", TINY, "--device", "cpu", "--resume", "-o", out, path])
                self.assert_same(records(slurp(out)), records(whole))
                self.assertTrue(slurp(out).startswith(head), "the kept records are kept as they were")
        os.remove(out)
        self.ok(["--model", TINY, "--device", "cpu", "--resume", "-o", out, path])
        self.assert_same(records(slurp(out)), records(whole))
        foreign = self.write("foreign.jsonl", lines[0] + b'\n{"index": 5}\n')
        self.fails(["--model", TINY, "--resume", "-o", foreign, path], 1,
                   must_mention=[foreign + ":2:", "--resume"])
        self.fails(["--model", TINY, "--resume", path], 2, must_mention=["--resume"])
        self.fails(["--model", TINY, "--resume", "--format", "npy", "-o", out, path], 2)
        # Vectors of another shape are not this run's to go on after.
        for other, values in [(["--pooling", "mean", "--truncate-dim", "5"], 5),
                              (["--output-dtype", "ubinary"], 4), (["--tokenize"], 0)]:
            self.fails(["--model", TINY, "--device", "cpu", "--resume", "-o", out, path] + other,
                       1, must_mention=[out + ":1: --resume: its embedding has 32 values, and "
                                        "this run writes %d" % values])
        self.assertEqual(records(slurp(out)), records(whole), "a refused resume leaves FILE")

    def test_resume_tells_the_output_dtypes_apart(self):
        """Widths alike, values not: float16 prints 5 digits, float32 9, the
        binary kinds integers; a run of another --output-dtype is refused."""
        path = self.write("in.txt", self.lines(40))
        out = os.path.join(self.tmp, "out.jsonl")
        base = ["--model", TINY, "--device", "cpu", "-o", out, path]
        for written, resumed in [(["--output-dtype", "float16"], ["--output-dtype", "float32"]),
                                 ([], ["--output-dtype", "float16"]),
                                 (["--pooling", "mean", "--truncate-dim", "4"],
                                  ["--pooling", "mean", "--output-dtype", "ubinary"]),
                                 (["--pooling", "mean", "--output-dtype", "binary"],
                                  ["--pooling", "mean", "--truncate-dim", "4"])]:
            with self.subTest(written=written, resumed=resumed):
                self.ok(base + written)
                whole = slurp(out)
                kept = b"".join(l + b"\n" for l in whole.split(b"\n")[:15])
                with open(out, "wb") as f:
                    f.write(kept)
                dtype = resumed[-1] if "--output-dtype" in resumed else "float32"
                self.fails(base + resumed + ["--resume"], 1, must_mention=[
                    out + ":1: --resume: its embedding's values are not what --output-dtype "
                    + dtype + " writes"])
                self.assertEqual(slurp(out), kept, "a refused resume leaves FILE")
                self.ok(base + written + ["--resume"])
                self.assert_same(records(slurp(out)), records(whole))
        # Runs that go on after their own records of every kind.
        for written in (["--pooling", "none", "--output-dtype", "float16"],
                        ["--output-dtype", "ubinary"], ["--output-dtype", "binary"],
                        ["--truncate-dim", "2", "--output-dtype", "float16"]):
            with self.subTest(written=written):
                self.ok(base + written)
                whole = slurp(out)
                with open(out, "wb") as f:
                    f.write(b"".join(l + b"\n" for l in whole.split(b"\n")[:15]))
                self.ok(base + written + ["--resume"])
                self.assertEqual([r["index"] for r in records(slurp(out))], list(range(40)))

    @staticmethod
    def marked(text):
        """TEXT (records) with the last digit of its first value changed: a
        kept record tells itself from a recomputed one."""
        m = re.search(rb'"embedding": \[+-?[0-9.]*([0-9])', text)
        digit = b"2" if m.group(1) == b"1" else b"1"
        return text[:m.start(1)] + digit + text[m.end(1):]

    def test_gzip_output(self):
        """-o NAME.gz: the records gzip-compressed, as whole gzip members of
        whole records (one per write), so --resume goes on after the last
        whole member of a file cut anywhere, keeping those as they are; a
        file gzip made of one member, or with a damaged tail, resumes too;
        jsonl only."""
        path = self.write("in.txt", self.lines(2500))  # about 1.4 MiB of records: 2 writes
        plain, out = os.path.join(self.tmp, "out.jsonl"), os.path.join(self.tmp, "out.jsonl.GZ")
        run_args = ["--model", TINY, "--device", "cpu", "--resume", "-o", out, path]
        self.ok(["--model", TINY, "--device", "cpu", "-o", plain, path])
        self.ok(["--model", TINY, "--device", "cpu", "-o", out, path])
        whole = slurp(out)
        self.assertEqual(gzip.decompress(whole), slurp(plain))
        members, at = [], 0
        while at < len(whole):  # where each member starts
            members.append(at)
            z = zlib.decompressobj(31)
            z.decompress(whole[at:])
            self.assertTrue(z.eof, "a torn member at byte %d" % at)
            at = len(whole) - len(z.unused_data)
        self.assertGreaterEqual(len(members), 2, "one gzip member per write")
        first = self.marked(gzip.decompress(whole[:members[1]]))
        data = gzip.compress(first) + whole[members[1]:]
        second = len(data) - (len(whole) - members[1])
        for cut in [0, 5, second - 1, second, second + 100, len(data) - 1]:
            with self.subTest(cut=cut):
                with open(out, "wb") as f:
                    f.write(data[:cut])
                self.ok(run_args)
                got = gzip.decompress(slurp(out))
                self.assertEqual(got.startswith(first), cut >= second,
                                 "the whole members are kept as they were, the rest recomputed")
                self.assert_same(records(got), records(slurp(plain)))
        lines = slurp(plain).split(b"\n")
        for name, data in [("gzip of a plain run's first records",
                            gzip.compress(self.marked(b"".join(l + b"\n" for l in lines[:700])))),
                           ("whole members, then zeros", gzip.compress(first) + bytes(300))]:
            with self.subTest(file=name):
                with open(out, "wb") as f:
                    f.write(data)
                self.ok(run_args)
                got = gzip.decompress(slurp(out))
                self.assertTrue(got.startswith(self.marked(lines[0])), "the records kept")
                self.assert_same(records(got), records(slurp(plain)))
        # Not gzip, or not what albert-cl writes: refused, FILE left as it was.
        for name, data, why in [("plain.jsonl.gz", slurp(plain)[:5000], "not gzip data"),
                                ("line.jsonl.gz", gzip.compress(b'{"index": 0'), "inside a line")]:
            bad = self.write(name, data)
            self.fails(["--model", TINY, "--device", "cpu", "--resume", "-o", bad, path], 1,
                       must_mention=[bad, "--resume", why])
            self.assertEqual(slurp(bad), data)
        for args in (["--format", "npy"], ["--format", "safetensors"], ["--benchmark"]):
            self.fails(["--model", TINY, "--device", "cpu", "-o", os.path.join(self.tmp, "v.gz")]
                       + args + ([] if "--benchmark" in args else [path]), 2,
                       must_mention=["gzip output"])

    def test_shards_cover_the_input(self):
        path = self.write("in.txt", self.lines(100))
        want = self.embed(["--model", TINY, "--device", "cpu", path])
        parts = []
        for i in range(3):
            part = self.embed(["--model", TINY, "--device", "cpu", "--shard", "%d/3" % i, path])
            self.assertEqual([r["index"] for r in part], list(range(i, 100, 3)))
            parts += part
        self.assert_same(sorted(parts, key=lambda r: r["index"]), want)
        # A shard resumed keeps its global indices.
        out = os.path.join(self.tmp, "shard1.jsonl")
        self.write("shard1.jsonl", "".join(json.dumps(r) + "\n" for r in want[1:30:3]))
        self.ok(["--model", TINY, "--device", "cpu", "--shard", "1/3", "--resume", "-o", out, path])
        self.assertEqual([r["index"] for r in records(slurp(out))], list(range(1, 100, 3)))
        for bad in ["3/3", "1/0", "x/2", "1", "-1/2"]:
            self.fails(["--model", TINY, "--shard", bad, path], 2, must_mention=["--shard"])

    def test_output_and_input_failures(self):
        # -o naming an input would empty it before it is read.
        path = self.write("in.txt", "first\nsecond\n")
        self.fails(["--model", TINY, "--device", "cpu", "-o", path, path], 1,
                   must_mention=[path, "also an input"])
        self.assertEqual(slurp(path), b"first\nsecond\n")
        # A read error (a folder as the second file) ends the run after the
        # first file's records.
        folder = os.path.join(self.tmp, "folder")
        os.mkdir(folder)
        self.fails(["--model", TINY, "--device", "cpu", path, folder], 1,
                   must_mention=[folder], before=2)
        # A run refused before it starts leaves -o FILE as it was.
        out = self.write("out.jsonl", "previous\n")
        self.fails(["--model", BASE, "--device", "cpu", "--max-batch-tokens", "16777216",
                    "--batch-size", "65536", "-o", out, path], 1, must_mention=["fit"])
        self.assertEqual(slurp(out), b"previous\n")

    def test_resume_keeps_the_skipped_status(self):
        path = self.write("in.txt", b"first\nbad \xff\nthird\n")
        out = os.path.join(self.tmp, "out.jsonl")
        args = ["--model", TINY, "--device", "cpu", "--on-error", "skip", "-o", out, path]
        self.assertEqual(run(args)[0], 3)
        self.assertEqual(run(args + ["--resume"])[0], 3, "the kept error record still counts")

    def test_records_stream_out_of_a_pipe(self):
        env = dict(os.environ)
        env.pop("ALBERT_CL_MODEL", None)
        p = subprocess.Popen([BINARY, "--model", TINY, "--device", "cpu"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        try:
            p.stdin.write(b"the first line\n")
            p.stdin.flush()
            ready, _, _ = select.select([p.stdout], [], [], 120)
            self.assertTrue(ready, "no record while stdin stays open")
            self.assertEqual(json.loads(p.stdout.readline())["index"], 0)
            p.stdin.write(b"the second\n")
            p.stdin.close()
            rest = records(p.stdout.read())
            self.assertEqual(p.wait(timeout=120), 0)
            self.assertEqual([r["index"] for r in rest], [1])
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()

    def test_progress_and_quiet(self):
        path = self.write("in.txt", self.lines(50) + "word " * 100 + "\n")
        _, err = self.ok(["--model", TINY, "--device", "cpu", "--progress", path])
        self.assertRegex(err, r"albert-cl: 51 records, \d+ tokens/s, 100\.0%, ETA 0m00s\n")
        self.assertIn("truncated", err)
        _, err = self.ok(["--model", TINY, "--device", "cpu", "--quiet", path])
        self.assertEqual(err, "", "--quiet: no progress, no warnings")
        self.fails(["--model", TINY, "--progress", "--quiet", path], 2)

    def peak_rss_mib(self, lines):
        """Peak RSS of a cpu run over LINES lines, without OpenCL drivers (an
        empty vendor folder: their libraries take about 143 MiB once
        loaded) and with ASan's quarantine of freed memory kept small."""
        path = os.path.join(self.tmp, "big-%d.txt" % lines)
        with open(path, "w") as f:
            for i in range(lines):
                f.write("line %d of a long input, a few words more\n" % i)
        vendors = os.path.join(self.tmp, "no-vendors")
        os.makedirs(vendors, exist_ok=True)
        probe = ("import resource, subprocess, sys; "
                 "p = subprocess.run(sys.argv[1:], capture_output=True); "
                 "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        env = dict(os.environ, OCL_ICD_VENDORS=vendors,
                   ASAN_OPTIONS="detect_leaks=0:quarantine_size_mb=1")
        env.pop("ALBERT_CL_MODEL", None)
        p = subprocess.run([sys.executable, "-c", probe, BINARY, "--model", TINY, "--device",
                            "cpu", "-o", os.devnull, path], capture_output=True, env=env,
                           timeout=600)
        rc, peak_kib = map(int, p.stdout.split())
        self.assertEqual(rc, 0)
        return peak_kib / 1024

    def test_memory_stays_flat(self):
        # Four windows of records in flight at most, whatever the length: 8,000
        # lines already fill them (40,000 keep CI's time; docs/scaling.md has
        # the 500,000-line figure).
        small, big = self.peak_rss_mib(8000), self.peak_rss_mib(40000)
        self.assertLess(big - small, 16, "5x the lines: %.0f MiB, then %.0f MiB" % (small, big))
        if not os.environ.get("ALBERT_TEST_SANITIZED"):
            self.assertLess(big, 128, "peak RSS of 40,000 lines, MiB")

class Profile(Base):
    OPENCL_ROWS = ["upload", "embed_layernorm", "residual_layernorm", "download"]
    # Linears and attention on CLBlast (with a bias and a softmax kernel), or on
    # kernels/linear.cl and attention.cl (a profile with gemm_nr and attention;
    # tiny-gelu's heads of 8 keep attention on CLBlast).
    CLBLAST_ROWS = ["CLBlastSgemm", "bias_none", "CLBlastSgemmStridedBatched", "softmax_masked"]
    PACKED_PROFILE = os.path.join(SOURCE_DIR, "..", "profiles", "pocl-x86-64-avx512.json")
    # The GPU path: the tiled attention (tiny-gelu's heads of 8 qualify), no
    # scores buffer, so neither the batched GEMMs nor the softmax run.
    GPU_PROFILE = os.path.join(SOURCE_DIR, "..", "profiles", "gpu-generic.json")
    GPU_ROWS = ["attention_tiles", "CLBlastSgemm", "bias_none"]
    GPU_ABSENT = ["CLBlastSgemmStridedBatched", "softmax_masked", "attention_rows"]
    CPU_ROWS = ["cpu_embed", "cpu_linear", "cpu_attention", "cpu_layernorm", "cpu_activate",
                "cpu_pooler"]

    def test_help_documents_profile_and_benchmark(self):
        text = self.ok(["--help"])[0].decode()
        for opt in ["--profile", "--profile-json", "--benchmark", "--seq-len", "--iterations",
                    "--warmup", "tokens_per_s", "ms_per_batch", "gflops"]:
            self.assertIn(opt, text)

    def test_profile_table_on_every_device(self):
        runs = [("cpu", [], self.CPU_ROWS, [])]
        for device, _ in opencl_tested():
            runs += [(device, ["--no-profile"], self.OPENCL_ROWS + self.CLBLAST_ROWS, []),
                     # attention.cl takes heads of 16 floats or more: tiny-gelu's
                     # (8) go to the tiled kernel, not to CLBlast's batched GEMMs.
                     (device, ["--profile-file", self.PACKED_PROFILE],
                      self.OPENCL_ROWS + ["linear_packed", "attention_tiles"],
                      ["CLBlastSgemmStridedBatched", "attention_rows"]),
                     (device, ["--profile-file", self.GPU_PROFILE],
                      self.OPENCL_ROWS + self.GPU_ROWS, self.GPU_ABSENT)]
        for device, opts, want, absent in runs:
            args = ["--model", TINY, "--device", device] + opts + [SAMPLE]
            plain, _ = self.ok(args)
            out, err = self.ok(args + ["--profile"])
            self.assertEqual(out, plain, "--profile leaves the records alone")
            rows = profile_rows(err)
            for name in want:
                self.assertGreater(rows.get(name, 0), 0, "%s: no %s row in %s" % (device, name, err))
            for name in absent:
                self.assertNotIn(name, rows, "%s %s: %s ran" % (device, opts, name))
            for phase in ["read", "load", "tokenize", "forward", "write", "wall"]:
                self.assertRegex(err, r"(?m)^%s +\d" % phase)

    def test_clblast_gemmk1_batches_stay_exact(self):
        # CLBlast 1.5.3's strided-batched GEMM is wrong on its indirect path
        # under Xgemm GEMMK=1 (Intel's shipped profile has it); albert-cl runs
        # such batches as plain GEMMs.  tiny-gelu's heads of 8 without an
        # attention kernel go to those batches, all indirect from 8^3 up.
        with open(os.path.join(SOURCE_DIR, "..", "profiles", "intel-cpu-runtime.json"),
                  encoding="utf-8") as f:
            clblast = json.load(f)["clblast"]
        self.assertEqual(clblast["Xgemm"]["GEMMK"], 1)
        clblast["GemmRoutine"] = {"XGEMM_MIN_INDIRECT_SIZE": 8}
        clblast["XgemmDirect"] = dict.fromkeys(clblast["XgemmDirect"], 1)
        path = self.write("gemmk1.json", json.dumps({"albert_cl_profile": 1, "name": "gemmk1",
                                                     "clblast": clblast}))
        for device, _ in opencl_tested():
            _, err = self.ok(["--model", TINY, "--device", device, "--profile-file", path,
                              "--validate", "--profile", SAMPLE])
            self.assertGreater(profile_rows(err).get("CLBlastSgemm", 0), 0, err)

    def test_profile_json(self):
        for device, _ in opencl_tested():
            self.check_profile_json(device)
        self.fails(["--model", TINY, "--device", "cpu", "--profile-json",
                    os.path.join(self.tmp, "no", "such", "dir.json"), SAMPLE], 1,
                   must_mention=["--profile-json"])

    def check_profile_json(self, device):
        path = os.path.join(self.tmp, "profile.json")
        out, err = self.ok(["--model", TINY, "--device", device, "--profile-json", path, SAMPLE])
        self.assertEqual(len(records(out)), 8)
        self.assertEqual(profile_rows(err), {}, "no table without --profile")
        prof = json.loads(slurp(path, False))
        for key in ["device", "device_total_ms", "wall_ms", "kernels", "host_phases"]:
            self.assertIn(key, prof)
        self.assertTrue(prof["device"].startswith("OpenCL %s:" % device), prof["device"])
        names = [k["name"] for k in prof["kernels"]]
        for name in self.OPENCL_ROWS:
            self.assertIn(name, names)
        for k in prof["kernels"]:
            for key in ["calls", "total_ms", "mean_us", "device_pct", "flops", "bytes"]:
                self.assertIn(key, k)
            self.assertGreater(k["calls"], 0)
            if k["name"].startswith("CLBlast") or k["name"] in ("linear_packed", "attention_rows"):
                self.assertGreater(k["flops"], 0)
                self.assertIn("gflops", k)
        self.assertIn("forward", [p["name"] for p in prof["host_phases"]])

    def bench(self, args):
        out, err = self.ok(["--benchmark", "--model", TINY, "--batch-size", "2", "--seq-len", "16",
                            "--iterations", "3", "--warmup", "1"] + args)
        lines = out.decode().splitlines()
        self.assertEqual(len(lines), 1, out)
        return json.loads(lines[0]), err

    def test_benchmark_json_line(self):
        for device in ["cpu"] + [d for d, _ in OPENCL]:
            res, _ = self.bench(["--device", device])
            for key in ["device", "batch_size", "seq_len", "iterations", "tokens_per_s",
                        "ms_per_batch", "ms_min", "ms_median", "gflops", "flops_per_batch"]:
                self.assertIn(key, res)
            self.assertEqual((res["batch_size"], res["seq_len"], res["iterations"]), (2, 16, 3))
            self.assertGreater(res["tokens_per_s"], 0)
            self.assertGreater(res["gflops"], 0)
            self.assertLessEqual(res["ms_min"], res["ms_median"])
            self.assertEqual(res["device"].startswith("cpu"), device == "cpu", res["device"])

    def test_benchmark_with_profile_counts_the_timed_runs(self):
        # Profile FLOPs over the timed runs = iterations x the model's formula.
        for device in ["cpu"] + [d for d, _ in OPENCL]:
            path = os.path.join(self.tmp, "bench.json")
            res, err = self.bench(["--device", device, "--profile", "--profile-json", path])
            self.assertIn("forward", err)
            prof = json.loads(slurp(path, False))
            flops = sum(k["flops"] for k in prof["kernels"])
            self.assertEqual(flops, 3 * res["flops_per_batch"], device)
            calls = {k["name"]: k["calls"] for k in prof["kernels"]}
            linears = sum(calls.get(name, 0)
                          for name in ["cpu_linear", "CLBlastSgemm", "linear_packed"])
            # tiny-gelu: 3 layers x 4 Linears + the embedding projection (+ pooler on OpenCL).
            self.assertEqual(linears, 3 * (13 if device == "cpu" else 14))

    def test_benchmark_usage_errors(self):
        for args in [["--seq-len", "8"], ["--iterations", "3"], ["--warmup", "1"],
                     ["--benchmark", SAMPLE], ["--benchmark", "--tokenize"],
                     ["--benchmark", "--validate"], ["--benchmark", "--seq-len", "1"],
                     ["--benchmark", "--iterations", "0"], ["--benchmark", "--warmup", "-1"]]:
            err = self.fails(["--model", TINY] + args, 2)
            self.assertIn("--help", err)
        self.fails(["--benchmark", "--model", TINY, "--device", "cpu", "--seq-len", "65"], 1,
                   must_mention=["--seq-len", "64"])

class Profiles(Base):
    TEST_PROFILES = os.path.join(SOURCE_DIR, "data", "profiles")

    def test_help_documents_profile_options(self):
        text = self.ok(["--help"])[0].decode()
        for opt in ["--profile-file", "--no-profile", "ALBERT_CL_PROFILE_DIR"]:
            self.assertIn(opt, text)

    def test_malformed_profile_file_names_file_and_key(self):
        bad = self.write("bad.json", '{"albert_cl_profile": 1, "name": "b", '
                                     '"clblast": {"Xgemm": {"KWG": "32"}}}')
        err = self.fails(["--model", TINY, "--profile-file", bad, SAMPLE], 1,
                         must_mention=[bad, "clblast.Xgemm.KWG"])
        self.assertEqual(len(err.splitlines()), 1, err)
        broken = self.write("broken.json", '{"albert_cl_profile": 1,\n "name": }')
        err = self.fails(["--model", TINY, "--profile-file", broken, SAMPLE], 1,
                         must_mention=[broken, "line 2"])
        self.assertEqual(len(err.splitlines()), 1, err)
        missing = os.path.join(self.tmp, "missing.json")
        err = self.fails(["--model", TINY, "--profile-file", missing, SAMPLE], 1,
                         must_mention=[missing])
        self.assertEqual(len(err.splitlines()), 1, err)

    def test_tiled_attention_shape_needs_the_tiled_attention(self):
        odd = self.write("odd.json", '{"albert_cl_profile": 1, "name": "odd", '
                                     '"kernels": {"attention": 1, "attn_bq": 64}}')
        for device, _ in opencl_tested():
            err = self.fails(["--model", TINY, "--device", device, "--profile-file", odd, SAMPLE],
                             1, must_mention=[odd, "attn_bq", "attention 2"])
            self.assertEqual(len(err.splitlines()), 1, err)

    def test_own_kernels_leave_clblast_uncompiled(self):
        # Under the AVX-512 PoCL profile albert-base runs no CLBlast kernel, so
        # engine creation must not build CLBlast's (that cost 40+ s cold).
        # PoCL's kernel cache names a folder after each kernel it compiled:
        # the PoCL devices tell (the suite installs PoCL: there is one).
        pocl_devices = [d for d, platform in OPENCL if platform == POCL]
        self.assertTrue(pocl_devices, "no PoCL device among %s" % OPENCL)
        profile = os.path.join(SOURCE_DIR, "..", "profiles", "pocl-x86-64-avx512.json")
        for device in pocl_devices:
            pocl = os.path.join(self.tmp, "pocl-cache-" + device)
            os.mkdir(pocl)
            out, _ = self.ok(["--model", BASE, "--device", device, "--profile-file", profile,
                              SAMPLE], env={"POCL_CACHE_DIR": pocl,
                                            "XDG_CACHE_HOME": os.path.join(self.tmp, "xdg")})
            self.assertEqual(len(records(out)), 8)
            compiled = {d for _, dirs, _ in os.walk(pocl) for d in dirs}
            self.assertIn("linear_packed", compiled)
            self.assertIn("attention_rows", compiled)
            self.assertFalse({d for d in compiled if d.startswith("Xgemm")}, sorted(compiled))

    def test_profile_options_exclude_each_other(self):
        self.fails(["--profile-file", "x.json", "--no-profile", SAMPLE], 2,
                   must_mention=["--no-profile"])

    def test_no_profile_and_forced_profile_agree_with_cpu(self):
        args = ["--model", TINY, "--pooling", "none", SAMPLE]
        cpu = [r["embedding"] for r in self.embed(args + ["--device", "cpu"])]
        forced = os.path.join(self.TEST_PROFILES, "pocl-test.json")
        for device, _ in opencl_tested():
            for extra in (["--no-profile"], ["--profile-file", forced]):
                got = [r["embedding"] for r in self.embed(args + ["--device", device] + extra)]
                self.assertLess(max_abs_diff(cpu, got), 1e-4, (device, extra))

    def test_list_devices_shows_profile_file(self):
        # pocl-test.json matches PoCL's platform only.
        out, _ = self.ok(["--list-devices"], env={"ALBERT_CL_PROFILE_DIR": self.TEST_PROFILES})
        lines = out.decode().splitlines()
        column = lines[0].split("\t").index("profile")
        rows = [line.split("\t") for line in lines[1:len(OPENCL) + 1]]
        self.assertEqual([(r[0], r[1]) for r in rows], OPENCL, lines)
        for row in rows:
            self.assertEqual(row[column].endswith("pocl-test.json"), row[1] == POCL, row)
        # A folder without a matching profile: none.
        empty = os.path.join(self.tmp, "profiles")
        os.mkdir(empty)
        out, _ = self.ok(["--list-devices"], env={"ALBERT_CL_PROFILE_DIR": empty})
        self.assertEqual({line.split("\t")[column] for line in out.decode().splitlines()[1:]},
                         {"-"})


def opencl_tested():
    """The OpenCL devices of the tests that load models under several
    profiles or shapes (their time goes to the drivers' compiles: Intel's
    runtime builds CLBlast's programs again in every process)."""
    return devices_checked(OPENCL)


def opencl_devices():
    """[(id, platform)] of the OpenCL rows of --list-devices; exits loudly
    when there is none: the OpenCL tests never skip."""
    rc, out, err = run(["--list-devices"])
    rows = [line.split("\t") for line in out.decode().splitlines()[1:]]
    found = [(row[0], row[1]) for row in rows if row[0] != "cpu"]
    if rc != 0 or not found:
        sys.exit("FATAL: no OpenCL device (albert-cl --list-devices: status %d, %s); install "
                 "an OpenCL driver (e.g. pocl-opencl-icd)" % (rc, err.strip()))
    return found


def main():
    global BINARY, SHARED, BASE, TINY, OPENCL
    BINARY, SHARED = program_args("test_cli.py")
    BASE, TINY = model("albert-base-v2-random"), model("tiny-gelu")
    OPENCL = opencl_devices()
    print("OpenCL devices: %s" % OPENCL)
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)


if __name__ == "__main__":
    main()
