/*
 * albert_cl.h - ALBERT embeddings (HuggingFace AlbertModel + AlbertTokenizer
 * semantics) on OpenCL devices and on the host CPU.
 *
 * Conventions, as in SQLite and CLBlast:
 *   - every function that can fail returns an int status (ALBERT_OK == 0) and
 *     fills the caller-owned albert_error (which may be NULL) with a one-line
 *     message naming what failed and where;
 *   - handles are opaque and come in _open/_close or _create/_free pairs;
 *     every _close/_free accepts NULL and then does nothing;
 *   - other pointer arguments must be valid unless the call's comment says
 *     NULL is accepted (the error always is);
 *   - the library never allocates memory the caller must free with anything
 *     but the matching _close/_free;
 *   - arguments go: the handle, then inputs, then outputs, then the error; a
 *     buffer's length or capacity is passed beside it (a text and its byte
 *     length; the ids and their room, which max_length gives).
 *
 * State and threads.  Settings live in the handles; the library reads no
 * environment variable except, for the default kernel cache folder,
 * XDG_CACHE_HOME and HOME.  Two libraries below keep process-wide settings,
 * and this header says where they show (albert_engine_create,
 * albert_engine_run and albert_engine_submit).  Models and tokenizers are read-only once open: any
 * number of threads may use one at the same time, and engines of any number
 * of threads may share a model.  An engine is used by one thread at a time
 * (albert_engine_run, submit and wait, the timing calls); different
 * engines, on the same device or not, may be created and run concurrently.
 * The device calls may be made from any thread.
 *
 * A typical session:
 *
 *   albert_model *m; albert_tokenizer *tok; albert_engine *eng; albert_error err;
 *   albert_model_open("models/albert-base-v2", &m, &err);
 *   albert_tokenizer_open("models/albert-base-v2", &tok, &err);
 *   albert_engine_create(m, NULL, &eng, &err);
 *   albert_tokenize(tok, text, strlen(text), NULL, 0, 512, ids, types, &n, &n_full, &err);
 *   albert_batch b = { 1, n, ids, types, NULL };
 *   albert_outputs o = { .last_hidden_state = lhs, .pooled = pooled, .pooling = ALBERT_POOL_POOLER };
 *   albert_engine_run(eng, &b, &o, &err);
 */
#ifndef ALBERT_CL_H
#define ALBERT_CL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(ALBERT_BUILDING_LIBRARY) && defined(__GNUC__)
#define ALBERT_API __attribute__((visibility("default")))
#else
#define ALBERT_API
#endif

#define ALBERT_CL_VERSION "0.19.0"

/* The library's ALBERT_CL_VERSION, which a client loading it at run time
 * (the Python binding) compares with the one it was written for. */
ALBERT_API const char *albert_version(void);

/* ---------------------------------------------------------------- errors */

enum {
    ALBERT_OK = 0,
    ALBERT_E_IO = 1,          /* a file is missing or unreadable */
    ALBERT_E_FORMAT = 2,      /* a file's contents are corrupt or inconsistent */
    ALBERT_E_INPUT = 3,       /* user input is invalid (bad UTF-8, id out of range) */
    ALBERT_E_ARG = 4,         /* an API argument is invalid */
    ALBERT_E_NOMEM = 5,       /* out of host memory */
    ALBERT_E_DEVICE = 6,      /* an OpenCL or CLBlast call failed */
    ALBERT_E_UNSUPPORTED = 7, /* valid but not supported (e.g. relative positions) */
    ALBERT_E_CAPACITY = 8,    /* the model or a batch shape does not fit the device's memory */
    ALBERT_E_CANCELLED = 9    /* albert_scheduler_cancel ended the call */
};

#define ALBERT_ERRMSG_MAX 512

typedef struct albert_error {
    int code;                    /* ALBERT_OK or one of ALBERT_E_* */
    /* The batch row an ALBERT_E_INPUT of albert_batch_check (and so of
     * albert_engine_run and albert_engine_submit) is about, its message then starting "batch row
     * ROW: "; -1 otherwise.  Lets a caller name its own record instead. */
    int row;
    char msg[ALBERT_ERRMSG_MAX]; /* one line, no trailing newline */
} albert_error;

/* "ALBERT_E_IO", ... ; never NULL. */
ALBERT_API const char *albert_status_name(int code);

/* ---------------------------------------------------------------- config */

typedef enum albert_activation {
    ALBERT_ACT_GELU = 0,    /* "gelu", "gelu_python": exact erf GELU */
    ALBERT_ACT_GELU_TANH,   /* "gelu_new", "gelu_pytorch_tanh", "gelu_fast" */
    ALBERT_ACT_RELU,        /* "relu" */
    ALBERT_ACT_SILU,        /* "silu", "swish" */
    ALBERT_ACT_TANH,        /* "tanh" */
    ALBERT_ACT_QUICK_GELU   /* "quick_gelu": x * sigmoid(1.702 x) */
} albert_activation;

/* The AlbertConfig fields that matter for inference.  Fields missing from
 * config.json take AlbertConfig's defaults. */
typedef struct albert_config {
    int vocab_size;              /* 30000 */
    int embedding_size;          /* 128 */
    int hidden_size;             /* 4096 */
    int num_hidden_layers;       /* 12 */
    int num_hidden_groups;       /* 1 */
    int inner_group_num;         /* 1 */
    int num_attention_heads;     /* 64 */
    int intermediate_size;       /* 16384 */
    albert_activation hidden_act;/* gelu_new */
    int max_position_embeddings; /* 512 */
    int type_vocab_size;         /* 2 */
    float layer_norm_eps;        /* 1e-12 */
    int pad_token_id;            /* 0 */
} albert_config;

/* Fills *cfg with AlbertConfig's defaults. */
ALBERT_API void albert_config_init(albert_config *cfg);

/* Reads DIR/config.json into *cfg (defaults first, then the file's values).
 * Rejects malformed JSON, wrong types, sizes outside their bounds (at least
 * 1; at most 2^24 for vocab_size, 2^18 for intermediate_size, 65536 for the
 * other sizes, 4096 heads, 1024 layers, groups or inner layers, and 1024
 * layers stored or run: host/core/config.h), hidden_size not a multiple of
 * num_attention_heads, layer_norm_eps outside [FLT_MIN, 1), unknown
 * hidden_act and any position_embedding_type other than "absolute".  The
 * error names the file, the key and the bound. */
