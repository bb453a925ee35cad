"""Texts for the differential tests of a tokenizer: seeded synthetic lines
that mix every kind of text a normalizer, a pre-tokenizer and a Unigram
model treat apart, and real multilingual lines from the system's gettext
catalogs when it has any.  Python 3 standard library only; every list comes
out the same for the same seed."""
import glob
import os
import random
import string
import struct
import unicodedata

# Whitespace as the user types it and as Unicode has it; the last ones are
# not whitespace to Python but are to some normalizers, or to none.
WHITESPACE = [" ", "  ", "   ", "\t", " \t ", "\u00a0", "\u3000", "\u2009", "\u2002", "\u202f",
              "\n", "\r\n", "\u2028", "\x0b", "\x0c", "\x85", "\u200b", "\u180e"]

# The added tokens of albert-base-v2's tokenizer.json, and near misses.
ADDED = ["[CLS]", "[SEP]", "[MASK]", " [MASK]", "  [MASK]", "[MASK] ", "<unk>", "<pad>", "(", ")",
         "-", ".", "\u2013", "\u00a3", "\u20ac", '"', "[mask]", "[CLS][SEP]", "x[MASK]y", "[SEP",
         "<unk", "<<unk>>", "((", "--", "..."]

NUMBERS = ["3,141,592", "2.71828", "1,000.50", "-42", "+7", "10%", "$5", "1e10", "0.5", "12:30",
           "2024-01-01", "1/2", "007", "1,2,3", "3.14.15", "99.9%", "#1", "No.5"]

QUOTES = ["``", "''", '"', "`", "'", "```", "''''", "``quoted''", "''odd``", "' '", "` `"]

ACCENTED = ("\u00e0\u00e1\u00e2\u00e3\u00e4\u00e5\u00e6\u00e7\u00e8\u00e9\u00ea\u00eb\u00ec\u00ed"
            "\u00ee\u00ef\u00f0\u00f1\u00f2\u00f3\u00f4\u00f5\u00f6\u00f8\u00f9\u00fa\u00fb\u00fc"
            "\u00fd\u00fe\u00ff\u0100\u0101\u0102\u0103\u0104\u0105\u0106\u0107\u010c\u010d\u010e"
            "\u010f\u0112\u0113\u0118\u0119\u011a\u011b\u011e\u011f\u012a\u012b\u0130\u0131\u0141"
            "\u0142\u0143\u0144\u0147\u0148\u014c\u014d\u0150\u0151\u0152\u0153\u0158\u0159\u015a"
            "\u015b\u015e\u015f\u0160\u0161\u0162\u0163\u0164\u0165\u016a\u016b\u016e\u016f\u0170"
            "\u0171\u0178\u0179\u017a\u017b\u017c\u017d\u017e\u00df\u1e9e\u01c5\u00c0\u00c9\u00d6")

# Compatibility characters: what NFKD rewrites (ligatures, superscripts,
# fractions, circled and squared forms, letterlike symbols).
COMPAT = ("\ufb01\ufb02\ufb00\ufb03\ufb04\ufb05\ufb06\u00b2\u00b3\u00b9\u2074\u2080\u00bd\u00bc"
          "\u00be\u2153\u2154\u215b\u2460\u2461\u2474\u2122\u2103\u2109\u216b\u217b\u338f\u337b"
          "\u00a8\u00b4\u00b8\u00b5\u2126\u212b\u212a\u017f\u1e9b\u00aa\u00ba\u2026\u2025\u3000"
          "\uff21\u2160\u24b6\u1d43\u02b0\u2082\u207f"
          # Assigned after Unicode 9.0, whose tables HF normalizes with: to it
          # these decompose to nothing and are no marks.
          "\U0001fbf1\U0001fbf5\u0898\u1ac1\ua8ff\u0c3c\u0560\u08d3")

EMOJI = ["\U0001F600", "\U0001F44D\U0001F3FD", "\U0001F468\u200d\U0001F469\u200d\U0001F467"
         "\u200d\U0001F466", "\u2764\ufe0f", "\U0001F1EB\U0001F1F7", "1\ufe0f\u20e3",
         "\U0001F3F3\ufe0f\u200d\U0001F308", "\U0001F9D1\U0001F3FF\u200d\U0001F4BB", "\u263a",
         "\U0001F44B\U0001F3FB", "\u2b50", "\U0001F4A9"]

# Characters with no place in text, but that text has (never NUL).
CONTROLS = ([chr(c) for c in range(1, 9)] + [chr(c) for c in range(0x0e, 0x20)] +
            [chr(c) for c in range(0x7f, 0xa0)] +
            ["\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\ufeff", "\u00ad", "\ufffc",
             "\ufffd", "\ue000", "\uffff", "\U0010fffd", "\u034f", "\u061c"])

