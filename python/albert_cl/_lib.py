"""ctypes declarations of libalbertcl (include/albert_cl.h, soname 12) and the
search for the shared library.

The structures mirror the header field by field, in order; ctypes lays them
out with the platform's C alignment rules, so that is all it takes.  Enums
are ints.  Keep this file in step with include/albert_cl.h.
"""

import ctypes
import ctypes.util
import os
import re
from pathlib import Path

# ------------------------------------------------------------------ constants

ALBERT_OK = 0
ALBERT_E_FORMAT = 2
ALBERT_E_INPUT = 3
ALBERT_E_CANCELLED = 9
ALBERT_ERRMSG_MAX = 512
ALBERT_DEVICE_AUTO = -1
ALBERT_PRECISION_COUNT = 4

ALBERT_TOKENIZER_SLOW = 0
ALBERT_TOKENIZER_FAST = 1

ALBERT_POOL_NONE = 0
ALBERT_POOL_POOLER = 1
ALBERT_POOL_CLS = 2
ALBERT_POOL_MEAN = 3
ALBERT_POOL_MAX = 4
ALBERT_POOL_MEAN_SQRT_LEN = 5
ALBERT_POOL_WEIGHTED_MEAN = 6
ALBERT_POOL_LAST_TOKEN = 7

# ------------------------------------------------------------------ structs

c_int32_p = ctypes.POINTER(ctypes.c_int32)
c_float_p = ctypes.POINTER(ctypes.c_float)

# void (*warn)(void *user, const char *message)
WARN_FUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)


class AlbertErrorStruct(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_int),
        ("row", ctypes.c_int),
        ("msg", ctypes.c_char * ALBERT_ERRMSG_MAX),
    ]


class Config(ctypes.Structure):
    _fields_ = [
        ("vocab_size", ctypes.c_int),
        ("embedding_size", ctypes.c_int),
        ("hidden_size", ctypes.c_int),
        ("num_hidden_layers", ctypes.c_int),
        ("num_hidden_groups", ctypes.c_int),
        ("inner_group_num", ctypes.c_int),
        ("num_attention_heads", ctypes.c_int),
        ("intermediate_size", ctypes.c_int),
        ("hidden_act", ctypes.c_int),  # albert_activation
        ("max_position_embeddings", ctypes.c_int),
        ("type_vocab_size", ctypes.c_int),
        ("layer_norm_eps", ctypes.c_float),
        ("pad_token_id", ctypes.c_int),
    ]


class EngineOptions(ctypes.Structure):
    _fields_ = [
        ("device", ctypes.c_int),
        ("threads", ctypes.c_int),
        ("timing", ctypes.c_int),
        ("tuning_file", ctypes.c_char_p),
        ("no_tuning", ctypes.c_int),
        ("tuning_dir", ctypes.c_char_p),
        ("kernel_dir", ctypes.c_char_p),
        ("cache_dir", ctypes.c_char_p),
        ("warn", WARN_FUNC),
        ("warn_user", ctypes.c_void_p),
        ("precision", ctypes.c_int),  # albert_precision
    ]


class DeviceInfo(ctypes.Structure):
    _fields_ = [
        ("index", ctypes.c_int),
        ("id", ctypes.c_char * 16),
        ("backend", ctypes.c_char * 16),
        ("platform", ctypes.c_char * 128),
        ("name", ctypes.c_char * 128),
        ("type", ctypes.c_char * 16),
        ("compute_units", ctypes.c_int),
        ("global_mem_bytes", ctypes.c_uint64),
        ("driver_version", ctypes.c_char * 64),
        ("device_version", ctypes.c_char * 64),
        ("fp16", ctypes.c_int),
        ("precisions", ctypes.c_char * 32),
        ("tuning_profile", ctypes.c_char * 128),
    ]


class SchedulerOptions(ctypes.Structure):
    _fields_ = [
        ("config", ctypes.POINTER(Config)),
        ("tokenizer", ctypes.c_void_p),
        ("engines", ctypes.POINTER(ctypes.c_void_p)),  # albert_engine *const *
        ("engine_count", ctypes.c_int),
        ("reference", ctypes.c_void_p),
        ("max_length", ctypes.c_int),
        ("max_batch_tokens", ctypes.c_int),
        ("max_batch_size", ctypes.c_int),
        ("pooling", ctypes.c_int),  # albert_pooling
        ("normalize", ctypes.c_int),
        ("token_vectors", ctypes.c_int),
        ("tokenize_threads", ctypes.c_int),
        ("window", ctypes.c_int),
        ("max_wait_ms", ctypes.c_int),
        ("strip_text", ctypes.c_int),
        ("skip_last_layers", ctypes.c_int),
        ("layers", ctypes.POINTER(ctypes.c_int)),
        ("n_layers", ctypes.c_int),
        ("layers_concat", ctypes.c_int),
        ("head", ctypes.c_void_p),  # const albert_head *
        ("pooling_modes", ctypes.c_uint),
        ("exclude_prompt", ctypes.c_int),
        ("truncate_dim", ctypes.c_int),
        ("normalize_truncated", ctypes.c_int),
    ]