ALBERT_API int albert_config_load(const char *dir, albert_config *cfg, albert_error *err);

/* Name of an activation as config.json spells it ("gelu", "gelu_new", ...). */
ALBERT_API const char *albert_activation_name(albert_activation act);

/* ---------------------------------------------------------------- model */

typedef struct albert_model albert_model;

/* Loads a HuggingFace model folder: config.json and model.safetensors, or
 * where there is none pytorch_model.bin (torch.save's zip or legacy format,
 * read without running its pickle: a state dict of tensors).
 * Weights F32, F16 or BF16; tensor names with or without the "albert."
 * prefix; the masked-LM head is ignored.  Every shape is checked against the
 * config. */
ALBERT_API int albert_model_open(const char *dir, albert_model **out, albert_error *err);

/* The model folder NAME means, into DIR (SIZE bytes): NAME itself when it is
 * a folder, else the snapshot of a model the Hugging Face hub cache holds (what
 * transformers, sentence-transformers or huggingface-cli downloaded), NAME
 * being its repo id, "albert-base-v2" or "ORG/NAME", with "@REVISION" (a
 * branch, tag or commit) or without (main): HUB_CACHE/models--ORG--NAME/
 * snapshots/COMMIT, COMMIT read from refs/REVISION.  HUB_CACHE NULL or "":
 * where huggingface_hub looks, $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE,
 * $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub.
 * Nothing is downloaded.  ALBERT_E_IO naming NAME and where it looked;
 * ALBERT_E_FORMAT for a download that is there but broken (a refs file that
 * holds no commit, or names a snapshot that is missing); ALBERT_E_ARG for NULL
 * NAME or DIR, or a DIR too small (DIR is then ""). */
ALBERT_API int albert_model_locate(const char *name, const char *hub_cache, char *dir,
                                   size_t size, albert_error *err);
/* Frees MODEL; every engine created for it must be freed first.  NULL: no-op. */
ALBERT_API void albert_model_close(albert_model *model);
ALBERT_API const albert_config *albert_model_config(const albert_model *model);

/* ---------------------------------------------------------------- tokenizer */

typedef struct albert_tokenizer albert_tokenizer;

/* HuggingFace has two ALBERT tokenizers, and they give different ids on
 * about a third of real lines (whitespace runs, digits with commas, words
 * ending in <unk>, text around punctuation). */
typedef enum albert_tokenizer_kind {
    /* DIR/spiece.model (and DIR/tokenizer_config.json when present, for
     * do_lower_case, remove_space and keep_accents): the sentencepiece-based
     * AlbertTokenizer of transformers <= 4.x. */
    ALBERT_TOKENIZER_SLOW = 0,
    /* DIR/tokenizer.json: what HF tokenizers does with it, i.e.
     * AlbertTokenizerFast of transformers 4.x and the AlbertTokenizer of
     * transformers 5.x.  A file that asks for anything not implemented (a
     * normalizer, pre-tokenizer, model or post-processor type) fails with
     * ALBERT_E_UNSUPPORTED naming the file and the JSON path. */
    ALBERT_TOKENIZER_FAST = 1
} albert_tokenizer_kind;

/* albert_tokenizer_open_kind(DIR, ALBERT_TOKENIZER_SLOW, ...). */
ALBERT_API int albert_tokenizer_open(const char *dir, albert_tokenizer **out, albert_error *err);
ALBERT_API int albert_tokenizer_open_kind(const char *dir, albert_tokenizer_kind kind,
                                          albert_tokenizer **out, albert_error *err);
/* NULL: no-op. */
ALBERT_API void albert_tokenizer_close(albert_tokenizer *tok);

#define ALBERT_CLS_ID 2
#define ALBERT_SEP_ID 3

/* Encodes TEXT (and PAIR when not NULL) the way the tokenizer's kind does
 * with HF's truncation=True: [CLS] A [SEP] or [CLS] A [SEP] B [SEP],
 * token_type_ids 1 on B (the fast kind: as tokenizer.json's
 * TemplateProcessing says).  Added tokens written in the text ([CLS],
 * [SEP], <pad>, <unk>, [MASK], exact case; the fast kind: the file's
 * added_tokens) become their ids, counted like any other token in
 * truncation.  IDS and TYPE_IDS must hold MAX_LENGTH entries.  When the
 * encoding is longer than MAX_LENGTH it is truncated keeping the special
 * tokens, longest-first for pairs (the slow kind drops one token at a time
 * from the longer part, B on ties; the fast kind splits the budget as HF
 * tokenizers does); *N gets the stored length and *N_FULL the untruncated
 * one, so the caller can warn.  Fails with ALBERT_E_INPUT on invalid UTF-8
 * and ALBERT_E_ARG when MAX_LENGTH cannot hold the special tokens.  Memory
 * stays bounded on texts of any length: the text is encoded in pieces cut
 * at whitespace, which gives the ids of the whole text (a run of over
 * 64 KiB without whitespace is cut between two characters, where a piece
 * across the cut can differ; past about a megabyte the slow kind's *N_FULL
 * can differ from sentencepiece's whole-text count, whose float sums drift).
 * Any number of threads may tokenize with one tokenizer at the same time. */
ALBERT_API int albert_tokenize(const albert_tokenizer *tok,
                               const char *text, size_t text_len,
                               const char *pair, size_t pair_len,
                               int max_length, int32_t *ids, int32_t *type_ids,
                               int *n, int *n_full, albert_error *err);

/* Which end of a text too long for max_length truncation cuts (HF's
 * truncation_side, TEI's truncation_direction). */
typedef enum albert_truncation {
    ALBERT_TRUNCATE_RIGHT = 0, /* its last tokens go (HF's default) */
    ALBERT_TRUNCATE_LEFT = 1   /* its first tokens go: its end is kept */
} albert_truncation;

/* The side HF's tokenizer loaded from the folder cuts at: its
 * tokenizer_config.json's "truncation_side", else (the fast kind)
 * tokenizer.json's truncation.direction, else ALBERT_TRUNCATE_RIGHT (also
 * for NULL); albert_tokenize itself always cuts on the right.  A value
 * other than "right" or "left" (null: none) fails albert_tokenizer_open,
 * as does a tokenizer_config.json that is not a JSON object, for either
 * kind. */
ALBERT_API albert_truncation albert_tokenizer_truncation(const albert_tokenizer *tok);

