#!/usr/bin/env python3
"""Tests of tools/albert-cl-tune: usage errors, and a tiny tuning run whose
profile must be valid JSON with every key the profile format requires.

usage: test_tune.py ALBERT_CL_TUNE_BINARY [SHARED_DIR]
The shared data folder is $ALBERT_CL_SHARED, else SHARED_DIR.  Python 3
standard library only.  The OpenCL device is $ALBERT_CL_TEST_DEVICE (default 0).
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

BINARY = None
SHARED = None

XGEMM = ["GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB", "NDIMC", "NWG",
         "SA", "SB", "STRM", "STRN", "VWM", "VWN"]
DIRECT = ["KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD", "PADA", "PADB", "VWMD", "VWND", "WGD"]


def run(args):
    """Runs the tuner; returns (exit status, stdout text, stderr text)."""
    p = subprocess.run([BINARY] + args, capture_output=True, timeout=900)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


class UsageTest(unittest.TestCase):
    def test_help(self):
        rc, out, _ = run(["--help"])
        self.assertEqual(rc, 0)
        self.assertIn("--budget", out)

    def test_bad_flags(self):
        cases = [["--bogus"], ["--shapes", "1x"], ["--shapes", "0x8"], ["--shapes", ""],
                 ["--budget", "abc"], ["--budget", "0"], ["--device", "-1"], ["--budget"],
                 ["-o"], ["--match-device", "a,,b"], ["--match-device", ","],
                 ["--match-device", ",".join("x" * 17)], ["--match-device", "y" * 128]]
        for args in cases:
            with self.subTest(args=args):
                rc, out, err = run(args)
                self.assertEqual(rc, 2)
                self.assertEqual(out, "")
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertTrue(err.startswith("albert-cl-tune: "), err)

    def test_bad_model(self):
        rc, _, err = run(["--model", "/nonexistent", "--budget", "1"])
        self.assertEqual(rc, 1)
        self.assertIn("/nonexistent", err)

    def test_bad_start(self):
        """--start names the file and the key it could not use."""
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "start.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"clblast": {"Xgemm": {"MWG": 64}}}, f)
            rc, _, err = run(["--start", path, "--model",
                              os.path.join(SHARED, "models", "tiny-gelu"), "--budget", "1"])
            self.assertEqual(rc, 1)
            self.assertIn(path + ": clblast.Xgemm.GEMMK", err)


class TuneTest(unittest.TestCase):
    """One run with a budget so small that only the first candidates run."""

    @classmethod
    def setUpClass(cls):
        model = os.path.join(SHARED, "models", "tiny-gelu")
        device = os.environ.get("ALBERT_CL_TEST_DEVICE", "0")
        cls.rc, cls.out, cls.err = run(["--device", device, "--model", model, "--shapes",
                                        "1x8,2x5", "--budget", "1", "--name", "test-profile",
                                        "--match-device", "-,Portable"])

    def profile(self):
        self.assertEqual(self.rc, 0, self.err)
        return json.loads(self.out)

    def test_profile_keys(self):
        p = self.profile()
        self.assertEqual(p["albert_cl_profile"], 1)
        self.assertEqual(p["name"], "test-profile")
        self.assertTrue(p["match"]["platform"])
        self.assertEqual(p["match"]["device"], ["-", "Portable"])
        clb = p["clblast"]
        self.assertEqual(sorted(clb["Xgemm"]), sorted(XGEMM))
        self.assertEqual(sorted(clb["XgemmDirect"]), sorted(DIRECT))
        self.assertEqual(list(clb["GemmRoutine"]), ["XGEMM_MIN_INDIRECT_SIZE"])
        self.assertGreaterEqual(clb["GemmRoutine"]["XGEMM_MIN_INDIRECT_SIZE"], 1)
        tuned = p["tuned"]
        self.assertEqual(tuned["shapes"], "1x8,2x5")
        self.assertGreaterEqual(tuned["xgemm_passed"], 1)
        self.assertGreaterEqual(tuned["linear_tiles"], 1)
        if "kernels" in p:  # linear.cl beat CLBlast for the Linears
            k = p["kernels"]
            self.assertEqual(sorted(k), ["gemm_mr", "gemm_nr"])
            self.assertTrue(1 <= k["gemm_mr"] <= 16, k)
            self.assertTrue(k["gemm_nr"] in (16, 32, 48, 64), k)
        self.assertEqual([g["shape"] for g in tuned["gflops"]],
                         ["1x8", "2x5", "gemm 1024x3072x768"])
        for g in tuned["gflops"]:
            self.assertGreater(g["tuned_gflops"], 0)
            self.assertGreater(g["default_gflops"], 0)

    def test_xgemm_constraints(self):
        """The winner satisfies CLBlast's own constraints for the kernel."""
        x = self.profile()["clblast"]["Xgemm"]
        self.assertEqual(x["MWG"] % (x["MDIMC"] * x["VWM"]), 0)
        self.assertEqual(x["NWG"] % (x["NDIMC"] * x["VWN"]), 0)
        self.assertEqual(x["MWG"] % (x["MDIMA"] * x["VWM"]), 0)
        self.assertEqual(x["NWG"] % (x["NDIMB"] * x["VWN"]), 0)
        self.assertEqual(x["KWG"] % x["KWI"], 0)
        d = self.profile()["clblast"]["XgemmDirect"]
        self.assertEqual(d["WGD"] % (d["MDIMCD"] * d["VWMD"]), 0)
        self.assertEqual(d["WGD"] % (d["NDIMCD"] * d["VWND"]), 0)

    def test_progress_on_stderr(self):
        self.assertEqual(self.rc, 0, self.err)
        self.assertIn("Xgemm #1", self.err)
        self.assertIn("XgemmDirect #1", self.err)
        self.assertRegex(self.err, r"Linears on CLBlast: score [0-9.e+-]+\n  linear\.cl (#1 )?12x32: ")
        if "Portable Computing Language" in self.err.splitlines()[0]:
            # PoCL is a CPU device: the one-item work-group seeds go first.
            self.assertRegex(self.err, r"Xgemm #1 \[[^]]* MDIMC=1 [^]]*NDIMC=1 ")

    def test_output_file(self):
        """-o writes the same format to a file and nothing to stdout."""
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "p.json")
            rc, out, err = run(["--model", os.path.join(SHARED, "models", "tiny-gelu"),
                                "--shapes", "1x4", "--budget", "1", "-o", path])
            self.assertEqual(rc, 0, err)
            self.assertEqual(out, "")
            with open(path, encoding="utf-8") as f:
                self.assertIn("Xgemm", json.load(f)["clblast"])


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv[1])
    SHARED = os.environ.get("ALBERT_CL_SHARED") or (sys.argv[2] if len(sys.argv) > 2 else "")
    unittest.main(argv=sys.argv[:1], verbosity=2)