class SentenceConfig(ctypes.Structure):
    _fields_ = [
        ("present", ctypes.c_int),
        ("pooling", ctypes.c_int),  # albert_pooling
        ("normalize", ctypes.c_int),
        ("max_length", ctypes.c_int),
        ("fast_tokenizer", ctypes.c_int),
        ("dense_modules", ctypes.c_int),
        ("dense_width", ctypes.c_int),
        ("include_prompt", ctypes.c_int),
        ("prompts", ctypes.c_int),
        ("default_prompt", ctypes.c_int),
        ("pooling_modes", ctypes.c_uint),
    ]


class Record(ctypes.Structure):
    # text, pair and prompt point into Python bytes objects (ctypes keeps them
    # alive in the structure); their lengths are explicit, so NULs inside are
    # fine.  prompt b"" is a prompt (a pointer, not NULL); None is none.
    _fields_ = [
        ("text", ctypes.c_char_p),
        ("text_len", ctypes.c_size_t),
        ("pair", ctypes.c_char_p),
        ("pair_len", ctypes.c_size_t),
        ("input_ids", c_int32_p),
        ("token_type_ids", c_int32_p),
        ("attention_mask", c_int32_p),
        ("n_ids", ctypes.c_int),
        ("prompt", ctypes.c_char_p),
        ("prompt_len", ctypes.c_size_t),
        ("error", ctypes.c_char_p),
        ("tag", ctypes.c_uint64),
        ("token_vectors", ctypes.c_int),
        ("truncation", ctypes.c_int),
    ]


class Result(ctypes.Structure):
    _fields_ = [
        ("index", ctypes.c_uint64),
        ("tag", ctypes.c_uint64),
        ("status", ctypes.c_int),
        ("message", ctypes.c_char_p),
        ("n_ids", ctypes.c_int),
        ("n_full", ctypes.c_int),
        ("input_ids", c_int32_p),
        ("token_type_ids", c_int32_p),
        ("pooled", c_float_p),
        ("tokens", c_float_p),
        ("rows", ctypes.c_int),
        ("reference_pooled", c_float_p),
        ("reference_tokens", c_float_p),
    ]


# ------------------------------------------------------------------ functions

_P = ctypes.c_void_p          # an opaque handle
_PP = ctypes.POINTER(ctypes.c_void_p)
_ERR = ctypes.POINTER(AlbertErrorStruct)
_INT = ctypes.c_int

# name: (restype, argtypes)
_SIGNATURES = {
    "albert_version": (ctypes.c_char_p, []),
    "albert_status_name": (ctypes.c_char_p, [_INT]),
    "albert_precision_name": (ctypes.c_char_p, [_INT]),
    "albert_model_open": (_INT, [ctypes.c_char_p, _PP, _ERR]),
    "albert_model_locate": (_INT, [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                   ctypes.c_size_t, _ERR]),
    "albert_model_close": (None, [_P]),
    "albert_model_config": (ctypes.POINTER(Config), [_P]),
    "albert_sentence_config_read": (_INT, [ctypes.c_char_p, ctypes.POINTER(SentenceConfig), _ERR]),
    "albert_sentence_prompt": (_INT, [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                      ctypes.c_size_t, _ERR]),
    "albert_head_open": (_INT, [ctypes.c_char_p, _PP, _ERR]),
    "albert_head_close": (None, [_P]),
    "albert_head_width_in": (_INT, [_P]),
    "albert_head_width_out": (_INT, [_P]),
    "albert_tokenizer_open_kind": (_INT, [ctypes.c_char_p, _INT, _PP, _ERR]),
    "albert_tokenizer_close": (None, [_P]),
    "albert_tokenize": (_INT, [_P, ctypes.c_char_p, ctypes.c_size_t,
                               ctypes.c_char_p, ctypes.c_size_t, _INT,
                               c_int32_p, c_int32_p, ctypes.POINTER(_INT),
                               ctypes.POINTER(_INT), _ERR]),
    "albert_tokenizer_truncation": (_INT, [_P]),
    "albert_tokenize_side": (_INT, [_P, ctypes.c_char_p, ctypes.c_size_t,
                                    ctypes.c_char_p, ctypes.c_size_t, _INT, _INT,
                                    c_int32_p, c_int32_p, ctypes.POINTER(_INT),
                                    ctypes.POINTER(_INT), _ERR]),
    "albert_engine_options_init": (None, [ctypes.POINTER(EngineOptions)]),
    "albert_device_count": (_INT, [ctypes.POINTER(_INT), _ERR]),
    "albert_device_info_get": (_INT, [_INT, ctypes.POINTER(EngineOptions),
                                      ctypes.POINTER(DeviceInfo), _ERR]),
    "albert_device_find": (_INT, [ctypes.c_char_p, ctypes.POINTER(_INT), _ERR]),
    "albert_engine_create": (_INT, [_P, ctypes.POINTER(EngineOptions), _PP, _ERR]),
    "albert_engine_free": (None, [_P]),
    "albert_engine_device_name": (ctypes.c_char_p, [_P]),
    "albert_scheduler_options_init": (None, [ctypes.POINTER(SchedulerOptions)]),
    "albert_scheduler_create": (_INT, [ctypes.POINTER(SchedulerOptions), _PP, _ERR]),
    "albert_scheduler_push": (_INT, [_P, ctypes.POINTER(Record), _ERR]),
    "albert_scheduler_finish": (_INT, [_P, _ERR]),
    "albert_scheduler_next": (_INT, [_P, ctypes.POINTER(ctypes.POINTER(Result)), _ERR]),
    "albert_scheduler_cancel": (None, [_P]),
    "albert_scheduler_free": (None, [_P]),
}

