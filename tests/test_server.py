#!/usr/bin/env python3
"""End-to-end tests of `albert-cl serve`, the HTTP server: the OpenAI
/v1/embeddings route through the official `openai` client, TEI's /embed and
/tokenize, /health, /info, /v1/models, /metrics, sentence-transformers' prompts
(TEI's prompt_name), the errors and limits, curl, a load test, SIGTERM's drain
and the usage errors.  Every vector is compared
with the command line's on the same lines and flags.

usage: test_server.py ALBERT_CL_BINARY [SHARED_DIR] [unittest options, e.g. -k Load]
The shared data folder is $ALBERT_CL_SHARED, else SHARED_DIR (CMake's
ALBERT_SHARED_DIR).  Python 3 standard library plus `openai` and numpy: when
they do not import, the script runs itself again under the albert-cl Python
venv ($ALBERT_CL_PY_VENV, else ${XDG_CACHE_HOME:-~/.cache}/albert-cl-py-venv),
and fails (never skips) when that has neither.
"""
import base64
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse


def _venv_python():
    venv = os.environ.get("ALBERT_CL_PY_VENV") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "albert-cl-py-venv")
    return os.path.join(venv, "bin", "python")


try:
    import numpy as np
    import openai
except ImportError as missing:
    _py = _venv_python()
    if (os.access(_py, os.X_OK) and not os.environ.get("ALBERT_TEST_SERVER_REEXEC")
            and os.path.abspath(sys.executable) != os.path.abspath(_py)):
        os.environ["ALBERT_TEST_SERVER_REEXEC"] = "1"
        os.execv(_py, [_py] + sys.argv)
    sys.exit("FATAL: %s (under %s): test_server.py needs the `openai` package and numpy "
             "(pip install openai numpy into %s)" % (missing, sys.executable, _py))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_helpers import (COMPILER_NOISE, NO_HUB_CACHE, TempDirCase,  # noqa: E402
                         add_to_hub_cache, program_args)

BINARY = None
SHARED = None
TINY = None   # tiny-gelu: hidden 32, max_position_embeddings 64, fast
BASE = None   # albert-base-v2-random: forward passes that take a while
TOKDIR = None  # albert-base-v2: the same spiece.model, max length 512, tokenizer.json
SOURCE_DIR = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(SOURCE_DIR, "data", "sample.txt")
CLS, SEP = 2, 3
HIDDEN = 32  # tiny-gelu
VOCAB = 30000
TOL = 1e-5

LISTENING = re.compile(r"(?m)^albert-cl serve: listening on (http://[^ ]+:\d+)")
STOPPED = re.compile(r"(?m)^albert-cl serve: stopped")
SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|"
                       r"ThreadSanitizer|runtime error:")

with open(SAMPLE, encoding="utf-8") as _f:
    SAMPLE_LINES = _f.read().split("\n")[:-1]  # 8 lines, the third empty; 2 to 21 tokens
# Sample lines of at most 16 tokens (the TEI class's --max-length).
SHORT = [SAMPLE_LINES[i] for i in (0, 1, 2, 3, 5, 7)]
# 37 tokens: over --max-length 16, under tiny-gelu's 64.
LONG = ("Sentence embeddings from ALBERT come from the tokenizer, the embedding projection, "
        "shared transformer layers and the pooler, then an optional normalisation.")
LONG_TOKENS = 37
VERY_LONG = " ".join([LONG] * 3)  # over 64 tokens
EXTRA = [
    "Hello",
    "What time is it?",
    "I can't believe it's already 2024 \u2014 time flies!",
    "user@example.com wrote: \"please send the report by Friday\".",
    "E=mc^2 and a^2+b^2=c^2 are famous equations.",
    "The mitochondria is the powerhouse of the cell, or so the textbooks say.",
    "Tabs\tand  double  spaces   inside.",
    "na\u00efve caf\u00e9 r\u00e9sum\u00e9 co\u00f6perate",
    "Ein Satz auf Deutsch, mit Umlauten: \u00c4pfel, \u00d6l, \u00dcbermut.",
]
LOAD_LINES = SAMPLE_LINES + EXTRA + [LONG]  # 18 lines of 2 to 37 tokens


# --------------------------------------------------------------------------
# The command line: the reference every vector is compared with.

def environment(extra=None):
    env = dict(os.environ)
    for var in ("ALBERT_CL_MODEL", "ALBERT_CL_KEEP_BLAS"):
        env.pop(var, None)
    env["HF_HUB_CACHE"] = NO_HUB_CACHE
    env.update(extra or {})
    return env


def run_cli(args, timeout=600):
    """Runs albert-cl to the end; returns (status, stdout bytes, stderr text)."""
    p = subprocess.run([BINARY] + args, stdin=subprocess.DEVNULL, capture_output=True,
                       env=environment(), timeout=timeout)
    return p.returncode, p.stdout, COMPILER_NOISE.sub("", p.stderr.decode("utf-8", "replace"))


_cli_cache = {}


def cli_records(lines, args):
    """The CLI's jsonl records of LINES (a file of them, one a line) with ARGS."""
    key = (tuple(lines), tuple(args))
    if key not in _cli_cache:
        for line in lines:
            assert "\n" not in line and "\r" not in line, line
        fd, path = tempfile.mkstemp(prefix="albert-server-test-", suffix=".txt")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(("\n".join(lines) + "\n").encode("utf-8"))
            rc, out, err = run_cli(args + ["--quiet", path])
        finally:
            os.unlink(path)
        if rc != 0:
            raise AssertionError("albert-cl %s failed (%d): %s" % (" ".join(args), rc, err))
        recs = [json.loads(line) for line in out.decode("utf-8").splitlines()]
        assert [r["index"] for r in recs] == list(range(len(lines))), "CLI records"
        _cli_cache[key] = recs
    return _cli_cache[key]


def cli_vectors(lines, *flags, model=None):
    """[np.float64 vector] per line: `albert-cl --model M --device cpu FLAGS`."""
    recs = cli_records(list(lines), ["--model", model or TINY, "--device", "cpu"] + list(flags))
    return [np.asarray(r["embedding"], dtype=np.float64) for r in recs]


def cli_token_counts(lines, *flags, model=None):
    recs = cli_records(list(lines), ["--model", model or TINY, "--device", "cpu"] + list(flags))
    return [len(r["input_ids"]) for r in recs]


def cli_ids(lines, *flags, model=None):
    """[ids] per line: `albert-cl --tokenize --model M FLAGS`."""
    recs = cli_records(list(lines), ["--tokenize", "--model", model or TINY] + list(flags))
    return [r["input_ids"] for r in recs]


def full_token_count(text):
    """Tokens of TEXT with [CLS]/[SEP], untruncated (albert-base-v2's 512 cap)."""
    return len(cli_ids([text], model=TOKDIR)[0])


