"""What the Python tests of the programs share: the driver noise to drop from
stderr, the OpenCL devices a sanitizer run checks, a test case with its
own temporary folder, and a Hugging Face hub cache made of shared models.  Python 3 standard
library only; the tests import it from their own folder."""
import os
import re
import shutil
import sys
import tempfile
import unittest

# What a driver's compiler prints on stderr itself while it builds a kernel
# for the first time (PoCL's clang: "1 warning generated."): not ours.
COMPILER_NOISE = re.compile(r"(?m)^\d+ (warning|error)s? generated\.\n")

# AddressSanitizer exits with status 1, as a failed run does, so its report
# is looked for in stderr; tests/asan.supp holds its own false positives.
ASAN_SUPPRESSIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "asan.supp")


def with_asan_suppressions(env):
    """ENV with tests/asan.supp added to its ASAN_OPTIONS."""
    opts = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "suppressions=" + ASAN_SUPPRESSIONS
    return env


def check_no_sanitizer_report(args, err):
    """Fails when a sanitizer reported in ERR, the stderr of albert-cl ARGS."""
    if "ERROR: AddressSanitizer" in err or "runtime error:" in err:
        raise AssertionError("albert-cl %s: a sanitizer report:\n%s" % (" ".join(map(str, args)),
                                                                       err[-4000:]))


def devices_checked(devices):
    """DEVICES (the OpenCL ones, in --list-devices order), or the first alone
    under the sanitizers ($ALBERT_TEST_SANITIZED): for the tests whose time
    goes to the drivers' kernel builds, whose host code is the same on each
    device; the release run covers every device (tests/CMakeLists.txt; the
    C tests' test_opencl_devices_checked)."""
    return devices[:1] if os.environ.get("ALBERT_TEST_SANITIZED") else devices


class TempDirCase(unittest.TestCase):
    """A test case with a fresh folder, self.tmp, removed afterwards."""

    prefix = "albert-test-"

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix=self.prefix)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def write(self, name, data):
        """Writes DATA (str or bytes) to self.tmp/NAME; returns the path."""
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        return path


# What the tests' albert-cl runs take for the Hugging Face cache unless a test
# names one: a folder that is never there, so the machine's own cache (its
# ~/.cache/huggingface) cannot change what a test sees.
NO_HUB_CACHE = os.path.join(tempfile.gettempdir(), "albert-cl-tests-no-hub-cache")


def add_to_hub_cache(cache, repo_id, source, refs):
    """Puts the files of the folder SOURCE into the Hugging Face cache CACHE
    as huggingface_hub lays out a download of REPO_ID: the files in blobs/,
    snapshots/COMMIT/NAME links to them, refs/REF holding COMMIT for each
    REF: COMMIT of REFS (their first commit gets the files)."""
    repo = os.path.join(cache, "models--" + repo_id.replace("/", "--"))
    commit = next(iter(refs.values()))
    snapshot = os.path.join(repo, "snapshots", commit)
    for sub in ("blobs", "refs", snapshot):
        os.makedirs(os.path.join(repo, sub), exist_ok=True)
    for name in sorted(os.listdir(source)):
        blob = os.path.join(repo, "blobs", "%s-%s" % (commit[:8], name))
        os.symlink(os.path.abspath(os.path.join(source, name)), blob)
        os.symlink(os.path.relpath(blob, snapshot), os.path.join(snapshot, name))
    for ref, sha in refs.items():
        with open(os.path.join(repo, "refs", ref), "w") as f:
            f.write(sha)
    return snapshot


def program_args(script):
    """(BINARY, SHARED) from `SCRIPT BINARY [SHARED_DIR]` ($ALBERT_CL_SHARED
    first); exits loudly when either is missing: the tests never skip."""
    if len(sys.argv) < 2:
        sys.exit("usage: %s ALBERT_CL_BINARY [SHARED_DIR]" % script)
    binary = os.path.abspath(sys.argv[1])
    shared = os.environ.get("ALBERT_CL_SHARED") or (sys.argv[2] if len(sys.argv) > 2 else "")
    if not os.path.isdir(os.path.join(shared, "models")):
        sys.exit("FATAL: shared data folder %r not found; set ALBERT_CL_SHARED to the folder "
                 "holding models/ and golden/" % shared)
    if not os.access(binary, os.X_OK):
        sys.exit("FATAL: %s is not an executable" % binary)
    return binary, shared