/* albert_tokenize cutting at SIDE: with ALBERT_TRUNCATE_LEFT each part
 * keeps its last tokens, as many as on the right (longest-first counts are
 * the same), the special tokens where they are (HF's truncation_side
 * "left").  Another SIDE is ALBERT_E_ARG.  The kept ids then come from the
 * end of a text, where the two limits above reach them: a run of over
 * 64 KiB without whitespace among the last max_length tokens, or (the slow
 * kind) a text of more than about a megabyte, can keep ids that differ from
 * HF's whole-text encoding. */
ALBERT_API int albert_tokenize_side(const albert_tokenizer *tok,
                                    const char *text, size_t text_len,
                                    const char *pair, size_t pair_len,
                                    int max_length, albert_truncation side,
                                    int32_t *ids, int32_t *type_ids,
                                    int *n, int *n_full, albert_error *err);

/* The token ID stands for, NUL-terminated in DST (SIZE bytes; a longer one
 * is cut at SIZE - 1 bytes): a sentencepiece piece ("\xe2\x96\x81hello",
 * its leading U+2581 marking a word start), a special token ("[CLS]"), or
 * with the fast kind an added token's content, as HF's convert_ids_to_tokens
 * gives it.  ALBERT_E_ARG (and DST "") when no token has ID. */
ALBERT_API int albert_tokenizer_piece(const albert_tokenizer *tok, int32_t id, char *dst,
                                      size_t size, albert_error *err);

/* How many special tokens albert_tokenize puts before and after a single
 * text: 1 and 1 for [CLS] A [SEP]; the fast kind: as tokenizer.json's
 * post_processor says (0 and 0 without one). */
ALBERT_API int albert_tokenizer_specials(const albert_tokenizer *tok, int *before, int *after,
                                         albert_error *err);

/* ---------------------------------------------------------------- precision */

/* The number format an engine computes in.  FP32 is HF-exact (within 1e-4
 * of the float64 goldens); the others trade accuracy for speed, and a device
 * runs those albert_device_info.precisions lists. */
typedef enum albert_precision {
    ALBERT_PRECISION_FP32 = 0,
    /* bfloat16 GEMM inputs (weights converted once at load), float32
     * accumulation, LayerNorm, softmax, activations and residuals: the CPU
     * backend on CPUs with AVX512-BF16 or AMX (oneDNN). */
    ALBERT_PRECISION_BF16,
    /* float16 Linear weights (converted once at load), float32 arithmetic:
     * every OpenCL device (vload_half is core OpenCL C; cl_khr_fp16 is not
     * needed). */
    ALBERT_PRECISION_FP16,
    /* int8 GEMMs: weights quantized symmetrically per output channel once at
     * load, activations asymmetrically per token at run time, int32
     * accumulation, scales, bias and everything else in float32: the CPU
     * backend on CPUs with AVX512-VNNI or AMX (oneDNN). */
    ALBERT_PRECISION_INT8
} albert_precision;

#define ALBERT_PRECISION_COUNT 4

/* "fp32", "bf16", "fp16", "int8"; "?" for anything else. */
ALBERT_API const char *albert_precision_name(int precision);

/* ---------------------------------------------------------------- engine options */

typedef struct albert_engine_options {
    int device;               /* ALBERT_DEVICE_AUTO or a device index (albert_device_find) */
    int threads;              /* host threads for the CPU backend; 0 = all cores */
    int timing;               /* 1: collect per-kernel timings (albert_engine_timing_get) */
    /* OpenCL devices: the tuning profile (profiles/README.md: CLBlast's GEMM
     * parameters and our kernels' shapes for one class of device). */
    const char *tuning_file;  /* force this profile; NULL: the best match in tuning_dir */
    int no_tuning;            /* 1: no profile, CLBlast's and our kernels' defaults */
    const char *tuning_dir;   /* NULL or "": the installed profiles (beside the library,
                                 then at the configured prefix) and the source tree's
                                 profiles/ */
    /* OpenCL devices: our kernels' sources and compiled-program cache. */
    const char *kernel_dir;   /* build from KERNEL_DIR/ *.cl; NULL or "": the sources
                                 embedded in the library */
    const char *cache_dir;    /* NULL: $XDG_CACHE_HOME/albert-cl, else $HOME/.cache/albert-cl;
                                 "": no cache */
    /* Problems that cost time but not correctness, e.g. a cache folder that
     * cannot be written (every engine then compiles its kernels again) or a
     * corrupt cache entry that was deleted.  WARN (NULL: no warnings) is
     * called with WARN_USER and a one-line message naming the folder or file
     * and the reason, from inside albert_engine_create, albert_engine_run or
     * albert_engine_submit and so from their thread, at most once per problem
     * per engine. */
    void (*warn)(void *user, const char *message);
    void *warn_user;
    /* albert_precision; one the device does not run (albert_device_info
     * .precisions) is ALBERT_E_UNSUPPORTED from albert_engine_create. */
    int precision;
} albert_engine_options;

/* Fills *OPT with the defaults: ALBERT_DEVICE_AUTO, everything else 0/NULL
 * (so no warnings). */
ALBERT_API void albert_engine_options_init(albert_engine_options *opt);

/* ---------------------------------------------------------------- devices */

/* The library's device registry: every OpenCL device of every platform, in
 * the ICD loader's platform then device order, at indices 0, 1, ...; then
 * the host CPU backend, last.  Indices are stable for as long as the
 * installed drivers are; an OpenCL device's id is its index in decimal
 * ("0", "1", ...), the CPU's is "cpu". */

#define ALBERT_DEVICE_AUTO (-1) /* first GPU, else the first device (OpenCL before the CPU) */

typedef struct albert_device_info {
    int index;                /* what albert_engine_options.device takes */
    char id[16];              /* "0", "1", ..., "cpu": what albert_device_find takes */
    char backend[16];         /* "opencl" or "cpu" */
    char platform[128];       /* the OpenCL platform; "host" for the CPU */
    char name[128];           /* the device; "host CPU backend" */
    char type[16];            /* "GPU", "CPU", "ACCELERATOR", "OTHER" */
    int compute_units;        /* the CPU: its online cores */
    uint64_t global_mem_bytes;/* the CPU backend's: the host's RAM */
    char driver_version[64];  /* the CPU: its GEMM library and ISA ("oneDNN 2.6.3 avx2") */
    char device_version[64];  /* "OpenCL 3.0 ..."; "" for the CPU */
    int fp16;                 /* cl_khr_fp16 present (half arithmetic;
                               * the fp16 precision does not need it) */
    char precisions[32];      /* the precisions an engine on it runs, comma-separated
                                 albert_precision_name()s: "fp32", "fp32,bf16" */
    char tuning_profile[128]; /* the tuning profile an engine with the options given to
                                 albert_device_info_get applies, "" if none */
} albert_device_info;