SYMBOLS = ["\u2581", "\u2581\u2581", "\u2581hello", "a\u2581b", "__", "\u2014", "\u00ab\u00bb",
           "\u201e\u201c", "\u00bf\u00a1", "\u00a7\u00b6", "\u00a9\u00ae", "\u2190\u2192",
           "\u2211\u222b", "\u2264\u2265", "\u00b0", "<0x41>", "<0xE2>", "\\", "\u00d7\u00f7"]

# Code point ranges of scripts: (first, last) inclusive.
SCRIPTS = {
    "greek": [(0x391, 0x3a9), (0x3b1, 0x3c9), (0x3ac, 0x3ce), (0x1f00, 0x1f15)],
    "cyrillic": [(0x400, 0x45f), (0x490, 0x4ff)],
    "arabic": [(0x621, 0x64a), (0x64b, 0x652), (0x660, 0x669)],
    "hebrew": [(0x5d0, 0x5ea), (0x5b0, 0x5bc)],
    "devanagari": [(0x905, 0x939), (0x93e, 0x94d), (0x966, 0x96f)],
    "thai": [(0xe01, 0xe3a), (0xe40, 0xe4e)],
    "cjk": [(0x4e00, 0x9fff), (0x3400, 0x4dbf), (0x20000, 0x2a6df), (0xf900, 0xfaff)],
    "hangul": [(0xac00, 0xd7a3), (0x1100, 0x11ff), (0x3131, 0x318e)],
    "kana": [(0x3041, 0x3096), (0x30a1, 0x30fa), (0xff66, 0xff9f), (0x3099, 0x309c)],
    "fullwidth": [(0xff01, 0xff5e)],
}

# Words a reader knows, with the case and accents that normalizers change.
WORDS = ["\u03a3\u039f\u03a6\u039f\u03a3", "\u039f\u0394\u039f\u03a3 \u03a3",
         "\u03c3\u03bf\u03c6\u03cc\u03c2", "\u1f48\u03b4\u03c5\u03c3\u03c3\u03b5\u03cd\u03c2",
         "\u041c\u043e\u0441\u043a\u0432\u0430", "\u0401\u043b\u043a\u0430",
         "\u0645\u0631\u062d\u0628\u0627", "\u05e9\u05dc\u05d5\u05dd",
         "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
         "\u6771\u4eac", "\ud55c\uad6d\uc5b4", "\u30ab\u30bf\u30ab\u30ca",
         "\uff76\uff80\uff76\uff85", "\u0130stanbul", "STRASSE", "Stra\u00dfe", "\u01c4emal",
         "Caf\u00e9", "na\u00efve", "\u00c5ngstr\u00f6m", "\uff28\uff45\uff4c\uff4c\uff4f"]


def _weighted(rng, table):
    total = sum(w for w, _ in table)
    x = rng.uniform(0, total)
    for w, item in table:
        x -= w
        if x <= 0:
            return item
    return table[-1][1]


def _from_ranges(rng, ranges):
    lo, hi = rng.choice(ranges)
    return chr(rng.randint(lo, hi))


def _any_char(rng):
    """Any Unicode scalar value but NUL (no surrogates: not text)."""
    while True:
        c = rng.randint(1, 0x10ffff) if rng.random() < 0.3 else rng.randint(1, 0xffff)
        if not 0xd800 <= c <= 0xdfff:
            return chr(c)