def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def max_diff(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def decode_b64(text):
    return np.frombuffer(base64.b64decode(text, validate=True), dtype="<f4").astype(np.float64)


# --------------------------------------------------------------------------
# HTTP

class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "HTTP %d %r" % (self.status, self.body[:600])


def encode_body(body):
    if body is None or isinstance(body, bytes):
        return body
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def call(host, port, method, path, body=None, headers=None, conn=None, timeout=120):
    """One request; a fresh connection unless CONN.  BODY: bytes, or JSON-able."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    data = encode_body(body)
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    hdrs.update(headers or {})
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        payload = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, payload)
    finally:
        if own:
            conn.close()


def parse_metrics(text):
    """{(name, ((label, value), ...)): float} of a Prometheus text exposition;
    raises ValueError on a line that is not one."""
    line_re = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+-?\d+)?$")
    label_re = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"\s*(,|$)')
    samples, types = {}, {}
    for line in text.split("\n"):
        if not line.strip():
            continue
        if line.startswith("#"):
            m = re.match(r"^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*)(?: (.*))?$", line)
            if line.startswith("# TYPE") or line.startswith("# HELP"):
                if not m:
                    raise ValueError("bad comment line %r" % line)
                if m.group(1) == "TYPE":
                    if m.group(3) not in ("counter", "gauge", "histogram", "summary", "untyped"):
                        raise ValueError("bad TYPE line %r" % line)
                    types[m.group(2)] = m.group(3)
            continue
        m = line_re.match(line)
        if not m:
            raise ValueError("not a Prometheus sample line: %r" % line)
        labels, rest = [], m.group(2) or ""
        while rest.strip():
            lm = label_re.match(rest)
            if not lm:
                raise ValueError("bad labels in %r" % line)
            labels.append((lm.group(1), lm.group(2)))
            rest = rest[lm.end():]
        value = float(m.group(3))  # ValueError when not a number (+Inf, NaN parse)
        key = (m.group(1), tuple(sorted(labels)))
        if key in samples:
            raise ValueError("duplicate sample %r" % line)
        samples[key] = value
    return samples, types


# --------------------------------------------------------------------------
# A server process

class Server:
    """`albert-cl serve --model MODEL --device cpu --port 0 ARGS`, started and
    listening (its URL parsed from the stderr line) or an AssertionError."""

    def __init__(self, args, model=None, start_timeout=120, env=None):
        self.cmd = [BINARY, "serve", "--model", model or TINY, "--device", "cpu",
                    "--port", "0"] + list(args)
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=environment(env))
        self._cond = threading.Condition()
        self._err, self._out, self._eof = [], [], 0
        self._threads = [threading.Thread(target=self._drain, args=(s, sink), daemon=True)
                         for s, sink in ((self.proc.stderr, self._err),
                                         (self.proc.stdout, self._out))]
        for t in self._threads:
            t.start()
        deadline = time.monotonic() + start_timeout
        with self._cond:
            while True:
                m = LISTENING.search("".join(self._err))
                if m:
                    break
                if self.proc.poll() is not None and self._eof == 2:
                    raise AssertionError("%s exited with status %d before listening: %s"
                                         % (" ".join(self.cmd), self.proc.returncode,
                                            self.stderr()))
                if time.monotonic() > deadline:
                    self.proc.kill()
                    raise AssertionError("%s: no listening line within %d s: %s"
                                         % (" ".join(self.cmd), start_timeout, self.stderr()))
                self._cond.wait(0.2)
        self.url = m.group(1)
        parts = urllib.parse.urlsplit(self.url)
        self.host, self.port = parts.hostname, parts.port

    def _drain(self, stream, sink):
        for line in iter(stream.readline, b""):
            with self._cond:
                sink.append(line.decode("utf-8", "replace"))
                self._cond.notify_all()
        with self._cond:
            self._eof += 1
            self._cond.notify_all()

    def stderr(self):
        with self._cond:
            return COMPILER_NOISE.sub("", "".join(self._err))

    def send(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Sends SIG (unless it already exited); returns (exit status or None
        when it had to be killed, whether it was running)."""
        running = self.proc.poll() is None
        if running:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        for t in self._threads:
            t.join(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()
        return rc, running

    def check_stopped(self, rc, running):
        err = self.stderr()
        if not running:
            raise AssertionError("the server had died (status %r) before SIGTERM: %s" % (rc, err))
        if rc != 0:
            raise AssertionError("exit status %r after SIGTERM (want 0): %s" % (rc, err))
        if not STOPPED.search(err):
            raise AssertionError("no 'albert-cl serve: stopped' line on stderr: %s" % err)
        if SANITIZER.search(err):
            raise AssertionError("sanitizer report on stderr: %s" % err)


class ServerCase(unittest.TestCase):
    """One server per class: started in setUpClass with SERVER_ARGS, stopped
    with SIGTERM in tearDownClass (status 0 and the stopped line checked)."""

    SERVER_ARGS = []
    MODEL = None  # TINY

    @classmethod
    def model_dir(cls):
        return cls.MODEL or TINY

    @classmethod
    def server_env(cls):
        """Variables the server runs with beyond the tests' environment()."""
        return None

    @classmethod
    def setUpClass(cls):
        cls.server = Server(cls.SERVER_ARGS, cls.model_dir(), env=cls.server_env())

    @classmethod
    def tearDownClass(cls):
        cls.server.check_stopped(*cls.server.stop())

    # -- requests
    def call(self, method, path, body=None, **kw):
        return call(self.server.host, self.server.port, method, path, body, **kw)

    def post(self, path, body, **kw):
        return self.call("POST", path, body, **kw)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def ok_json(self, resp):
        self.assertEqual(resp.status, 200, resp)
        self.assertIn("application/json", resp.headers.get("content-type", ""), resp.headers)
        return resp.json()

    def client(self):
        """The official client on this server: no retries, no proxy from the
        environment; closed after the test."""
        c = openai.OpenAI(base_url=self.server.url + "/v1", api_key="x", max_retries=0,
                          timeout=120, http_client=openai.DefaultHttpxClient(trust_env=False))
        self.addCleanup(c.close)
        return c

    # -- checks
    def assertClose(self, got, want, msg=None, tol=TOL):
        d = max_diff(got, want)
        self.assertLess(d, tol, "%smax abs difference %g (got %d values, want %d)"
                        % (msg + ": " if msg else "", d, np.asarray(got).size,
                           np.asarray(want).size))

    def assertAlive(self):
        r = self.get("/health")
        self.assertEqual(r.status, 200, "the server no longer answers /health: %r" % r)
        self.assertEqual(r.json(), {"status": "ok"})

    def assertError(self, resp, status, path, mention=(), alive=True):
        """RESP is STATUS with the JSON error body of PATH's kind; the message
        names MENTION; the server still answers /health.  Returns the message."""
        self.assertEqual(resp.status, status, "%s: %r" % (path, resp))
        self.assertIn("application/json", resp.headers.get("content-type", ""),
                      "%s: %r %r" % (path, resp.headers, resp))
        try:
            doc = resp.json()
        except ValueError:
            self.fail("%s: error body is not JSON: %r" % (path, resp))
        if path.startswith("/v1/") or path == "/embeddings":
            self.assertIsInstance(doc.get("error"), dict, "%s: %r" % (path, doc))
            err = doc["error"]
            self.assertIsInstance(err.get("message"), str, doc)
            self.assertTrue(err["message"], doc)
            self.assertIsInstance(err.get("type"), str, doc)
            self.assertEqual(err.get("code"), status, doc)
            message = err["message"]
        else:
            self.assertIsInstance(doc.get("error"), str, "%s: %r" % (path, doc))
            self.assertTrue(doc["error"], doc)
            self.assertIsInstance(doc.get("error_type"), str, doc)
            message = doc["error"]
        for word in mention:
            self.assertIn(str(word), message, doc)
        if alive:
            self.assertAlive()
        return message

    def assertTokenMessage(self, message, index, count):
        """An over-long input's 413 message names its index and token count."""
        self.assertIn(str(count), message)
        self.assertRegex(message, r"(?<![\d.])%d(?![\d.])" % index,
                         "the message does not name input %d" % index)


# --------------------------------------------------------------------------
# 1. /v1/embeddings

class OpenAIEmbeddings(ServerCase):
    """Default flags: pooler, no normalisation, no auto-truncate."""

    def test_vectors_equal_the_clis_in_order(self):
        want = cli_vectors(SAMPLE_LINES)
        tokens = sum(cli_token_counts(SAMPLE_LINES))
        # The client asks for base64 and decodes it when no encoding_format is given.
        resp = self.client().embeddings.create(model="tiny-gelu", input=SAMPLE_LINES)
        self.assertEqual(resp.object, "list")
        self.assertEqual(resp.model, "tiny-gelu")
        self.assertEqual([d.index for d in resp.data], list(range(len(SAMPLE_LINES))))
        for i, d in enumerate(resp.data):
            self.assertEqual(d.object, "embedding")
            self.assertEqual(len(d.embedding), HIDDEN)
            self.assertClose(d.embedding, want[i], "line %d %r" % (i, SAMPLE_LINES[i]))
        self.assertEqual(resp.usage.prompt_tokens, tokens)
        self.assertEqual(resp.usage.total_tokens, tokens)

    def test_float_format_and_raw_base64_agree(self):
        lines = SAMPLE_LINES[:4]
        want = cli_vectors(lines)
        resp = self.client().embeddings.create(model="tiny-gelu", input=lines,
                                               encoding_format="float")
        for i, d in enumerate(resp.data):
            self.assertIsInstance(d.embedding, list)
            self.assertTrue(all(isinstance(x, float) for x in d.embedding))
            self.assertClose(d.embedding, want[i], "float, line %d" % i)
        floats = self.ok_json(self.post("/v1/embeddings", {"input": lines, "model": "m"}))
        raw = self.ok_json(self.post("/v1/embeddings", {"input": lines, "model": "m",
                                                        "encoding_format": "base64"}))
        self.assertEqual(len(raw["data"]), len(lines))
        self.assertEqual(raw["usage"], floats["usage"])
        for i, d in enumerate(raw["data"]):
            self.assertEqual(d["index"], i)
            self.assertIsInstance(d["embedding"], str)
            self.assertEqual(len(base64.b64decode(d["embedding"])), 4 * HIDDEN)
            vec = decode_b64(d["embedding"])
            self.assertClose(vec, floats["data"][i]["embedding"], "base64 vs float, line %d" % i)
            self.assertClose(vec, want[i], "base64 vs CLI, line %d" % i)

    def test_model_is_echoed_and_defaults_to_the_folder_name(self):
        resp = self.client().embeddings.create(model="some-other-name", input="Hello")
        self.assertEqual(resp.model, "some-other-name")
        doc = self.ok_json(self.post("/v1/embeddings", {"input": "Hello", "user": "ignored"}))
        self.assertEqual(doc["model"], "tiny-gelu")
        self.assertEqual(doc["object"], "list")
        self.assertEqual(doc["data"][0]["object"], "embedding")
        self.assertClose(doc["data"][0]["embedding"], cli_vectors(["Hello"])[0])

    def test_single_string_and_empty_string(self):
        client = self.client()
        for text in ["Paris is a beautiful city", ""]:
            resp = client.embeddings.create(model="tiny-gelu", input=text)
            self.assertEqual(len(resp.data), 1)
            self.assertEqual(resp.data[0].index, 0)
            self.assertClose(resp.data[0].embedding, cli_vectors([text])[0], repr(text))
            self.assertEqual(resp.usage.prompt_tokens, cli_token_counts([text])[0])
        self.assertEqual(resp.usage.prompt_tokens, 2)  # "": [CLS] [SEP]

    def test_escaped_and_raw_utf8_strings_agree(self):
        lines = [SAMPLE_LINES[3], "I love pizza \U0001F355 and \u6771\u4eac", "quote \" and \\"]
        want = cli_vectors(lines)
        for ascii_only in (True, False):
            body = json.dumps({"input": lines}, ensure_ascii=ascii_only).encode("utf-8")
            doc = self.ok_json(self.post("/v1/embeddings", body))
            for i, d in enumerate(doc["data"]):
                self.assertClose(d["embedding"], want[i], "ensure_ascii=%s line %d"
                                 % (ascii_only, i))

    def test_dimensions_truncate_then_renormalise(self):
        lines = SAMPLE_LINES[:3]
        want = cli_vectors(lines)
        client = self.client()
        for dims in (1, 8, HIDDEN):
            resp = client.embeddings.create(model="tiny-gelu", input=lines, dimensions=dims)
            for i, d in enumerate(resp.data):
                self.assertEqual(len(d.embedding), dims)
                self.assertClose(d.embedding, unit(want[i][:dims]), "dimensions %d line %d"
                                 % (dims, i))
        raw = self.ok_json(self.post("/v1/embeddings", {"input": lines[0], "dimensions": 5,
                                                        "encoding_format": "base64"}))
        self.assertClose(decode_b64(raw["data"][0]["embedding"]), unit(want[0][:5]))
        for dims in (0, -1, HIDDEN + 1, 10 ** 6):
            with self.assertRaises(openai.BadRequestError, msg="dimensions %d" % dims):
                client.embeddings.create(model="tiny-gelu", input=lines, dimensions=dims)
            self.assertError(self.post("/v1/embeddings", {"input": "a", "dimensions": dims}),
                             400, "/v1/embeddings")

    def test_token_id_inputs_give_the_texts_vectors(self):
        lines = [SAMPLE_LINES[0], SAMPLE_LINES[3], ""]
        want = cli_vectors(lines)
        tok = self.ok_json(self.post("/tokenize", {"inputs": lines}))
        ids = [[t["id"] for t in seq] for seq in tok]
        self.assertEqual(ids, cli_ids(lines))
        client = self.client()
        one = client.embeddings.create(model="tiny-gelu", input=ids[0])  # [int]
        self.assertEqual(len(one.data), 1)
        self.assertClose(one.data[0].embedding, want[0], "[int]")
        self.assertEqual(one.usage.prompt_tokens, len(ids[0]))
        many = client.embeddings.create(model="tiny-gelu", input=ids)  # [[int]]
        self.assertEqual([d.index for d in many.data], [0, 1, 2])
        for i, d in enumerate(many.data):
            self.assertClose(d.embedding, want[i], "[[int]] %d" % i)
        self.assertEqual(many.usage.prompt_tokens, sum(len(x) for x in ids))
        # Used as given: no [CLS]/[SEP] added (a different vector than with them).
        bare = client.embeddings.create(model="tiny-gelu", input=ids[0][1:-1])
        self.assertEqual(bare.usage.prompt_tokens, len(ids[0]) - 2)
        self.assertGreater(max_diff(bare.data[0].embedding, want[0]), 1e-3)

    def test_over_long_input_is_413_naming_index_and_tokens(self):
        count = full_token_count(VERY_LONG)
        self.assertGreater(count, 64)
        r = self.post("/v1/embeddings", {"input": ["a", "b", VERY_LONG]})
        self.assertTokenMessage(self.assertError(r, 413, "/v1/embeddings"), 2, count)
        with self.assertRaises(openai.APIStatusError) as cm:
            self.client().embeddings.create(model="tiny-gelu", input=[VERY_LONG])
        self.assertEqual(cm.exception.status_code, 413)


class OpenAIMeanNormalized(ServerCase):
    """--pooling mean --normalize, --served-model-name, --auto-truncate --max-length 16."""

    SERVER_ARGS = ["--pooling", "mean", "--normalize", "--served-model-name", "my-albert",
                   "--auto-truncate", "--max-length", "16", "--max-batch-tokens", "2048",
                   "--max-wait-ms", "7", "--max-concurrent-requests", "99"]

    def test_info_follows_the_flags(self):
        info = self.ok_json(self.get("/info"))
        want = {"model_id": "my-albert", "max_input_length": 16, "pooling": "mean",
                "normalize": True, "auto_truncate": True, "max_batch_tokens": 2048,
                "max_wait_ms": 7, "max_concurrent_requests": 99, "max_client_batch_size": 256,
                "payload_limit": 2000000, "tokenizer": "slow", "precision": "fp32"}
        self.assertEqual({k: info.get(k) for k in want}, want)
        self.assertTrue(os.path.samefile(info["model_dir"], TINY), info["model_dir"])

    def test_vectors_equal_the_clis_with_the_same_flags(self):
        flags = ["--pooling", "mean", "--normalize", "--max-length", "16"]
        want = cli_vectors(SHORT, *flags)
        resp = self.client().embeddings.create(model="my-albert", input=SHORT)
        for i, d in enumerate(resp.data):
            self.assertClose(d.embedding, want[i], "line %d" % i)
            self.assertAlmostEqual(float(np.linalg.norm(d.embedding)), 1.0, places=5)
        doc = self.ok_json(self.post("/v1/embeddings", {"input": "Hello"}))
        self.assertEqual(doc["model"], "my-albert")

    def test_auto_truncate_cuts_to_max_length(self):
        flags = ["--pooling", "mean", "--normalize", "--max-length", "16"]
        want = cli_vectors([LONG, "a"], *flags)
        self.assertEqual(cli_token_counts([LONG, "a"], *flags), [16, 3])
        resp = self.client().embeddings.create(model="my-albert", input=[LONG, "a"],
                                               encoding_format="float")
        self.assertClose(resp.data[0].embedding, want[0], "truncated line")
        self.assertClose(resp.data[1].embedding, want[1])
        self.assertEqual(resp.usage.prompt_tokens, 16 + 3)
        # /embed's truncate defaults to --auto-truncate; false still refuses.
        got = self.ok_json(self.post("/embed", {"inputs": LONG, "normalize": False}))
        self.assertClose(got[0], want[0])
        r = self.post("/embed", {"inputs": [LONG], "truncate": False})
        self.assertTokenMessage(self.assertError(r, 413, "/embed"), 0, LONG_TOKENS)

    def test_models_list_names_the_served_model(self):
        models = self.client().models.list()
        self.assertEqual([(m.id, m.object, m.owned_by) for m in models.data],
                         [("my-albert", "model", "albert-cl")])
        doc = self.ok_json(self.get("/v1/models"))
        self.assertEqual(doc["object"], "list")
        self.assertEqual(doc["data"][0]["id"], "my-albert")


class LayerServed(ServerCase):
    """--layer 1 --pooling mean: the vectors of hidden_states[1]."""

    SERVER_ARGS = ["--pooling", "mean", "--layer", "1"]

    def test_vectors_equal_the_clis_with_the_same_flags(self):
        self.assertEqual(self.ok_json(self.get("/info"))["layer"], 1)
        want = cli_vectors(SHORT, "--pooling", "mean", "--layer", "1")
        last = cli_vectors(SHORT, "--pooling", "mean")
        resp = self.client().embeddings.create(model="tiny-gelu", input=SHORT)
        for i, d in enumerate(resp.data):
            self.assertClose(d.embedding, want[i], "line %d" % i)
        self.assertGreater(float(np.abs(np.array(want) - np.array(last)).max()), 1e-3)


class LayersCombinedServed(ServerCase):
    """--layer -1,0 --layer-combine concat --pooling mean: vectors of
    2 x hidden_size values, the last layer's then the embeddings'."""

    FLAGS = ["--pooling", "mean", "--layer", "-1,0", "--layer-combine", "concat"]
    SERVER_ARGS = FLAGS

    def test_vectors_equal_the_clis_with_the_same_flags(self):
        info = self.ok_json(self.get("/info"))
        self.assertEqual((info["layers"], info["layer_combine"]), ([3, 0], "concat"))
        self.assertEqual((info["dimensions"], info["hidden_size"]), (2 * HIDDEN, HIDDEN))
        want = cli_vectors(SHORT, *self.FLAGS)
        self.assertEqual(len(want[0]), 2 * HIDDEN)
        resp = self.client().embeddings.create(model="tiny-gelu", input=SHORT)
        for i, d in enumerate(resp.data):
            self.assertClose(d.embedding, want[i], "line %d" % i)
        got = self.ok_json(self.post("/embed", {"inputs": SHORT, "normalize": False}))
        for i, vec in enumerate(got):
            self.assertClose(vec, want[i], "/embed line %d" % i)

    def test_embed_all_token_vectors_of_the_combined_width(self):
        recs = cli_records(SHORT, ["--model", TINY, "--device", "cpu", "--pooling", "none",
                                   "--layer", "-1,0", "--layer-combine", "concat"])
        got = self.ok_json(self.post("/embed_all", {"inputs": SHORT}))
        for i, vecs in enumerate(got):
            self.assertEqual(len(vecs[0]), 2 * HIDDEN)
            self.assertClose(np.asarray(vecs).ravel(),
                             np.asarray(recs[i]["embedding"], dtype=np.float64).ravel())

    def test_dimensions_up_to_the_combined_width(self):
        want = cli_vectors(SHORT[:1], *self.FLAGS)[0]
        resp = self.client().embeddings.create(model="tiny-gelu", input=SHORT[:1],
                                               dimensions=HIDDEN + 8)
        self.assertClose(resp.data[0].embedding, unit(want[:HIDDEN + 8]))
        r = self.post("/v1/embeddings", {"input": "x", "dimensions": 2 * HIDDEN + 1})
        self.assertEqual(r.status, 400)


# --------------------------------------------------------------------------
# 2. /embed

class TEIEmbed(ServerCase):
    """--pooling cls --max-length 16, no --normalize, no --auto-truncate."""

    SERVER_ARGS = ["--pooling", "cls", "--max-length", "16"]
    FLAGS = ["--pooling", "cls", "--max-length", "16"]

    def test_single_string_is_one_normalised_vector(self):
        text = SHORT[0]
        got = self.ok_json(self.post("/embed", {"inputs": text}))
        self.assertIsInstance(got, list)
        self.assertEqual(len(got), 1)
        self.assertEqual(len(got[0]), HIDDEN)
        self.assertAlmostEqual(float(np.linalg.norm(got[0])), 1.0, places=5)
        self.assertClose(got[0], cli_vectors([text], *self.FLAGS, "--normalize")[0])
        self.assertClose(got[0], unit(cli_vectors([text], *self.FLAGS)[0]))

    def test_list_in_order(self):
        want = cli_vectors(SHORT, *self.FLAGS, "--normalize")
        got = self.ok_json(self.post("/embed", {"inputs": SHORT}))
        self.assertEqual(len(got), len(SHORT))
        for i, vec in enumerate(got):
            self.assertClose(vec, want[i], "line %d %r" % (i, SHORT[i]))

    def test_normalize_false_is_the_pooled_vector(self):
        want = cli_vectors(SHORT, *self.FLAGS)
        got = self.ok_json(self.post("/embed", {"inputs": SHORT, "normalize": False}))
        for i, vec in enumerate(got):
            self.assertClose(vec, want[i], "line %d" % i)
        norms = [float(np.linalg.norm(v)) for v in want]
        self.assertTrue(any(abs(n - 1) > 1e-2 for n in norms), norms)  # a real difference
        got = self.ok_json(self.post("/embed", {"inputs": SHORT, "normalize": True}))
        self.assertClose(got[1], unit(want[1]))

    def test_truncate_false_refuses_an_over_long_input(self):
        count = full_token_count(LONG)
        self.assertEqual(count, LONG_TOKENS)
        for body in ({"inputs": ["a", LONG], "truncate": False}, {"inputs": ["a", LONG]}):
            r = self.post("/embed", body)
            self.assertTokenMessage(self.assertError(r, 413, "/embed"), 1, count)
        r = self.post("/embed", {"inputs": LONG})
        self.assertTokenMessage(self.assertError(r, 413, "/embed"), 0, count)

    def test_truncate_true_equals_the_cli_with_max_length(self):
        want = cli_vectors(["a", LONG], *self.FLAGS)
        got = self.ok_json(self.post("/embed", {"inputs": ["a", LONG], "truncate": True,
                                                "normalize": False}))
        self.assertEqual(len(got), 2)
        self.assertClose(got[0], want[0])
        self.assertClose(got[1], want[1], "the truncated input")
        got = self.ok_json(self.post("/embed", {"inputs": LONG, "truncate": True}))
        self.assertClose(got[0], unit(want[1]))

    def token_vectors(self, lines):
        """The CLI's --pooling none vectors of LINES (every token's)."""
        recs = cli_records(list(lines), ["--model", TINY, "--device", "cpu", "--pooling", "none",
                                         "--max-length", "16"])
        return [np.asarray(r["embedding"], dtype=np.float64) for r in recs]

    def test_embed_all_is_every_token_vector(self):
        want = self.token_vectors(SHORT)
        got = self.ok_json(self.post("/embed_all", {"inputs": SHORT}))
        self.assertEqual([len(g) for g in got], [len(w) for w in want])
        for i, vecs in enumerate(got):
            self.assertEqual(len(vecs[0]), HIDDEN)
            self.assertClose(np.asarray(vecs).ravel(), want[i].ravel(), "line %d" % i)
        one = self.ok_json(self.post("/embed_all", {"inputs": SHORT[1]}))
        self.assertClose(np.asarray(one[0]).ravel(), want[1].ravel())
        r = self.post("/embed_all", {"inputs": ["a", LONG]})
        self.assertTokenMessage(self.assertError(r, 413, "/embed_all"), 1, full_token_count(LONG))
        cut = self.ok_json(self.post("/embed_all", {"inputs": [LONG], "truncate": True}))
        self.assertClose(np.asarray(cut[0]).ravel(), self.token_vectors([LONG])[0].ravel())
        self.assertError(self.post("/embed_all", {"inputs": []}), 400, "/embed_all")

    def test_embed_all_beside_embed(self):
        """Requests for token vectors and for pooled ones at once share
        batches: each gets its own kind."""
        tokens, pooled = self.token_vectors(SHORT), cli_vectors(SHORT, *self.FLAGS)
        errors = []

        def client(k):
            try:
                for _ in range(4):
                    if k % 2:
                        got = self.ok_json(self.post("/embed_all", {"inputs": SHORT}))
                        for i, vecs in enumerate(got):
                            self.assertClose(np.asarray(vecs).ravel(), tokens[i].ravel())
                    else:
                        got = self.ok_json(self.post("/embed", {"inputs": SHORT,
                                                                "normalize": False}))
                        for i, vec in enumerate(got):
                            self.assertClose(vec, pooled[i])
            except AssertionError as e:
                errors.append(e)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])

    def test_v1_embeddings_uses_the_same_pooling(self):
        want = cli_vectors(SHORT, *self.FLAGS)
        doc = self.ok_json(self.post("/v1/embeddings", {"input": SHORT}))
        for i, d in enumerate(doc["data"]):
            self.assertClose(d["embedding"], want[i], "line %d" % i)

    def test_embed_dimensions_cut_then_normalize_as_asked(self):
        """TEI's "dimensions" (Matryoshka): the first N values, normalised
        after the cut when "normalize" is true (its default), as TEI does."""
        want = cli_vectors(SHORT[:3], *self.FLAGS)
        for dims in (1, 8, HIDDEN):
            got = self.ok_json(self.post("/embed", {"inputs": SHORT[:3], "dimensions": dims}))
            raw = self.ok_json(self.post("/embed", {"inputs": SHORT[:3], "dimensions": dims,
                                                    "normalize": False}))
            for i in range(3):
                self.assertEqual((len(got[i]), len(raw[i])), (dims, dims))
                self.assertClose(got[i], unit(want[i][:dims]), "dimensions %d" % dims)
                self.assertClose(raw[i], want[i][:dims], "dimensions %d, not normalised" % dims)
        for dims in (0, -1, HIDDEN + 1, 1.5, "8"):
            self.assertError(self.post("/embed", {"inputs": "a", "dimensions": dims}), 400,
                             "/embed", ["dimensions"])

    def test_token_id_inputs_as_tei(self):
        """/embed and /embed_all take token ids as TEI does (a list, or a list
        of lists), used as given: /tokenize's ids give the text's vectors."""
        ids = [[t["id"] for t in seq] for seq in self.ok_json(self.post("/tokenize",
                                                                         {"inputs": SHORT[:3]}))]
        want = self.ok_json(self.post("/embed", {"inputs": SHORT[:3]}))
        self.assertClose(self.ok_json(self.post("/embed", {"inputs": ids})), want)
        self.assertClose(self.ok_json(self.post("/embed", {"inputs": ids[1]}))[0], want[1])
        tokens = self.ok_json(self.post("/embed_all", {"inputs": ids[:2]}))
        self.assertEqual([len(t) for t in tokens], [len(i) for i in ids[:2]])
        self.assertClose(np.asarray(tokens[0]).ravel(), self.token_vectors(SHORT[:1])[0].ravel())
        self.assertError(self.post("/embed", {"inputs": [list(range(2, 20))]}), 413, "/embed",
                         ["18 token ids"])
        self.assertError(self.post("/embed", {"inputs": [[2, 30000]]}), 400, "/embed")

    def test_embeddings_is_v1_embeddings(self):
        """TEI's POST /embeddings: the same answers, errors in OpenAI's shape."""
        want = self.ok_json(self.post("/v1/embeddings", {"input": SHORT}))
        got = self.ok_json(self.post("/embeddings", {"input": SHORT}))
        self.assertEqual(len(got["data"]), len(SHORT))
        for g, w in zip(got["data"], want["data"]):
            self.assertClose(g["embedding"], w["embedding"])
        self.assertEqual(got["usage"], want["usage"])
        r = self.post("/embeddings", {"input": []})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["error"]["code"], 400)

    def test_similarity_is_the_cosine_of_the_vectors(self):
        source, sentences = SHORT[0], SHORT[1:] + [SHORT[0]]
        vecs = cli_vectors([source] + sentences, *self.FLAGS)
        want = [float(np.dot(unit(vecs[0]), unit(v))) for v in vecs[1:]]
        self.assertGreater(max(want[:-1]) - min(want[:-1]), 0.05, want)  # they differ
        for params in ({}, {"parameters": None}, {"parameters": {"truncate": False}}):
            body = dict(inputs={"source_sentence": source, "sentences": sentences}, **params)
            got = self.ok_json(self.post("/similarity", body))
            self.assertEqual(len(got), len(sentences))
            self.assertClose(got, want, "similarities with %r" % params)
            self.assertAlmostEqual(got[-1], 1.0, places=5)  # the source against itself

    def test_similarity_truncates_as_embed(self):
        count = full_token_count(LONG)
        body = {"inputs": {"source_sentence": "a", "sentences": ["b", LONG]}}
        r = self.post("/similarity", body)
        message = self.assertError(r, 413, "/similarity", ["inputs.sentences[1]"])
        self.assertTokenMessage(message, 1, count)
        r = self.post("/similarity", {"inputs": {"source_sentence": LONG, "sentences": ["b"]}})
        self.assertError(r, 413, "/similarity", ["inputs.source_sentence", count])
        vecs = cli_vectors(["a", "b", LONG], *self.FLAGS)
        want = [float(np.dot(unit(vecs[0]), unit(v))) for v in vecs[1:]]
        for direction in ({}, {"truncation_direction": "right"},
                          {"truncation_direction": "Right"}):
            got = self.ok_json(self.post("/similarity", dict(body, parameters=dict(
                truncate=True, **direction))))
            self.assertClose(got, want, "truncated, %r" % direction)

    def test_truncation_direction_left_cuts_the_start(self):
        """TEI's "truncation_direction": "left" keeps a long text's end: the
        CLI's --truncation-side left; "right" (or absent) its start."""
        left = cli_vectors([LONG], *self.FLAGS, "--truncation-side", "left")[0]
        right = cli_vectors([LONG], *self.FLAGS)[0]
        self.assertGreater(max_diff(left, right), 1e-3)
        for d, want in (("left", left), ("Left", left), ("right", right), (None, right)):
            body = {"inputs": [LONG], "truncate": True, "normalize": False,
                    "truncation_direction": d}
            got = self.ok_json(self.post("/embed", body))
            self.assertClose(got[0], want, "direction %r" % d)
        got = self.ok_json(self.post("/embed_all", {"inputs": LONG, "truncate": True,
                                                    "truncation_direction": "left"}))
        recs = cli_records([LONG], ["--model", TINY, "--device", "cpu", "--pooling", "none",
                                    "--max-length", "16", "--truncation-side", "left"])
        self.assertClose(np.asarray(got[0]).ravel(), np.asarray(recs[0]["embedding"]).ravel())
        vecs = cli_vectors(["a", LONG], *self.FLAGS, "--truncation-side", "left")
        got = self.ok_json(self.post("/similarity", {
            "inputs": {"source_sentence": "a", "sentences": [LONG]},
            "parameters": {"truncate": True, "truncation_direction": "left"}}))
        self.assertClose(got, [float(np.dot(unit(vecs[0]), unit(vecs[1])))])


