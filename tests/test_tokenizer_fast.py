#!/usr/bin/env python3
"""albert-cl --tokenize --tokenizer fast against HF tokenizers itself, id for
id: the golden files, seeded synthetic lines of every script and oddity,
gettext catalogs' real text when the system has some, sentence pairs, small
--max-length values (truncation, HF's longest-first budget split), variants
of tokenizer.json, and the files albert-cl must refuse.

usage: test_tokenizer_fast.py ALBERT_CL_BINARY [SHARED_DIR [REF_PYTHON]] [unittest args]
The shared data folder is $ALBERT_CL_SHARED, else SHARED_DIR.  REF_PYTHON
(default: the venv that `tools/install-deps.sh --with-reference-tokenizers`
makes) has tokenizers at the version that made the golden files; this script
runs itself again under it.
"""
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import unittest

from cli_helpers import TempDirCase
import tokenizer_corpus

TOKENIZERS_VERSION = "0.22.2"
INSTALL_HINT = "run tools/install-deps.sh --with-reference-tokenizers"
REEXEC_MARK = "ALBERT_TEST_REF_PYTHON"
MAX_LENGTHS = [512, 5, 8, 16]
VARIANT_LENGTHS = [512, 8]
SYNTHETIC_LINES, SYNTHETIC_SEED = 5000, 20260513
LOCALE_LINES, LOCALE_SEED = 5000, 7
PAIRS, PAIR_SEED = 1000, 11
VARIANT_LINES = 300
SHOWN_MISMATCHES = 10

BINARY = None
SHARED = None
tokenizers = None  # the module, imported under REF_PYTHON


def default_ref_python():
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    venv = os.environ.get("ALBERT_CL_REF_VENV") or os.path.join(cache, "albert-cl-ref-venv")
    return os.path.join(venv, "bin", "python")


def use_reference_python(ref_python):
    """Runs this script again under REF_PYTHON unless it is that run; there,
    imports tokenizers.  Exits loudly (never skips) when either is missing."""
    global tokenizers
    if os.environ.get(REEXEC_MARK) != ref_python:
        if not os.access(ref_python, os.X_OK):
            sys.exit("FATAL: no reference Python %s; %s" % (ref_python, INSTALL_HINT))
        os.environ[REEXEC_MARK] = ref_python
        os.execv(ref_python, [ref_python, os.path.abspath(__file__)] + sys.argv[1:])
    try:
        import tokenizers as module
    except ImportError as e:
        sys.exit("FATAL: %s cannot import tokenizers (%s); %s" % (ref_python, e, INSTALL_HINT))
    if module.__version__ != TOKENIZERS_VERSION:
        sys.exit("FATAL: %s has tokenizers %s, not %s; %s"
                 % (ref_python, module.__version__, TOKENIZERS_VERSION, INSTALL_HINT))
    tokenizers = module


