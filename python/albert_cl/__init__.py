"""albert_cl: HuggingFace-exact ALBERT embeddings on OpenCL devices and the
host CPU, through libalbertcl (ctypes; numpy is the only dependency).

    import albert_cl
    with albert_cl.Encoder("models/albert-base-v2", device="cpu") as enc:
        vectors = enc.encode(["Hello world", "Another line"])   # float32 [2, enc.dimension]

The library is found as README.md says: $ALBERT_CL_LIBRARY, a build*/ tree
above this package, then the installed libalbertcl.so.12.
"""

import contextlib
import ctypes
import json
import numbers
import os
import sys
import threading
import time
import warnings

import numpy as np

from . import _lib
from ._lib import lib

__all__ = ["Encoder", "AlbertError", "list_devices", "locate", "library_path", "__version__"]

__version__ = "0.14.0"
library_path = lib._albert_cl_path

_POOLING = {
    "none": _lib.ALBERT_POOL_NONE,
    "pooler": _lib.ALBERT_POOL_POOLER,
    "cls": _lib.ALBERT_POOL_CLS,
    "mean": _lib.ALBERT_POOL_MEAN,
    "max": _lib.ALBERT_POOL_MAX,
    "mean_sqrt_len": _lib.ALBERT_POOL_MEAN_SQRT_LEN,
    "weightedmean": _lib.ALBERT_POOL_WEIGHTED_MEAN,
    "lasttoken": _lib.ALBERT_POOL_LAST_TOKEN,
}
_POOLING_NAME = {v: k for k, v in _POOLING.items()}


def _pooling_modes(pooling):
    """A pooling name, or several of sentence-transformers' joined by "+"
    ("mean+max"), as (the first mode's value, their bits or 0 for one)."""
    names = pooling.split("+") if isinstance(pooling, str) else [pooling]
    if any(n not in _POOLING for n in names) or len(set(names)) != len(names) or (
            len(names) > 1 and any(n in ("none", "pooler") for n in names)):
        raise ValueError(f"albert_cl: pooling {pooling!r}: expected one of {list(_POOLING)}, "
                         "or several of them but none and pooler, each once, joined by '+'")
    bits = 0
    for n in names:
        bits |= 1 << _POOLING[n]
    return _POOLING[names[0]], (bits if len(names) > 1 else 0)


def _pooling_name(modes):
    """The folder's pooling modes (bits) as _pooling_modes reads them."""
    return "+".join(n for n, v in _POOLING.items() if modes >> v & 1)
_TOKENIZER = {"slow": _lib.ALBERT_TOKENIZER_SLOW, "fast": _lib.ALBERT_TOKENIZER_FAST}


def _int8_steps(v, offset, dtype):
    """quantize_embeddings' int8 and uint8: ranges from V itself."""
    if len(v) == 0:
        return v.astype(dtype)
    starts = v.min(axis=0)
    steps = (v.max(axis=0) - starts) / 255
    return ((v - starts) / steps - offset).astype(dtype)


# encode()'s precision: sentence-transformers' quantize_embeddings, row by row
# for the bits (numpy.packbits(axis=-1) pads each row; the same bytes as its
# flat packing whenever the dimension is a multiple of 8).
_QUANTIZED = {
    "float32": lambda v: v,
    "binary": lambda v: (np.packbits(v > 0, axis=-1).astype(np.int16) - 128).astype(np.int8),
    "ubinary": lambda v: np.packbits(v > 0, axis=-1),
    "int8": lambda v: _int8_steps(v, 128, np.int8),
    "uint8": lambda v: _int8_steps(v, 0, np.uint8),
}


def locate(model):
    """The folder MODEL names: MODEL itself when it is a folder, else the
    snapshot of a model the Hugging Face cache holds, MODEL being its name
    ("albert-base-v2", "ORG/NAME", optionally "@REVISION"), looked up where
    huggingface_hub keeps it ($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub).
    Nothing is downloaded; AlbertError when neither is there."""
    err, dst = _lib.AlbertErrorStruct(), ctypes.create_string_buffer(4096)
    _check(lib.albert_model_locate(os.fsencode(model), None, dst, len(dst), ctypes.byref(err)),
           err)
    return os.fsdecode(dst.value)


def _sentence_config(model_dir):
    """What MODEL_DIR's modules.json asks for (all 0 without one)."""
    st, err = _lib.SentenceConfig(), _lib.AlbertErrorStruct()
    _check(lib.albert_sentence_config_read(os.fsencode(model_dir), ctypes.byref(st),
                                           ctypes.byref(err)), err)
    return st


def _sentence_prompts(model_dir, st):
    """The prompts of a sentence-transformers folder (a dict name -> text, in
    the file's order) and its default_prompt_name (or None), from
    config_sentence_transformers.json as SentenceTransformer reads them;
    albert_sentence_config_read has checked the file (prompts strings, the
    default one of them)."""
    if not st.present or not (st.prompts or st.default_prompt):
        return {}, None
    path = os.path.join(model_dir, "config_sentence_transformers.json")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    return dict(config.get("prompts") or {}), config.get("default_prompt_name")