class LeftTruncation(ServerCase):
    """--truncation-side left --auto-truncate: every route cuts a long text's
    start unless a request says "right"."""

    SERVER_ARGS = ["--pooling", "cls", "--max-length", "16", "--truncation-side", "left",
                   "--auto-truncate"]
    FLAGS = ["--pooling", "cls", "--max-length", "16"]

    def test_every_route_cuts_the_start(self):
        left = cli_vectors([LONG], *self.FLAGS, "--truncation-side", "left")[0]
        right = cli_vectors([LONG], *self.FLAGS)[0]
        self.assertEqual(self.ok_json(self.get("/info"))["truncation_side"], "left")
        doc = self.ok_json(self.post("/v1/embeddings", {"input": [LONG]}))
        self.assertClose(doc["data"][0]["embedding"], left)
        got = self.ok_json(self.post("/embed", {"inputs": LONG, "normalize": False}))
        self.assertClose(got[0], left)
        got = self.ok_json(self.post("/embed", {"inputs": LONG, "normalize": False,
                                                "truncation_direction": "right"}))
        self.assertClose(got[0], right)
        toks = self.ok_json(self.post("/tokenize", {"inputs": LONG}))[0]
        want = cli_ids([LONG], "--max-length", "16", "--truncation-side", "left")[0]
        self.assertEqual([t["id"] for t in toks], want)


