#!/usr/bin/env python3
"""albert-cl when things go wrong around its output: SIGINT and SIGTERM in
the middle of a run, a full disk (/dev/full) under every output, the mode
and symbolic links of -o FILE, NUL characters in the input.

usage: test_cli_faults.py ALBERT_CL_BINARY [SHARED_DIR]
The shared data folder is $ALBERT_CL_SHARED, else SHARED_DIR (CMake's
ALBERT_SHARED_DIR).  Python 3 standard library only.
"""
import glob
import gzip
import json
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

from cli_helpers import (COMPILER_NOISE, TempDirCase, check_no_sanitizer_report,
                         with_asan_suppressions)

BINARY = None
BASE = None  # albert-base-v2-random: forward passes that take seconds
TINY = None  # tiny-gelu: fast
OPENCL = None  # ids of the OpenCL devices --list-devices lists

FULL = "No space left on device"
# From a signal to the process gone, at most (the handler exits at once).
SIGNAL_EXIT_S = 1.0


def environment(extra=None):
    env = dict(os.environ)
    env.pop("ALBERT_CL_MODEL", None)
    env.update(extra or {})
    return env


def run(args, stdin=b"", stdout=subprocess.PIPE, stderr=subprocess.PIPE, umask=None):
    """Runs albert-cl to the end; returns (status, stdout bytes, stderr text)."""
    preexec = (lambda: os.umask(umask)) if umask is not None else None
    p = subprocess.run([BINARY] + args, input=stdin, stdout=stdout, stderr=stderr,
                       env=with_asan_suppressions(environment()), preexec_fn=preexec,
                       timeout=300)
    err = COMPILER_NOISE.sub("", p.stderr.decode("utf-8", "replace") if p.stderr is not None
                             else "")
    check_no_sanitizer_report(args, err)
    return p.returncode, p.stdout, err


def slurp(path):
    with open(path, "rb") as f:
        return f.read()


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def opencl_devices():
    rc, out, err = run(["--list-devices"])
    if rc != 0:
        sys.exit("FATAL: albert-cl --list-devices: status %d, %s" % (rc, err))
    return [line.split("\t")[0] for line in out.decode().splitlines()[1:]
            if not line.startswith("cpu\t")]


class Base(TempDirCase):
    prefix = "albert-cli-faults-"

    def fails_with(self, args, *words, stdin=b"", stdout=subprocess.PIPE, stderr=subprocess.PIPE):
        """Status 1, one line on stderr holding WORDS; returns it."""
        rc, _, err = run(args, stdin, stdout, stderr)
        self.assertEqual(rc, 1, "albert-cl %s: status %d, %r" % (args, rc, err))
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith("albert-cl: "), err)
        for word in words:
            self.assertIn(word, err)
        return err


