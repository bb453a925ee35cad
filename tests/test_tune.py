#!/usr/bin/env python3
"""Tests of tools/albert-cl-tune: usage errors, and on every OpenCL device
albert-cl lists (the first one only under the sanitizers,
$ALBERT_TEST_SANITIZED) a tiny tuning run whose profile albert-cl must load
back and run with.

usage: test_tune.py ALBERT_CL_TUNE_BINARY ALBERT_CL_BINARY [SHARED_DIR]
The shared data folder is $ALBERT_CL_SHARED, else SHARED_DIR.  Python 3
standard library only.  The tuner and albert-cl use the user's kernel caches
(PoCL's and albert-cl's), as the other tests do: albert-cl reuses the CLBlast
programs the tuner built, and the sanitizer run the release run's (cold,
the defaults' builds take the whole budget and one candidate per search
runs; warm, a few more may).
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

from cli_helpers import COMPILER_NOISE, devices_checked

TUNER = None
ALBERT = None
SHARED = None




def run(binary, args):
    """Runs BINARY; returns (exit status, stdout text, stderr text without
    the driver's compiler summaries)."""
    p = subprocess.run([binary] + args, capture_output=True, timeout=900)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            COMPILER_NOISE.sub("", p.stderr.decode("utf-8", "replace")))


def tiny_model():
    return os.path.join(SHARED, "models", "tiny-gelu")


# A shipped profile: where this test takes CLBlast's parameter names from.
SHIPPED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "profiles",
                       "pocl-x86-64-avx512.json")


def opencl_devices():
    """The index of every OpenCL device albert-cl lists."""
    rc, out, err = run(ALBERT, ["--list-devices"])
    if rc != 0:
        raise RuntimeError("albert-cl --list-devices: " + err)
    rows = [line.split("\t") for line in out.splitlines()[1:]]
    return [row[0] for row in rows if row[0] != "cpu"]


def direct_start(path):
    """Writes to PATH a --start profile whose XgemmDirect has every
    parameter 1, the smallest tile: PoCL builds it in seconds where the
    built-in CPU seeds take minutes (tools/TUNING.md).  The names come from
    a shipped profile (albert-cl checks those), so none is listed here."""
    with open(SHIPPED, encoding="utf-8") as f:
        names = json.load(f)["clblast"]["XgemmDirect"]
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"clblast": {"XgemmDirect": dict.fromkeys(names, 1)}}, f)
    return path


class UsageTest(unittest.TestCase):
    def test_help(self):
        rc, out, _ = run(TUNER, ["--help"])
        self.assertEqual(rc, 0)
        self.assertIn("--budget", out)
        self.assertIn("--no-reference", out)

    def test_bad_flags(self):
        cases = [["--bogus"], ["--shapes", "1x"], ["--shapes", "0x8"], ["--shapes", ""],
                 ["--budget", "abc"], ["--budget", "0"], ["--device", "-1"], ["--budget"],
                 ["-o"], ["--match-device", "a,,b"], ["--match-device", ","],
                 ["--match-device", ",".join("x" * 17)], ["--match-device", "y" * 128]]
        for args in cases:
            with self.subTest(args=args):
                rc, out, err = run(TUNER, args)
                self.assertEqual(rc, 2)
                self.assertEqual(out, "")
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertTrue(err.startswith("albert-cl-tune: "), err)

    def test_bad_model(self):
        rc, _, err = run(TUNER, ["--model", "/nonexistent", "--budget", "1"])
        self.assertEqual(rc, 1)
        self.assertIn("/nonexistent", err)

    def test_bad_start(self):
        """--start names the file and the key it could not use."""
        cases = [({"clblast": {"Xgemm": {"MWG": 64}}}, "clblast.Xgemm.GEMMK"),
                 ({"clblast": {}}, "has neither clblast.Xgemm nor clblast.XgemmDirect")]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "start.json")
            for start, message in cases:
                with self.subTest(start=start):
                    with open(path, "w", encoding="utf-8") as f:
                        json.dump(start, f)
                    rc, _, err = run(TUNER, ["--start", path, "--model", tiny_model(),
                                             "--budget", "1", "--no-reference"])
                    self.assertEqual(rc, 1)
                    self.assertIn(path + ": " + message, err)


def current_kernels(device):
    """The "kernels" of the profile albert-cl picks for DEVICE now ({} for none)."""
    rc, out, err = run(ALBERT, ["--list-devices"])
    assert rc == 0, err
    for line in out.splitlines()[1:]:
        fields = line.split("\t")
        if fields[0] == device:
            if fields[-1] == "-":
                return {}
            with open(fields[-1], encoding="utf-8") as f:
                return json.load(f).get("kernels", {})
    raise AssertionError("device %s not in --list-devices: %s" % (device, out))


class DeviceRun:
    """One device's tuning run and albert-cl's run on its profile."""

    def __init__(self, device, tmp):
        base = os.path.join(tmp, "device" + device)
        self.device, self.path = device, base + ".json"
        args = ["--device", device, "--model", tiny_model(), "--shapes", "1x8,2x5",
                "--budget", "1", "--name", "test-profile", "--match-device", "-,Portable",
                "--no-reference", "-o", self.path]
        start = direct_start(base + "-start.json")
        self.rc, self.out, self.err = run(TUNER, args + ["--start", start])
        text = base + ".txt"
        with open(text, "w", encoding="utf-8") as f:
            f.write("hello world\nthe quick brown fox jumps\n")
        self.loaded = run(ALBERT, ["--model", tiny_model(), "--device", device,
                                   "--profile-file", self.path, "--validate", "--profile", text])