class EmbedAllLimit(ServerCase):
    """One /embed_all answer holds at most 32,768 token vectors: inputs of 16
    tokens each, 2,048 of them fit, 2,049 are 413 (the answer is not built)."""

    SERVER_ARGS = ["--max-client-batch-size", "4096", "--max-length", "16"]

    def test_token_vectors_per_request_are_capped(self):
        line = " ".join(["word"] * 30)
        got = self.ok_json(self.post("/embed_all", {"inputs": [line] * 2048, "truncate": True}))
        self.assertEqual((len(got), {len(v) for v in got}), (2048, {16}))
        r = self.post("/embed_all", {"inputs": [line] * 2049, "truncate": True})
        message = self.assertError(r, 413, "/embed_all")
        self.assertIn("32784 tokens", message)
        self.assertIn("32768", message)


# --------------------------------------------------------------------------
# 3. /tokenize

class Tokenize(ServerCase):
    """Default flags: the slow tokenizer, --max-length capped at 64 by tiny-gelu."""

    LINES = SAMPLE_LINES + EXTRA + [VERY_LONG]
    CLI_FLAGS = []

    def check_tokens(self, seqs, want, special_tokens=True):
        self.assertEqual(len(seqs), len(want))
        for i, (seq, ids) in enumerate(zip(seqs, want)):
            self.assertEqual([t["id"] for t in seq], ids, "line %d %r" % (i, self.LINES[i]))
            for t in seq:
                self.assertEqual(set(t), {"id", "text", "special", "start", "stop"}, t)
                self.assertIsInstance(t["text"], str, t)
                self.assertIsInstance(t["special"], bool, t)
                self.assertIsNone(t["start"], t)
                self.assertIsNone(t["stop"], t)
                if t["id"] in (CLS, SEP):
                    self.assertTrue(t["special"], t)
                    self.assertEqual(t["text"], "[CLS]" if t["id"] == CLS else "[SEP]")
                elif t["id"] > 4:
                    self.assertFalse(t["special"], t)
                    self.assertTrue(t["text"], t)
            if special_tokens and seq:
                self.assertEqual((seq[0]["id"], seq[-1]["id"]), (CLS, SEP))

    def test_ids_equal_the_clis(self):
        want = cli_ids(self.LINES, *self.CLI_FLAGS, model=self.model_dir())
        self.assertEqual(len(want[-1]), 64)  # the long line, truncated like the CLI
        seqs = self.ok_json(self.post("/tokenize", {"inputs": self.LINES}))
        self.check_tokens(seqs, want)

    def test_single_string(self):
        seqs = self.ok_json(self.post("/tokenize", {"inputs": self.LINES[0]}))
        self.check_tokens(seqs, cli_ids(self.LINES[:1], *self.CLI_FLAGS, model=self.model_dir()))
        seqs = self.ok_json(self.post("/tokenize", {"inputs": ""}))
        self.assertEqual([t["id"] for t in seqs[0]], [CLS, SEP])

    def test_without_special_tokens(self):
        lines = self.LINES[:-1]
        want = [ids[1:-1] for ids in cli_ids(lines, *self.CLI_FLAGS, model=self.model_dir())]
        seqs = self.ok_json(self.post("/tokenize", {"inputs": lines,
                                                    "add_special_tokens": False}))
        self.check_tokens(seqs, want, special_tokens=False)
        for seq in seqs:
            self.assertFalse(any(t["special"] for t in seq), seq)
        self.assertEqual(seqs[2], [])  # the empty line
        seqs = self.ok_json(self.post("/tokenize", {"inputs": lines[:2],
                                                    "add_special_tokens": True}))
        self.check_tokens(seqs, cli_ids(lines[:2], *self.CLI_FLAGS, model=self.model_dir()))


class OwnFolder:
    """Mixin: cls.folder, made by the class, removed after it."""

    folder = None

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.folder, ignore_errors=True)


class FastFolder(OwnFolder):
    """Mixin: a model folder of tiny-gelu's weights and a tokenizer.json
    (fill_tokenizer puts it there)."""

    @classmethod
    def fill_tokenizer(cls, path):
        os.symlink(os.path.join(TOKDIR, "tokenizer.json"), path)

    @classmethod
    def model_dir(cls):
        if cls.folder is None:
            cls.folder = tempfile.mkdtemp(prefix="albert-server-fast-")
            for name in ("config.json", "model.safetensors"):
                os.symlink(os.path.join(TINY, name), os.path.join(cls.folder, name))
            cls.fill_tokenizer(os.path.join(cls.folder, "tokenizer.json"))
        return cls.folder


class TokenizeFast(FastFolder, Tokenize):
    """--tokenizer fast on a folder with tiny-gelu's weights and albert-base-v2's
    tokenizer.json (no spiece.model)."""

    SERVER_ARGS = ["--tokenizer", "fast"]
    CLI_FLAGS = ["--tokenizer", "fast"]

    def test_ids_equal_the_clis(self):
        super().test_ids_equal_the_clis()
        # Lines the slow tokenizer splits otherwise: the server tokenizes fast.
        self.assertNotEqual(cli_ids(self.LINES[5:7], model=TINY),
                            cli_ids(self.LINES[5:7], "--tokenizer", "fast", model=self.folder))

    def test_embeddings_use_the_fast_tokenizer(self):
        lines = SAMPLE_LINES[4:7]
        want = cli_vectors(lines, "--tokenizer", "fast", model=self.folder)
        resp = self.client().embeddings.create(model="x", input=lines)
        for i, d in enumerate(resp.data):
            self.assertClose(d.embedding, want[i], "line %d" % i)
        self.assertEqual(resp.usage.prompt_tokens,
                         sum(cli_token_counts(lines, "--tokenizer", "fast", model=self.folder)))
        self.assertEqual(self.ok_json(self.get("/info"))["tokenizer"], "fast")


class SentenceTransformersFolder(FastFolder, ServerCase):
    """No flags, on a sentence-transformers folder (modules.json: mean pooling,
    Normalize; max_seq_length 16): the server answers its vectors, with texts
    stripped as sentence-transformers does, on /tokenize too."""

    @classmethod
    def fill_tokenizer(cls, path):
        super().fill_tokenizer(path)
        folder = os.path.dirname(path)
        os.mkdir(os.path.join(folder, "1_Pooling"))
        kinds = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
        with open(os.path.join(folder, "modules.json"), "w") as f:
            json.dump([{"idx": i, "name": str(i), "path": p,
                        "type": "sentence_transformers.models." + k}
                       for i, (p, k) in enumerate(kinds)], f)
        with open(os.path.join(folder, "1_Pooling", "config.json"), "w") as f:
            json.dump({"word_embedding_dimension": 32, "pooling_mode_cls_token": False,
                       "pooling_mode_mean_tokens": True}, f)
        with open(os.path.join(folder, "sentence_bert_config.json"), "w") as f:
            json.dump({"max_seq_length": 16, "do_lower_case": False}, f)

    def test_info_and_vectors_follow_the_folder(self):
        info = self.ok_json(self.get("/info"))
        want = {"max_input_length": 16, "pooling": "mean", "normalize": True,
                "tokenizer": "fast"}
        self.assertEqual({k: info.get(k) for k in want}, want)
        lines = ["\u3000Hello\u00a0", "the quick brown fox"]
        plain = ["--no-sentence-transformers", "--pooling", "mean", "--normalize",
                 "--max-length", "16", "--tokenizer", "fast"]
        want = cli_vectors([line.strip() for line in lines], *plain, model=self.folder)
        resp = self.client().embeddings.create(model="x", input=lines)
        for i, d in enumerate(resp.data):
            self.assertClose(d.embedding, want[i], "line %d" % i)
        doc = self.ok_json(self.post("/tokenize", {"inputs": lines[0]}))
        self.assertEqual([t["id"] for t in doc[0]], [2, 10975, 3])


class DenseFolder(OwnFolder, ServerCase):
    """A sentence-transformers folder with a Dense module (16 values) and
    Normalize: the server answers sentence-transformers' own vectors
    (tests/data/sentence-transformers/dense-tanh-normalize)."""

    CASE = os.path.join(SOURCE_DIR, "data", "sentence-transformers", "dense-tanh-normalize")
    SERVER_ARGS = ["--auto-truncate"]  # sentence-transformers truncates to max_seq_length

    @classmethod
    def model_dir(cls):
        if cls.folder is None:
            cls.folder = os.path.join(tempfile.mkdtemp(prefix="albert-server-dense-"), "st")
            shutil.copytree(cls.CASE, cls.folder)
            for name in ("config.json", "model.safetensors", "spiece.model"):
                os.symlink(os.path.join(TINY, name), os.path.join(cls.folder, name))
            os.symlink(os.path.join(TOKDIR, "tokenizer.json"),
                       os.path.join(cls.folder, "tokenizer.json"))
        return cls.folder

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(os.path.dirname(cls.folder), ignore_errors=True)

    def test_vectors_are_sentence_transformers(self):
        with open(os.path.join(self.CASE, "expected.json"), encoding="utf-8") as f:
            want = json.load(f)
        self.assertEqual(self.ok_json(self.get("/info"))["dimensions"], 16)
        resp = self.client().embeddings.create(model="x", input=want["lines"])
        for i, d in enumerate(resp.data):
            self.assertClose(d.embedding, want["embeddings"][i], "line %d" % i, tol=1e-5)
        doc = self.ok_json(self.post("/embed", {"inputs": want["lines"][:2]}))
        self.assertClose(doc, want["embeddings"][:2], tol=1e-5)


# --------------------------------------------------------------------------
# 3b. Prompts: the folder's default, TEI's prompt_name, serve --prompt