# SentenceTransformer's similarity functions: cosine, dot product, and the
# negative euclidean and manhattan distances (larger is more similar).
_SIMILARITY_FNS = ("cosine", "dot", "euclidean", "manhattan")


def _similarity_fn_name(model_dir, st):
    """config_sentence_transformers.json's similarity_fn_name, as
    SentenceTransformer reads it; "cosine" without one."""
    path = os.path.join(model_dir, "config_sentence_transformers.json")
    if not st.present or not os.path.isfile(path):
        return "cosine"
    with open(path, encoding="utf-8") as f:
        name = json.load(f).get("similarity_fn_name") or "cosine"
    if name not in _SIMILARITY_FNS:
        raise ValueError(f"albert_cl: {path}: similarity_fn_name {name!r}: expected one of "
                         f"{list(_SIMILARITY_FNS)}")
    return name


def _as_rows(x, what):
    """X as a float64 2-D array of rows (one vector: one row)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"albert_cl: {what}: expected vectors (1-D) or rows of them (2-D), "
                         f"not shape {a.shape}")
    return a


def _unit_rows(a):
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)


class AlbertError(RuntimeError):
    """A libalbertcl failure.

    message: the library's one-line message; status: its code's name
    ("ALBERT_E_INPUT", ...); code: the code; index: the record (position in
    the encode() input) the failure is about, or None.
    """

    def __init__(self, message, status, code, index=None):
        self.message = message
        self.status = status
        self.code = code
        self.index = index
        where = f" (record {index})" if index is not None else ""
        super().__init__(f"{status}: {message}{where}")


def _status_name(code):
    return lib.albert_status_name(code).decode()


def _check(rc, err):
    """Raises AlbertError for a failed call: its albert_error says why."""
    if rc != _lib.ALBERT_OK:
        raise AlbertError(err.msg.decode("utf-8", "replace"), _status_name(rc), rc)


def _str(raw):
    return raw.decode("utf-8", "replace")


def _device_info(index):
    err = _lib.AlbertErrorStruct()
    info = _lib.DeviceInfo()
    _check(lib.albert_device_info_get(index, None, ctypes.byref(info), ctypes.byref(err)), err)
    return info


def list_devices():
    """The library's devices (OpenCL ones, then the CPU) as dicts; "id" is
    what Encoder(device=...) takes."""
    err = _lib.AlbertErrorStruct()
    count = ctypes.c_int()
    # With no OpenCL platform this is still ALBERT_OK (the CPU is there).
    _check(lib.albert_device_count(ctypes.byref(count), ctypes.byref(err)), err)
    devices = []
    for i in range(count.value):
        info = _device_info(i)
        devices.append({
            "index": info.index,
            "id": _str(info.id),
            "backend": _str(info.backend),
            "platform": _str(info.platform),
            "name": _str(info.name),
            "type": _str(info.type),
            "compute_units": info.compute_units,
            "global_mem_bytes": info.global_mem_bytes,
            "driver_version": _str(info.driver_version),
            "device_version": _str(info.device_version),
            "fp16": bool(info.fp16),
            "precisions": [p for p in _str(info.precisions).split(",") if p],
            "tuning_profile": _str(info.tuning_profile),
        })
    return devices


def _device_index(device):
    """A device as Encoder takes it ("auto", "cpu", 0, "0") -> its index."""
    if isinstance(device, str) and device == "auto":
        return _device_info(_lib.ALBERT_DEVICE_AUTO).index
    if isinstance(device, numbers.Integral) and not isinstance(device, bool):
        device = str(int(device))
    if not isinstance(device, str):
        raise TypeError(f"albert_cl: device {device!r}: expected 'auto', 'cpu' or an "
                        "OpenCL index (int or str)")
    err = _lib.AlbertErrorStruct()
    index = ctypes.c_int()
    _check(lib.albert_device_find(device.encode(), ctypes.byref(index), ctypes.byref(err)), err)
    return index.value


def _precision(name):
    for p in range(_lib.ALBERT_PRECISION_COUNT):
        if lib.albert_precision_name(p).decode() == name:
            return p
    names = [lib.albert_precision_name(p).decode() for p in range(_lib.ALBERT_PRECISION_COUNT)]
    raise ValueError(f"albert_cl: precision {name!r}: expected one of {names}")


def _utf8(text):
    # "surrogatepass" lets a lone surrogate through as (invalid) UTF-8 bytes:
    # the library rejects that record with ALBERT_E_INPUT and its index,
    # as it rejects any other invalid input.
    return text.encode("utf-8", "surrogatepass")


def _prompt_bytes(prompt):
    """encode()'s resolved prompt (None or a str) as the record's bytes.  A
    prompt goes before every text of the call: one that is not UTF-8 (a lone
    surrogate) is a bad argument, not one bad record."""
    if prompt is None:
        return None
    if not isinstance(prompt, str):
        raise TypeError(f"albert_cl: prompt: expected a str, got {type(prompt).__name__}")
    try:
        return prompt.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"albert_cl: prompt {prompt!r}: not valid UTF-8 ({e.reason})") from None


def _as_record(item, i):
    """One input (a str, or a (text, text_pair) tuple/list) -> (bytes, bytes or None)."""
    if isinstance(item, str):
        return _utf8(item), None
    if isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(t, str) for t in item):
        return _utf8(item[0]), _utf8(item[1])
    raise TypeError(f"albert_cl: input {i}: expected a str or a (text, text_pair) pair of str, "
                    f"got {type(item).__name__}")


def _prompted(item, prompt):
    """PROMPT (a str, or None) before a str, or before the first str of a
    pair, as the scheduler puts albert_record.prompt; anything else as it is
    (for _as_record to refuse)."""
    if prompt is None:
        return item
    if isinstance(item, str):
        return prompt + item
    if isinstance(item, (tuple, list)) and item and isinstance(item[0], str):
        return type(item)([prompt + item[0], *item[1:]])
    return item


def _stripped(item):
    """A str, or each str of a pair, stripped as sentence-transformers does;
    anything else as it is (for _as_record to refuse)."""
    if isinstance(item, str):
        return item.strip()
    if isinstance(item, (tuple, list)):
        return type(item)(t.strip() if isinstance(t, str) else t for t in item)
    return item


class _Pusher(threading.Thread):
    """Pushes the records into a scheduler.  Push blocks while the scheduler
    is full, so it must not run on the thread that takes the results."""

    def __init__(self, sched, records, prompt=None, side=0):
        super().__init__(name="albert_cl-push", daemon=True)
        self.sched = sched
        self.records = records
        self.prompt = prompt  # bytes put before every text, or None
        self.side = side  # albert_truncation
        self.error = None  # an AlbertError that was not a cancellation

    def run(self):
        err = _lib.AlbertErrorStruct()
        try:
            for i, (text, pair) in enumerate(self.records):
                rec = _lib.Record()
                rec.text, rec.text_len = text, len(text)
                if pair is not None:
                    rec.pair, rec.pair_len = pair, len(pair)
                if self.prompt is not None:  # b"" too: a prompt, of no text
                    rec.prompt, rec.prompt_len = self.prompt, len(self.prompt)
                rec.tag = i
                rec.truncation = self.side
                rc = lib.albert_scheduler_push(self.sched, ctypes.byref(rec), ctypes.byref(err))
                if rc == _lib.ALBERT_E_CANCELLED:
                    return  # the taking thread gave up; it has its reason
                _check(rc, err)
            _check(lib.albert_scheduler_finish(self.sched, ctypes.byref(err)), err)
        except BaseException as e:  # noqa: BLE001 - handed to the taking thread
            self.error = e
            # Without this the taking thread would wait for records that
            # never come.
            lib.albert_scheduler_cancel(self.sched)



def _layer_list(layer):
    """Encoder's LAYER checked: None, "all", or a list of ints (one int: a list of one)."""
    def is_int(x):
        return isinstance(x, numbers.Integral) and not isinstance(x, bool)
    if layer is None or layer == "all":
        return layer
    if is_int(layer):
        return [int(layer)]
    if isinstance(layer, (list, tuple)) and layer and all(is_int(x) for x in layer):
        return [int(x) for x in layer]
    raise ValueError(f"albert_cl: layer {layer!r}: expected an int, a list of ints, 'all' or None")