/* Number of devices, the CPU included (so at least 1).  A backend that finds
 * no device at all says why in err->msg ("OpenCL: no OpenCL platform found
 * (...)") with code ALBERT_OK. */
ALBERT_API int albert_device_count(int *count, albert_error *err);

/* Describes device INDEX (ALBERT_DEVICE_AUTO: the one an engine would
 * pick).  OPT (NULL: the defaults) says where tuning profiles come from, so
 * info->tuning_profile is what an engine created with OPT would apply; a
 * malformed profile in that folder is an error. */
ALBERT_API int albert_device_info_get(int index, const albert_engine_options *opt,
                                      albert_device_info *info, albert_error *err);

/* Whether the device INFO describes runs PRECISION (an albert_precision):
 * 1 when its precisions name it, else 0. */
ALBERT_API int albert_device_runs(const albert_device_info *info, int precision);

/* The index of the device whose id is ID ("0", "cpu", ...; leading zeros of
 * a number do not count: "01" is "1"); ALBERT_E_ARG naming the devices there
 * are when none has it. */
ALBERT_API int albert_device_find(const char *id, int *index, albert_error *err);

/* The host CPU backend's GEMM library and the instruction set it runs, e.g.
 * "oneDNN 2.6.3 avx512_core_bf16" (always NUL-terminated, truncated to SIZE). */
ALBERT_API void albert_blas_describe(char *dst, size_t size);

/* ---------------------------------------------------------------- engine */

typedef struct albert_engine albert_engine;

/* Creates an engine for MODEL on the device OPT names (NULL: the defaults);
 * MODEL must outlive it.  CLBlast keeps its GEMM parameters per device for
 * the whole process, so while an OpenCL engine is alive another engine on
 * the same device must ask for the same CLBlast parameters (a profile with
 * the same "clblast" section, or none where the first had none):
 * otherwise this fails with ALBERT_E_UNSUPPORTED instead of retuning the
 * first.  A model whose weights cannot fit the device's memory is
 * ALBERT_E_CAPACITY, before anything is uploaded. */
ALBERT_API int albert_engine_create(const albert_model *model, const albert_engine_options *opt,
                                    albert_engine **out, albert_error *err);
/* Frees ENGINE (NULL: no-op). */
ALBERT_API void albert_engine_free(albert_engine *engine);

/* The device index the engine runs on (albert_device_info_get takes it). */
ALBERT_API int albert_engine_device(const albert_engine *engine);

/* "cpu (oneDNN 2.6.3 avx2, 2 threads)" or "OpenCL 0: <platform> / <device>, profile
 * <name>" ("..., no profile" when none applies).  Lives as long as ENGINE. */
ALBERT_API const char *albert_engine_device_name(const albert_engine *engine);

/* A padded batch: row b's tokens are input_ids[b*seq_len .. b*seq_len+seq_len). */
typedef struct albert_batch {
    int batch_size;
    int seq_len;
    const int32_t *input_ids;      /* [batch_size*seq_len] */
    const int32_t *token_type_ids; /* same shape, or NULL for all 0 */
    const int32_t *attention_mask; /* same shape, 1 keep / 0 pad, or NULL for all 1 */
} albert_batch;

/* What albert_engine_run and albert_engine_submit check before running.  A NULL argument, a size
 * below 1 or no input_ids is an ALBERT_E_ARG; seq_len beyond
 * max_position_embeddings an ALBERT_E_INPUT with err->row -1; an id outside
 * the vocabulary, a token type outside type_vocab_size or a mask value other
 * than 0 or 1 an ALBERT_E_INPUT with err->row set to its row and a message
 * naming the position. */
ALBERT_API int albert_batch_check(const albert_config *cfg, const albert_batch *batch,
                                  albert_error *err);

typedef enum albert_pooling {
    ALBERT_POOL_NONE = 0,   /* no pooled output */
    ALBERT_POOL_POOLER,     /* HF pooler_output: tanh(W h[CLS] + b) */
    ALBERT_POOL_CLS,        /* last_hidden_state[:, 0] */
    ALBERT_POOL_MEAN,       /* mean of last_hidden_state over mask == 1 */
    ALBERT_POOL_MAX,        /* per value, the max of last_hidden_state over mask == 1
                               (sentence-transformers' max pooling; a NaN wins, and a
                               row with no unmasked token gives 0, where it gives
                               -1e9) */
    /* sentence-transformers' other modes, over the tokens whose mask is 1
     * (none: a zero vector): */
    ALBERT_POOL_MEAN_SQRT_LEN, /* their sum / sqrt(their count) (mean_sqrt_len_tokens) */
    ALBERT_POOL_WEIGHTED_MEAN, /* their mean weighted by position, t + 1 for token t
                                  ([CLS] 1): sum(w h) / sum(w) (weightedmean) */
    ALBERT_POOL_LAST_TOKEN     /* the last one's vector ([SEP] for a text) (lasttoken) */
} albert_pooling;

/* Caller-owned output buffers; NULL ones are not computed or transferred.
 * Values at padded positions are unspecified. */
typedef struct albert_outputs {
    /* W = albert_output_width: H, unless layers are concatenated (below) */
    float *last_hidden_state; /* [B, T, W] */
    float *hidden_states;     /* [1 + layers applied, B, T, H]: projection output, then
                                 each layer applied (L - skip_last_layers of them, or up
                                 to the highest of LAYERS) */
    float *pooled;            /* [B, W] per `pooling` */
    albert_pooling pooling;
    int normalize;            /* 1: L2-normalise each pooled row */
    /* 0: every layer (HF's last_hidden_state).  K in 1..L (L =
     * num_hidden_layers): the forward stops K layers early, and
     * last_hidden_state and the pooled vectors are HF's hidden_states[L - K]
     * (0: the embedding projection's output); the pooler, defined on the
     * last layer, is then an ALBERT_E_ARG. */
    int skip_last_layers;
    /* N_LAYERS > 0: the vectors last_hidden_state and the pooling hold are
     * several of HF's hidden_states combined instead of the last layer's:
     * the N_LAYERS distinct indices in LAYERS, each 0..L (0: the embedding
     * projection's output, l: layer l's), averaged value by value, or with
     * LAYERS_CONCAT concatenated in the order given, N_LAYERS * H values per
     * vector (albert_output_width).  The forward stops after the highest
     * index.  Not with skip_last_layers, nor with the pooler (ALBERT_E_ARG).
     * LAYERS is read during the call only (albert_engine_submit included). */
    const int *layers;
    int n_layers;
    int layers_concat;
} albert_outputs;