RETRIEVAL = "Represent this sentence for retrieval: "  # a --prompt of the golden runs


class PromptFolder(OwnFolder):
    """Mixin: the golden folder tests/data/sentence-transformers/CASE (prompts
    "query" and "passage", a default_prompt_name) with tiny-gelu's weights;
    cls.expected: its expected.json, SentenceTransformer.encode's ids and
    vectors with the default prompt and, in "runs", with the CLI options each
    names."""

    CASE = None
    SERVER_ARGS = ["--auto-truncate"]  # sentence-transformers truncates to max_seq_length

    @classmethod
    def model_dir(cls):
        if cls.folder is None:
            cls.folder = tempfile.mkdtemp(prefix="albert-server-prompt-")
            source = os.path.join(SOURCE_DIR, "data", "sentence-transformers", cls.CASE)
            shutil.copytree(source, cls.folder, dirs_exist_ok=True)
            for name in ("config.json", "model.safetensors", "spiece.model"):
                os.symlink(os.path.join(TINY, name), os.path.join(cls.folder, name))
            os.symlink(os.path.join(TOKDIR, "tokenizer.json"),
                       os.path.join(cls.folder, "tokenizer.json"))
            with open(os.path.join(source, "expected.json"), encoding="utf-8") as f:
                cls.expected = json.load(f)
        return cls.folder

    def golden_run(self, *args):
        """The run of expected.json made with the CLI options ARGS."""
        runs = [r for r in self.expected["runs"] if r["args"] == list(args)]
        self.assertEqual(len(runs), 1, "expected.json of %s: runs %r" % (self.CASE, args))
        return runs[0]

    def embed(self, **fields):
        """/embed of the golden lines: the folder's own vectors (normalize
        false: its Normalize module, if any, still applies)."""
        body = dict(inputs=self.expected["lines"], normalize=False, **fields)
        return self.ok_json(self.post("/embed", body))

    def token_ids(self, **fields):
        seqs = self.ok_json(self.post("/tokenize", dict(inputs=self.expected["lines"], **fields)))
        return [[t["id"] for t in seq] for seq in seqs]

    def assertVectors(self, got, want, what):
        self.assertEqual(len(got), len(want), what)
        for i, (g, w) in enumerate(zip(got, want)):
            self.assertClose(g, w, "%s, line %d %r" % (what, i, self.expected["lines"][i]))


class PromptGolden(PromptFolder):
    """Mixin: the tests of a golden prompt folder served with its defaults."""

    def default_prompt(self):
        with open(os.path.join(self.folder, "config_sentence_transformers.json")) as f:
            doc = json.load(f)
        return doc["prompts"][doc["default_prompt_name"]]

    def test_default_prompt_on_every_route(self):
        want = self.expected["embeddings"]
        self.assertVectors(self.embed(), want, "/embed")
        self.assertVectors(self.embed(prompt_name=None), want, "/embed, prompt_name null")
        # TEI's /v1/embeddings puts the default prompt too (and takes no prompt_name).
        for body in ({"input": self.expected["lines"]},
                     {"input": self.expected["lines"], "prompt_name": "passage"}):
            doc = self.ok_json(self.post("/v1/embeddings", body))
            self.assertVectors([d["embedding"] for d in doc["data"]], want, "/v1/embeddings")
        self.assertEqual(self.token_ids(), self.expected["input_ids"])
        info = self.ok_json(self.get("/info"))
        self.assertEqual(info["prompt"], self.default_prompt())
        with open(os.path.join(self.folder, "1_Pooling", "config.json")) as f:
            self.assertEqual(info["include_prompt"], json.load(f).get("include_prompt", True))

    def test_prompt_name_replaces_the_default(self):
        run = self.golden_run("--prompt-name", "passage")
        self.assertVectors(self.embed(prompt_name="passage"), run["embeddings"], "passage")
        self.assertEqual(self.token_ids(prompt_name="passage"), run["input_ids"])
        # A list of one: the prompt goes before each input, whatever their number.
        got = self.ok_json(self.post("/embed", {"inputs": self.expected["lines"][0],
                                                "prompt_name": "passage", "normalize": False}))
        self.assertVectors(got, run["embeddings"][:1], "passage, one string")
        # /similarity takes it among its "parameters"; the default applies without.
        lines = self.expected["lines"]
        for params, vecs in (({"prompt_name": "passage"}, run["embeddings"]),
                             ({}, self.expected["embeddings"])):
            want = [float(np.dot(unit(vecs[0]), unit(v))) for v in vecs[1:]]
            got = self.ok_json(self.post("/similarity", {"inputs": {
                "source_sentence": lines[0], "sentences": lines[1:]}, "parameters": params}))
            self.assertClose(got, want, "/similarity with %r" % params)

    def test_unknown_prompt_name_is_422_naming_the_prompts(self):
        r = self.post("/similarity", {"inputs": {"source_sentence": "a", "sentences": ["b"]},
                                      "parameters": {"prompt_name": "bogus"}})
        self.assertError(r, 422, "/similarity", ['"bogus"', "query", "passage"])
        for path in ("/embed", "/tokenize"):
            for name in ("bogus", "", "Query"):
                with self.subTest(path=path, name=name):
                    r = self.post(path, {"inputs": ["a", "b"], "prompt_name": name})
                    message = self.assertError(r, 422, path, ['"%s"' % name, "query", "passage"])
                    self.assertEqual(r.json()["error_type"], "Validation")
                    self.assertIn("prompt_name", message)
            for name in (5, ["query"], True):
                with self.subTest(path=path, name=name):
                    self.assertError(self.post(path, {"inputs": "a", "prompt_name": name}), 400,
                                     path, ["prompt_name"])


class PromptDefaultMean(PromptGolden, ServerCase):
    """Mean pooling with the prompt's tokens (include_prompt true), Normalize."""

    CASE = "prompt-default-mean"

    def test_token_ids_get_no_prompt(self):
        # OpenAI's token-id inputs are used as given: ids that hold the prompt
        # give the golden vectors (the prompt is pooled here), no second prompt.
        body = {"input": self.expected["input_ids"]}
        doc = self.ok_json(self.post("/v1/embeddings", body))
        self.assertVectors([d["embedding"] for d in doc["data"]], self.expected["embeddings"],
                           "token ids")


class PromptExcludedMean(PromptGolden, ServerCase):
    """Mean pooling without the prompt's tokens (include_prompt false)."""

    CASE = "prompt-excluded-mean"


class PromptExcludedWeightedmean(PromptGolden, ServerCase):
    """Weighted mean without the prompt's tokens, no Normalize."""

    CASE = "prompt-excluded-weightedmean"


class PromptExcludedMaxDense(PromptGolden, ServerCase):
    """Max pooling without the prompt's tokens, then a Dense module; the
    default prompt is "passage"."""

    CASE = "prompt-excluded-max-dense"


class FiveModesPromptExcluded(PromptGolden, ServerCase):
    """Five pooling modes end to end, the prompt's tokens left out."""

    CASE = "five-modes-prompt-excluded"


class PromptDefaultMeanMax(PromptGolden, ServerCase):
    """Mean and max end to end, the prompt's tokens pooled too, Normalize."""

    CASE = "prompt-default-mean-max"


class SeveralModesDense(PromptFolder, ServerCase):
    """CLS, mean and max end to end (96 values), a Dense module (16), Normalize."""

    CASE = "cls-mean-max-dense-normalize"

    def test_vectors_are_sentence_transformers(self):
        self.assertVectors(self.embed(), self.expected["embeddings"], "/embed")
        info = self.ok_json(self.get("/info"))
        self.assertEqual((info["pooling"], info["dimensions"]), ("cls+mean+max", 16))


class PromptOption(PromptFolder, ServerCase):
    """serve --prompt: the default prompt of every request instead of the
    folder's; a request's prompt_name still replaces it."""

    CASE = "prompt-excluded-mean"
    SERVER_ARGS = ["--auto-truncate", "--prompt", RETRIEVAL]

    def test_prompt_option_is_the_default(self):
        run = self.golden_run("--prompt", RETRIEVAL)
        self.assertVectors(self.embed(), run["embeddings"], "--prompt")
        self.assertEqual(self.token_ids(), run["input_ids"])
        self.assertEqual(self.ok_json(self.get("/info"))["prompt"], RETRIEVAL)
        # "query" is the folder's default_prompt_name: its golden vectors.
        self.assertVectors(self.embed(prompt_name="query"), self.expected["embeddings"], "query")


# --------------------------------------------------------------------------
# 4. /health, /info, /v1/models, /metrics

class TokenizeNoTemplate(FastFolder, ServerCase):
    """--tokenizer fast with a tokenizer.json whose post_processor is null: no
    special tokens around a text, so none is dropped or flagged."""

    SERVER_ARGS = ["--tokenizer", "fast"]

    @classmethod
    def fill_tokenizer(cls, path):
        with open(os.path.join(TOKDIR, "tokenizer.json"), encoding="utf-8") as f:
            doc = json.load(f)
        doc["post_processor"] = None
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f)

    def test_no_token_is_special_or_dropped(self):
        doc = self.ok_json(self.post("/tokenize", {"inputs": "hello big world"}))
        self.assertEqual([t["text"] for t in doc[0]], ["\u2581hello", "\u2581big", "\u2581world"])
        self.assertFalse(any(t["special"] for t in doc[0]))
        off = self.ok_json(self.post("/tokenize", {"inputs": "hello big world",
                                                   "add_special_tokens": False}))
        self.assertEqual(off, doc)


class HubCacheModel(OwnFolder, ServerCase):
    """--model ORG/NAME, a model in the Hugging Face cache: the repo id is the
    served model's name, as TEI's model_id."""

    MODEL = "org/tiny-gelu"

    @classmethod
    def server_env(cls):
        cls.folder = tempfile.mkdtemp(prefix="albert-server-hub-")
        cls.snapshot = add_to_hub_cache(cls.folder, cls.MODEL, TINY, {"main": "c" * 40})
        return {"HF_HUB_CACHE": cls.folder}

    def test_named_by_the_repo_id(self):
        info = self.ok_json(self.get("/info"))
        self.assertEqual(info["model_id"], self.MODEL)
        self.assertEqual(info["model_dir"], self.snapshot)
        doc = self.ok_json(self.get("/v1/models"))
        self.assertEqual([m["id"] for m in doc["data"]], [self.MODEL])
        want = cli_vectors(SAMPLE_LINES[:2], model=TINY)
        resp = self.client().embeddings.create(model=self.MODEL, input=SAMPLE_LINES[:2])
        self.assertEqual(resp.model, self.MODEL)
        for i, d in enumerate(resp.data):
            self.assertClose(d.embedding, want[i], "line %d" % i)