def run_cli(args, stdin=b""):
    """albert-cl with ARGS: (status, stdout bytes, stderr text)."""
    env = dict(os.environ)
    env.pop("ALBERT_CL_MODEL", None)
    p = subprocess.run([BINARY] + args, input=stdin, capture_output=True, env=env, timeout=120)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def base_dir():
    return os.path.join(SHARED, "models", "albert-base-v2")


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def golden(name):
    with open(os.path.join(SHARED, "golden", name), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def jsonl_input(cases):
    """One jsonl record per case; every other one with \\u escapes, so that
    both the raw UTF-8 and the escape paths of albert-cl's reader are used."""
    out = []
    for i, (text, pair) in enumerate(cases):
        record = {"text": text} if pair is None else {"text": text, "text_pair": pair}
        out.append(json.dumps(record, ensure_ascii=i % 2 == 1) + "\n")
    return "".join(out).encode("utf-8")


def hf_inputs(cases):
    return [text if pair is None else (text, pair) for text, pair in cases]


class Reference:
    """HF tokenizers on one tokenizer.json: truncated and full encodings."""

    def __init__(self, path):
        self.full = tokenizers.Tokenizer.from_file(path)
        self.cut = tokenizers.Tokenizer.from_file(path)

    def lengths(self, cases):
        """Untruncated lengths of CASES [(text, pair or None)]."""
        return [len(e.ids) for e in self.full.encode_batch(hf_inputs(cases))]

    def encode(self, cases, max_length, lengths, side="right"):
        """[(ids, type_ids, untruncated length)] of CASES, LENGTHS their
        untruncated lengths, cut at SIDE."""
        self.cut.enable_truncation(max_length=max_length, strategy="longest_first",
                                   direction=side)
        cut = self.cut.encode_batch(hf_inputs(cases))
        return [(c.ids, c.type_ids, n) for c, n in zip(cut, lengths)]

    def tokens(self, ids):
        return [self.full.id_to_token(i) for i in ids]


class Mismatches:
    """Collects what differs, shows the first few, and counts all."""

    def __init__(self, reference):
        self.reference = reference
        self.shown, self.count = [], 0

    def add(self, case, max_length, want, got):
        self.count += 1
        if len(self.shown) < SHOWN_MISMATCHES:
            ids, types, full = want
            self.shown.append(
                "text %r pair %r max_length %d\n  expected ids %s (untruncated length %d)\n"
                "  expected tokens %s\n  expected types %s\n  got %s"
                % (case[0], case[1], max_length, ids, full, self.reference.tokens(ids), types, got))

    def report(self):
        return "%d mismatches; the first %d:\n%s" % (self.count, len(self.shown),
                                                      "\n".join(self.shown))


TRUNCATED = re.compile(r"albert-cl: warning: .*:(\d+): (\d+) tokens truncated to (\d+)$")


def truncation_warnings(err):
    """{line: (full, kept)} of the truncation warnings; other lines are returned apart."""
    warned, other = {}, []
    for line in err.splitlines():
        m = TRUNCATED.match(line)
        if m:
            warned[int(m.group(1))] = (int(m.group(2)), int(m.group(3)))
        else:
            other.append(line)
    return warned, other


_corpora = {}


def vocab_words():
    spec = load_json(os.path.join(base_dir(), "tokenizer.json"))
    return sorted({piece.lstrip("\u2581") for piece, _ in spec["model"]["vocab"]} - {""})


def corpora():
    """(synthetic lines, gettext catalog lines), made once."""
    if not _corpora:
        words = vocab_words()
        _corpora["synthetic"] = tokenizer_corpus.synthetic_lines(words, SYNTHETIC_LINES,
                                                                 SYNTHETIC_SEED)
        _corpora["locale"] = tokenizer_corpus.locale_lines(LOCALE_LINES, LOCALE_SEED)
        print("\ncorpora: %d synthetic lines, %d gettext catalog lines"
              % (len(_corpora["synthetic"]), len(_corpora["locale"])), file=sys.stderr)
    return _corpora["synthetic"], _corpora["locale"]


def pairs_of(lines, count):
    """COUNT seeded pairs of LINES, a few with an empty second text."""
    rng = random.Random(PAIR_SEED)
    return [(rng.choice(lines), rng.choice(lines) if rng.random() < 0.95 else "")
            for _ in range(count if lines else 0)]


def singles_and_pairs(lines, pair_count):
    return [(t, None) for t in lines] + pairs_of(lines, pair_count)


class Differential(TempDirCase):
    """albert-cl and HF tokenizers on the same tokenizer.json and texts."""

    prefix = "albert-fast-tok-"

    def model_dir(self, spec=None, name="model"):
        """A model folder: config.json, and tokenizer.json as SPEC (a dict) or
        albert-base-v2's own."""
        folder = os.path.join(self.tmp, name)
        os.mkdir(folder)
        os.symlink(os.path.join(base_dir(), "config.json"), os.path.join(folder, "config.json"))
        path = os.path.join(folder, "tokenizer.json")
        if spec is None:
            os.symlink(os.path.join(base_dir(), "tokenizer.json"), path)
        else:
            with open(path, "w", encoding="utf-8") as f:
                json.dump(spec, f, ensure_ascii=False)
        return folder

    def cli(self, folder, max_length, data, side="right"):
        path = self.write("input.jsonl", data)
        return run_cli(["--model", folder, "--tokenize", "--tokenizer", "fast", "--input-format",
                        "jsonl", "--max-length", str(max_length), "--truncation-side", side,
                        path])

    def compare_run(self, folder, reference, cases, lengths, max_length, mismatches,
                    side="right"):
        """One albert-cl run over CASES (of untruncated LENGTHS), cut at SIDE;
        what differs (ids, types, truncation warnings) goes to MISMATCHES."""
        rc, out, err = self.cli(folder, max_length, jsonl_input(cases), side)
        warned, other = truncation_warnings(err)
        self.assertEqual((rc, other), (0, []), "albert-cl --max-length %d: status %d, stderr %s"
                         % (max_length, rc, "\n".join(other)[:2000]))
        got = [json.loads(line) for line in out.decode("utf-8").splitlines()]
        self.assertEqual(len(got), len(cases), "one record per input line")
        wanted = reference.encode(cases, max_length, lengths, side)
        for i, (case, want, rec) in enumerate(zip(cases, wanted, got)):
            ids, types, full = want
            expected = {"index": i, "input_ids": ids}
            if case[1] is not None:
                expected["token_type_ids"] = types
            warning = (full, len(ids)) if full > len(ids) else None
            if rec != expected or warned.get(i + 1) != warning:
                mismatches.add(case, max_length, want,
                               "%s, truncation warning %s" % (rec, warned.get(i + 1)))

    def compare(self, folder, reference, cases, max_lengths, side="right"):
        """albert-cl's ids against REFERENCE's on CASES at each of MAX_LENGTHS,
        cut at SIDE."""
        mismatches = Mismatches(reference)
        full = reference.lengths(cases)
        for max_length in max_lengths:
            self.compare_run(folder, reference, cases, full, max_length, mismatches, side)
        self.assertEqual(mismatches.count, 0, mismatches.report())


def base_reference():
    return Reference(os.path.join(base_dir(), "tokenizer.json"))


def golden_cases():
    singles, pairs = golden("tokenize-fast.jsonl"), golden("pairs-fast.jsonl")
    cases = [(g["text"], None) for g in singles] + [(g["text"], g["text_pair"]) for g in pairs]
    return cases, singles + pairs


class Corpora(Differential):
    def test_reference_reproduces_the_golden_files(self):
        # The venv's tokenizers is the one that made the golden files.
        cases, records = golden_cases()
        encodings = base_reference().full.encode_batch(hf_inputs(cases))
        for case, g, e in zip(cases, records, encodings):
            self.assertEqual(e.ids, g["ids"], case)
            if case[1] is not None:
                self.assertEqual(e.type_ids, g["token_type_ids"], case)

    def test_golden_files(self):
        cases, records = golden_cases()
        self.assertTrue(any(len(g["ids"]) > 512 for g in records), "a golden line is truncated")
        self.compare(self.model_dir(), base_reference(), cases, MAX_LENGTHS)

    def test_left_truncation(self):
        # --truncation-side left: HF's direction="left", the same budgets.
        cases, _ = golden_cases()
        synthetic, _ = corpora()
        self.compare(self.model_dir(), base_reference(),
                     cases + singles_and_pairs(synthetic[:1000], PAIRS), MAX_LENGTHS, "left")

    def test_synthetic_lines_and_pairs(self):
        synthetic, _ = corpora()
        self.compare(self.model_dir(), base_reference(), singles_and_pairs(synthetic, PAIRS),
                     MAX_LENGTHS)

    def test_gettext_catalog_lines(self):
        # Real text in many languages where the system has catalogs; none is
        # no failure (the synthetic lines cover every script).
        _, locale = corpora()
        self.compare(self.model_dir(), base_reference(), singles_and_pairs(locale, PAIRS),
                     MAX_LENGTHS)


def added_token(spec, content):
    return next(t for t in spec["added_tokens"] if t["content"] == content)


def set_pre_tokenizer(key, value):
    def change(spec):
        spec["pre_tokenizer"][key] = value
    return change


def replace_normalizer(old, new):
    def change(spec):
        steps = spec["normalizer"]["normalizers"]
        i = next(i for i, s in enumerate(steps) if s["type"] == old)
        steps[i:i + 1] = [new] if new else []
    return change


def set_token_flags(contents, **flags):
    def change(spec):
        for content in contents:
            added_token(spec, content).update(flags)
    return change


def add_normalized_token(spec):
    spec["added_tokens"].append({"id": 30000, "content": "hello world", "single_word": False,
                                 "lstrip": False, "rstrip": False, "normalized": True,
                                 "special": False})


def add_tokens(*tokens):
    """New added tokens (content, flags), ids after the vocabulary's."""
    def change(spec):
        for i, (content, flags) in enumerate(tokens):
            token = {"id": 30000 + i, "content": content, "single_word": False, "lstrip": False,
                     "rstrip": False, "normalized": False, "special": False}
            token.update(flags)
            spec["added_tokens"].append(token)
    return change


def byte_fallback(spec):
    spec["model"]["byte_fallback"] = True
    spec["model"]["vocab"] += [["<0x%02X>" % b, -20.0] for b in range(256)]


def no_unk_id(spec):
    spec["model"]["unk_id"] = None


def keep_space_runs(spec):
    steps = spec["normalizer"]["normalizers"]
    steps[:] = [s for s in steps if s.get("pattern") != {"Regex": " {2,}"}]


def double_sep_pair(spec):
    """[CLS] A [SEP] [SEP] B [SEP], as RoBERTa's template has it."""
    pair = spec["post_processor"]["pair"]
    pair.insert(3, {"SpecialToken": {"id": "[SEP]", "type_id": 0}})


# Lines that put each variant's change to work, beside the common ones.
TOKEN_LINES = ["a [MASK] b", "a  [MASK]  b", "[MASK]", "a[MASK]b", "x - y", "x-y", "-x", "x-",
               " - ", "a  -  b", "(x)", "( x )", "a(b)c", "[MASK]-[MASK]", "- [MASK] -"]
HELLO_LINES = ["hello world", "Hello World", "HELLO  WORLD!", "sayhello worldwide",
               "h\u00e9llo world", "hello\u00a0world", "xhello worldx", "hello world hello world",
               "\uff48\uff45\uff4c\uff4c\uff4f world", "hello  world"]
EXTRA_LINES = ["<x3> <x30><x300>", "a<x12>b <x1> <x12", "<x299><x29>9", "<<x7>>", "<x> <x5"]
STRIP_LINES = ["<a> <b>", "<a>  <b>x", "x<a> <b>", "<a><b> <a>", " <b> <a>  <b>"]
BYTE_LINES = ["\U0001F600 \u4e00\u9fa5", "<0x41> <0xE2>", "\u0e01\u0e02\u0e03", "a\u2603b",
              "\U00010348\U0001F9D1\U0001F3FF"]

# (name, change of the parsed tokenizer.json, lines of its own or a function
# that makes them)
VARIANTS = [
    ("prepend_scheme first", set_pre_tokenizer("prepend_scheme", "first"), TOKEN_LINES),
    ("prepend_scheme never", set_pre_tokenizer("prepend_scheme", "never"), TOKEN_LINES),
    ("split false", set_pre_tokenizer("split", False), TOKEN_LINES),
    ("NFC not NFKD", replace_normalizer("NFKD", {"type": "NFC"}), []),
    ("NFKC not NFKD", replace_normalizer("NFKD", {"type": "NFKC"}), []),
    ("NFD not NFKD", replace_normalizer("NFKD", {"type": "NFD"}), []),
    ("no Precompiled", replace_normalizer("Precompiled", None), []),
    ("no StripAccents", replace_normalizer("StripAccents", None), []),
    ("space runs kept", keep_space_runs, []),
    ("[SEP] [SEP] between pairs", double_sep_pair, []),
    ("no Lowercase", replace_normalizer("Lowercase", None), HELLO_LINES),
    ("lstrip+rstrip tokens", set_token_flags(["[MASK]", "-"], lstrip=True, rstrip=True),
     TOKEN_LINES),
    ("single_word tokens", set_token_flags(["-", "(", "[MASK]"], single_word=True), TOKEN_LINES),
    ("normalized added token", add_normalized_token, HELLO_LINES),
    # HF matches a normalized token by its normalized content.
    ("normalized cased token", add_tokens(("Hello World", {"normalized": True}),
                                          ("Caf\u00e9", {"normalized": True})),
     HELLO_LINES + ["cafe CAF\u00c9 caf\u00e9s"]),
    # The search goes on after a match itself, not after the blanks its rstrip
    # took: " <b>" still matches inside them.
    ("rstrip then a spaced token", add_tokens(("<a>", {"rstrip": True}), (" <b>", {})),
     STRIP_LINES),
    ("300 added tokens", add_tokens(*[("<x%d>" % i, {}) for i in range(300)]), EXTRA_LINES),
    ("byte_fallback", byte_fallback, BYTE_LINES),
    # Only on text without unknown characters: HF refuses the others.
    ("unk_id removed", no_unk_id,
     lambda: tokenizer_corpus.plain_lines(vocab_words(), VARIANT_LINES, SYNTHETIC_SEED)),
]


def encodes(reference, case):
    """Whether HF encodes CASE at all: without an unk_id it refuses text with
    a character outside the vocabulary."""
    try:
        reference.full.encode(*[x for x in case if x is not None])
        return True
    except Exception:  # tokenizers raises plain Exception
        return False


class Variants(Differential):
    """tokenizer.json files that differ from albert-base-v2's in one way each."""

    def check_variant(self, name, change, own_lines):
        """False when HF tokenizers itself refuses the variant."""
        spec = load_json(os.path.join(base_dir(), "tokenizer.json"))
        change(spec)
        folder = self.model_dir(spec, name.replace(" ", "-"))
        try:
            reference = Reference(os.path.join(folder, "tokenizer.json"))
        except Exception as e:  # tokenizers raises plain Exception
            print("variant %r dropped: HF tokenizers cannot load it: %s" % (name, e),
                  file=sys.stderr)
            return False
        synthetic, _ = corpora()
        own_lines = own_lines() if callable(own_lines) else own_lines
        cases = singles_and_pairs(own_lines + synthetic[:VARIANT_LINES], VARIANT_LINES // 5)
        cases = [c for c in cases if encodes(reference, c)]
        self.assertGreater(len(cases), VARIANT_LINES // 2, name)
        with self.subTest(variant=name):
            self.compare(folder, reference, cases, VARIANT_LENGTHS)
        return True

    def test_variants(self):
        checked = [name for name, change, lines in VARIANTS
                   if self.check_variant(name, change, lines)]
        self.assertGreater(len(checked), len(VARIANTS) // 2, "most variants load in HF tokenizers")


class Refused(TempDirCase):
    """Files albert-cl cannot follow: status 1 and one line naming the file
    and the JSON path, no output."""

    prefix = "albert-fast-refused-"

    def refused(self, spec, *words):
        folder = tempfile.mkdtemp(prefix="model-", dir=self.tmp)
        path = os.path.join(folder, "tokenizer.json")
        if spec is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(spec if isinstance(spec, str) else json.dumps(spec))
        rc, out, err = run_cli(["--model", folder, "--tokenize", "--tokenizer", "fast"], b"hello\n")
        self.assertEqual((rc, out), (1, b""), err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith("albert-cl: "), err)
        for word in (path,) + words:
            self.assertIn(word, err)

    def base_spec(self):
        return load_json(os.path.join(base_dir(), "tokenizer.json"))

    def test_unsupported_normalizer(self):
        bert = {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                "strip_accents": None, "lowercase": True}
        spec = self.base_spec()
        spec["normalizer"] = bert
        self.refused(spec, "normalizer")
        spec = self.base_spec()
        spec["normalizer"]["normalizers"][2] = bert
        self.refused(spec, "normalizer.normalizers[2]")

    def test_unsupported_model_and_pre_tokenizer(self):
        spec = self.base_spec()
        spec["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False,
                                 "trim_offsets": True, "use_regex": True}
        self.refused(spec, "pre_tokenizer")
        spec = self.base_spec()
        spec["model"] = {"type": "BPE", "vocab": {"a": 0}, "merges": []}
        self.refused(spec, "model")

    def test_missing_and_broken_file(self):
        self.refused(None)
        self.refused('{"version": "1.0", "model": ')


def main():
    global BINARY, SHARED
    if len(sys.argv) < 2:
        sys.exit(__doc__.split("\n\n")[1])
    ref_python = sys.argv[3] if len(sys.argv) > 3 else default_ref_python()
    use_reference_python(ref_python)
    BINARY = os.path.abspath(sys.argv[1])
    SHARED = os.environ.get("ALBERT_CL_SHARED") or (sys.argv[2] if len(sys.argv) > 2 else "")
    if not os.path.isfile(os.path.join(SHARED, "models", "albert-base-v2", "tokenizer.json")):
        sys.exit("FATAL: shared data folder %r not found; set ALBERT_CL_SHARED to the folder "
                 "holding models/ and golden/" % SHARED)
    if not os.access(BINARY, os.X_OK):
        sys.exit("FATAL: %s is not an executable" % BINARY)
    unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2)


if __name__ == "__main__":
    main()