/* The values per vector of OUT's last_hidden_state and pooled rows: the
 * config's hidden_size, times OUT->n_layers when OUT->layers_concat (0 when
 * that is more layers than the config has hidden_states, or CONFIG is NULL;
 * OUT NULL: one layer's). */
ALBERT_API int albert_output_width(const albert_config *config, const albert_outputs *out);

/* ---------------------------------------------------------------- sentence-transformers */

/* What a sentence-transformers folder (modules.json beside config.json, as
 * SentenceTransformer.save writes it) asks of its sentence embeddings, so
 * that a client can give SentenceTransformer.encode's vectors by default:
 * the Pooling module's mode (its pooling_mode string, else its
 * pooling_mode_* flags), the Dense modules after it (albert_head_open
 * loads them), whether a Normalize module follows, and max_seq_length from sentence_bert_config.json (or the first of the other
 * names sentence-transformers tries, sentence_albert_config.json, ...).
 * sentence-transformers also strips every text of leading and trailing
 * whitespace (albert_text_strip; albert_scheduler_options.strip_text) and
 * tokenizes with AutoTokenizer: the fast kind, from tokenizer.json where it
 * is there, else converted from spiece.model (which albert-cl cannot do:
 * the slow kind differs on some texts).  Without max_seq_length it takes
 * min(max_position_embeddings, the tokenizer's model_max_length). */
typedef struct albert_sentence_config {
    int present;            /* 1: DIR has modules.json; the rest holds only then */
    albert_pooling pooling; /* any but ALBERT_POOL_NONE and ALBERT_POOL_POOLER */
    int normalize;          /* 1: a Normalize module ends the modules */
    int max_length;         /* max_seq_length; 0: not given */
    int fast_tokenizer;     /* 1: DIR/tokenizer.json exists */
    int dense_modules;      /* Dense modules after the Pooling one (0 to 8) */
    int dense_width;        /* the last one's out_features: values per sentence
                               embedding; 0 without Dense modules */
    /* Pooling's include_prompt (1 when the file does not say; like the rest,
     * 0 when PRESENT is 0); 0: the tokens of the prompt put before a text
     * are left out of its pooling, as for INSTRUCTOR models
     * (albert_scheduler_options.exclude_prompt). */
    int include_prompt;
    /* config_sentence_transformers.json's "prompts": how many, and whether its
     * "default_prompt_name" names one, which SentenceTransformer.encode puts
     * before every text unless told otherwise (albert_sentence_prompt). */
    int prompts;
    int default_prompt;
    /* Every mode the Pooling module turns on, as bits 1u << albert_pooling.
     * Several: its sentence embedding is their vectors end to end, in
     * sentence-transformers' order (CLS, MAX, MEAN, MEAN_SQRT_LEN,
     * WEIGHTED_MEAN, LAST_TOKEN), and POOLING is the first of them
     * (albert_scheduler_options.pooling_modes). */
    unsigned pooling_modes;
} albert_sentence_config;

/* Reads DIR/modules.json when there is one; without it *OUT is all 0 and the
 * call succeeds.  The modules must be a Transformer at DIR itself (path ""),
 * a Pooling module with any of its modes, any Dense modules (their
 * config.json read and checked: each in_features the previous one's
 * out_features, an activation albert_head runs), and optionally a Normalize
 * module: anything else (other modules, no pooling mode, do_lower_case
 * true) is ALBERT_E_UNSUPPORTED, a malformed file (prompts
 * that are not strings, a default_prompt_name that is not one of them)
 * ALBERT_E_FORMAT, an unreadable one ALBERT_E_IO, each naming the file;
 * *OUT is then all 0 too. */
ALBERT_API int albert_sentence_config_read(const char *dir, albert_sentence_config *out,
                                           albert_error *err);

/* The prompt called NAME in DIR/config_sentence_transformers.json's
 * "prompts" (NAME NULL: the one its "default_prompt_name" names) into
 * PROMPT, SIZE bytes with the NUL.  An unknown NAME (its message lists the
 * folder's prompts), NAME NULL without a default, or a prompt of SIZE bytes
 * or more is ALBERT_E_ARG and leaves PROMPT "" (also for NULL arguments);
 * the file's errors are albert_sentence_config_read's.  The prompt is not
 * checked to be UTF-8: albert_tokenize says whether it is. */
ALBERT_API int albert_sentence_prompt(const char *dir, const char *name, char *prompt,
                                      size_t size, albert_error *err);

/* The Dense modules of a sentence-transformers folder, which turn its pooled
 * vectors into its sentence embeddings: each activation(W x + b), as
 * sentence_transformers.models.Dense, W [out_features, in_features] and b
 * ("linear.weight", "linear.bias") from the module folder's
 * model.safetensors, else pytorch_model.bin, in F32, F16 or BF16; the
 * activation torch.nn's Identity, Tanh, ReLU, Sigmoid, GELU (exact) or SiLU.
 * Run on the host (a GEMV per vector: its cost is small beside the
 * model's).  Read only once opened: any threads may apply one head at once. */
typedef struct albert_head albert_head;

/* The Dense modules of DIR (albert_sentence_config_read's checks first);
 * *OUT NULL and ALBERT_OK when DIR has none (or no modules.json).  Errors as
 * albert_sentence_config_read's, and for the weights as albert_model_open's,
 * naming the file and the tensor. */
ALBERT_API int albert_head_open(const char *dir, albert_head **out, albert_error *err);
/* NULL: no-op. */
ALBERT_API void albert_head_close(albert_head *head);
/* Values per vector the first module takes and the last gives. */
ALBERT_API int albert_head_width_in(const albert_head *head);
ALBERT_API int albert_head_width_out(const albert_head *head);
/* IN [ROWS, width_in] through every module into OUT [ROWS, width_out] (not
 * overlapping IN).  ALBERT_E_ARG for NULL arguments or ROWS < 0,
 * ALBERT_E_NOMEM. */