class Interrupts(Base):
    """A signal ends the run within a second, whatever it is doing: one line
    on stderr, exit status 128 + the signal, no temporary file left; -o FILE
    as it was (--benchmark, npy, safetensors: written only on success) or, jsonl records
    being written as they complete, holding the run's first records whole
    (the line says how many)."""

    def start(self, args, stdout=subprocess.DEVNULL, preexec_fn=None):
        # stderr goes to an unnamed file, not a pipe: nothing the run says
        # can block it while the test waits for its moment.
        err = tempfile.TemporaryFile()
        p = subprocess.Popen([BINARY] + args, stdin=subprocess.DEVNULL, stdout=stdout,
                             stderr=err, env=environment(), preexec_fn=preexec_fn)
        p.err_file = err
        return p

    @staticmethod
    def stderr_of(p):
        p.err_file.seek(0)
        text = p.err_file.read().decode("utf-8", "replace")
        p.err_file.close()
        return text

    @staticmethod
    def threads_of(p):
        """Each thread's state and wait channel, for a run that would not end."""
        rows = []
        for tid in sorted(os.listdir("/proc/%d/task" % p.pid)):
            try:
                with open("/proc/%d/task/%s/stat" % (p.pid, tid)) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                with open("/proc/%d/task/%s/wchan" % (p.pid, tid)) as f:
                    rows.append("%s %s %s" % (tid, state, f.read()))
            except OSError:
                continue
        return "; ".join(rows)

    def wait_for(self, p, ready, what):
        deadline = time.monotonic() + 240
        while not ready():
            if p.poll() is not None:
                self.fail("albert-cl ended before %s: %r" % (what, self.stderr_of(p)))
            if time.monotonic() > deadline:
                p.kill()
                p.wait()
                self.fail("no %s: %r" % (what, self.stderr_of(p)))
            time.sleep(0.01)

    def interrupt(self, p, sig, output, held=None):
        """Sends SIG to P; checks how it ended (OUTPUT left as it was, or with
        HELD, a function of the stderr line, holding records); returns its
        stdout."""
        sent = time.monotonic()
        p.send_signal(sig)
        try:
            out, _ = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            threads = self.threads_of(p)
            p.kill()
            p.wait()
            self.fail("%s did not end the run in 30 s; threads: %s; stderr: %r"
                      % (signal.Signals(sig).name, threads, self.stderr_of(p)))
        took = time.monotonic() - sent
        err = COMPILER_NOISE.sub("", self.stderr_of(p))
        name = signal.Signals(sig).name
        want = "albert-cl: interrupted (%s)" % name
        if held:
            m = re.fullmatch(re.escape(want) + r"; %s holds (\d+) whole records \(--resume goes "
                             r"on from them\)\n" % re.escape(output), err)
            self.assertTrue(m and p.returncode == 128 + sig, "%d %r" % (p.returncode, err))
            held(int(m.group(1)))
        else:
            want += "; %s left as it was\n" % output if output else "\n"
            self.assertEqual((p.returncode, err), (128 + sig, want))
        self.assertLess(took, SIGNAL_EXIT_S, "%s took %.2f s to end the run" % (name, took))
        return out

    def temps(self, path):
        return glob.glob(glob.escape(path) + ".tmp-*")

    def busy_after(self, seconds):
        """READY for check_interrupted: the temporary file exists, then
        SECONDS more, so that the run is inside its work."""
        def ready(path):
            if not self.temps(path):
                return False
            time.sleep(seconds)
            return True
        return ready

    def whole_records(self, output, unpack=lambda data: data):
        """HELD for interrupt: OUTPUT holds that many whole records, 0, 1, ...
        (once UNPACK made its bytes text)."""
        def held(n):
            data = unpack(slurp(output))
            self.assertTrue(data == b"" or data.endswith(b"\n"), "a torn record")
            got = [json.loads(line)["index"] for line in data.decode().splitlines()]
            self.assertEqual(got, list(range(n)))
        return held

    def check_interrupted(self, args, output, ready, what,
                          signals=(signal.SIGINT, signal.SIGTERM), streamed=False,
                          unpack=lambda data: data):
        """Runs ARGS -o OUTPUT (an existing file), interrupted by each of
        SIGNALS once READY(OUTPUT); STREAMED: jsonl records written as they
        come (UNPACK: what makes OUTPUT's bytes text)."""
        for sig in signals:
            with open(output, "w") as f:
                f.write("previous\n")
            before = sorted(os.listdir(self.tmp))
            p = self.start(args + ["-o", output])
            self.wait_for(p, lambda: ready(output), what)
            self.interrupt(p, sig, output,
                           self.whole_records(output, unpack) if streamed else None)
            if not streamed:
                self.assertEqual(slurp(output), b"previous\n")
            self.assertEqual(sorted(os.listdir(self.tmp)), before, "temporary file left")

    @staticmethod
    def opened_after(seconds):
        """READY for a streamed run: OUTPUT was emptied (the model is loaded),
        then SECONDS more."""
        def ready(path):
            if os.path.getsize(path) == len(b"previous\n"):
                return False
            time.sleep(seconds)
            return True
        return ready

    def test_while_computing(self):
        # albert-base on the CPU: the first window of 300 long lines takes
        # many seconds, and the temporary file exists from before the first.
        line = "the quick brown fox jumps over the lazy dog " * 10
        text = self.write("in.txt", "".join("%d %s\n" % (i, line) for i in range(300)))
        out = os.path.join(self.tmp, "out.jsonl")
        self.check_interrupted(["--model", BASE, "--device", "cpu", text], out,
                               self.opened_after(0.3), "output opened", streamed=True)

    def interrupt_while_writing(self, name, signals, unpack=lambda data: data):
        """tiny-gelu: windows go by fast; the output NAME grows (1 MiB writes)
        long before the 300000 lines are done."""
        text = self.write("in.txt", "".join("line %d, a few words\n" % i for i in range(300000)))
        self.check_interrupted(["--model", TINY, "--device", "cpu", text],
                               os.path.join(self.tmp, name),
                               lambda path: os.path.getsize(path) > len(b"previous\n"),
                               "records written", signals, streamed=True, unpack=unpack)

    def test_while_writing(self):
        self.interrupt_while_writing("out.jsonl", (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))

    def test_while_writing_gzip(self):
        # -o NAME.gz: whole gzip members of whole records; a stop signal cuts
        # the file back to the last whole one (gzip.decompress fails on a
        # torn member).
        self.interrupt_while_writing("out.jsonl.gz", (signal.SIGINT, signal.SIGTERM),
                                     gzip.decompress)

    def test_while_writing_safetensors(self):
        # Token vectors into the temporary file (their lengths into another,
        # anonymous): the output stays as it was, no temporary file is left.
        text = self.write("in.txt", "".join("line %d, a few words\n" % i for i in range(300000)))
        out = os.path.join(self.tmp, "out.safetensors")
        self.check_interrupted(["--model", TINY, "--device", "cpu", "--format", "safetensors",
                                "--pooling", "none", text], out, self.busy_after(0.5),
                               "temporary file")

    def test_during_a_forward_pass_on_every_device(self):
        # --benchmark -o FILE: the sink is open before the first forward pass,
        # each of which takes a good part of a second or more.
        out = os.path.join(self.tmp, "bench.json")
        running = self.busy_after(0.5)

        for device in ["cpu"] + OPENCL:
            with self.subTest(device=device):
                self.check_interrupted(["--benchmark", "--model", BASE, "--device", device,
                                        "--batch-size", "8", "--seq-len", "256",
                                        "--iterations", "100000"], out, running, "forward pass")

    def test_stdout_run_writes_whole_records(self):
        text = self.write("in.txt", "".join("line %d of many\n" % i for i in range(300)) * 10)
        p = self.start(["--model", BASE, "--device", "cpu", text], stdout=subprocess.PIPE)
        time.sleep(1.0)  # loading or computing: the same outcome
        out = self.interrupt(p, signal.SIGINT, None)
        self.assertTrue(out == b"" or out.endswith(b"\n"), "a torn record")
        got = [json.loads(line)["index"] for line in out.decode().splitlines()]
        self.assertEqual(got, list(range(len(got))))

    def test_signal_ignored_on_entry_stays_ignored(self):
        # As nohup or a script's background job starts it: SIGINT does nothing.
        text = self.write("in.txt", "".join("line %d of many\n" % i for i in range(300)) * 10)
        out = self.write("out.jsonl", "previous\n")
        p = self.start(["--model", BASE, "--device", "cpu", "-o", out, text],
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        self.wait_for(p, lambda: self.opened_after(0)(out), "output opened")
        p.send_signal(signal.SIGINT)
        time.sleep(0.5)
        self.assertIsNone(p.poll(), "an ignored SIGINT ended the run")
        self.interrupt(p, signal.SIGTERM, out, self.whole_records(out))


class FullDisk(Base):
    """Output that cannot be written fails the run: status 1 and one line
    naming the output and the reason."""

    def test_stdout_full(self):
        sample = self.write("in.txt", "Paris is a city.\nsecond line\n")
        cpu = ["--model", TINY, "--device", "cpu"]
        with open("/dev/full", "wb") as full:
            for args in [cpu + [sample], cpu + ["--format", "npy", sample],
                         cpu + ["--format", "safetensors", "--pooling", "none", sample],
                         cpu + ["--pooling", "none", sample],
                         ["--model", TINY, "--tokenize", sample],
                         cpu + ["--benchmark", "--batch-size", "2", "--seq-len", "16",
                                "--iterations", "2"],
                         ["--list-devices"], ["--help"], ["--version"]]:
                with self.subTest(args=args):
                    self.fails_with(args, "<stdout>", "write error", FULL, stdout=full)

    def test_output_file_full(self):
        sample = self.write("in.txt", "Paris is a city.\n")
        for args in [[sample], ["--format", "npy", sample],
                     ["--format", "safetensors", "--pooling", "none", sample],
                     ["--benchmark", "--batch-size", "2", "--seq-len", "16", "--iterations", "2"]]:
            with self.subTest(args=args):
                self.fails_with(["--model", TINY, "--device", "cpu", "-o", "/dev/full"] + args,
                                "/dev/full", FULL)

    def test_profile_outputs_full(self):
        sample = self.write("in.txt", "Paris is a city.\n")
        cpu = ["--model", TINY, "--device", "cpu"]
        self.fails_with(cpu + ["--profile-json", "/dev/full", sample], "--profile-json",
                        "/dev/full", FULL)
        # The table is the output asked for on stderr: its loss fails the run,
        # though the message is lost with it.
        with open("/dev/full", "wb") as full:
            rc, out, _ = run(cpu + ["--profile", sample], stderr=full)
            self.assertEqual((rc, len(out.splitlines())), (1, 1), "the record, then the failure")
            rc, _, _ = run(cpu + [sample], stderr=full)
            self.assertEqual(rc, 0, "stderr is only needed for the table")


class OutputFiles(Base):
    """-o FILE: a new file's mode as the umask says, an existing file's mode
    kept, a symbolic link kept with its target replaced."""

    def tokenize_to(self, path, umask=0o022):
        rc, out, err = run(["--model", TINY, "--tokenize", "-o", path], b"hello world\n",
                           umask=umask)
        self.assertEqual((rc, out), (0, b""), err)
        self.assertTrue(slurp(path).startswith(b'{"index": 0'))

    def test_new_file_mode_follows_the_umask(self):
        for umask, want in [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600), (0o002, 0o664)]:
            path = os.path.join(self.tmp, "new-%o.jsonl" % umask)
            self.tokenize_to(path, umask)
            self.assertEqual(mode(path), want, "umask %o" % umask)

    def test_overwritten_file_keeps_its_mode(self):
        for was in [0o644, 0o640, 0o755, 0o444]:
            path = self.write("old-%o.jsonl" % was, "previous\n")
            os.chmod(path, was)
            self.tokenize_to(path, 0o077)
            self.assertEqual(mode(path), was)

    def test_symbolic_link_writes_its_target(self):
        os.mkdir(os.path.join(self.tmp, "elsewhere"))
        target = self.write(os.path.join("elsewhere", "target.jsonl"), "previous\n")
        os.chmod(target, 0o640)
        link = os.path.join(self.tmp, "link.jsonl")
        os.symlink(os.path.join("elsewhere", "target.jsonl"), link)
        self.tokenize_to(link)
        self.assertTrue(os.path.islink(link), "the link was replaced")
        self.assertEqual(os.readlink(link), os.path.join("elsewhere", "target.jsonl"))
        self.assertEqual(mode(target), 0o640)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["elsewhere", "link.jsonl"])
        self.assertEqual(os.listdir(os.path.join(self.tmp, "elsewhere")), ["target.jsonl"])

    def test_link_to_a_missing_file_fails(self):
        link = os.path.join(self.tmp, "dangling.jsonl")
        os.symlink("missing.jsonl", link)
        self.fails_with(["--model", TINY, "--tokenize", "-o", link], link,
                        "symbolic link to a missing file", stdin=b"hello\n")
        self.assertEqual(os.readlink(link), "missing.jsonl")
        self.assertEqual(os.listdir(self.tmp), ["dangling.jsonl"])


