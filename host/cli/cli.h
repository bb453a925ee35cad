/* What the albert-cl files share: the parsed command line and warnings.
 * The CLI uses the public albert_cl.h API, plus core/common.h's helpers
 * (errors, file reads, the clock), which it compiles in. */
#ifndef ALBERT_CLI_CLI_H
#define ALBERT_CLI_CLI_H

#include "core/common.h"

/* Status of a --validate run whose backends disagree beyond the tolerance
 * (a CLI outcome, not a library one: past every ALBERT_E_* code). */
#define CLI_E_MISMATCH 100

typedef enum cli_input_format { CLI_IN_TEXT, CLI_IN_TSV, CLI_IN_JSONL, CLI_IN_CSV } cli_input_format;
/* The jsonl members or csv columns a record's texts are read from
 * (--text-field, --pair-field; NULL: "text" and "text_pair"), and the one
 * whose value its output record carries as "id" (--id-field; NULL: none). */
typedef struct cli_json_keys {
    const char *text, *pair, *id;
} cli_json_keys;
typedef enum cli_output_format { CLI_OUT_JSONL, CLI_OUT_NPY, CLI_OUT_SAFETENSORS } cli_output_format;
typedef enum cli_on_error { CLI_ON_ERROR_FAIL, CLI_ON_ERROR_SKIP } cli_on_error;
enum { CLI_PROGRESS_AUTO, CLI_PROGRESS_ON, CLI_PROGRESS_OFF };

/* Status of a run that skipped records (--on-error skip). */
#define CLI_EXIT_SKIPPED 3

/* --layer: at most every hidden_states index of the largest model config.json
 * may describe (ALBERT_MAX_LAYERS layers and the embeddings' output). */
#define CLI_MAX_LAYERS 1025

/* Bytes of a prompt, its NUL included. */
#define CLI_MAX_PROMPT 65536

/* --layer-combine: what several layers give. */
typedef enum cli_layer_combine { CLI_COMBINE_MEAN, CLI_COMBINE_CONCAT } cli_layer_combine;

struct cli_options;
/* Values per output vector: hidden_size, or times the layers concatenated
 * (albert_output_width of what O asks). */
int cli_vector_width(const struct cli_options *o, const albert_config *config);
/* Values per pooled vector before any Dense module: cli_vector_width times
 * the pooling modes. */
int cli_pooled_width(const struct cli_options *o, const albert_config *config);
/* Values per output record's vector: cli_vector_width for token vectors,
 * else --truncate-dim, else the Dense modules' width when they turn the
 * pooled vectors into sentence embeddings, else cli_pooled_width. */
int cli_output_width(const struct cli_options *o, const albert_config *config);

/* Options are plain ints (enum values included) so one table can parse them. */
typedef struct cli_options {
    const char *model_name;      /* --model as given (a folder or a hub name); NULL: the default */
    const char *model_dir;       /* the folder it names (model_path), once resolved */
    char model_path[4096];
    int model_from_hub;          /* 1: model_dir is a snapshot in the Hugging Face cache */
    const char *device;          /* --device: ids ("0", "cpu", "0,cpu") or "all"; NULL: automatic */
    int list_devices;
    const char *profile_file;    /* --profile-file, or NULL */
    int no_profile;
    const char *profile_dir;     /* $ALBERT_CL_PROFILE_DIR, or NULL */
    const char *cache_dir;       /* $ALBERT_CL_CACHE_DIR, or NULL */
    const char *kernel_dir;      /* $ALBERT_CL_KERNEL_DIR, or NULL */
    int input_format;            /* cli_input_format */
    int input_format_given;      /* by --input-format, not by the FILEs' names */
    cli_json_keys json_keys;     /* --text-field, --pair-field (NULL: the defaults) */
    int pooling;                 /* albert_pooling; -1 until the defaults are resolved */
    unsigned pooling_modes;      /* several modes at once (bits 1u << albert_pooling, POOLING
                                    among them), or 0: POOLING alone */
    /* --layer N[,N...] or all: HF's hidden_states indices as given (-1 the
     * last; all: every one), and --layer-combine (cli_layer_combine) */
    int layer_given[CLI_MAX_LAYERS];
    int n_layer_given, layer_all, layer_combine;
    /* What --layer asks of the forward, once resolved against the model:
     * one layer, as skip_last_layers; several, as albert_outputs.layers */
    int skip_last_layers;
    int layers[CLI_MAX_LAYERS];
    int n_layers;
    int normalize;
    int truncate_dim;            /* --truncate-dim: pooled vectors keep this many values; 0: all */
    int normalize_truncated;     /* --normalize with it: the cut vectors are normalised */
    int no_sentence;             /* --no-sentence-transformers: modules.json ignored */
    int sentence_transformers;   /* a sentence-transformers folder, not ignored */
    int strip_text;              /* texts stripped as sentence-transformers does */
    int head_width;              /* > 0: the folder's Dense modules turn pooled vectors
                                    into this many values (albert_head) */
    const char *prompt_text;     /* --prompt, or NULL */
    const char *prompt_name;     /* --prompt-name, or NULL */
    /* The prompt put before every text (--prompt, --prompt-name, or the
     * folder's default_prompt_name): NULL or PROMPT_BUF, once resolved */
    const char *prompt;
    char prompt_buf[CLI_MAX_PROMPT];
    int exclude_prompt;          /* the folder's Pooling has include_prompt false */
    int tokenize_only;
    int tokenizer_kind;          /* albert_tokenizer_kind; -1 until resolved */
    int precision;               /* albert_precision */
    int validate_tol_set;        /* --validate-tol given (else the precision's default) */
    int max_length;              /* 0 until resolved */
    int truncation_side;         /* albert_truncation; -1: the folder's (tokenizer_config.json) */
    int format;                  /* cli_output_format */
    int output_dtype;            /* cli_dtype (cli/dtype.h) */
    const char *output;          /* NULL or "-": stdout */
    int batch_size;
    int batch_size_set;          /* --batch-size given (else a run's cap is the scheduler's) */
    int max_batch_tokens;        /* 0: per device */
    int on_error;                /* cli_on_error */
    int resume;
    int shard, shards;           /* --shard I/N; 0 of 1 without */
    int progress;                /* CLI_PROGRESS_* */
    int quiet;
    int threads;                 /* 0: all cores */
    int validate;
    double validate_tol;
    int profile;                 /* --profile: table on stderr */
    const char *profile_json;    /* --profile-json FILE, or NULL */
    int benchmark;
    int seq_len;                 /* --benchmark only; 0: not given */
    int iterations;              /* --benchmark only; 0: not given */
    int warmup;                  /* --benchmark only; -1: not given */
    const char **files;          /* none: stdin */
    int nfiles;
    /* albert-cl serve */
    int serve;
    const char *host;
    int port;
    int max_concurrent;          /* --max-concurrent-requests */
    int max_client_batch;        /* --max-client-batch-size */
    int payload_limit;           /* bytes */
    int max_wait_ms;
    const char *served_name;     /* NULL: the model folder's name */
    int auto_truncate;
    const char *api_key;         /* --api-key / $ALBERT_CL_API_KEY, or NULL */
} cli_options;

/* Prints "albert-cl: warning: ..." on stderr, unless quiet. */
void cli_warn(const char *fmt, ...) ALBERT_PRINTF(1, 2);
/* --quiet: warnings are dropped from now on (call before threads start). */
void cli_set_quiet(int on);

#endif
