#!/usr/bin/env python3
"""Injected faults: every host allocation, OpenCL call and output write of a
short albert-cl run may fail, and each failure must end the run cleanly.

usage: test_faults.py ALBERT_CL_BINARY SHARED_DIR
The binary comes from a build made with -DALBERT_FAULTS=ON (host/core/fault.h):
ALBERT_CL_FAULT=count reports how many events of each kind a run has, and
ALBERT_CL_FAULT=KIND:N fails the Nth.  For each device and kind the test
sweeps N over the run (every N when there are few, else an even spread of
ALBERT_FAULT_SWEEP of them, default 8; "all" sweeps every one) and checks:
the fault came (the run says so); the run exits 0 with the whole output, or
1 with one "albert-cl: " error line that names what failed; never a signal
or a sanitizer report; the -o file is as it was (a failure before the
output opened), whole, or the whole output's first records, never a torn
one (jsonl records are written as they complete); no temporary file is
left beside it.
Under AddressSanitizer every run checks leaks: the CPU runs see no OpenCL
driver (an empty vendor folder); the OpenCL runs leave the drivers' own
process-lifetime allocations out (tests/lsan-drivers.supp).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from cli_helpers import COMPILER_NOISE

BINARY = None
SHARED = None
KINDS = ("alloc", "opencl", "write")
# What each kind's error names: the failed allocation, the OpenCL/CLBlast
# call's code, the output's failed write.
NAMES = {
    "alloc": re.compile(r"out of memory|Cannot allocate memory"),
    "opencl": re.compile(r"CL_OUT_OF_RESOURCES|CLBlastOpenCLOutOfResources"),
    "write": re.compile(r"write|No space|Input/output error|flush|close"),
}
COUNTS = re.compile(r"albert-cl faults: alloc (\d+) opencl (\d+) write (\d+)")
SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|runtime error:")
SUPPRESSIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lsan-drivers.supp")
OLD = b"the file as it was\n"


def spread(count, limit):
    """Event numbers to fail: all of 1..COUNT, or LIMIT of them evenly."""
    if limit == "all" or count <= int(limit):
        return list(range(1, count + 1))
    n = int(limit)
    return sorted({1 + round(i * (count - 1) / (n - 1)) for i in range(n)})


class Faults(unittest.TestCase):
    label = ""  # tells apart the output folders of sweeps over other inputs

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="albert-faults-")
        cls.input = os.path.join(cls.tmp, "input.txt")
        with open(cls.input, "w", encoding="utf-8") as f:
            f.write("hello world\nsecond line, a bit longer than the first\nthird\n")
        cls.no_vendors = os.path.join(cls.tmp, "no-vendors")
        os.mkdir(cls.no_vendors)
        cls.limit = os.environ.get("ALBERT_FAULT_SWEEP", "8")

    def run_cli(self, device, out_path, fault, cache=None, rows=None):
        env = dict(os.environ)
        env["ALBERT_CL_CACHE_DIR"] = cache or os.path.join(self.tmp, "cache")
        env["ALBERT_CL_FAULT"] = fault
        env["ASAN_OPTIONS"] = "detect_leaks=1"
        env["LSAN_OPTIONS"] = "suppressions=" + SUPPRESSIONS
        if device == "cpu":
            env["OCL_ICD_VENDORS"] = self.no_vendors
        args = [BINARY, "--model", os.path.join(SHARED, "models", "tiny-gelu"), "--device",
                device, "-o", out_path, self.input]
        if rows:
            args[1:1] = ["--batch-size", str(rows)]
        p = subprocess.run(args, capture_output=True, env=env, timeout=300)
        return p.returncode, COMPILER_NOISE.sub("", p.stderr.decode("utf-8", "replace"))

    def devices(self):
        p = subprocess.run([BINARY, "--list-devices"], capture_output=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        ids = [line.split("\t")[0] for line in p.stdout.decode().splitlines()[1:]]
        self.assertIn("cpu", ids)
        self.assertGreater(len(ids), 1, "no OpenCL device: OpenCL faults cannot be swept")
        return ids

    def reference(self, device, rows=None):
        """The whole output of a run without faults, and its event counts,
        counted with the kernel cache warm, as every swept run finds it
        (ROWS: --batch-size)."""
        path = os.path.join(self.tmp, "reference-%s-%s.jsonl" % (device, rows))
        rc, err = self.run_cli(device, path, "count", rows=rows)
        self.assertEqual(rc, 0, err)
        rc, err = self.run_cli(device, path, "count", rows=rows)
        self.assertEqual(rc, 0, err)
        m = COUNTS.search(err)
        self.assertIsNotNone(m, "no fault counts reported: is this an ALBERT_FAULTS build? " + err)
        with open(path, "rb") as f:
            return f.read(), dict(zip(KINDS, map(int, m.groups())))

    def check_one(self, device, kind, n, whole, rows=None):
        folder = os.path.join(self.tmp, "out-%s%s-%s-%d" % (self.label, device, kind, n))
        os.mkdir(folder)
        path = os.path.join(folder, "out.jsonl")
        with open(path, "wb") as f:
            f.write(OLD)
        # A copy of the warm cache: a fault that has an entry deleted must
        # not change what the next run counts.
        cache = os.path.join(folder, "cache")
        shutil.copytree(os.path.join(self.tmp, "cache"), cache)
        rc, err = self.run_cli(device, path, "%s:%d" % (kind, n), cache, rows)
        self.last_error = err
        what = "device %s, %s fault %d: rc %d, stderr %r" % (device, kind, n, rc, err)
        self.assertNotRegex(err, SANITIZER, what)
        self.assertIn(rc, (0, 1), what)
        with open(path, "rb") as f:
            content = f.read()
        self.assertEqual(sorted(os.listdir(folder)), ["cache", "out.jsonl"],
                         "temporary files left: " + what)
        self.assertIn("albert-cl faults: injected %s %d" % (kind, n), err,
                      "the fault never came: the sweep missed its event: " + what)
        if rc == 0:
            self.assertEqual(content, whole, "exit 0 without the whole output: " + what)
            return "recovered"
        # (The whole output with a failure after it: closing stdout.)
        first_records = whole.startswith(content) and (content in (b"", whole) or
                                                       content.endswith(b"\n"))
        self.assertTrue(content == OLD or first_records, "a torn -o file: " + what)
        lines = [line for line in err.splitlines() if line.startswith("albert-cl: ")]
        self.assertEqual(len(lines), 1, "not one error line: " + what)
        self.assertNotIn("warning", lines[0], what)
        self.assertRegex(lines[0], NAMES[kind], "the error does not name what failed: " + what)
        return "failed cleanly"

    def kinds(self, device, first_opencl):
        """The host's allocations run the same code on every device: swept on
        the CPU and the first OpenCL device (PoCL here); every OpenCL device
        gets its OpenCL calls swept.  The writes are swept on the CPU: an
        OpenCL engine runs asynchronously, so how many writes a run makes
        depends on when its batches are done (records are written as they
        complete), and a sweep cannot count on the Nth."""
        if device == "cpu":
            return KINDS
        return ("alloc", "opencl") if device == first_opencl else ("opencl",)

    def test_sweep(self):
        devices = self.devices()
        for device in devices:
            whole, counts = self.reference(device)
            self.assertGreater(counts["alloc"], 0, counts)
            self.assertGreater(counts["write"], 0, counts)
            # OpenCL faults with one row per batch: three batches, so a fault
            # can come while another is in flight on the engine.  (How many
            # writes a run makes then depends on when each batch is done.)
            one_row = self.reference(device, 1) if device != "cpu" else (whole, counts)
            if device != "cpu":
                self.assertGreater(one_row[1]["opencl"], 0, one_row[1])
            for kind in self.kinds(device, devices[0]):
                rows = 1 if kind == "opencl" else None
                kind_whole, kind_counts = one_row if rows else (whole, counts)
                outcomes = {}
                for n in spread(kind_counts[kind], self.limit):
                    with self.subTest(device=device, kind=kind, n=n):
                        outcome = self.check_one(device, kind, n, kind_whole, rows)
                        outcomes[outcome] = outcomes.get(outcome, 0) + 1
                print("device %s: %s: %d events, swept: %s" % (device, kind, kind_counts[kind],
                                                               outcomes), flush=True)
                if kind_counts[kind]:
                    self.assertIn("failed cleanly", outcomes,
                                  "no %s fault on device %s made the run fail" % (kind, device))


class FastTokenizerFaults(Faults):
    """The fast tokenizer's own code: --tokenize with a small tokenizer.json
    of the ALBERT shape (the fuzz seed), so that a sweep reaches its parser
    and its normalizer, Unigram and added-token paths, not only cJSON's;
    every allocation and write of the run fails once."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.model = os.path.join(cls.tmp, "fast-model")
        os.mkdir(cls.model)
        seed = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz", "corpus",
                            "tokenizer_json", "albert-shape.json")
        shutil.copyfile(seed, os.path.join(cls.model, "tokenizer.json"))
        os.mkdir(os.path.join(cls.tmp, "cache"))  # check_one copies it; nothing uses it
        with open(cls.input, "w", encoding="utf-8") as f:
            f.write("Hello  World, [MASK] caf\u00e9 ``quoted''\n\u65e5\u672c AB (a)-b.\n\n")

    def run_cli(self, device, out_path, fault, cache=None, rows=None):
        env = dict(os.environ, ALBERT_CL_FAULT=fault, ASAN_OPTIONS="detect_leaks=1",
                   OCL_ICD_VENDORS=self.no_vendors)
        args = [BINARY, "--tokenize", "--tokenizer", "fast", "--model", self.model, "-o",
                out_path, self.input]
        p = subprocess.run(args, capture_output=True, env=env, timeout=300)
        return p.returncode, p.stderr.decode("utf-8", "replace")

    def test_sweep(self):
        whole, counts = self.reference("cpu")
        for kind in ("alloc", "write"):
            # Every event: a run takes tens of milliseconds.
            count = counts[kind]
            outcomes = {}
            for n in range(1, count + 1):
                with self.subTest(kind=kind, n=n):
                    outcome = self.check_one("cpu", kind, n, whole)
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
            print("fast tokenizer: %s: %d events, swept: %s" % (kind, count, outcomes),
                  flush=True)
            self.assertIn("failed cleanly", outcomes, kind)