ALBERT_API int albert_head_apply(const albert_head *head, const float *in, int rows, float *out,
                                 albert_error *err);

/* Python's str.strip() on the UTF-8 text *TEXT of *LEN bytes: moves *TEXT
 * past leading whitespace and shortens *LEN past trailing whitespace (the
 * characters str.isspace() is true of).  NULL arguments: no-op. */
ALBERT_API void albert_text_strip(const char **text, size_t *len);

/* ALBERT_OK when TEXT (LEN bytes) is strictly valid UTF-8, as albert_tokenize
 * wants it; else ALBERT_E_INPUT naming WHAT and the byte (0-based) where it
 * goes wrong, as albert_tokenize's message would.  NULL TEXT with LEN 0 is
 * valid; NULL WHAT reads "text". */
ALBERT_API int albert_text_check(const char *what, const char *text, size_t len,
                                 albert_error *err);

/* Whether a BATCH_SIZE x SEQ_LEN batch fits the engine's device: its
 * weights, the batch's buffers (and on the CPU the host's RAM) within the
 * memory the device reports, each buffer within its largest allocation.
 * ALBERT_E_CAPACITY otherwise, with what it needs, what the device has and
 * how many rows of SEQ_LEN tokens would fit.  Allocates nothing;
 * albert_engine_run and albert_engine_submit check every batch this way
 * before allocating. */
ALBERT_API int albert_engine_fits(const albert_engine *engine, int batch_size, int seq_len,
                                  albert_error *err);
/* The same for the outputs OUT asks (their width, layers combined: a buffer
 * of B x T combined vectors beside the others); albert_engine_fits plans
 * for one layer's vectors.  Allocates nothing, and reads no buffer of OUT. */
ALBERT_API int albert_engine_fits_outputs(const albert_engine *engine, int batch_size,
                                          int seq_len, const albert_outputs *out,
                                          albert_error *err);

/* Runs the forward pass after albert_batch_check and albert_engine_fits.  On the CPU backend the
 * calling thread's OpenMP team size is set to the engine's threads for the
 * call (and for albert_engine_submit's) and put back afterwards. */
ALBERT_API int albert_engine_run(albert_engine *engine, const albert_batch *batch,
                                 const albert_outputs *out, albert_error *err);

/* The most batches submitted and not yet waited for. */
#define ALBERT_ENGINE_MAX_IN_FLIGHT 2

/* albert_engine_run in two halves, so the host can prepare batch n+1 and
 * hand out batch n-1 while the device computes batch n.  Submit checks the
 * batch as run does and starts it: on an OpenCL device it queues the
 * upload, the forward and the downloads and returns before they finish (the
 * CPU backend runs the batch inside submit).  Wait waits for the oldest
 * batch submitted and returns its status.
 *
 * Until its wait returns, a submitted batch's arrays and output buffers
 * belong to the engine: the caller neither writes nor frees them, nor reads
 * the outputs (the albert_batch and albert_outputs structs themselves may go).
 * A submit that fails returns its error at once and leaves nothing of that
 * batch in flight; batches submitted before it are unaffected.  A submit
 * beyond ALBERT_ENGINE_MAX_IN_FLIGHT, a wait with nothing in flight and
 * albert_engine_run while batches are in flight are ALBERT_E_ARG.
 * albert_engine_free waits for batches in flight before freeing. */
ALBERT_API int albert_engine_submit(albert_engine *engine, const albert_batch *batch,
                                    const albert_outputs *out, albert_error *err);
ALBERT_API int albert_engine_wait(albert_engine *engine, albert_error *err);
/* Batches submitted and not yet waited for (0 for NULL). */
ALBERT_API int albert_engine_in_flight(const albert_engine *engine);
/* 1 when albert_engine_submit returns before the device has finished (OpenCL
 * devices), 0 when it runs the batch itself (the CPU backend, NULL): whether
 * preparing the next batch while one is in flight can gain anything. */
ALBERT_API int albert_engine_is_async(const albert_engine *engine);

/* ---------------------------------------------------------------- scheduler */

/* A scheduler runs a stream of records through tokenizing, batching and one
 * or more engines at once, and hands back one result per record in the
 * order the records were pushed:
 *
 *   push (any thread) -> tokenizer threads -> windows of records sorted by
 *   length -> batches of up to max_batch_tokens -> one thread per engine,
 *   each taking the next batch when it is free -> next (in push order)
 *
 * Memory is bounded: push blocks while 4 windows of records are in flight,
 * so the thread that calls albert_scheduler_next must not be the one that
 * pushes (or must not push more than albert_scheduler_room allows).  The
 * engines, the tokenizer and the config must outlive the scheduler, and no
 * one else may use its engines meanwhile. */
typedef struct albert_scheduler albert_scheduler;