class TuneTest(unittest.TestCase):
    """On each OpenCL device one run with a budget so small that only the
    first candidates run, written with -o, then albert-cl on its profile."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.runs = [DeviceRun(device, cls.tmp.name) for device in devices_checked(opencl_devices())]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def profile(self, r):
        self.assertEqual(r.rc, 0, r.err)
        with open(r.path, encoding="utf-8") as f:
            return json.load(f)

    def test_profile_keys(self):
        for r in self.runs:
            with self.subTest(device=r.device):
                self.check_keys(self.profile(r), current_kernels(r.device))

    def check_keys(self, p, base):
        self.assertEqual(p["albert_cl_profile"], 1)
        self.assertEqual(p["name"], "test-profile")
        self.assertTrue(p["match"]["platform"])
        self.assertEqual(p["match"]["device"], ["-", "Portable"])
        self.assertIn(p["match"]["type"], ["CPU", "GPU", "ACCELERATOR", "OTHER"])
        clb = p["clblast"]
        self.assertEqual(sorted(clb), ["GemmRoutine", "Xgemm", "XgemmDirect"])
        self.assertEqual(list(clb["GemmRoutine"]), ["XGEMM_MIN_INDIRECT_SIZE"])
        self.assertGreaterEqual(clb["GemmRoutine"]["XGEMM_MIN_INDIRECT_SIZE"], 1)
        tuned = p["tuned"]
        self.assertEqual(tuned["shapes"], "1x8,2x5")
        self.assertGreaterEqual(tuned["xgemm_passed"], 1)
        self.assertGreaterEqual(tuned["linear_tiles"], 1)
        # The shapes the tuner does not search stay as the device's current
        # profile has them (on a GPU: gpu-generic's attention and sub-groups).
        k = dict(p.get("kernels", {}))
        searched = {key: k.pop(key) for key in ("gemm_mr", "gemm_nr") if key in k}
        self.assertEqual(k, {key: v for key, v in base.items()
                             if key not in ("gemm_mr", "gemm_nr") and v})
        if searched:  # linear.cl beat CLBlast for the Linears
            self.assertEqual(sorted(searched), ["gemm_mr", "gemm_nr"])
            self.assertTrue(1 <= searched["gemm_mr"] <= 16, searched)
            self.assertTrue(searched["gemm_nr"] in (16, 32, 48, 64), searched)
        # One figure per shape; --no-reference leaves out "gemm 1024x3072x768".
        self.assertEqual([g["shape"] for g in tuned["gflops"]], ["1x8", "2x5"])
        for g in tuned["gflops"]:
            self.assertGreater(g["tuned_gflops"], 0)
            self.assertGreater(g["default_gflops"], 0)

    def test_xgemm_constraints(self):
        """The winner satisfies CLBlast's own constraints for the kernel."""
        for r in self.runs:
            with self.subTest(device=r.device):
                clb = self.profile(r)["clblast"]
                x = clb["Xgemm"]
                self.assertEqual(x["MWG"] % (x["MDIMC"] * x["VWM"]), 0)
                self.assertEqual(x["NWG"] % (x["NDIMC"] * x["VWN"]), 0)
                self.assertEqual(x["MWG"] % (x["MDIMA"] * x["VWM"]), 0)
                self.assertEqual(x["NWG"] % (x["NDIMB"] * x["VWN"]), 0)
                self.assertEqual(x["KWG"] % x["KWI"], 0)
                d = clb["XgemmDirect"]
                self.assertEqual(d["WGD"] % (d["MDIMCD"] * d["VWMD"]), 0)
                self.assertEqual(d["WGD"] % (d["NDIMCD"] * d["VWND"]), 0)

    def test_progress_on_stderr(self):
        for r in self.runs:
            with self.subTest(device=r.device):
                self.assertEqual(r.rc, 0, r.err)
                self.assertIn("Xgemm #1", r.err)
                self.assertIn("XgemmDirect #1", r.err)
                self.assertRegex(r.err, r"Linears on CLBlast: score [0-9.e+-]+\n"
                                        r"  linear\.cl (#1 )?12x32: ")
                if "Portable Computing Language" in r.err.splitlines()[0]:
                    # PoCL is a CPU device: the one-item work-group seeds go first.
                    self.assertRegex(r.err, r"Xgemm #1 \[[^]]* MDIMC=1 [^]]*NDIMC=1 ")

    def test_output_file(self):
        """-o writes the profile to the file and nothing to stdout."""
        for r in self.runs:
            with self.subTest(device=r.device):
                self.assertEqual(r.out, "")
                self.assertIn("Xgemm", self.profile(r)["clblast"])

    def test_albert_cl_runs_the_profile(self):
        """albert-cl's profile loader takes the profile (it rejects one that
        lacks a CLBlast parameter, naming it), the engine names it, and the
        embeddings match the CPU backend's (--validate)."""
        for r in self.runs:
            with self.subTest(device=r.device):
                rc, out, err = r.loaded
                self.assertEqual(rc, 0, err)
                self.assertEqual(len(out.splitlines()), 2)
                self.assertRegex(err, r"(?m)^albert-cl: profile of OpenCL %s: .*, "
                                      r"profile test-profile$" % re.escape(r.device))


if __name__ == "__main__":
    TUNER = os.path.abspath(sys.argv[1])
    ALBERT = os.path.abspath(sys.argv[2])
    SHARED = os.environ.get("ALBERT_CL_SHARED") or (sys.argv[3] if len(sys.argv) > 3 else "")
    result = unittest.main(argv=sys.argv[:1], verbosity=2, exit=False).result
    sys.exit(not result.wasSuccessful())