class TorchCheckpointFaults(Faults):
    """Loading pytorch_model.bin (host/core/torch_checkpoint.c, pickle.c):
    tiny-f16 as torch.save wrote it, in the zip and the legacy format
    (tests/data/pytorch); 120 allocations of each cpu run fail in turn, the
    loader's among them."""

    FORMATS = ("tiny-f16-zip.bin", "tiny-f16-legacy.bin")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "pytorch")
        for weights in cls.FORMATS:
            folder = os.path.join(cls.tmp, weights)
            os.mkdir(folder)
            for f in ("config.json", "spiece.model"):
                os.symlink(os.path.join(SHARED, "models", "tiny-f16", f), os.path.join(folder, f))
            shutil.copyfile(os.path.join(data, weights), os.path.join(folder, "pytorch_model.bin"))
        os.mkdir(os.path.join(cls.tmp, "cache"))  # check_one copies it; nothing uses it
        cls.model = None

    def run_cli(self, device, out_path, fault, cache=None, rows=None):
        env = dict(os.environ, ALBERT_CL_FAULT=fault, ASAN_OPTIONS="detect_leaks=1",
                   OCL_ICD_VENDORS=self.no_vendors)
        args = [BINARY, "--device", "cpu", "--model", self.model, "-o", out_path, self.input]
        p = subprocess.run(args, capture_output=True, env=env, timeout=300)
        return p.returncode, p.stderr.decode("utf-8", "replace")

    def test_sweep(self):
        for weights in self.FORMATS:
            type(self).model = os.path.join(self.tmp, weights)
            type(self).label = weights + "-"
            whole, counts = self.reference("cpu")
            in_loader = 0
            for n in spread(counts["alloc"], 120):
                with self.subTest(weights=weights, n=n):
                    outcome = self.check_one("cpu", "alloc", n, whole)
                    in_loader += outcome == "failed cleanly" and self.last_named_checkpoint
            print("%s: alloc: %d events, %d failures in the loader" %
                  (weights, counts["alloc"], in_loader), flush=True)
            self.assertGreater(in_loader, 10, "the sweep missed the loader")

    def check_one(self, device, kind, n, whole, rows=None):
        outcome = super().check_one(device, kind, n, whole, rows)
        self.last_named_checkpoint = "pytorch_model.bin" in self.last_error
        return outcome