class Synthetic:
    """Lines made of fragments of every kind, from one seeded generator."""

    def __init__(self, vocab_words, seed):
        self.rng = random.Random(seed)
        self.vocab = vocab_words
        self.kinds = [(40, self.vocab_word), (4, self.cased_word), (5, self.punctuation),
                      (4, self.number), (3, self.quotes), (5, self.added), (5, self.accented),
                      (4, self.decomposed), (12, self.script_word), (3, self.known_word),
                      (3, self.compat), (3, self.emoji), (2, self.control), (3, self.symbol),
                      (1, self.long_word), (2, self.random_chars)]

    def vocab_word(self):
        return self.rng.choice(self.vocab)

    def cased_word(self):
        w = self.rng.choice(self.vocab)
        return w.upper() if self.rng.random() < 0.5 else w.capitalize()

    def punctuation(self):
        return "".join(self.rng.choice(string.punctuation) for _ in range(self.rng.randint(1, 3)))

    def number(self):
        rng = self.rng
        if rng.random() < 0.5:
            return rng.choice(NUMBERS)
        n = rng.randint(0, 10 ** rng.randint(1, 12))
        if rng.random() < 0.5:
            return "{:,}".format(n)
        return "%d.%s" % (n, "".join(rng.choice(string.digits) for _ in range(rng.randint(1, 6))))

    def quotes(self):
        q = self.rng.choice(QUOTES)
        return q if self.rng.random() < 0.5 else q + self.vocab_word() + self.rng.choice(QUOTES)

    def added(self):
        return self.rng.choice(ADDED)

    def accented(self):
        return "".join(self.rng.choice(ACCENTED + string.ascii_letters)
                       for _ in range(self.rng.randint(1, 9)))

    def decomposed(self):
        """Letters with combining marks, NFD, or piled up past any precomposed form."""
        if self.rng.random() < 0.5:
            return unicodedata.normalize("NFD", self.accented())
        return "".join(self.rng.choice(string.ascii_letters) +
                       "".join(chr(self.rng.randint(0x300, 0x36f))
                               for _ in range(self.rng.randint(1, 3)))
                       for _ in range(self.rng.randint(1, 4)))

    def script_word(self):
        ranges = SCRIPTS[self.rng.choice(sorted(SCRIPTS))]
        return "".join(_from_ranges(self.rng, ranges) for _ in range(self.rng.randint(1, 8)))

    def known_word(self):
        return self.rng.choice(WORDS)

    def compat(self):
        return "".join(self.rng.choice(COMPAT) for _ in range(self.rng.randint(1, 3)))

    def emoji(self):
        return "".join(self.rng.choice(EMOJI) for _ in range(self.rng.randint(1, 3)))

    def control(self):
        return self.rng.choice(CONTROLS)

    def symbol(self):
        return self.rng.choice(SYMBOLS)

    def long_word(self):
        """200+ characters without whitespace: one piece repeated, vocabulary
        pieces glued, or one script."""
        rng = self.rng
        way = rng.randrange(3)
        if way == 0:
            piece = rng.choice(["a", "ab", "x", "9", "\u00e9", "\u4e00", "-", "."])
            return piece * rng.randint(200, 400)
        if way == 1:
            word = ""
            while len(word) < 200:
                word += self.vocab_word()
            return word
        ranges = SCRIPTS[rng.choice(sorted(SCRIPTS))]
        return "".join(_from_ranges(rng, ranges) for _ in range(rng.randint(200, 300)))

    def random_chars(self):
        return "".join(_any_char(self.rng) for _ in range(self.rng.randint(1, 5)))

    def separator(self):
        x = self.rng.random()
        return " " if x < 0.7 else "" if x < 0.82 else self.rng.choice(WHITESPACE)

    def line(self):
        rng = self.rng
        x = rng.random()
        if x < 0.02:
            return ""
        if x < 0.04:
            return rng.choice([" ", "  ", "\t", "\u00a0", "\u3000"]) * rng.randint(1, 6)
        parts = []
        for _ in range(rng.randint(1, 16)):
            parts += [_weighted(rng, self.kinds)(), self.separator()]
        text = "".join(parts[:-1])
        if rng.random() < 0.1:
            text = rng.choice(WHITESPACE) + text
        if rng.random() < 0.1:
            text += rng.choice(WHITESPACE)
        return text

    def lines(self, count):
        return [self.line() for _ in range(count)]


def synthetic_lines(vocab_words, count, seed):
    return Synthetic(vocab_words, seed).lines(count)


def plain_lines(vocab_words, count, seed):
    """Lines of vocabulary pieces, ASCII punctuation and numbers only: text
    in which no character is unknown to the vocabulary."""
    rng = random.Random(seed)
    pool = vocab_words + list(string.punctuation) + NUMBERS
    return [" ".join(rng.choice(pool) for _ in range(rng.randint(1, 20))) for _ in range(count)]


def _mo_strings(path):
    """The translations of a GNU .mo catalog (each plural form apart), the
    header (the translation of "") left out; [] when it is not one or not
    UTF-8."""
    with open(path, "rb") as f:
        data = f.read()
    for order in "<>":
        if len(data) >= 20 and struct.unpack_from(order + "I", data, 0)[0] == 0x950412de:
            break
    else:
        return []
    _, _, n, orig, trans = struct.unpack_from(order + "5I", data, 0)
    out = []
    for i in range(n):
        if max(orig, trans) + 8 * i + 8 > len(data):
            break
        orig_len = struct.unpack_from(order + "I", data, orig + 8 * i)[0]
        length, offset = struct.unpack_from(order + "2I", data, trans + 8 * i)
        try:
            text = data[offset:offset + length].decode("utf-8")
        except UnicodeDecodeError:
            return []
        if orig_len:
            out += [t for t in text.split("\0") if t]
    return out


def locale_lines(limit, seed, root="/usr/share/locale"):
    """Up to LIMIT translated messages from the gettext catalogs under ROOT,
    a few from each of many catalogs; [] when there are none."""
    rng = random.Random(seed)
    paths = sorted(glob.glob(os.path.join(root, "*", "LC_MESSAGES", "*.mo")))
    rng.shuffle(paths)
    lines = []
    for path in paths:
        if len(lines) >= limit:
            break
        try:
            strings = _mo_strings(path)
        except OSError:
            continue
        lines += rng.sample(strings, min(len(strings), 12))
    return lines[:limit]