typedef struct albert_scheduler_options {
    const albert_config *config;        /* required: ids are checked against it */
    const albert_tokenizer *tokenizer;  /* NULL: every record must bring its ids */
    albert_engine *const *engines;      /* the devices, one engine each */
    int engine_count;                   /* 0: tokenize only (results carry ids) */
    /* An engine also run on every batch (--validate: the fp32 CPU); its
     * vectors come back beside the engines'.  NULL: none. */
    albert_engine *reference;
    int max_length;         /* tokens per record (0: max_position_embeddings): texts are
                               truncated to it, longer pre-tokenized records fail */
    int max_batch_tokens;   /* rows x padded length per batch; 0: per engine, 16384 on a
                               GPU, 4096 on other devices (a record longer goes alone);
                               a batch also ends where its pads would pass 1/32 of it */
    int max_batch_size;     /* rows per batch; 0: 256 */
    albert_pooling pooling; /* NONE: the vectors of every token whose mask is 1 */
    int normalize;          /* L2-normalise pooled vectors */
    int token_vectors;      /* 1: token vectors too when pooling is not NONE (for every
                               record; albert_record.token_vectors: for one) */
    int tokenize_threads;   /* 0: half the cores, 1 to 8 */
    int window;             /* records sorted by length together; 0: 1024 (64 with
                               ALBERT_POOL_NONE or token_vectors) */
    /* A window that holds records waits at most this long for more before it
     * is batched (a slow stream, a server); 0: until it is full or
     * albert_scheduler_finish. */
    int max_wait_ms;
    /* 1: texts and pairs lose leading and trailing whitespace
     * (albert_text_strip) before they are tokenized, as sentence-transformers
     * does; pre-tokenized records are used as given. */
    int strip_text;
    /* albert_outputs.skip_last_layers of every batch: the vectors of HF's
     * hidden_states[L - skip_last_layers] (0: the last layer's).  Not with
     * ALBERT_POOL_POOLER. */
    int skip_last_layers;
    /* albert_outputs.layers, .n_layers and .layers_concat of every batch
     * (LAYERS is copied by albert_scheduler_create): results then hold
     * albert_scheduler_width values per vector. */
    const int *layers;
    int n_layers;
    int layers_concat;
    /* Not NULL: every pooled vector goes through this head (a
     * sentence-transformers folder's Dense modules) and then, with
     * NORMALIZE, is L2-normalised; results' pooled vectors then hold
     * albert_scheduler_pooled_width values.  Its width_in must be the
     * pooled vectors' width (albert_scheduler_width times the pooling
     * modes); not with ALBERT_POOL_NONE.  It must outlive the
     * scheduler. */
    const albert_head *head;
    /* More than one bit (1u << albert_pooling, POOLING among them, none
     * NONE or POOLER): the pooled vector is each of these modes' vectors end
     * to end, in sentence-transformers' order (albert_sentence_config's),
     * pooled on the host from the engine's token vectors: as many times
     * albert_scheduler_width values (the head's width_in then).  0 or
     * POOLING's bit alone: POOLING. */
    unsigned pooling_modes;
    /* 1: the pooling of a record that brings a prompt leaves out the
     * prompt's tokens, as sentence-transformers' Pooling with include_prompt
     * false: the first K positions, K being the prompt's ids tokenized alone
     * (stripped with STRIP_TEXT) less its [SEP] (0 when it has no ids).
     * This pooling runs on the host, from the engine's token vectors.  A
     * record left with no token to pool fails alone (ALBERT_E_INPUT), where
     * sentence-transformers pools nothing.  No effect on CLS or POOLER. */
    int exclude_prompt;
    /* > 0: results' pooled vectors keep only their first TRUNCATE_DIM
     * values, cut after the head and NORMALIZE, as SentenceTransformer's
     * truncate_dim cuts a Matryoshka model's sentence embeddings: a vector
     * NORMALIZE made unit-length is then shorter.  More than the pooled
     * width (albert_scheduler_pooled_width without it), or with
     * ALBERT_POOL_NONE, is ALBERT_E_ARG. */
    int truncate_dim;
    /* 1: L2-normalise the vectors as results give them, after TRUNCATE_DIM's
     * cut (SentenceTransformer.encode's normalize_embeddings, OpenAI's
     * "dimensions"); without TRUNCATE_DIM it is NORMALIZE. */
    int normalize_truncated;
} albert_scheduler_options;

/* Fills *OPT with the defaults above (no config: the caller sets it). */
ALBERT_API void albert_scheduler_options_init(albert_scheduler_options *opt);

/* One input record.  Everything is copied by albert_scheduler_push. */
typedef struct albert_record {
    const char *text;   /* UTF-8; NULL for a pre-tokenized record */
    size_t text_len;
    const char *pair;   /* a second sentence, or NULL */
    size_t pair_len;
    const int32_t *input_ids;      /* pre-tokenized: n_ids ids, else NULL */
    const int32_t *token_type_ids; /* NULL: all 0 */
    const int32_t *attention_mask; /* NULL: all 1 */
    int n_ids;
    /* Not NULL: put before TEXT (before the first sentence of a pair), as
     * SentenceTransformer.encode's prompt; its ids are part of the record's.
     * Not with input_ids; not UTF-8 is ALBERT_E_ARG at push. */
    const char *prompt;
    size_t prompt_len;
    /* Not NULL: the record is already known to be bad (its line did not
     * parse); it keeps its place and comes back as this ALBERT_E_INPUT. */
    const char *error;
    uint64_t tag;       /* the caller's, handed back in the result */
    /* 1: this record's result carries its token vectors (tokens, rows) even
     * when the scheduler's options ask for none (a server's one request
     * that wants them among others that do not).  Such records do not
     * shrink the window as the option does: their results hold rows x
     * albert_scheduler_width floats each until they are taken.  A batch's
     * token buffer is allocated the first time one needs it; when that
     * fails, the records that asked fail alone (ALBERT_E_NOMEM). */
    int token_vectors;
    /* Where a text (or pair) longer than max_length is cut: its end
     * (ALBERT_TRUNCATE_RIGHT, 0) or its start (ALBERT_TRUNCATE_LEFT, HF's
     * truncation_side "left"; a prompt, at the start, goes first).  Not for
     * input_ids; another value is ALBERT_E_ARG at push. */
    albert_truncation truncation;
} albert_record;

/* One record's outcome, valid until the next albert_scheduler_next or
 * albert_scheduler_free.  A record that fails alone (invalid UTF-8, an id
 * out of range, a non-finite output) has STATUS != ALBERT_OK and MESSAGE
 * saying why; everything else is then NULL/0. */
typedef struct albert_result {
    uint64_t index;                /* 0, 1, 2, ... in push order */
    uint64_t tag;
    int status;
    const char *message;           /* "" when STATUS is ALBERT_OK */
    int n_ids;                     /* tokens after truncation */
    int n_full;                    /* before truncation */
    const int32_t *input_ids;
    const int32_t *token_type_ids; /* a text pair's types; NULL for a single text or ids */
    /* width = albert_scheduler_width: hidden_size unless layers are concatenated */
    const float *pooled;           /* [albert_scheduler_pooled_width] or NULL (pooling
                                      NONE, tokenize only) */
    const float *tokens;           /* [rows, width]: tokens whose mask is 1, or NULL */
    int rows;
    const float *reference_pooled; /* the reference engine's, or NULL */
    const float *reference_tokens;
} albert_result;

/* Starts the threads.  Checks that every batch each engine may get fits it
 * (ALBERT_E_CAPACITY naming the engine otherwise); an engine given twice, or
 * also as the reference, is ALBERT_E_ARG. */
ALBERT_API int albert_scheduler_create(const albert_scheduler_options *opt,
                                       albert_scheduler **out, albert_error *err);