class Encoder:
    """An ALBERT model on one or more devices, with its tokenizer.

    model_dir: a HuggingFace folder (config.json, model.safetensors or
        pytorch_model.bin, spiece.model or tokenizer.json), or the name of a
        model the Hugging Face cache holds ("albert-base-v2", "ORG/NAME",
        optionally "@REVISION": locate()).  A sentence-transformers folder
        (modules.json) gives SentenceTransformer.encode's vectors: its Pooling
        mode, Normalize module and max_seq_length are the defaults of
        pooling, normalize and max_length, texts are stripped, and the
        tokenizer is "fast" where tokenizer.json is there.  Its prompts
        (config_sentence_transformers.json) are `prompts`, and the one its
        default_prompt_name names goes before every text unless encode()
        says otherwise; a Pooling module with include_prompt false leaves the
        prompt's tokens out of the pooling (as INSTRUCTOR models want).
    device: "auto" (first GPU, else the first device), "cpu", an OpenCL index
        (int or str, see list_devices()), or a list of those: one engine per
        device, and every encode() call spreads its batches over all of them.
    pooling: "pooler" (HF pooler_output; the default without modules.json),
        "cls", "mean", "max" (per value, over the tokens), "mean_sqrt_len",
        "weightedmean", "lasttoken" (sentence-transformers' modes), or "none"
        (then only output_value="token_embeddings" works); several of
        sentence-transformers' joined by "+" ("mean+max", as a Pooling module
        with several modes on): their vectors end to end in its order (cls,
        max, mean, mean_sqrt_len, weightedmean, lasttoken).
    normalize: L2-normalise the sentence embeddings (default: False, or
        whether modules.json has a Normalize module).
    precision: "fp32" (HF-exact), "bf16", "fp16", "int8" (where the device runs it).
    tokenizer: "slow" (spiece.model; the default without modules.json) or
        "fast" (tokenizer.json).
    max_length: tokens per input (default 512 or max_seq_length; capped by
        max_position_embeddings); longer inputs are truncated as HF's
        truncation=True does.
    truncation_side: "right" (a long input loses its end) or "left" (it
        loses its start, a prompt first), as HF tokenizers' truncation_side;
        None (the default): the folder's, as HF's tokenizer takes it
        (tokenizer_config.json's truncation_side, else right).  The attribute
        `truncation_side` is read by every encode() and tokenize(), as a
        sentence-transformers model's tokenizer.truncation_side (None there:
        the folder's again).
    sentence_transformers: False ignores modules.json (an AlbertModel).
    threads: host threads of the CPU backend (0: all cores).
    layer: None (the last layer's vectors), or an index of HF's
        hidden_states (0: the embedding projection's output, 1..L a layer's,
        negative from the end): the forward stops there and every output
        comes from that layer; or a list of indices (e.g. [-4, -3, -2, -1])
        or "all", those layers combined by layer_combine.  Not with
        pooling="pooler" (HF's pooler reads the last layer).
    layer_combine: "mean" (value by value) or "concat" (end to end in the
        order given: len(layer) x hidden_size values, `dimension`).
    truncate_dim: None, or the values each sentence embedding keeps, its
        first ones, as SentenceTransformer's truncate_dim (Matryoshka
        models): cut after the folder's Dense and Normalize modules, so a
        Normalize module's unit vectors come out shorter; encode()'s
        normalize_embeddings, or normalize=True given here, normalises the
        cut.  The attribute `truncate_dim` is read by every encode(), as
        SentenceTransformer's (also truncate_sentence_embeddings()).
    """

    def __init__(self, model_dir, device="auto", pooling=None, normalize=None,
                 precision="fp32", tokenizer=None, max_length=None, threads=0,
                 sentence_transformers=True, layer=None, layer_combine="mean",
                 truncate_dim=None, truncation_side=None):
        # Set first, so that close() (and __del__) work after any failure below.
        self._model = None
        self._tokenizer = None
        self._head = None
        self._engines = []
        self._lock = threading.Lock()

        model_dir = locate(model_dir)
        st = _sentence_config(model_dir) if sentence_transformers else _lib.SentenceConfig()
        if pooling is None:
            pooling = _pooling_name(st.pooling_modes) if st.present else "pooler"
        # Asked for here, normalize also normalises a truncate_dim cut; the
        # folder's Normalize module comes before the cut, as in sentence-transformers.
        self._normalize_cut = bool(normalize)
        if normalize is None:  # the Normalize module follows any pooling
            normalize = bool(st.normalize) and pooling != "none"
        if tokenizer is None and st.present and not st.fast_tokenizer:
            warnings.warn(f"albert_cl: {model_dir} has no tokenizer.json: sentence-transformers "
                          "would convert spiece.model to the fast tokenizer; albert_cl uses the "
                          "slow one, whose ids differ on some texts", RuntimeWarning)
        if tokenizer is None:
            tokenizer = "fast" if st.fast_tokenizer else "slow"
        if max_length is None:
            max_length = st.max_length or 512
        self._strip = bool(st.present)
        # SentenceTransformer's attributes, read by every encode() (so they
        # may be changed, as there): the folder's prompts and default one.
        self.prompts, self.default_prompt_name = _sentence_prompts(model_dir, st)
        # SentenceTransformer's attribute, read by similarity().
        self.similarity_fn_name = _similarity_fn_name(model_dir, st)
        self._exclude_prompt = bool(st.present and not st.include_prompt)

        if tokenizer not in _TOKENIZER:
            raise ValueError(f"albert_cl: tokenizer {tokenizer!r}: expected one of {list(_TOKENIZER)}")
        if not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"albert_cl: max_length {max_length!r}: expected an int >= 1")
        layer = _layer_list(layer)
        if layer_combine not in ("mean", "concat"):
            raise ValueError(f"albert_cl: layer_combine {layer_combine!r}: expected 'mean' or "
                             "'concat'")
        self._pooling, self._pooling_modes = _pooling_modes(pooling)
        self._normalize = bool(normalize)
        precision_value = _precision(precision)

        devices = device if isinstance(device, (list, tuple)) else [device]
        if not devices:
            raise ValueError("albert_cl: device: an empty list")
        indices = [_device_index(d) for d in devices]
        if len(set(indices)) != len(indices):
            raise ValueError(f"albert_cl: device {device!r} names a device twice "
                             "(one engine per device)")

        # A warning of an engine (e.g. a kernel cache folder it cannot write)
        # comes from the thread that runs it; ctypes takes the GIL for us.
        # The callback object must outlive the engines, so it lives here.
        self._warn = _lib.WARN_FUNC(
            lambda user, msg: warnings.warn(f"albert_cl: {_str(msg)}", RuntimeWarning))

        try:
            err = _lib.AlbertErrorStruct()
            path = os.fsencode(model_dir)
            handle = ctypes.c_void_p()
            _check(lib.albert_model_open(path, ctypes.byref(handle), ctypes.byref(err)), err)
            self._model = handle
            self._config = lib.albert_model_config(self._model)  # lives as long as the model

            handle = ctypes.c_void_p()
            _check(lib.albert_tokenizer_open_kind(path, _TOKENIZER[tokenizer], ctypes.byref(handle),
                                                  ctypes.byref(err)), err)
            self._tokenizer = handle

            if st.dense_modules and pooling != "none":  # they turn pooled vectors into its own
                handle = ctypes.c_void_p()
                _check(lib.albert_head_open(path, ctypes.byref(handle), ctypes.byref(err)), err)
                self._head = handle

            for index in indices:
                opt = _lib.EngineOptions()
                lib.albert_engine_options_init(ctypes.byref(opt))
                opt.device = index
                opt.threads = threads
                opt.precision = precision_value
                opt.warn = self._warn
                handle = ctypes.c_void_p()
                _check(lib.albert_engine_create(self._model, ctypes.byref(opt), ctypes.byref(handle),
                                                ctypes.byref(err)), err)
                self._engines.append(handle)
        except BaseException:
            self.close()
            raise
        # The scheduler options point at this array: it lives as long as the engines.
        self._engine_array = (ctypes.c_void_p * len(self._engines))(*[e.value for e in self._engines])
        # As the scheduler resolves it: 0 or beyond the model's positions -> the model's.
        max_pos = self._config.contents.max_position_embeddings
        self._max_length = min(max_length, max_pos)
        self._skip, self._layers = self._resolve_layers(layer, pooling)
        self._concat = int(layer_combine == "concat")
        n = len(self._layers) if self._concat and self._layers is not None else 1
        self._width = n * self._config.contents.hidden_size
        self._pooled_width = max(1, bin(self._pooling_modes).count("1")) * self._width
        if self._head is not None:
            if n > 1:
                self.close()
                raise ValueError(f"albert_cl: layer_combine 'concat': {model_dir}'s Dense "
                                 "modules take vectors of hidden_size values")
            takes = lib.albert_head_width_in(self._head)
            if takes != self._pooled_width:
                self.close()
                raise AlbertError(f"{model_dir}: the first Dense module takes vectors of {takes} "
                                  f"values (its in_features), and the pooling gives "
                                  f"{self._pooled_width} (hidden_size, times its modes)",
                                  "ALBERT_E_FORMAT", _lib.ALBERT_E_FORMAT)
            self._pooled_width = lib.albert_head_width_out(self._head)
        self.truncate_dim = truncate_dim
        # The folder's side, as HF's tokenizer takes it: what None means.
        self._folder_side = lib.albert_tokenizer_truncation(self._tokenizer)
        self.truncation_side = truncation_side
        try:
            self._truncation()
            self._side()
        except ValueError:
            self.close()
            raise

    def _side(self):
        """The truncation_side attribute, checked: albert_truncation's value."""
        sides = {"right": 0, "left": 1}
        if self.truncation_side is None:
            return self._folder_side
        if not isinstance(self.truncation_side, str) or self.truncation_side not in sides:
            raise ValueError(f"albert_cl: truncation_side {self.truncation_side!r}: expected "
                             "None, 'right' or 'left'")
        return sides[self.truncation_side]

    def _resolve_layers(self, layer, pooling):
        """LAYER (None, "all" or a list of hidden_states indices) as the
        forward's skip_last_layers (one index) or its layers to combine (a
        ctypes array, or None); a bad one closes the Encoder and raises."""
        L = self._config.contents.num_hidden_layers
        given = list(range(L + 1)) if layer == "all" else [L] if layer is None else layer
        indices = [i + L + 1 if i < 0 else i for i in given]
        bad = [g for g, i in zip(given, indices) if not 0 <= i <= L]
        problem = (f"{bad[0]}: the model has hidden_states 0 to {L} (or -{L + 1} to -1)" if bad
                   else "an index given twice" if len(set(indices)) != len(indices)
                   else "the pooler (HF pooler_output) reads the last layer alone: pool by "
                   "'cls', 'mean', 'max', ... or 'none'" if indices != [L] and pooling == "pooler"
                   else None)
        if problem:
            self.close()
            raise ValueError(f"albert_cl: layer {layer!r}: {problem}")
        if len(indices) == 1:
            return L - indices[0], None
        return 0, (ctypes.c_int * len(indices))(*indices)

    # ------------------------------------------------------------ properties

    @property
    def hidden_size(self):
        self._check_open()
        return self._config.contents.hidden_size

    @property
    def dimension(self):
        """Values per sentence embedding: truncate_dim, else hidden_size,
        times the layers concatenated, times the pooling modes, or the last
        Dense module's out_features."""
        self._check_open()
        return self._truncation() or self._pooled_width

    def _truncation(self):
        """The truncate_dim attribute, checked: 0 for None."""
        t = self.truncate_dim
        if t is None:
            return 0
        if (not isinstance(t, numbers.Integral) or isinstance(t, bool) or
                not 1 <= t <= self._pooled_width):
            raise ValueError(f"albert_cl: truncate_dim {t!r}: expected None or an int from 1 "
                             f"to {self._pooled_width}, the values of a sentence embedding")
        return int(t)

    def _similarity_fn(self):
        if self.similarity_fn_name not in _SIMILARITY_FNS:
            raise ValueError(f"albert_cl: similarity_fn_name {self.similarity_fn_name!r}: "
                             f"expected one of {list(_SIMILARITY_FNS)}")
        return self.similarity_fn_name

    def similarity(self, embeddings1, embeddings2):
        """[n, m] float32: the similarity of every row of EMBEDDINGS1 ([n, d],
        or one vector) to every row of EMBEDDINGS2, by similarity_fn_name
        (the folder's config_sentence_transformers.json's, else "cosine"), as
        SentenceTransformer.similarity: cosine, dot, or the negative
        euclidean / manhattan distance."""
        a, b = _as_rows(embeddings1, "embeddings1"), _as_rows(embeddings2, "embeddings2")
        fn = self._similarity_fn()
        if fn == "cosine":
            out = _unit_rows(a) @ _unit_rows(b).T
        elif fn == "dot":
            out = a @ b.T
        else:
            p = 2 if fn == "euclidean" else 1
            out = -np.linalg.norm(a[:, None, :] - b[None, :, :], ord=p, axis=2)
        return out.astype(np.float32)

    def similarity_pairwise(self, embeddings1, embeddings2):
        """[n] float32: the similarity of each row of EMBEDDINGS1 to the row
        of EMBEDDINGS2 at the same place, as
        SentenceTransformer.similarity_pairwise."""
        a, b = _as_rows(embeddings1, "embeddings1"), _as_rows(embeddings2, "embeddings2")
        if a.shape != b.shape:
            raise ValueError(f"albert_cl: similarity_pairwise: shapes {a.shape} and {b.shape} "
                             "differ")
        fn = self._similarity_fn()
        if fn == "cosine":
            out = (_unit_rows(a) * _unit_rows(b)).sum(axis=1)
        elif fn == "dot":
            out = (a * b).sum(axis=1)
        else:
            out = -np.linalg.norm(a - b, ord=2 if fn == "euclidean" else 1, axis=1)
        return out.astype(np.float32)

    @contextlib.contextmanager
    def truncate_sentence_embeddings(self, truncate_dim):
        """Within the with-block, truncate_dim is TRUNCATE_DIM (as
        SentenceTransformer's)."""
        before = self.truncate_dim
        self.truncate_dim = truncate_dim
        try:
            yield
        finally:
            self.truncate_dim = before

    @property
    def max_length(self):
        return self._max_length

    @property
    def device_names(self):
        """albert_engine_device_name of each engine, in device order."""
        self._check_open()
        return [lib.albert_engine_device_name(e).decode("utf-8", "replace") for e in self._engines]

    # ------------------------------------------------------------ lifetime

    def close(self):
        """Frees the engines, the tokenizer and the model, in that order (each
        may refer to the ones after it; an encode() frees its scheduler before
        it returns, and close() waits for a running one).  Safe to call twice."""
        with self._lock:
            while self._engines:
                lib.albert_engine_free(self._engines.pop())
            if self._head is not None:
                lib.albert_head_close(self._head)
                self._head = None
            if self._tokenizer is not None:
                lib.albert_tokenizer_close(self._tokenizer)
                self._tokenizer = None
            if self._model is not None:
                lib.albert_model_close(self._model)
                self._model = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # At interpreter exit the module's globals may be gone already;
        # the process frees everything then anyway.
        try:
            if getattr(self, "_lock", None) is not None:
                self.close()
        except Exception:  # noqa: BLE001
            pass

    def _check_open(self):
        if self._model is None:
            raise ValueError("albert_cl: the Encoder is closed")

    # ------------------------------------------------------------ prompts

    def _prompt(self, prompt, prompt_name):
        """The prompt an encode(prompt=PROMPT, prompt_name=PROMPT_NAME) puts
        before every text (None: none), as SentenceTransformer.encode picks
        it: PROMPT, else the prompt PROMPT_NAME names, else the default
        one's."""
        if prompt is None:
            if prompt_name is not None:
                try:
                    prompt = self.prompts[prompt_name]
                except KeyError:
                    raise ValueError(f"albert_cl: prompt_name {prompt_name!r}: not one of the "
                                     f"prompts {list(self.prompts)!r}") from None
            elif self.default_prompt_name is not None:
                prompt = self.prompts.get(self.default_prompt_name)
        elif prompt_name is not None:
            # stacklevel: the caller of encode() or tokenize().
            warnings.warn("albert_cl: encode with either a prompt, a prompt_name, or neither, "
                          "but not both: prompt_name ignored in favour of prompt",
                          RuntimeWarning, stacklevel=3)
        _prompt_bytes(prompt)  # a bad one raises here, before anything runs
        return prompt

    # ------------------------------------------------------------ tokenize

    def tokenize(self, texts, *, prompt=None, prompt_name=None):
        """{"input_ids": [...], "token_type_ids": [...]} per input, as encode()
        would feed the model (truncated to max_length), the prompt included
        (PROMPT and PROMPT_NAME as encode() takes them; a folder's default
        prompt without either); a str gives one dict, a list (of str or
        (text, text_pair)) a list of them."""
        single = isinstance(texts, str)
        items = [texts] if single else texts
        prompt = self._prompt(prompt, prompt_name)
        items = [_prompted(t, prompt) for t in items]
        if self._strip:  # as the scheduler strips for encode() (albert_text_strip)
            items = [_stripped(t) for t in items]
        records = [_as_record(t, i) for i, t in enumerate(items)]
        n_max = self._max_length
        side = self._side()
        ids = (ctypes.c_int32 * n_max)()
        types = (ctypes.c_int32 * n_max)()
        n, n_full = ctypes.c_int(), ctypes.c_int()
        err = _lib.AlbertErrorStruct()
        out = []
        with self._lock:
            self._check_open()
            for i, (text, pair) in enumerate(records):
                rc = lib.albert_tokenize_side(self._tokenizer, text, len(text), pair,
                                              len(pair) if pair is not None else 0, n_max, side,
                                              ids, types, ctypes.byref(n), ctypes.byref(n_full),
                                              ctypes.byref(err))
                if rc != _lib.ALBERT_OK:
                    raise AlbertError(_str(err.msg), _status_name(rc), rc, index=i)
                out.append({"input_ids": ids[:n.value], "token_type_ids": types[:n.value]})
        return out[0] if single else out

    # ------------------------------------------------------------ encode

    def encode(self, texts, batch_size=32, show_progress_bar=False,
               output_value="sentence_embedding", precision="float32", convert_to_numpy=True,
               normalize_embeddings=False, *, prompt=None, prompt_name=None):
        """Embeds TEXTS: a str, or a list of str and/or (text, text_pair) pairs.

        output_value "sentence_embedding": float32 [N, D] (a str: [D]), pooled
            as the Encoder's pooling says; with convert_to_numpy=False a list
            of [D] arrays.  D is `dimension`: truncate_dim, else hidden_size,
            times the layers concatenated, or a sentence-transformers
            folder's Dense modules' width.
        output_value "token_embeddings": a list of [n_tokens, D] arrays, the
            vectors of every input token ([CLS] and [SEP] included; a str: one array).
        output_value None: a list of {"sentence_embedding", "token_embeddings"} dicts.
        batch_size: most inputs per forward pass (inputs are sorted by length
            into batches, and come back in input order).
        normalize_embeddings: L2-normalise the sentence embeddings of this
            call (after truncate_dim's cut), with output_value
            "sentence_embedding" only (as SentenceTransformer.encode's; the
            Encoder's normalize does it for every call and output).
        precision: "float32", or the sentence embeddings quantized as
            SentenceTransformer.encode's precision does it
            (sentence_transformers.quantize_embeddings): "binary" (int8
            [N, ceil(D/8)], a bit per value > 0, high bit first, each byte
            minus 128), "ubinary" (those bytes as uint8), "int8" or "uint8"
            (256 steps between each dimension's minimum and maximum over the
            TEXTS of this call: a single text, or a dimension whose values
            are all equal, has no steps and gives undefined values, as in
            sentence-transformers).  output_value "sentence_embedding" only.
        prompt, prompt_name: as SentenceTransformer.encode's.  PROMPT (a str)
            goes before every text (before the first sentence of a pair);
            PROMPT_NAME picks one of `prompts` (ValueError naming them when it
            is not one); PROMPT wins when both are given (with a
            RuntimeWarning).  Neither: the folder's default_prompt_name's
            prompt, if any (prompt="" turns it off; with include_prompt
            false [CLS] is then the prompt's, as in sentence-transformers).
            The prompt's tokens count in max_length; a folder whose Pooling
            module has include_prompt false pools the text's tokens only
            (the token embeddings keep every token).
        """
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"albert_cl: batch_size {batch_size!r}: expected an int >= 1")
        if precision not in _QUANTIZED:
            raise ValueError(f"albert_cl: precision {precision!r}: expected one of "
                             f"{list(_QUANTIZED)}")
        if precision != "float32" and output_value != "sentence_embedding":
            raise ValueError("albert_cl: precision other than 'float32' quantizes sentence "
                             "embeddings: output_value='sentence_embedding' only")
        if output_value == "sentence_embedding":
            if self._pooling == _lib.ALBERT_POOL_NONE:
                raise ValueError("albert_cl: pooling 'none' gives no sentence embedding: "
                                 "use output_value='token_embeddings'")
            pooling, tokens = self._pooling, False
        elif output_value == "token_embeddings":
            pooling, tokens = _lib.ALBERT_POOL_NONE, True
        elif output_value is None:
            if self._pooling == _lib.ALBERT_POOL_NONE:
                raise ValueError("albert_cl: output_value None needs a pooling other than 'none'")
            pooling, tokens = self._pooling, True
        else:
            raise ValueError(f"albert_cl: output_value {output_value!r}: expected "
                             "'sentence_embedding', 'token_embeddings' or None")

        prompt = _prompt_bytes(self._prompt(prompt, prompt_name))
        cut = self._truncation() if pooling else 0
        single = isinstance(texts, str)
        # Converted here, before any thread starts, so bad input raises plainly.
        records = [_as_record(t, i) for i, t in enumerate([texts] if single else texts)]
        with self._lock:
            self._check_open()
            H, W = self._width, cut or self._pooled_width
            pooled = np.zeros((len(records), W), dtype=np.float32) if pooling else None
            token_arrays = [] if tokens else None
            row_bytes, pooled_bytes = H * 4, W * 4

            def take(i, result):
                if pooled is not None:
                    ctypes.memmove(pooled.ctypes.data + i * pooled_bytes, result.pooled,
                                   pooled_bytes)
                if token_arrays is not None:
                    a = np.empty((result.rows, H), dtype=np.float32)
                    ctypes.memmove(a.ctypes.data, result.tokens, result.rows * row_bytes)
                    token_arrays.append(a)

            if records:
                normalize_cut = self._normalize_cut or (bool(normalize_embeddings) and
                                                        output_value == "sentence_embedding")
                self._run(records, batch_size, pooling, tokens, take, show_progress_bar, prompt,
                          cut, normalize_cut)

        if output_value == "sentence_embedding":
            pooled = _QUANTIZED[precision](pooled)
            out = pooled if convert_to_numpy else list(pooled)
            return out[0] if single else out
        if output_value == "token_embeddings":
            return token_arrays[0] if single else token_arrays
        out = [{"sentence_embedding": p, "token_embeddings": t} for p, t in zip(pooled, token_arrays)]
        return out[0] if single else out

    def _run(self, records, batch_size, pooling, tokens, take, progress, prompt, cut,
             normalize_cut):
        """Streams RECORDS through a scheduler made for this call: a thread
        pushes (PROMPT, bytes or None, before every text), this one takes the
        results in order and hands each to TAKE.  Called with the lock held."""
        side = self._side()  # before anything is made
        opt = _lib.SchedulerOptions()
        lib.albert_scheduler_options_init(ctypes.byref(opt))
        opt.config = self._config
        opt.tokenizer = self._tokenizer
        opt.engines = ctypes.cast(self._engine_array, ctypes.POINTER(ctypes.c_void_p))
        opt.engine_count = len(self._engines)
        opt.max_length = self._max_length
        opt.max_batch_size = batch_size
        opt.pooling = pooling
        # The Encoder's normalize comes before CUT, NORMALIZE_CUT after it
        # (without a cut the library takes it as normalize).
        opt.normalize = int(self._normalize)
        opt.normalize_truncated = int(normalize_cut)
        opt.truncate_dim = cut
        opt.strip_text = int(self._strip)
        opt.skip_last_layers = self._skip
        if self._layers is not None:
            opt.layers = ctypes.cast(self._layers, ctypes.POINTER(ctypes.c_int))
            opt.n_layers = len(self._layers)
            opt.layers_concat = self._concat
        opt.token_vectors = int(tokens and pooling != _lib.ALBERT_POOL_NONE)
        opt.head = self._head if pooling != _lib.ALBERT_POOL_NONE else None
        opt.pooling_modes = self._pooling_modes if pooling != _lib.ALBERT_POOL_NONE else 0
        opt.exclude_prompt = int(self._exclude_prompt)

        err = _lib.AlbertErrorStruct()
        sched = ctypes.c_void_p()
        _check(lib.albert_scheduler_create(ctypes.byref(opt), ctypes.byref(sched), ctypes.byref(err)), err)
        pusher = _Pusher(sched, records, prompt, side)
        try:
            pusher.start()
            result = ctypes.POINTER(_lib.Result)()
            done, last_report = 0, 0.0
            while True:
                # Blocks in C with the GIL released: the pusher runs meanwhile.
                # (A Ctrl-C is seen when this returns, i.e. at the next result.)
                rc = lib.albert_scheduler_next(sched, ctypes.byref(result), ctypes.byref(err))
                if rc != _lib.ALBERT_OK:
                    if pusher.error is not None:  # the cancel came from the pusher
                        raise pusher.error
                    _check(rc, err)
                if not result:
                    break  # every record is back
                r = result.contents
                if r.status != _lib.ALBERT_OK:
                    raise AlbertError(_str(r.message), _status_name(r.status), r.status,
                                      index=r.index)
                if (pooling and not r.pooled) or (tokens and not r.tokens):
                    # Cannot happen with a library that keeps its header's
                    # word; checked because memmove from NULL would crash.
                    raise RuntimeError(f"albert_cl: record {r.index} came back without vectors")
                take(r.index, r)
                done += 1
                if progress and (time.monotonic() - last_report > 0.2 or done == len(records)):
                    last_report = time.monotonic()
                    print(f"\ralbert_cl: {done}/{len(records)} encoded", end="", file=sys.stderr,
                          flush=True)
            if progress:
                print(file=sys.stderr)
        finally:
            # Wakes a push that waits for room; harmless after a normal end.
            lib.albert_scheduler_cancel(sched)
            if pusher.ident is not None:  # started
                pusher.join()
            lib.albert_scheduler_free(sched)