class Observability(ServerCase):
    """Default flags."""

    def metrics(self):
        r = self.get("/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers.get("content-type", "").startswith("text/plain"), r.headers)
        try:
            return parse_metrics(r.body.decode("utf-8"))
        except ValueError as e:
            self.fail("/metrics: %s" % e)

    @staticmethod
    def value(samples, name, **labels):
        return samples[0].get((name, tuple(sorted(labels.items()))))

    @staticmethod
    def by_name(samples, name):
        return {k[1]: v for k, v in samples[0].items() if k[0] == name}

    def poll_metrics(self, done, what, timeout=10):
        """Reads /metrics until DONE(samples) (counters may be updated just
        after the answer went out)."""
        deadline = time.monotonic() + timeout
        while True:
            samples = self.metrics()
            if done(samples):
                return samples
            if time.monotonic() > deadline:
                self.fail("/metrics never showed %s: %r" % (what, samples[0]))
            time.sleep(0.05)

    def test_health(self):
        r = self.get("/health")
        self.assertEqual(self.ok_json(r), {"status": "ok"})
        self.assertEqual(self.ok_json(self.get("/ping")), {"status": "ok"})  # TEI's alias

    def test_info_has_every_field_consistent_with_the_flags(self):
        info = self.ok_json(self.get("/info"))
        rc, out, _ = run_cli(["--version"])
        version = out.decode().split()[-1]
        want = {"model_id": "tiny-gelu", "version": version, "hidden_size": HIDDEN,
                "max_input_length": 64, "pooling": "pooler", "normalize": False,
                "precision": "fp32", "tokenizer": "slow", "max_client_batch_size": 256,
                "max_concurrent_requests": 512, "payload_limit": 2000000, "max_wait_ms": 2,
                "auto_truncate": False, "truncation_side": "right"}
        for key, value in want.items():
            self.assertIn(key, info)
            self.assertEqual(info[key], value, key)
            self.assertIs(type(info[key]), type(value), key)
        self.assertTrue(os.path.samefile(info["model_dir"], TINY), info["model_dir"])
        self.assertIsInstance(info["devices"], list)
        self.assertEqual(len(info["devices"]), 1, info["devices"])
        self.assertIsInstance(info["devices"][0], str)
        self.assertIn("cpu", info["devices"][0].lower())
        self.assertIsInstance(info["max_batch_tokens"], int)
        self.assertEqual(info["max_batch_tokens"], 4096)  # the CLI's default off a GPU

    def test_models(self):
        doc = self.ok_json(self.get("/v1/models"))
        self.assertEqual(doc, {"object": "list", "data": [
            {"id": "tiny-gelu", "object": "model", "owned_by": "albert-cl"}]})

    def test_metrics_count_requests(self):
        V1 = "albert_requests_total"
        key200 = {"endpoint": "/v1/embeddings", "status": "200"}
        before = self.metrics()
        _, types = before
        for name in ("albert_requests_in_flight", "albert_queue_records"):
            self.assertIsNotNone(self.value(before, name), name)
            self.assertGreaterEqual(self.value(before, name), 0)
            if name in types:
                self.assertEqual(types[name], "gauge", name)
        n200 = self.value(before, V1, **key200) or 0
        nembed = self.value(before, V1, endpoint="/embed", status="200") or 0
        n400 = self.value(before, V1, endpoint="/v1/embeddings", status="400") or 0
        count0 = self.value(before, "albert_request_duration_seconds_count")
        self.assertIsNotNone(count0, "no albert_request_duration_seconds_count")
        inputs0 = self.value(before, "albert_inputs_total")
        tokens0 = self.value(before, "albert_prompt_tokens_total")
        self.assertIsNotNone(inputs0)
        self.assertIsNotNone(tokens0)
        dev0 = {name: self.by_name(before, name) for name in (
            "albert_device_batches_total", "albert_device_records_total",
            "albert_device_tokens_total", "albert_device_padded_tokens_total",
            "albert_device_busy_seconds_total")}

        lines = SAMPLE_LINES[:3]
        usage = 0
        for _ in range(2):
            usage += self.ok_json(self.post("/v1/embeddings", {"input": lines}))["usage"][
                "prompt_tokens"]
        self.ok_json(self.post("/embed", {"inputs": "Hello"}))
        self.assertEqual(self.post("/v1/embeddings", {"input": []}).status, 400)

        after = self.poll_metrics(
            lambda s: ((self.value(s, V1, **key200) or 0) >= n200 + 2
                       and (self.value(s, V1, endpoint="/embed", status="200") or 0) >= nembed + 1
                       and (self.value(s, V1, endpoint="/v1/embeddings", status="400") or 0)
                       >= n400 + 1),
            "the 2 + 1 + 1 requests counted")
        self.assertGreaterEqual(self.value(after, "albert_request_duration_seconds_count"),
                                count0 + 4)
        self.assertGreaterEqual(self.value(after, "albert_inputs_total"), inputs0 + 7)
        self.assertGreaterEqual(self.value(after, "albert_prompt_tokens_total"), tokens0 + usage)
        if types.get(V1):
            self.assertEqual(types[V1], "counter")

        # The histogram: cumulative buckets up to +Inf == _count, a _sum.
        buckets = self.by_name(after, "albert_request_duration_seconds_bucket")
        self.assertTrue(buckets, "no albert_request_duration_seconds_bucket")
        les = sorted(((float(dict(k)["le"]), v) for k, v in buckets.items()))
        self.assertEqual(les[-1][0], float("inf"), "no le=\"+Inf\" bucket")
        self.assertEqual([v for _, v in les], sorted(v for _, v in les), "not cumulative")
        self.assertEqual(les[-1][1], self.value(after, "albert_request_duration_seconds_count"))
        self.assertGreaterEqual(self.value(after, "albert_request_duration_seconds_sum"), 0)

        # Per device: labelled device="...", moved by the requests.
        for name, old in dev0.items():
            new = self.by_name(after, name)
            self.assertTrue(new, "no %s" % name)
            for labels in new:
                self.assertIn("device", dict(labels), name)
        total = {name: sum(self.by_name(after, name).values()) - sum(old.values())
                 for name, old in dev0.items()}
        self.assertGreaterEqual(total["albert_device_batches_total"], 1, total)
        self.assertGreaterEqual(total["albert_device_records_total"], 7, total)
        self.assertGreaterEqual(total["albert_device_tokens_total"], usage, total)
        self.assertGreaterEqual(sum(self.by_name(after, "albert_device_padded_tokens_total")
                                    .values()),
                                sum(self.by_name(after, "albert_device_tokens_total").values()))
        self.assertGreater(total["albert_device_busy_seconds_total"], 0, total)


# --------------------------------------------------------------------------
# 5. Errors

class Errors(ServerCase):
    """--payload-limit 4096 --max-client-batch-size 8 (no auto-truncate)."""

    SERVER_ARGS = ["--payload-limit", "4096", "--max-client-batch-size", "8"]
    ROUTES = (("/v1/embeddings", "input"), ("/embed", "inputs"), ("/tokenize", "inputs"))

    def test_bad_json(self):
        for path, key in self.ROUTES:
            k = key.encode()
            for body in (b'{"' + k + b'": ', b"not json", b"", b'{"' + k + b'": "a",}',
                         b'{"' + k + b'": "a"} trailing', b'{"' + k + b'": "a"}{}',
                         b'{"' + k + b'": ["a" "b"]}', b"\xef\xbb\xbf\x00"):
                with self.subTest(path=path, body=body):
                    self.assertError(self.post(path, body), 400, path)

    def test_wrong_types(self):
        cases = [
            ("/v1/embeddings", {"input": 5}),
            ("/v1/embeddings", {"input": ["a", 1]}),
            ("/v1/embeddings", {"input": [1, "a"]}),
            ("/v1/embeddings", {"input": [["a"]]}),
            ("/v1/embeddings", {"input": [[1, 2], "a"]}),
            ("/v1/embeddings", {"input": [1.5, 2]}),
            ("/v1/embeddings", {"input": None}),
            ("/v1/embeddings", {"input": {"text": "a"}}),
            ("/v1/embeddings", [{"input": "a"}]),
            ("/v1/embeddings", "a"),
            ("/v1/embeddings", {"input": "a", "encoding_format": "bogus"}),
            ("/v1/embeddings", {"input": "a", "encoding_format": 1}),
            ("/v1/embeddings", {"input": "a", "dimensions": "8"}),
            ("/v1/embeddings", {"input": "a", "dimensions": 1.5}),
            ("/v1/embeddings", {"input": "a", "model": 5}),
            ("/embed", {"inputs": 5}),
            ("/embed", {"inputs": [1.5, 2]}),
            ("/embed", {"inputs": ["a", [2, 3]]}),
            ("/embed_all", {"inputs": [[2, 3], "a"]}),
            ("/embed", {"inputs": ["a", ["b"]]}),
            ("/embed", {"inputs": "a", "normalize": "yes"}),
            ("/embed", {"inputs": "a", "truncate": 1}),
            ("/embed", ["a"]),
            ("/tokenize", {"inputs": 5}),
            ("/tokenize", {"inputs": [["a"]]}),
            ("/tokenize", {"inputs": "a", "add_special_tokens": "no"}),
            ("/embed", {"inputs": "a", "prompt_name": 1}),
            ("/tokenize", {"inputs": "a", "prompt_name": {"name": "query"}}),
            ("/embed", {"inputs": "a", "truncation_direction": "up"}),
            ("/embed", {"inputs": "a", "truncation_direction": 0}),
            ("/similarity", {"inputs": "a"}),
            ("/similarity", {"inputs": ["a", "b"]}),
            ("/similarity", {"inputs": {"sentences": ["a"]}}),
            ("/similarity", {"inputs": {"source_sentence": "a"}}),
            ("/similarity", {"inputs": {"source_sentence": 1, "sentences": ["a"]}}),
            ("/similarity", {"inputs": {"source_sentence": "a", "sentences": "b"}}),
            ("/similarity", {"inputs": {"source_sentence": "a", "sentences": ["b", 1]}}),
            ("/similarity", {"inputs": {"source_sentence": "a", "sentences": ["b"]},
                             "parameters": "x"}),
            ("/similarity", {"inputs": {"source_sentence": "a", "sentences": ["b"]},
                             "parameters": {"truncate": "yes"}}),
            ("/similarity", {"inputs": {"source_sentence": "a", "sentences": ["b"]},
                             "parameters": {"prompt_name": 1}}),
            ("/similarity", {"inputs": {"source_sentence": "a", "sentences": ["b"]},
                             "parameters": {"truncation_direction": "up"}}),
            ("/embeddings", {"input": 5}),
        ]
        for path, body in cases:
            with self.subTest(path=path, body=body):
                self.assertError(self.post(path, body), 400, path)

    def test_prompt_name_without_prompts_is_422(self):
        # tiny-gelu has no config_sentence_transformers.json (TEI: 422 too).
        for path in ("/embed", "/tokenize"):
            with self.subTest(path=path):
                r = self.post(path, {"inputs": "a", "prompt_name": "query"})
                self.assertError(r, 422, path, ['"query"', "none"])

    def test_missing_input(self):
        for path, body in (("/v1/embeddings", {}), ("/v1/embeddings", {"model": "tiny-gelu"}),
                           ("/v1/embeddings", {"inputs": "a"}), ("/embed", {}),
                           ("/embed", {"input": "a"}), ("/tokenize", {})):
            with self.subTest(path=path, body=body):
                self.assertError(self.post(path, body), 400, path)

    def test_empty_list_is_400_empty_string_is_not(self):
        for path, key in self.ROUTES:
            with self.subTest(path=path):
                self.assertError(self.post(path, {key: []}), 400, path)
        r = self.post("/similarity", {"inputs": {"source_sentence": "a", "sentences": []}})
        self.assertError(r, 400, "/similarity", ["sentences"])
        self.assertEqual(r.json()["error_type"], "Empty")  # as TEI
        got = self.ok_json(self.post("/similarity", {"inputs": {"source_sentence": "",
                                                                "sentences": [""]}}))
        self.assertAlmostEqual(got[0], 1.0, places=5)
        doc = self.ok_json(self.post("/v1/embeddings", {"input": ""}))
        self.assertEqual(doc["usage"]["prompt_tokens"], 2)
        self.assertClose(doc["data"][0]["embedding"], cli_vectors([""])[0])
        self.assertEqual(len(self.ok_json(self.post("/embed", {"inputs": ""}))), 1)
        self.assertEqual(len(self.ok_json(self.post("/embed", {"inputs": ["", ""]}))), 2)

    def test_invalid_utf8_in_a_string(self):
        for path, key in self.ROUTES:
            for raw in (b'"\xff"', b'["ok", "\xc3("]', b'"a\xed\xa0\x80b"', b'"\xc0\xaf"'):
                body = b'{"' + key.encode() + b'": ' + raw + b"}"
                with self.subTest(body=body):
                    self.assertError(self.post(path, body), 400, path)

    def test_token_id_out_of_the_vocabulary(self):
        for ids in ([2, VOCAB, 3], [[2, 5, 3], [2, -1, 3]], [2, 10 ** 12, 3], [[2, 99999, 3]]):
            with self.subTest(ids=ids):
                self.assertError(self.post("/v1/embeddings", {"input": ids}), 400,
                                 "/v1/embeddings")
        doc = self.ok_json(self.post("/v1/embeddings", {"input": [2, VOCAB - 1, 0, 3]}))
        self.assertEqual(doc["usage"]["prompt_tokens"], 4)

    def test_unknown_path_404(self):
        for method, path in (("GET", "/nope"), ("POST", "/nope"), ("POST", "/v1/nope"),
                             ("GET", "/v1/embeddings/x"), ("POST", "/embedding"),
                             ("GET", "/healthz"), ("POST", "/similarities")):
            with self.subTest(method=method, path=path):
                body = {"input": "a"} if method == "POST" else None
                self.assertError(self.call(method, path, body), 404, path)

    def test_wrong_method_405(self):
        for method, path in (("GET", "/v1/embeddings"), ("GET", "/embed"), ("GET", "/tokenize"),
                             ("POST", "/health"), ("POST", "/v1/models"), ("POST", "/info"),
                             ("DELETE", "/v1/embeddings"), ("PUT", "/embed"),
                             ("GET", "/similarity"), ("POST", "/ping")):
            with self.subTest(method=method, path=path):
                self.assertError(self.call(method, path), 405, path)

    def test_payload_limit_413(self):
        # Padding of JSON whitespace: only the size differs.
        for path, key in self.ROUTES:
            small = b'{"' + key.encode() + b'": "a"' + b" " * 3900 + b"}"
            big = b'{"' + key.encode() + b'": "a"' + b" " * 5000 + b"}"
            with self.subTest(path=path):
                self.assertLessEqual(len(small), 4096)
                self.ok_json(self.post(path, small))
                self.assertError(self.post(path, big), 413, path)
        big = {"input": ["word " * 1000]}
        self.assertError(self.post("/v1/embeddings", big), 413, "/v1/embeddings")

    def test_declared_oversize_body_is_refused_before_the_upload(self):
        # A client that asks first (curl does for big bodies) gets the 413
        # instead of "100 Continue": no 100 000 bytes uploaded to be dropped.
        with socket.create_connection((self.server.host, self.server.port), timeout=10) as s:
            s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: albert\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 100000\r\n"
                      b"Expect: 100-continue\r\n\r\n")
            head = b""
            try:
                while b"\r\n" not in head:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    head += chunk
            except socket.timeout:
                pass
        self.assertTrue(head.startswith(b"HTTP/1.1 413"), head)
        self.assertAlive()

    def test_similarity_counts_the_source_against_max_client_batch_size(self):
        ok = {"inputs": {"source_sentence": "a", "sentences": ["b"] * 7}}
        self.assertEqual(len(self.ok_json(self.post("/similarity", ok))), 7)
        r = self.post("/similarity", {"inputs": {"source_sentence": "a", "sentences": ["b"] * 8}})
        self.assertError(r, 413, "/similarity", ["8 sentences"])

    def test_more_inputs_than_max_client_batch_size_413(self):
        eight, nine = ["a"] * 8, ["a"] * 9
        self.assertEqual(len(self.ok_json(self.post("/v1/embeddings", {"input": eight}))["data"]),
                         8)
        self.assertError(self.post("/v1/embeddings", {"input": nine}), 413, "/v1/embeddings")
        self.assertError(self.post("/v1/embeddings", {"input": [[2, 5, 3]] * 9}), 413,
                         "/v1/embeddings")
        self.assertEqual(len(self.ok_json(self.post("/embed", {"inputs": eight}))), 8)
        self.assertError(self.post("/embed", {"inputs": nine}), 413, "/embed")
        with self.assertRaises(openai.APIStatusError) as cm:
            self.client().embeddings.create(model="tiny-gelu", input=nine)
        self.assertEqual(cm.exception.status_code, 413)

    def test_over_long_input_413(self):
        count = full_token_count(VERY_LONG)
        r = self.post("/v1/embeddings", {"input": ["a", VERY_LONG]})
        self.assertTokenMessage(self.assertError(r, 413, "/v1/embeddings"), 1, count)
        r = self.post("/embed", {"inputs": [VERY_LONG, "a", "b"]})
        self.assertTokenMessage(self.assertError(r, 413, "/embed"), 0, count)
        # Token ids longer than --max-length (64 here).
        ids = [CLS] + [5] * 70 + [SEP]
        r = self.post("/v1/embeddings", {"input": [[2, 3], ids]})
        self.assertTokenMessage(self.assertError(r, 413, "/v1/embeddings"), 1, len(ids))

    def test_one_list_of_ids_is_one_input(self):
        # 20 ids is one input, whatever --max-client-batch-size (8) says.
        ids = [CLS] + [5] * 18 + [SEP]
        doc = self.ok_json(self.post("/v1/embeddings", {"input": ids}))
        self.assertEqual((len(doc["data"]), doc["usage"]["prompt_tokens"]), (1, 20))

    def test_raw_nul_byte_is_400(self):
        # cJSON would keep the NUL and the text would end there: never a 200.
        for path, key in self.ROUTES:
            body = b'{"' + key.encode() + b'": "a\x00 quite different text"}'
            with self.subTest(path=path):
                self.assertError(self.post(path, body), 400, path)

    def test_error_bodies_are_utf8_json(self):
        r = self.call("GET", "/%ff%fe")
        self.assertEqual(r.status, 404)
        r.body.decode("utf-8")  # raises on invalid UTF-8
        self.assertIn("error", r.json())

    def test_still_correct_after_the_errors(self):
        want = cli_vectors(SAMPLE_LINES[:2])
        self.post("/v1/embeddings", b'{"input": ')
        self.post("/v1/embeddings", b'{"input": "\xff"}')
        doc = self.ok_json(self.post("/v1/embeddings", {"input": SAMPLE_LINES[:2]}))
        for i, d in enumerate(doc["data"]):
            self.assertClose(d["embedding"], want[i])


