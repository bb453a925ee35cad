/*
 * albert_cl.h - ALBERT embeddings (HuggingFace AlbertModel + AlbertTokenizer
 * semantics) on OpenCL devices and on the host CPU.
 *
 * Conventions, as in SQLite and CLBlast:
 *   - every function that can fail returns an int status (ALBERT_OK == 0) and
 *     fills the caller-owned albert_error (which may be NULL) with a one-line
 *     message naming what failed and where;
 *   - handles are opaque and come in _open/_close or _create/_free pairs;
 *   - the library keeps no global state and never allocates memory the caller
 *     must free with anything but the matching _close/_free;
 *   - arguments go sizes first, then buffers, then the error.
 *
 * A typical session:
 *
 *   albert_model *m; albert_tokenizer *tok; albert_engine *eng; albert_error err;
 *   albert_model_open("models/albert-base-v2", &m, &err);
 *   albert_tokenizer_open("models/albert-base-v2", &tok, &err);
 *   albert_engine_options opt; albert_engine_options_init(&opt);
 *   albert_engine_create(m, &opt, &eng, &err);
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

#define ALBERT_CL_VERSION "0.1.0"

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
    ALBERT_E_MISMATCH = 8     /* --validate: backends disagree beyond tolerance */
};

#define ALBERT_ERRMSG_MAX 512