class NulCharacters(Base):
    """Text cannot hold a NUL character: a raw one in any format and a
    \\u0000 escape in jsonl text are both rejected, naming file and line
    (and the field), and the records before it are written."""

    def check(self, fmt, line, *words):
        path = self.write("in." + fmt, b"fine\n" if fmt == "text" else
                          b'{"text": "fine"}\n' if fmt == "jsonl" else b"a\tb\n")
        with open(path, "ab") as f:
            f.write(line)
        rc, out, err = run(["--model", TINY, "--tokenize", "--input-format", fmt, path])
        self.assertEqual((rc, len(out.splitlines())), (1, 1), err)
        self.assertEqual(len(err.splitlines()), 1, err)
        for word in [path + ":2: ", "NUL character"] + list(words):
            self.assertIn(word, err)

    def test_raw_nul_in_every_format(self):
        self.check("text", b"hello\0world\n", "byte 6")
        self.check("tsv", b"hello\tw\0rld\n", "byte 8")
        self.check("jsonl", b'{"text": "hello\0world"}\n', "byte 16")
        self.check("jsonl", b'{"text": "hello"}\0 and more\n', "byte 18")

    def test_escaped_nul_in_jsonl(self):
        self.check("jsonl", b'{"text": "hello\\u0000world"}\n', '"text"', "\\u0000")
        self.check("jsonl", b'{"text": "a", "text_pair": "\\u0000"}\n', '"text_pair"')

    def test_escaped_backslash_is_no_nul(self):
        rc, out, err = run(["--model", TINY, "--tokenize", "--input-format", "jsonl"],
                           b'{"text": "a\\\\u0000b"}\n')
        want = run(["--model", TINY, "--tokenize"], b"a\\u0000b\n")
        self.assertEqual((rc, out), (0, want[1]), err)