class DenseHeadFaults(TorchCheckpointFaults):
    """A sentence-transformers folder's Dense modules (host/core/head.c):
    tests/data/sentence-transformers/dense-chain-bin, five modules whose
    weights are pytorch_model.bin files, loaded after the model and run on
    every pooled vector; 60 allocations of the cpu run fail in turn."""

    @classmethod
    def setUpClass(cls):
        super(TorchCheckpointFaults, cls).setUpClass()  # not its folders
        cls.model = os.path.join(cls.tmp, "dense")
        data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
        shutil.copytree(os.path.join(data, "sentence-transformers", "dense-chain-bin"), cls.model)
        for f in ("config.json", "model.safetensors", "spiece.model"):
            os.symlink(os.path.join(SHARED, "models", "tiny-gelu", f), os.path.join(cls.model, f))
        os.symlink(os.path.join(SHARED, "models", "albert-base-v2", "tokenizer.json"),
                   os.path.join(cls.model, "tokenizer.json"))
        os.mkdir(os.path.join(cls.tmp, "cache"))  # check_one copies it; nothing uses it

    def run_cli(self, device, out_path, fault, cache=None, rows=None):
        env = dict(os.environ, ALBERT_CL_FAULT=fault, ASAN_OPTIONS="detect_leaks=1",
                   OCL_ICD_VENDORS=self.no_vendors)
        # The slow tokenizer: tokenizer.json's 30,000 pieces would take most allocations.
        args = [BINARY, "--device", "cpu", "--model", self.model, "--tokenizer", "slow", "-o",
                out_path, self.input]
        p = subprocess.run(args, capture_output=True, env=env, timeout=300)
        return p.returncode, p.stderr.decode("utf-8", "replace")

    def test_sweep(self):
        whole, counts = self.reference("cpu")
        in_head = 0
        for n in spread(counts["alloc"], 60):
            with self.subTest(n=n):
                outcome = self.check_one("cpu", "alloc", n, whole)
                in_head += outcome == "failed cleanly" and "_Dense" in self.last_error
        print("Dense modules: alloc: %d events, %d failures naming a module" %
              (counts["alloc"], in_head), flush=True)
        self.assertGreater(in_head, 3, "the sweep missed the Dense modules")


