"""What the Python tests of the programs share: the driver noise to drop from
stderr and a test case with its own temporary folder.  Python 3 standard
library only; the tests import it from their own folder."""
import os
import re
import shutil
import tempfile
import unittest

# What a driver's compiler prints on stderr itself while it builds a kernel
# for the first time (PoCL's clang: "1 warning generated."): not ours.
COMPILER_NOISE = re.compile(r"(?m)^\d+ (warning|error)s? generated\.\n")


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