class Overload(ServerCase):
    """--max-concurrent-requests 1: concurrent requests beyond it are 429."""

    SERVER_ARGS = ["--max-concurrent-requests", "1", "--max-wait-ms", "20"]
    THREADS = 8
    PER_REQUEST = 64

    def test_429_beyond_max_concurrent_requests(self):
        longest = sorted(LOAD_LINES, key=len)[-8:]
        lines = [longest[i % len(longest)] for i in range(self.PER_REQUEST)]
        want = dict(zip(longest, cli_vectors(longest)))
        body = encode_body({"input": lines})
        statuses = []
        for round_ in range(20):
            barrier = threading.Barrier(self.THREADS)
            answers = [None] * self.THREADS

            def worker(k):
                conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=120)
                try:
                    conn.connect()
                    barrier.wait(30)
                    answers[k] = call(None, None, "POST", "/v1/embeddings", body, conn=conn)
                except Exception as e:  # noqa: BLE001 - reported below
                    answers[k] = e
                finally:
                    conn.close()

            threads = [threading.Thread(target=worker, args=(k,)) for k in range(self.THREADS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(300)
            for a in answers:
                self.assertIsInstance(a, Resp, "round %d: %r" % (round_, a))
                statuses.append(a.status)
                if a.status == 429:
                    self.assertError(a, 429, "/v1/embeddings", alive=False)
                    continue
                doc = self.ok_json(a)
                self.assertEqual(len(doc["data"]), self.PER_REQUEST)
                for i, d in enumerate(doc["data"]):
                    self.assertEqual(d["index"], i)
                    self.assertClose(d["embedding"], want[lines[i]], "round %d input %d"
                                     % (round_, i))
            if 429 in statuses and 200 in statuses:
                break
        sys.stderr.write("\noverload: %d rounds, statuses %s\n" % (
            round_ + 1, {c: statuses.count(c) for c in sorted(set(statuses))}))
        self.assertIn(429, statuses, "no 429 in %d rounds of %d concurrent requests"
                      % (round_ + 1, self.THREADS))
        self.assertIn(200, statuses)
        # The slot is given back: one at a time, every request goes through.
        for _ in range(5):
            self.ok_json(self.post("/v1/embeddings", {"input": "Hello"}))
        self.assertAlive()


    def test_one_request_at_a_time_is_never_refused(self):
        # A client that waits for each answer is never over the limit: the
        # slot must be free again once the answer has arrived.
        statuses = {}
        keep = http.client.HTTPConnection(self.server.host, self.server.port, timeout=60)
        try:
            for i in range(200):
                r = call(self.server.host, self.server.port, "POST", "/v1/embeddings",
                         {"input": "Hello"}, conn=keep if i % 2 else None)
                statuses[r.status] = statuses.get(r.status, 0) + 1
        finally:
            keep.close()
        self.assertEqual(statuses, {200: 200}, "200 requests one after the other")

    def test_a_client_leaving_mid_upload_frees_its_slot(self):
        # Its headers took the one slot; its body never comes.
        for _ in range(3):
            with socket.create_connection((self.server.host, self.server.port), timeout=10) as so:
                so.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                           b"\r\nContent-Length: 100\r\n\r\n{\"inputs\": ")
                time.sleep(0.2)
        deadline = time.time() + 10
        while True:
            r = call(self.server.host, self.server.port, "POST", "/embed", {"inputs": "Hello"})
            if r.status == 200 or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(r.status, 200, "after clients left mid-upload: %r" % (r,))


# --------------------------------------------------------------------------
# 6. curl

class Curl(ServerCase):
    def curl(self, path, body):
        curl = shutil.which("curl")
        self.assertIsNotNone(curl, "curl is not installed (apt-get install curl)")
        p = subprocess.run([curl, "-sS", "--noproxy", "*", "-X", "POST",
                            "-H", "Content-Type: application/json", "--data-binary", "@-",
                            "-w", "\n%{http_code}", self.server.url + path],
                           input=json.dumps(body).encode(), capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        out, _, code = p.stdout.decode("utf-8").rpartition("\n")
        self.assertEqual(code, "200", p.stdout)
        return json.loads(out)

    def test_curl_embed(self):
        got = self.curl("/embed", {"inputs": ["Hello", "What time is it?"]})
        want = cli_vectors(["Hello", "What time is it?"], "--normalize")
        self.assertEqual(len(got), 2)
        for i in range(2):
            self.assertClose(got[i], want[i])

    def test_curl_v1_embeddings(self):
        doc = self.curl("/v1/embeddings", {"input": "Hello", "model": "tiny-gelu"})
        self.assertEqual(doc["model"], "tiny-gelu")
        self.assertClose(doc["data"][0]["embedding"], cli_vectors(["Hello"])[0])
        self.assertEqual(doc["usage"]["prompt_tokens"], 3)


# --------------------------------------------------------------------------
# 7. Load

class Load(ServerCase):
    THREADS = 32
    REQUESTS = 25

    def test_concurrent_requests_all_correct(self):
        raw = dict(zip(LOAD_LINES, cli_vectors(LOAD_LINES)))
        normed = dict(zip(LOAD_LINES, cli_vectors(LOAD_LINES, "--normalize")))
        counts = dict(zip(LOAD_LINES, cli_token_counts(LOAD_LINES)))
        rng = random.Random(20240611)
        plans = [[("/embed" if rng.random() < 0.25 else "/v1/embeddings",
                   [rng.choice(LOAD_LINES) for _ in range(rng.randint(1, 4))])
                  for _ in range(self.REQUESTS)] for _ in range(self.THREADS)]
        results = [[None] * self.REQUESTS for _ in range(self.THREADS)]
        failures = []
        reconnects = [0] * self.THREADS
        barrier = threading.Barrier(self.THREADS + 1)

        def worker(k):
            conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=300)
            try:
                barrier.wait(60)
                for j, (path, lines) in enumerate(plans[k]):
                    body = encode_body({"input": lines} if path != "/embed"
                                       else {"inputs": lines})
                    t0 = time.perf_counter()
                    if conn.sock is None and j:
                        reconnects[k] += 1
                    resp = call(None, None, "POST", path, body, conn=conn)
                    results[k][j] = (resp, time.perf_counter() - t0)
            except Exception as e:  # noqa: BLE001 - reported below
                failures.append("thread %d: %r" % (k, e))
            finally:
                conn.close()

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(self.THREADS)]
        for t in threads:
            t.start()
        barrier.wait(60)
        start = time.perf_counter()
        for t in threads:
            t.join(600)
        wall = time.perf_counter() - start
        self.assertEqual(failures, [])

        latencies, n_inputs = [], 0
        for k in range(self.THREADS):
            for j, (path, lines) in enumerate(plans[k]):
                resp, latency = results[k][j]
                latencies.append(latency)
                n_inputs += len(lines)
                where = "thread %d request %d %s" % (k, j, path)
                self.assertEqual(resp.status, 200, "%s: %r" % (where, resp))
                doc = resp.json()
                if path == "/embed":
                    self.assertEqual(len(doc), len(lines), where)
                    for i, vec in enumerate(doc):
                        self.assertClose(vec, normed[lines[i]], "%s input %d" % (where, i))
                else:
                    self.assertEqual([d["index"] for d in doc["data"]], list(range(len(lines))))
                    for i, d in enumerate(doc["data"]):
                        self.assertClose(d["embedding"], raw[lines[i]], "%s input %d"
                                         % (where, i))
                    self.assertEqual(doc["usage"]["prompt_tokens"],
                                     sum(counts[x] for x in lines), where)

        all_lines = [x for plan in plans for _, lines in plan for x in lines]
        fd, path = tempfile.mkstemp(prefix="albert-server-load-", suffix=".txt")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(("\n".join(all_lines) + "\n").encode("utf-8"))
            t0 = time.perf_counter()
            p = subprocess.run([BINARY, "--model", TINY, "--device", "cpu", "--quiet", path],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=environment(), timeout=600)
            cli_wall = time.perf_counter() - t0
        finally:
            os.unlink(path)
        self.assertEqual(p.returncode, 0, p.stderr)

        latencies.sort()
        n = len(latencies)
        pct = lambda q: latencies[min(n - 1, int(round(q * (n - 1))))] * 1000  # noqa: E731
        sys.stderr.write(
            "\nload: %d threads x %d requests, %d inputs in %.2f s: %.1f requests/s, "
            "%.1f inputs/s, latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; reconnects %d\n"
            "load: the CLI on the same %d lines (one run, start-up included): %.2f s, "
            "%.1f lines/s\n"
            % (self.THREADS, self.REQUESTS, n_inputs, wall, n / wall, n_inputs / wall,
               pct(0.5), pct(0.99), latencies[-1] * 1000, sum(reconnects),
               len(all_lines), cli_wall, len(all_lines) / cli_wall))