class ArrayOutputFaults(Faults):
    """The all-or-nothing outputs: safetensors with token vectors (its
    lengths wait in a temporary file, copied in at the end) and npy, float32
    and float16; every
    write check of a cpu run fails in turn, and a failed run leaves -o FILE
    as it was (or whole, when what failed was closing stdout after it)."""

    FORMATS = (["--format", "safetensors", "--pooling", "none"],
               ["--format", "npy", "--pooling", "mean"],
               ["--format", "npy", "--pooling", "mean", "--output-dtype", "float16"])

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        os.mkdir(os.path.join(cls.tmp, "cache"))  # check_one copies it; nothing uses it
        cls.extra = []

    def run_cli(self, device, out_path, fault, cache=None, rows=None):
        env = dict(os.environ, ALBERT_CL_FAULT=fault, ASAN_OPTIONS="detect_leaks=1",
                   OCL_ICD_VENDORS=self.no_vendors)
        args = [BINARY, "--device", "cpu", "--model", os.path.join(SHARED, "models", "tiny-gelu"),
                "-o", out_path] + self.extra + [self.input]
        p = subprocess.run(args, capture_output=True, env=env, timeout=300)
        return p.returncode, p.stderr.decode("utf-8", "replace")

    def test_sweep(self):
        for extra in self.FORMATS:
            type(self).extra = extra
            type(self).label = "-".join(extra[1::2]) + "-"
            whole, counts = self.reference("cpu")
            outcomes = {}
            for n in range(1, counts["write"] + 1):
                with self.subTest(format=" ".join(extra), n=n):
                    outcome = self.check_one("cpu", "write", n, whole)
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
            print("%s: write: %d events, swept: %s" % (" ".join(extra), counts["write"],
                                                       outcomes), flush=True)
            self.assertIn("failed cleanly", outcomes, extra[1])

    def check_one(self, device, kind, n, whole, rows=None):
        outcome = super().check_one(device, kind, n, whole, rows)
        if outcome == "failed cleanly":
            with open(os.path.join(self.tmp, "out-%s%s-%s-%d" % (self.label, device, kind, n),
                                   "out.jsonl"), "rb") as f:
                self.assertIn(f.read(), (OLD, whole), "a failed run tore -o FILE")
        return outcome


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: test_faults.py ALBERT_CL_BINARY SHARED_DIR")
    BINARY = os.path.abspath(sys.argv[1])
    SHARED = os.environ.get("ALBERT_CL_SHARED", sys.argv[2])
    unittest.main(argv=sys.argv[:1] + sys.argv[3:], verbosity=2)  # [CLASS...]: those alone
