#!/usr/bin/env python3
"""The layers of host/ (host/README.md), checked from the #include lines.

usage: test_layers.py SOURCE_DIR

Each folder of host/ is a layer and may include only the folders listed for
it below: a layer never includes one above it, and the tokenizer and the two
backends, side by side, never include each other.  The CLI is a client of
the public header, core/common.h and core/fault.h (test builds) alone.
Every file lives in a layer folder, every quoted include names its folder
("core/model.h", not "model.h") and exists.  Python 3 standard library only.
"""
import os
import re
import sys
import unittest

SOURCE = None

# What each layer may include, besides the public "albert_cl.h": folders,
# or single files ("core/common.h").
ALLOWED = {
    "core": {"core"},
    "tokenizer": {"core", "tokenizer"},
    "cpu": {"core", "cpu"},
    "opencl": {"core", "opencl"},
    "engine": {"core", "cpu", "opencl", "engine"},
    # A client of the public engine and tokenizer calls, inside the library.
    "scheduler": {"core", "scheduler"},
    "cli": {"cli", "core/common.h", "core/fault.h", "server/server.h"},
    # albert-cl serve: a client like the CLI, beside it (main.c starts it).
    "server": {"server", "cli/buf.h", "core/common.h"},
}
# The tuner is a tool over the OpenCL backend's internals.
TOOLS_ALLOWED = {"core", "opencl"}
PUBLIC = "albert_cl.h"
GENERATED = {"opencl/kernels_embedded.h"}  # its .c is generated, the header is here
SOURCE_SUFFIXES = (".c", ".h", ".cc")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SYSTEM_INCLUDE = re.compile(r'^\s*#\s*include\s+<([^>]+)>', re.M)
# The device libraries each belong to one layer (and to the tools): no
# other layer may reach OpenCL, CLBlast, the BLAS, sentencepiece or Oniguruma
# directly.
SYSTEM_OWNERS = {
    "CL/": {"opencl"},
    "clblast": {"opencl"},
    "sentencepiece": {"tokenizer"},
    "oniguruma": {"tokenizer"},
    "oneapi/dnnl": {"cpu"},
    "microhttpd": {"server"},
}


def includes(path, pattern=INCLUDE):
    with open(path, encoding="utf-8") as f:
        return pattern.findall(f.read())


def system_owner(target):
    """The layers that may include system header TARGET; None: any layer."""
    for prefix, owners in SYSTEM_OWNERS.items():
        if target.startswith(prefix):
            return owners
    return None


def allowed(target, rules):
    return target == PUBLIC or target in rules or target.split("/")[0] in rules


def layer_files():
    """(layer, path) of every source file under host/."""
    host = os.path.join(SOURCE, "host")
    for layer in sorted(os.listdir(host)):
        folder = os.path.join(host, layer)
        if not os.path.isdir(folder):
            continue
        for top, _, names in sorted(os.walk(folder)):
            for name in sorted(names):
                if name.endswith(SOURCE_SUFFIXES):
                    yield layer, os.path.join(top, name)


class Layers(unittest.TestCase):
    def test_every_file_is_in_a_known_layer(self):
        host = os.path.join(SOURCE, "host")
        loose = [n for n in os.listdir(host) if n.endswith(SOURCE_SUFFIXES)]
        self.assertEqual(loose, [], "source files outside a layer folder")
        folders = sorted(n for n in os.listdir(host) if os.path.isdir(os.path.join(host, n)))
        self.assertEqual(folders, sorted(ALLOWED), "a layer folder this test does not know")

    def test_no_layer_includes_one_above_it(self):
        bad, seen = [], 0
        for layer, path in layer_files():
            for target in includes(path):
                seen += 1
                if not allowed(target, ALLOWED[layer]):
                    bad.append("%s includes %s" % (os.path.relpath(path, SOURCE), target))
        self.assertGreater(seen, 50, "too few includes found: is the tree where we look?")
        self.assertEqual(bad, [])

    def test_tools_use_core_and_opencl_only(self):
        path = os.path.join(SOURCE, "tools", "albert-cl-tune.c")
        bad = [t for t in includes(path) if not allowed(t, TOOLS_ALLOWED)]
        self.assertEqual(bad, [])

    def test_device_libraries_stay_in_their_layer(self):
        bad, seen = [], 0
        for layer, path in layer_files():
            for target in includes(path, SYSTEM_INCLUDE):
                owners = system_owner(target)
                seen += owners is not None
                if owners is not None and layer not in owners:
                    bad.append("%s includes <%s>" % (os.path.relpath(path, SOURCE), target))
        self.assertGreater(seen, 5, "too few device-library includes found")
        self.assertEqual(bad, [])

    def test_includes_name_their_folder_and_exist(self):
        bad = []
        for _, path in layer_files():
            for target in includes(path):
                if target == PUBLIC:
                    continue
                here = os.path.join(SOURCE, "host", target)
                if "/" not in target or not (os.path.exists(here) or target in GENERATED):
                    bad.append("%s: %s" % (os.path.relpath(path, SOURCE), target))
        self.assertEqual(bad, [])

    def test_rules_reject_an_upward_include(self):
        """The check itself: a backend including the engine is caught."""
        self.assertFalse(allowed("engine/registry.h", ALLOWED["opencl"]))
        self.assertFalse(allowed("opencl/ops.h", ALLOWED["cpu"]))
        self.assertFalse(allowed("core/model.h", ALLOWED["cli"]))
        self.assertTrue(allowed("core/common.h", ALLOWED["cli"]))
        self.assertEqual(system_owner("CL/cl.h"), {"opencl"})
        self.assertEqual(system_owner("oneapi/dnnl/dnnl.h"), {"cpu"})
        self.assertIsNone(system_owner("stdio.h"))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_layers.py SOURCE_DIR")
    SOURCE = os.path.abspath(sys.argv[1])
    unittest.main(argv=sys.argv[:1], verbosity=2)