/* Queues RECORD (its index is the number of records pushed before it);
 * blocks while the scheduler holds as many records as it may (once full,
 * until a window's worth is free).  Any thread; ALBERT_E_CANCELLED after
 * albert_scheduler_cancel, ALBERT_E_ARG after albert_scheduler_finish, and
 * after a failure that ended the run, that failure. */
ALBERT_API int albert_scheduler_push(albert_scheduler *s, const albert_record *record,
                                     albert_error *err);
/* No more records: the last window is batched without waiting. */
ALBERT_API int albert_scheduler_finish(albert_scheduler *s, albert_error *err);
/* Records that can be pushed now without blocking (0 after finish, cancel
 * or a failure). */
ALBERT_API size_t albert_scheduler_room(const albert_scheduler *s);

/* The next result in push order, waiting for it; *RESULT NULL once every
 * record pushed before albert_scheduler_finish has come back.  A failure
 * that is not one record's (a device error, out of memory) ends the run:
 * no new work starts, pushes fail with it, and next returns the results
 * already done in order, then the failure (from then on, every call). */
ALBERT_API int albert_scheduler_next(albert_scheduler *s, const albert_result **result,
                                     albert_error *err);
/* Results ready in order now (albert_scheduler_next will not wait). */
ALBERT_API size_t albert_scheduler_ready(const albert_scheduler *s);
/* The values per vector in S's results (albert_output_width of its
 * options); 0 for NULL. */
ALBERT_API int albert_scheduler_width(const albert_scheduler *s);
/* The values per pooled vector: truncate_dim when it is set, else the
 * head's width_out with a head, else albert_scheduler_width times the
 * pooling modes; 0 for NULL. */
ALBERT_API int albert_scheduler_pooled_width(const albert_scheduler *s);

/* Makes waiting and future push and next calls return ALBERT_E_CANCELLED
 * and the threads stop after their current batch.  Any thread, any time. */
ALBERT_API void albert_scheduler_cancel(albert_scheduler *s);
/* Cancels, joins the threads, frees.  No other thread may be inside a call
 * on S.  NULL: no-op. */
ALBERT_API void albert_scheduler_free(albert_scheduler *s);

/* Where the work went, so far. */
typedef struct albert_scheduler_device_stats {
    char name[160];          /* albert_engine_device_name */
    uint64_t batches;
    uint64_t records;
    uint64_t tokens;         /* without padding */
    uint64_t padded_tokens;  /* rows x padded length */
    uint64_t busy_ns;        /* waiting on its engine: in albert_engine_submit and
                              * albert_engine_wait (reference runs excluded); on an
                              * OpenCL device the host's own batch work overlaps
                              * the device's, and is not in here */
    uint64_t batch_ns;       /* padding batches, copying vectors out */
} albert_scheduler_device_stats;

typedef struct albert_scheduler_stats {
    uint64_t pushed;         /* records */
    uint64_t returned;
    uint64_t tokens;         /* tokens of the records tokenized */
    uint64_t tokenize_ns;    /* summed over the tokenizer threads */
    uint64_t reference_ns;   /* in the reference engine */
    uint64_t wall_ns;        /* since albert_scheduler_create */
    int engine_count;
} albert_scheduler_stats;

/* Fills *STATS and up to CAPACITY entries of DEVICES (NULL when 0), one per
 * engine in options order. */
ALBERT_API int albert_scheduler_stats_get(const albert_scheduler *s,
                                          albert_scheduler_stats *stats,
                                          albert_scheduler_device_stats *devices,
                                          size_t capacity, albert_error *err);

/* ---------------------------------------------------------------- timing */

#define ALBERT_KERNEL_NAME_MAX 64

/* Totals of one kernel, CLBlast routine, transfer or (CPU backend) op over
 * every run since the engine was created or its timings last reset.  TOTAL_NS
 * is device time from OpenCL profiling events (wall-clock time on the CPU
 * backend); a CLBlast call counts from when the device finished the command
 * before it, so the pad and transpose kernels it runs first are included.
 * FLOPS counts the GEMMs' (2 per multiply-add, 0 for other kernels), BYTES
 * the least memory traffic the command needs. */
typedef struct albert_kernel_stat {
    char name[ALBERT_KERNEL_NAME_MAX]; /* "CLBlastSgemm", "softmax_masked", "upload", ... */
    uint64_t calls;
    uint64_t total_ns;
    uint64_t flops;
    uint64_t bytes;
} albert_kernel_stat;

/* Copies up to CAPACITY entries, in the order the forward pass first ran
 * them, into STATS (NULL when CAPACITY is 0) and sets *COUNT to how many
 * there are, so a call with CAPACITY 0 sizes the array.  Fails with
 * ALBERT_E_ARG unless the engine was created with options.timing set. */
ALBERT_API int albert_engine_timing_get(const albert_engine *engine, albert_kernel_stat *stats,
                                        size_t capacity, size_t *count, albert_error *err);

/* Zeroes the totals (e.g. after a warm-up).  A submitted batch counts by
 * the time its wait returns (on an OpenCL device: when it returns, so one
 * in flight across a reset counts after it). */
ALBERT_API int albert_engine_timing_reset(albert_engine *engine, albert_error *err);

/* Floating-point operations of one forward pass over a BATCH_SIZE x SEQ_LEN
 * batch that fills the non-NULL buffers of OUT (which are not touched; a
 * NULL OUT: last_hidden_state alone): its
 * GEMMs (the embedding projection; per applied layer the QKV, attention
 * score, attention context, output and two FFN products; the pooler when
 * OUT->pooled is asked for with ALBERT_POOL_POOLER), 2 per multiply-add.
 * When OUT asks for pooled vectors only, with ALBERT_POOL_POOLER or
 * ALBERT_POOL_CLS, and combines no layers, the last layer applied has its
 * output and FFN products count the [CLS] rows alone: that is all the
 * engines compute of them.  Layers OUT->skip_last_layers skips, or beyond
 * the highest of OUT->layers, count nothing (clamped to 0..L here; LAYERS
 * NULL: none combined).
 * Element-wise work is not counted.  What GFLOP/s figures divide by time. */
ALBERT_API uint64_t albert_forward_flops(const albert_config *cfg, int batch_size, int seq_len,
                                         const albert_outputs *out);

#ifdef __cplusplus
}
#endif

#endif /* ALBERT_CL_H */