# Sanitizer runtimes must be the first library of the process: dlopen-ing a
# library linked against one (a build-asan tree) kills the interpreter
# outright, so the build-tree search skips those.
_SANITIZED = re.compile(rb"lib(asan|tsan|msan|hwasan|lsan)\.so")


# The first version whose structures and functions these mirror (0.13: the
# layers combined; 0.14: albert_model_locate; 0.15: albert_head, the Dense
# modules; 0.16: prompts, in albert_sentence_config, albert_record and
# albert_scheduler_options, and albert_sentence_prompt; 0.17: the
# scheduler's truncate_dim and normalize_truncated; 0.18: albert_record's
# token_vectors; 0.19: albert_record's truncation, albert_tokenize_side and
# albert_tokenizer_truncation).
_ABI_VERSION = (0, 19)


def _declare(lib):
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)  # AttributeError: a library older than 0.19.0
        fn.restype = restype
        fn.argtypes = argtypes
    # A library with the same symbols but smaller structures would ignore the
    # fields added since: refused, as older than these declarations.
    version = lib.albert_version().decode()
    if tuple(int(x) for x in version.split(".")[:2]) != _ABI_VERSION:
        raise AttributeError(f"libalbertcl {version}, not {_ABI_VERSION[0]}.{_ABI_VERSION[1]}.x "
                             "(whose structures this package mirrors)")
    return lib


def _build_tree_candidates():
    """build*/libalbertcl.so in each folder above this package, nearest first;
    "build" itself before the other build* folders of the same level."""
    here = Path(__file__).resolve().parent
    for folder in here.parents:
        found = sorted(folder.glob("build*/libalbertcl.so"),
                       key=lambda p: (p.parent.name != "build", p.parent.name))
        yield from found


def _candidates():
    """(what, how to load it) in search order, as the README says."""
    for path in _build_tree_candidates():
        try:
            sanitized = _SANITIZED.search(path.read_bytes())
        except OSError:
            sanitized = None
        if sanitized:
            yield f"{path} (skipped: linked against {sanitized.group(0).decode()})", None
        else:
            yield str(path), str(path)
    name = ctypes.util.find_library("albertcl")
    yield f"ctypes.util.find_library('albertcl') -> {name}", name
    yield "libalbertcl.so.12 (the loader's search path)", "libalbertcl.so.12"


def load_library():
    env = os.environ.get("ALBERT_CL_LIBRARY")
    if env:
        # An explicit choice: no falling back to some other build on failure.
        try:
            lib = _declare(ctypes.CDLL(env))
        except (OSError, AttributeError) as e:
            raise ImportError(f"albert_cl: cannot load ALBERT_CL_LIBRARY={env}: {e}") from e
        lib._albert_cl_path = env
        return lib
    tried = []
    for what, target in _candidates():
        if target is None:
            tried.append(what)
            continue
        try:
            lib = _declare(ctypes.CDLL(target))
        except (OSError, AttributeError) as e:
            tried.append(f"{what}: {e}")
            continue
        lib._albert_cl_path = target
        return lib
    raise ImportError("albert_cl: cannot load libalbertcl; set ALBERT_CL_LIBRARY to the "
                      "path of libalbertcl.so.  Tried:\n  " + "\n  ".join(tried))


lib = load_library()