class ApiKey(unittest.TestCase):
    """--api-key (here from $ALBERT_CL_API_KEY): every request but GET /health
    needs "Authorization: Bearer KEY"; without it, or with another key, 401
    with WWW-Authenticate, in the error shape of the endpoint's API.  The
    official OpenAI client sends its api_key so."""

    KEY = "s3cret-key"

    def openai_client(self, url, key):
        c = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=120,
                          http_client=openai.DefaultHttpxClient(trust_env=False))
        self.addCleanup(c.close)
        return c

    def test_api_key(self):
        server = Server([], env={"ALBERT_CL_API_KEY": self.KEY})
        try:
            host, port = server.host, server.port
            wrong = [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic " + self.KEY},
                     {"Authorization": "Bearer " + self.KEY[:-1]},
                     {"Authorization": "Bearer " + self.KEY + "x"}]
            for headers in wrong:
                for method, path, body in (("POST", "/embed", {"inputs": "x"}),
                                           ("POST", "/v1/embeddings", {"input": "x"}),
                                           ("POST", "/embeddings", {"input": "x"}),
                                           ("POST", "/similarity", {"inputs": {
                                               "source_sentence": "x", "sentences": ["y"]}}),
                                           ("POST", "/tokenize", {"inputs": "x"}),
                                           ("GET", "/info", None), ("GET", "/metrics", None)):
                    with self.subTest(headers=headers, path=path):
                        r = call(host, port, method, path, body, headers)
                        self.assertEqual(r.status, 401, r)
                        self.assertEqual(r.headers.get("www-authenticate"), "Bearer")
                        err = r.json()["error"]
                        if path.startswith("/v1/") or path == "/embeddings":
                            self.assertEqual(err["code"], 401)
                        else:
                            self.assertEqual(r.json()["error_type"], "Unauthorized")
            self.assertEqual(call(host, port, "GET", "/health").status, 200)
            self.assertEqual(call(host, port, "GET", "/ping").status, 200)
            for auth in ("Bearer " + self.KEY, "bearer  " + self.KEY):
                r = call(host, port, "POST", "/embed", {"inputs": ["a", "b"]},
                         {"Authorization": auth})
                self.assertEqual((r.status, len(r.json())), (200, 2), r)
            got = self.openai_client(server.url, self.KEY).embeddings.create(input=["a", "b"],
                                                                              model="x")
            self.assertEqual(len(got.data), 2)
            with self.assertRaises(openai.AuthenticationError):
                self.openai_client(server.url, "nope").embeddings.create(input="a", model="x")
        finally:
            rc, running = server.stop()
            server.check_stopped(rc, running)


class StalledUpload(unittest.TestCase):
    """A client that sends its headers and part of its body, then nothing,
    holds no request slot (--max-concurrent-requests 1: others still get
    their answers) and keeps no SIGTERM waiting for it."""

    def test_stalled_upload_holds_no_slot(self):
        server = Server(["--max-concurrent-requests", "1"])
        stalled = socket.create_connection((server.host, server.port), timeout=30)
        try:
            stalled.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                            b"\r\nContent-Length: 100\r\n\r\n{\"inp")
            time.sleep(0.3)  # its headers are in
            for _ in range(3):
                r = call(server.host, server.port, "POST", "/embed", encode_body({"inputs": "x"}))
                self.assertEqual(r.status, 200, r)
            t0 = time.monotonic()
            rc, running = server.stop(timeout=30)
            server.check_stopped(rc, running)
            self.assertLess(time.monotonic() - t0, 10, "SIGTERM waited for the stalled upload")
        finally:
            stalled.close()
            if server.proc.poll() is None:
                server.stop()


# --------------------------------------------------------------------------
# 8. SIGTERM drains the requests in flight

class Drain(unittest.TestCase):
    THREADS = 4

    def test_sigterm_finishes_the_requests_in_flight(self):
        lines = SAMPLE_LINES  # albert-base-v2-random: a request takes a while
        want = cli_vectors(lines, model=BASE)
        server = Server(["--max-wait-ms", "20"], model=BASE)
        try:
            host, port = server.host, server.port
            probe = http.client.HTTPConnection(host, port, timeout=60)

            def in_flight():
                r = call(None, None, "GET", "/metrics", conn=probe)
                self.assertEqual(r.status, 200, r)
                samples, _ = parse_metrics(r.body.decode("utf-8"))
                return samples[("albert_requests_in_flight", ())]

            idle = in_flight()  # 0, or 1 when /metrics counts itself
            self.assertIn(idle, (0, 1))
            conns = [http.client.HTTPConnection(host, port, timeout=300)
                     for _ in range(self.THREADS)]
            for c in conns:  # accepted, kept alive
                self.assertEqual(call(None, None, "GET", "/health", conn=c).status, 200)
            sent = [threading.Event() for _ in range(self.THREADS)]
            answers = [None] * self.THREADS
            body = encode_body({"input": lines})

            def worker(k):
                try:
                    conns[k].request("POST", "/v1/embeddings", body=body,
                                     headers={"Content-Type": "application/json"})
                    sent[k].set()
                    r = conns[k].getresponse()
                    answers[k] = Resp(r.status, dict(r.getheaders()), r.read())
                except Exception as e:  # noqa: BLE001 - reported below
                    answers[k] = e
                    sent[k].set()

            threads = [threading.Thread(target=worker, args=(k,)) for k in range(self.THREADS)]
            for t in threads:
                t.start()
            for e in sent:
                self.assertTrue(e.wait(60))
            deadline = time.monotonic() + 60
            while in_flight() < idle + self.THREADS:
                self.assertLess(time.monotonic(), deadline, "the requests never were in flight")
                time.sleep(0.005)
            finished_before = sum(a is not None for a in answers)
            server.send(signal.SIGTERM)
            # /health on a connection kept alive from before: 503 once stopping
            # (or the connection closed), never 200 again after that.
            health = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    r = call(None, None, "GET", "/health", conn=probe)
                except (ConnectionError, http.client.HTTPException, OSError) as e:
                    health.append(type(e).__name__)
                    break
                health.append(r.status)
                if r.status != 200:
                    self.assertEqual(r.status, 503, r)
                    self.assertIn("error", r.json())
                    break
                time.sleep(0.01)
            self.assertNotEqual(health[-1], 200, "still healthy 60 s after SIGTERM")
            # Sent after SIGTERM: refused, reset, 503, or a correct 200.
            late = []
            for _ in range(3):
                try:
                    late.append(call(host, port, "POST", "/v1/embeddings", {"input": lines[:2]},
                                     timeout=60))
                except (ConnectionError, http.client.HTTPException, OSError) as e:
                    late.append(e)
            for t in threads:
                t.join(300)
            rc, running = server.stop(timeout=120)
        finally:
            if server.proc.poll() is None:
                server.proc.kill()
        probe.close()
        for c in conns:
            c.close()
        for k, a in enumerate(answers):
            self.assertIsInstance(a, Resp, "request %d, in flight at SIGTERM, lost: %r; "
                                  "server stderr: %s" % (k, a, server.stderr()))
            self.assertEqual(a.status, 200, "request %d: %r" % (k, a))
            doc = a.json()
            self.assertEqual(len(doc["data"]), len(lines))
            for i, d in enumerate(doc["data"]):
                self.assertClose(d["embedding"], want[i], "request %d input %d" % (k, i))
        for a in late:
            if isinstance(a, Resp):
                self.assertIn(a.status, (200, 503), a)
                if a.status == 200:
                    for i, d in enumerate(a.json()["data"]):
                        self.assertClose(d["embedding"], want[i])
                else:
                    self.assertIn("error", a.json())
        server.check_stopped(rc, running)
        sys.stderr.write("\ndrain: %d of %d requests answered before SIGTERM; /health after "
                         "it: %s; requests sent after it: %s\n"
                         % (finished_before, self.THREADS, health[-3:],
                            [a.status if isinstance(a, Resp) else type(a).__name__
                             for a in late]))

    assertClose = ServerCase.assertClose


# --------------------------------------------------------------------------
# 9. Usage errors

class UsageErrors(TempDirCase):
    prefix = "albert-server-test-"

    def serve_fails(self, args, code, mention=(), timeout=30):
        """`albert-cl ARGS` exits with CODE (never starts listening), a message
        on stderr naming MENTION."""
        try:
            p = subprocess.run([BINARY] + args, stdin=subprocess.DEVNULL, capture_output=True,
                               env=environment(), timeout=timeout)
        except subprocess.TimeoutExpired as e:
            self.fail("albert-cl %s still running after %d s (listening?): %r"
                      % (" ".join(args), timeout, e.stderr))
        err = COMPILER_NOISE.sub("", p.stderr.decode("utf-8", "replace"))
        self.assertEqual(p.returncode, code, "albert-cl %s: status %d, %r"
                         % (" ".join(args), p.returncode, err))
        self.assertTrue(err.startswith("albert-cl"), err)
        self.assertNotRegex(err, LISTENING)
        for word in mention:
            self.assertIn(word, err)
        return err

    def test_serve_usage_errors_exit_2(self):
        sample = SAMPLE
        for extra, word in ((["--pooling", "none"], "none"), (["--resume"], "--resume"),
                            (["--port", "80000"], "80000"), (["--port", "-1"], "-1"),
                            (["--port", "x"], None),
                            (["-o", os.path.join(self.tmp, "out.jsonl")], None),
                            (["--format", "npy"], "--format"), ([sample], None),
                            (["--payload-limit", "x"], None), (["--bogus"], "--bogus"),
                            (["--api-key", ""], "--api-key"), (["--api-key", "a b"], "--api-key")):
            with self.subTest(extra=extra):
                self.serve_fails(["serve", "--model", TINY, "--device", "cpu", "--port", "0"]
                                 + extra, 2, [word] if word else [])

    def test_serve_options_without_serve_exit_2(self):
        for extra in (["--port", "0"], ["--host", "127.0.0.1"], ["--auto-truncate"],
                      ["--max-concurrent-requests", "4"], ["--served-model-name", "x"],
                      ["--api-key", "k"]):
            with self.subTest(extra=extra):
                self.serve_fails(["--model", TINY, "--device", "cpu"] + extra + [SAMPLE], 2,
                                 [extra[0]])

    def test_serve_prompt_errors(self):
        base = ["serve", "--model", TINY, "--device", "cpu", "--port", "0"]
        self.serve_fails(base + ["--prompt", "a", "--prompt-name", "query"], 2,
                         ["--prompt", "--prompt-name"])
        self.serve_fails(base + ["--prompt-name", "query"], 2, ["--prompt-name", "no prompts"])
        # Bytes that are not UTF-8 would fail every text request: refused at the start.
        self.serve_fails(base + ["--prompt", os.fsdecode(b"caf\xe9: ")], 2, ["--prompt", "UTF-8"])

    def test_missing_model_folder_exit_1(self):
        missing = os.path.join(self.tmp, "no-such-model")
        self.serve_fails(["serve", "--model", missing, "--device", "cpu", "--port", "0"], 1,
                         [missing])

    def test_unknown_host_exit_1(self):
        self.serve_fails(["serve", "--model", TINY, "--device", "cpu", "--port", "0",
                          "--host", "nosuchhost.invalid"], 1, ["nosuchhost.invalid"],
                         timeout=15)

    def test_port_already_taken_exit_1(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            err = self.serve_fails(["serve", "--model", TINY, "--device", "cpu",
                                    "--host", "127.0.0.1", "--port", str(port)], 1)
        self.assertTrue(str(port) in err or "in use" in err.lower(),
                        "the message names neither the port nor 'in use': %r" % err)


def main():
    global BINARY, SHARED, TINY, BASE, TOKDIR
    BINARY, SHARED = program_args("test_server.py")
    TINY = os.path.join(SHARED, "models", "tiny-gelu")
    BASE = os.path.join(SHARED, "models", "albert-base-v2-random")
    TOKDIR = os.path.join(SHARED, "models", "albert-base-v2")
    print("openai %s, numpy %s, %s" % (openai.__version__, np.__version__, sys.executable))
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)


if __name__ == "__main__":
    main()