class Capacity(Base):
    """A run whose largest batch (--max-batch-tokens, of rows of up to
    --max-length tokens) cannot fit the device is refused before any input
    is read, naming what it needs, what the device has and how many rows
    would fit; that many rows then run."""

    def refused(self, device, batch, extra_env=None):
        sample = self.write("in.txt", "one line\nand another one\n")
        budget = lambda rows: ["--batch-size", str(rows), "--max-batch-tokens", str(rows * 512)]
        args = ["--model", BASE, "--device", device] + budget(batch) + [sample]
        p = subprocess.run([BINARY] + args, capture_output=True, timeout=300,
                           env=environment(extra_env))
        err = COMPILER_NOISE.sub("", p.stderr.decode("utf-8", "replace"))
        self.assertEqual((p.returncode, p.stdout), (1, b""), err)
        self.assertEqual(len(err.splitlines()), 1, err)
        m = re.search(r"a %d x 512 batch needs .*the device has ([0-9.]+ [KMGT]iB).*at most "
                      r"(\d+) rows of 512 tokens fit; lower --max-batch-tokens, --batch-size or "
                      r"--max-length" % batch,
                      err)
        self.assertIsNotNone(m, err)
        rows = int(m.group(2))
        self.assertGreater(rows, 0, err)
        self.assertLess(rows, batch, err)
        p = subprocess.run([BINARY] + args[:4] + budget(rows) + [sample], capture_output=True,
                           timeout=300, env=environment(extra_env))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(p.stdout.splitlines()), 2)
        return m.group(1)

    def test_every_device(self):
        for device in OPENCL + ["cpu"]:
            with self.subTest(device=device):
                self.refused(device, 32768)

    def test_small_device_memory(self):
        # PoCL reports POCL_MEMORY_LIMIT gigabytes of memory.
        pocl = [d for d in OPENCL if "Portable" in run(["--list-devices"])[1].decode()
                .splitlines()[int(d) + 1]]
        self.assertTrue(pocl, "no PoCL device")
        self.assertEqual(self.refused(pocl[0], 512, {"POCL_MEMORY_LIMIT": "1"}), "1.0 GiB")


def main():
    global BINARY, BASE, TINY, OPENCL
    if len(sys.argv) < 2:
        sys.exit("usage: test_cli_faults.py ALBERT_CL_BINARY [SHARED_DIR]")
    BINARY = os.path.abspath(sys.argv[1])
    shared = os.environ.get("ALBERT_CL_SHARED") or (sys.argv[2] if len(sys.argv) > 2 else "")
    models = os.path.join(shared, "models")
    if not os.path.isdir(models):
        sys.exit("FATAL: shared data folder %r not found; set ALBERT_CL_SHARED" % shared)
    BASE = os.path.join(models, "albert-base-v2-random")
    TINY = os.path.join(models, "tiny-gelu")
    OPENCL = opencl_devices()
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)


if __name__ == "__main__":
    main()