typedef struct albert_error {
    int code;                    /* ALBERT_OK or one of ALBERT_E_* */
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
 * Rejects malformed JSON, wrong types, non-positive sizes, hidden_size not a
 * multiple of num_attention_heads, unknown hidden_act and any
 * position_embedding_type other than "absolute". */
ALBERT_API int albert_config_load(const char *dir, albert_config *cfg, albert_error *err);

/* Name of an activation as config.json spells it ("gelu", "gelu_new", ...). */
ALBERT_API const char *albert_activation_name(albert_activation act);

/* ---------------------------------------------------------------- model */

typedef struct albert_model albert_model;

/* Loads a HuggingFace model folder: config.json and model.safetensors
 * (F32, F16 or BF16; tensor names with or without the "albert." prefix; the
 * masked-LM head is ignored).  Every shape is checked against the config. */
ALBERT_API int albert_model_open(const char *dir, albert_model **out, albert_error *err);
ALBERT_API void albert_model_close(albert_model *model);
ALBERT_API const albert_config *albert_model_config(const albert_model *model);

/* ---------------------------------------------------------------- tokenizer */

typedef struct albert_tokenizer albert_tokenizer;

/* Opens DIR/spiece.model (and DIR/tokenizer_config.json when present, for
 * do_lower_case, remove_space and keep_accents). */
ALBERT_API int albert_tokenizer_open(const char *dir, albert_tokenizer **out, albert_error *err);
ALBERT_API void albert_tokenizer_close(albert_tokenizer *tok);

#define ALBERT_CLS_ID 2
#define ALBERT_SEP_ID 3

/* Encodes TEXT (and PAIR when not NULL) the way AlbertTokenizer does:
 * [CLS] A [SEP] or [CLS] A [SEP] B [SEP], token_type_ids 1 on B.  Added
 * tokens written in the text ([CLS], [SEP], <pad>, <unk>, [MASK], exact
 * case) become their ids, counted like any other token in truncation.
 * IDS and TYPE_IDS must hold MAX_LENGTH entries.  When the encoding is longer
 * than MAX_LENGTH it is truncated keeping [SEP] last (longest-first for
 * pairs); *N gets the stored length and *N_FULL the untruncated one, so the
 * caller can warn.  Fails with ALBERT_E_INPUT on invalid UTF-8 and
 * ALBERT_E_ARG when MAX_LENGTH cannot hold the special tokens. */
ALBERT_API int albert_tokenize(const albert_tokenizer *tok,
                               const char *text, size_t text_len,
                               const char *pair, size_t pair_len,
                               int max_length, int32_t *ids, int32_t *type_ids,
                               int *n, int *n_full, albert_error *err);

/* ---------------------------------------------------------------- devices */

#define ALBERT_DEVICE_AUTO (-2) /* first GPU, else first OpenCL device, else CPU */
#define ALBERT_DEVICE_CPU (-1)  /* the host CPU backend */

typedef struct albert_device_info {
    int index;                /* stable index, as --device N takes it */
    char platform[128];
    char name[128];
    char type[16];            /* "GPU", "CPU", "ACCELERATOR", "OTHER" */
    int compute_units;
    uint64_t global_mem_bytes;
    char driver_version[64];
    char device_version[64];  /* "OpenCL 3.0 ..." */
    int fp16;                 /* cl_khr_fp16 present */
    char profile[128];        /* profile file this device gets, "" if none */
} albert_device_info;

/* Number of OpenCL devices over all platforms (0 when there is no platform;
 * the reason is then in err->msg with code ALBERT_OK). */
ALBERT_API int albert_device_count(int *count, albert_error *err);
ALBERT_API int albert_device_info_get(int index, albert_device_info *info, albert_error *err);

/* The host CPU backend's BLAS and the kernels it runs, e.g.
 * "OpenBLAS SkylakeX" (always NUL-terminated, truncated to SIZE). */
ALBERT_API void albert_blas_describe(char *dst, size_t size);

/* OpenBLAS picks its kernels once, when it loads, from $OPENBLAS_CORETYPE or
 * CPUID; on a CPU newer than its tables it falls back to generic SSE3
 * kernels ("Prescott"), several times slower.  In that case this returns the
 * OPENBLAS_CORETYPE value that fits the CPU ("SkylakeX", "Haswell"), which
 * only a new process can use (the CLI re-executes itself with it); NULL
 * when OpenBLAS already runs fitting kernels or nothing better is known. */
ALBERT_API const char *albert_blas_coretype_hint(void);

/* ---------------------------------------------------------------- engine */

typedef struct albert_engine albert_engine;

typedef struct albert_engine_options {
    int device;               /* ALBERT_DEVICE_AUTO, ALBERT_DEVICE_CPU or an index */
    int threads;              /* host threads for the CPU backend; 0 = all cores */
    int profile;              /* 1: collect per-kernel timings (albert_engine_profile_get) */
    const char *profile_file; /* device profile JSON to force; NULL = pick one */
    int no_profile;           /* 1: use CLBlast's and our kernels' defaults */
} albert_engine_options;

ALBERT_API void albert_engine_options_init(albert_engine_options *opt);

/* Creates an engine for MODEL, which must outlive it. */
ALBERT_API int albert_engine_create(const albert_model *model, const albert_engine_options *opt,
                                    albert_engine **out, albert_error *err);
ALBERT_API void albert_engine_free(albert_engine *engine);

/* "cpu (OpenBLAS, 2 threads)" or "OpenCL 0: <platform> / <device>, profile
 * <name>" ("..., no profile" when none applies). */
ALBERT_API const char *albert_engine_device_name(const albert_engine *engine);

/* A padded batch: row b's tokens are input_ids[b*seq_len .. b*seq_len+seq_len). */
typedef struct albert_batch {
    int batch_size;
    int seq_len;
    const int32_t *input_ids;      /* [batch_size*seq_len] */
    const int32_t *token_type_ids; /* same shape, or NULL for all 0 */
    const int32_t *attention_mask; /* same shape, 1 keep / 0 pad, or NULL for all 1 */
} albert_batch;

typedef enum albert_pooling {
    ALBERT_POOL_NONE = 0,   /* no pooled output */
    ALBERT_POOL_POOLER,     /* HF pooler_output: tanh(W h[CLS] + b) */
    ALBERT_POOL_CLS,        /* last_hidden_state[:, 0] */
    ALBERT_POOL_MEAN        /* mean of last_hidden_state over mask == 1 */
} albert_pooling;

/* Caller-owned output buffers; NULL ones are not computed or transferred.
 * Values at padded positions are unspecified. */
typedef struct albert_outputs {
    float *last_hidden_state; /* [B, T, H] */
    float *hidden_states;     /* [L+1, B, T, H]: projection output, then each layer */
    float *pooled;            /* [B, H] per `pooling` */
    albert_pooling pooling;
    int normalize;            /* 1: L2-normalise each pooled row */
} albert_outputs;

/* Runs the forward pass.  Checks ids against the vocabulary, token types
 * against type_vocab_size and seq_len against max_position_embeddings. */
ALBERT_API int albert_engine_run(albert_engine *engine, const albert_batch *batch,
                                 const albert_outputs *out, albert_error *err);

/* ---------------------------------------------------------------- profiling */

#define ALBERT_KERNEL_NAME_MAX 64

/* Totals of one kernel, CLBlast routine, transfer or (CPU backend) op over
 * every run since the engine was created or its profile last reset.  TOTAL_NS
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
 * ALBERT_E_ARG unless the engine was created with options.profile set. */
ALBERT_API int albert_engine_profile_get(const albert_engine *engine, albert_kernel_stat *stats,
                                         size_t capacity, size_t *count, albert_error *err);

/* Zeroes the totals (e.g. after a warm-up). */
ALBERT_API int albert_engine_profile_reset(albert_engine *engine, albert_error *err);

/* Floating-point operations of one forward pass over a BATCH_SIZE x SEQ_LEN
 * batch: its GEMMs (the embedding projection; per applied layer the QKV,
 * attention score, attention context, output and two FFN products; the
 * pooler with ALBERT_POOL_POOLER), 2 per multiply-add.  Element-wise work is
 * not counted.  What GFLOP/s figures divide by time. */
ALBERT_API uint64_t albert_forward_flops(const albert_config *cfg, int batch_size, int seq_len,
                                         albert_pooling pooling);

#ifdef __cplusplus
}
#endif

#endif /* ALBERT_CL_H */
