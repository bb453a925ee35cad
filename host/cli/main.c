/* albert-cl: ALBERT embeddings of text lines, one record per line.  A thin
 * client of the public albert_cl.h API: this file parses the command line
 * and sets up the model, tokenizer and engines; input.c reads the lines,
 * embed.c runs them and output.c writes the records. */
#include "cli/benchmark.h"
#include "cli/embed.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_USAGE 2
/* Parsing stops here with exit status 0: --help, --version. */
#define PARSE_DONE (-1)

static const char usage_text[] =
    "usage: albert-cl [OPTIONS] [FILE...]\n"
    "       albert-cl --benchmark [--batch-size B] [--seq-len T] [OPTIONS]\n"
    "\n"
    "ALBERT embeddings (HuggingFace AlbertModel + AlbertTokenizer semantics) of\n"
    "every input line, on an OpenCL device or the host CPU.\n"
    "FILE is UTF-8 text, one input per line; with no FILE, or FILE \"-\", stdin is\n"
    "read.  Several FILEs are read in order and their records numbered on.\n"
    "Every line is a record, empty lines included (an empty line is [CLS] [SEP]);\n"
    "a final line without a newline counts, a trailing newline adds no record.\n"
    "\n"
    "options:\n"
    "  --model DIR         HuggingFace model folder (config.json, model.safetensors,\n"
    "                      spiece.model or tokenizer.json); default\n"
    "                      $ALBERT_CL_MODEL, else models/albert-base-v2\n"
    "  --device D          cpu, or N: an OpenCL device index from --list-devices;\n"
    "                      default: first GPU, else first OpenCL device, else cpu\n"
    "  --list-devices      list the devices (index, platform, device, type, compute\n"
    "                      units, global memory, driver, fp16, precisions, profile):\n"
    "                      OpenCL ones, then cpu\n"
    "  --precision P       fp32 (default): HuggingFace-exact; bf16: bfloat16 GEMM\n"
    "                      inputs, float32 accumulation and everything else (the cpu\n"
    "                      device on CPUs with AVX512-BF16 or AMX); int8: int8 GEMMs\n"
    "                      with per-channel weight and per-token activation scales\n"
    "                      (the cpu with AVX512-VNNI or AMX); fp16: Linear weights\n"
    "                      stored as halves, float32 arithmetic (OpenCL devices\n"
    "                      with cl_khr_fp16).\n"
    "                      A device that does not run P is a usage error naming\n"
    "                      what it runs (--list-devices: precisions)\n"
    "  --profile-file F    use device profile F (JSON: CLBlast parameters and kernel\n"
    "                      shapes) instead of the one picked for the device from\n"
    "                      $ALBERT_CL_PROFILE_DIR, else the installed profiles\n"
    "  --no-profile        no device profile: CLBlast's and our kernels' defaults\n"
    "  --input-format F    text (default): one input per line\n"
    "                      tsv: a sentence pair per line, split by one tab\n"
    "                      jsonl: one JSON object per line, either\n"
    "                        {\"text\": \"...\", \"text_pair\": \"...\"} (text_pair optional) or\n"
    "                        {\"input_ids\": [...], \"attention_mask\": [...],\n"
    "                         \"token_type_ids\": [...]} (the last two optional)\n"
    "  --pooling P         pooler (default): HuggingFace pooler_output\n"
    "                      cls: the [CLS] vector of last_hidden_state\n"
    "                      mean: mean of last_hidden_state over non-padding tokens\n"
    "                      none: the vector of every non-padding token\n"
    "  --normalize         L2-normalise the pooled vectors\n"
    "  --tokenizer K       slow (default): spiece.model, as the sentencepiece-based\n"
    "                        AlbertTokenizer of transformers <= 4.x encodes\n"
    "                      fast: tokenizer.json, as HF tokenizers encodes\n"
    "                        (AlbertTokenizerFast; transformers 5's AlbertTokenizer)\n"
    "  --tokenize          only tokenize, no weights: needs spiece.model (slow) or\n"
    "                      tokenizer.json (fast), and config.json, if present, to\n"
    "                      cap --max-length; writes one jsonl line per input,\n"
    "                        {\"index\": i, \"input_ids\": [...]}, and for a pair\n"
    "                        (tsv, jsonl text_pair) \"token_type_ids\": [...] after\n"
    "                        input_ids\n"
    "  --max-length N      tokens per input, default 512, capped by the model's\n"
    "                      max_position_embeddings; longer inputs are truncated\n"
    "                      keeping [SEP] last (a pair longest-first, as the\n"
    "                      tokenizer kind does it), with a warning naming file\n"
    "                      and line\n"
    "  --format F          jsonl (default): one line per input,\n"
    "                        {\"index\": i, \"input_ids\": [...], \"embedding\": [...]}\n"
    "                        where embedding is one vector, or with --pooling none\n"
    "                        a list of vectors ([CLS] and [SEP] included); floats\n"
    "                        print with 9 significant digits (float32 round-trips)\n"
    "                      npy: NPY v1.0 float32 ('<f4') array of shape [N, H] of\n"
    "                        the pooled vectors (not with --pooling none)\n"
    "  -o, --output FILE   write to FILE (default stdout); written only on success\n"
    "                      (a new FILE gets mode 0666 less the umask, an existing one\n"
    "                      keeps its mode; a symbolic link stays, its target changes)\n"
    "  --batch-size N      inputs per forward pass (default 32)\n"
    "  --threads N         host threads for the CPU backend (default: all cores)\n"
    "  --validate          also run the CPU backend (fp32) on every batch and report\n"
    "                      on stderr the max abs and max rel difference (|d| /\n"
    "                      max(|cpu|, 1e-3)) and the min cosine of a vector per\n"
    "                      output over non-padding positions; exit 1 when the max\n"
    "                      abs difference exceeds the tolerance\n"
    "  --validate-tol X    tolerance of --validate (default 1e-4; bf16 and fp16 0.1,\n"
    "                      int8 0.5)\n"
    "  --profile           print on stderr, per kernel (OpenCL profiling events) or\n"
    "                      CPU-backend op: calls, total ms, mean us, share of device\n"
    "                      time, GFLOP/s (GEMMs) and GB/s; then the host phases (read,\n"
    "                      load, tokenize, batch, forward, validate, write) in ms\n"
    "  --profile-json FILE write the same as JSON to FILE\n"
    "  --benchmark         run the model on synthetic input (seeded random ids,\n"
    "                      [CLS] first, [SEP] last, full mask; no input files) and\n"
    "                      print one JSON line: device, batch_size, seq_len,\n"
    "                      iterations, tokens_per_s, ms_per_batch (mean), ms_min,\n"
    "                      ms_median, gflops (GEMM FLOPs per second)\n"
    "  --seq-len T         --benchmark: tokens per sequence (default 128)\n"
    "  --iterations N      --benchmark: timed runs (default 10)\n"
    "  --warmup N          --benchmark: untimed runs first (default 2)\n"
    "  --help              show this help\n"
    "  --version           print the version\n"
    "\n"
    "environment:\n"
    "  ALBERT_CL_MODEL          default --model\n"
    "  ALBERT_CL_PROFILE_DIR    folder of device profiles (replaces the built-in ones)\n"
    "  ALBERT_CL_CACHE_DIR      compiled-kernel cache (default $XDG_CACHE_HOME/albert-cl,\n"
    "                           else ~/.cache/albert-cl)\n"
    "  ALBERT_CL_KERNEL_DIR     build kernels from DIR/*.cl instead of the embedded ones\n"
    "  ONEDNN_MAX_CPU_ISA       cap the instructions of the cpu device's GEMMs\n"
    "                           (oneDNN's own variable, e.g. AVX2)\n"
    "\n"
    "Records come out in input order.  Exit status: 0 success; 1 bad input, model,\n"
    "device or validation failure (one line on stderr naming file and line where\n"
    "it applies, and no output); 2 usage error; 130, 143, 129: interrupted by\n"
    "SIGINT, SIGTERM, SIGHUP (one line on stderr; the output left as it was).\n";

/* ------------------------------------------------------------ options */

typedef int (*value_setter)(cli_options *o, const char *value);

/* One option: a value with its own syntax (SET), one of CHOICES whose index
 * goes to the int at FIELD, an integer in [MIN, MAX] stored at FIELD, or a
 * flag (MAX 0) that sets the int at FIELD to 1. */
typedef struct option_spec {
    const char *name;
    value_setter set;
    const char *const *choices;
    size_t field;
    int min, max;
} option_spec;

static int usage_error(const char *fmt, ...) ALBERT_PRINTF(1, 2);

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("albert-cl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'albert-cl --help' for more information.\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

/* A whole-string decimal integer in [MIN, MAX]. */
static int parse_int(const char *s, int min, int max, int *out)
{
    /* strtol alone would also take leading blanks and a '+'. */
    const char *digits = s[0] == '-' ? s + 1 : s;
    if (!isdigit((unsigned char)digits[0]))
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

/* Index of S in the NULL-terminated NAMES, or -1. */
static int pick(const char *s, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static int bad_choice(const char *option, const char *value, const char *const *names)
{
    char list[256] = "";
    for (int i = 0; names[i]; i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, names[i], sizeof list - strlen(list) - 1);
    }
    return usage_error("%s: '%s' is not one of %s", option, value, list);
}

/* Value names in the order of the options' enums. */
static const char *const input_formats[] = {"text", "tsv", "jsonl", NULL};
static const char *const poolings[] = {"none", "pooler", "cls", "mean", NULL};
static const char *const output_formats[] = {"jsonl", "npy", NULL};
static const char *const tokenizer_kinds[] = {"slow", "fast", NULL};
/* In albert_precision's order. */
static const char *const precisions[] = {"fp32", "bf16", "fp16", "int8", NULL};

static int set_model(cli_options *o, const char *v)
{
    o->model_dir = v;
    return 0;
}

static int set_output(cli_options *o, const char *v)
{
    o->output = v;
    return 0;
}

static int set_profile_file(cli_options *o, const char *v)
{
    o->profile_file = v;
    return 0;
}

/* "cpu" or an index; whether that device exists is the library's to say. */
static int set_device(cli_options *o, const char *v)
{
    int index;
    if (strcmp(v, "cpu") != 0 && parse_int(v, 0, INT_MAX, &index) != 0)
        return usage_error("--device: '%s' is not cpu or a device index", v);
    o->device = v;
    return 0;
}

static int set_validate_tol(cli_options *o, const char *v)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x) || x < 0)
        return usage_error("--validate-tol: '%s' is not a non-negative number", v);
    o->validate_tol = x;
    o->validate_tol_set = 1;
    return 0;
}

static int set_profile_json(cli_options *o, const char *v)
{
    o->profile_json = v;
    return 0;
}

static const option_spec option_table[] = {
    {"--model", set_model, NULL, 0, 0, 0},
    {"--device", set_device, NULL, 0, 0, 0},
    {"--list-devices", NULL, NULL, offsetof(cli_options, list_devices), 0, 0},
    {"--profile-file", set_profile_file, NULL, 0, 0, 0},
    {"--no-profile", NULL, NULL, offsetof(cli_options, no_profile), 0, 0},
    {"--input-format", NULL, input_formats, offsetof(cli_options, input_format), 0, 0},
    {"--pooling", NULL, poolings, offsetof(cli_options, pooling), 0, 0},
    {"--normalize", NULL, NULL, offsetof(cli_options, normalize), 0, 0},
    {"--tokenize", NULL, NULL, offsetof(cli_options, tokenize_only), 0, 0},
    {"--tokenizer", NULL, tokenizer_kinds, offsetof(cli_options, tokenizer_kind), 0, 0},
    {"--precision", NULL, precisions, offsetof(cli_options, precision), 0, 0},
    /* 2: room for [CLS] and [SEP]. */
    {"--max-length", NULL, NULL, offsetof(cli_options, max_length), 2, 1 << 20},
    {"--format", NULL, output_formats, offsetof(cli_options, format), 0, 0},
    {"--output", set_output, NULL, 0, 0, 0},
    {"-o", set_output, NULL, 0, 0, 0},
    {"--batch-size", NULL, NULL, offsetof(cli_options, batch_size), 1, 65536},
    {"--threads", NULL, NULL, offsetof(cli_options, threads), 1, 4096},
    {"--validate", NULL, NULL, offsetof(cli_options, validate), 0, 0},
    {"--validate-tol", set_validate_tol, NULL, 0, 0, 0},
    {"--profile", NULL, NULL, offsetof(cli_options, profile), 0, 0},
    {"--profile-json", set_profile_json, NULL, 0, 0, 0},
    {"--benchmark", NULL, NULL, offsetof(cli_options, benchmark), 0, 0},
    {"--seq-len", NULL, NULL, offsetof(cli_options, seq_len), 2, 1 << 20},
    {"--iterations", NULL, NULL, offsetof(cli_options, iterations), 1, 1000000},
    {"--warmup", NULL, NULL, offsetof(cli_options, warmup), 0, 1000000},
};

static int set_value(cli_options *o, const option_spec *spec, const char *value)
{
    if (spec->set)
        return spec->set(o, value);
    int *field = (int *)((char *)o + spec->field);
    if (spec->choices) {
        int i = pick(value, spec->choices);
        if (i < 0)
            return bad_choice(spec->name, value, spec->choices);
        *field = i;
        return 0;
    }
    if (parse_int(value, spec->min, spec->max, field) == 0)
        return 0;
    return usage_error("%s: '%s' is not an integer from %d to %d", spec->name, value, spec->min,
                       spec->max);
}

static const option_spec *find_option(const char *arg, size_t name_len)
{
    size_t n = sizeof option_table / sizeof option_table[0];
    for (size_t i = 0; i < n; i++)
        if (strlen(option_table[i].name) == name_len &&
            strncmp(option_table[i].name, arg, name_len) == 0)
            return &option_table[i];
    return NULL;
}

/* One option at ARGV[*I], "--name value" or "--name=value"; advances *I
 * past its value. */
static int parse_option(cli_options *o, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
        errno = 0; /* longer than stdout's buffer: a failed write's errno is told at exit */
        fputs(usage_text, stdout);
        return PARSE_DONE;
    }
    if (strcmp(arg, "--version") == 0) {
        printf("albert-cl %s\n", ALBERT_CL_VERSION);
        return PARSE_DONE;
    }
    const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
    const option_spec *spec = find_option(arg, eq ? (size_t)(eq - arg) : strlen(arg));
    if (!spec)
        return usage_error("unknown option '%s'", arg);
    if (!spec->set && !spec->choices && spec->max == 0) {
        if (eq)
            return usage_error("option '%s' takes no value", arg);
        *(int *)((char *)o + spec->field) = 1;
        return 0;
    }
    if (eq)
        return set_value(o, spec, eq + 1);
    if (*i + 1 >= argc)
        return usage_error("option '%s' needs a value", arg);
    return set_value(o, spec, argv[++*i]);
}

/* --benchmark's own options go with it only; it reads no input.  Fills in
 * their defaults. */
static int check_benchmark(cli_options *o)
{
    if (!o->benchmark) {
        if (o->seq_len || o->iterations || o->warmup >= 0)
            return usage_error("--seq-len, --iterations and --warmup go with --benchmark");
        return 0;
    }
    if (o->nfiles)
        return usage_error("--benchmark makes its own input: no FILE operands");
    if (o->tokenize_only || o->validate)
        return usage_error("--benchmark runs the model: not with --tokenize or --validate");
    o->seq_len = o->seq_len ? o->seq_len : CLI_BENCH_SEQ_LEN;
    o->iterations = o->iterations ? o->iterations : CLI_BENCH_ITERATIONS;
    o->warmup = o->warmup >= 0 ? o->warmup : CLI_BENCH_WARMUP;
    return 0;
}

/* Combinations that cannot mean anything. */
static int check_combinations(const cli_options *o)
{
    if (o->format == CLI_OUT_NPY && o->pooling == ALBERT_POOL_NONE && !o->tokenize_only)
        return usage_error("--format npy needs one vector per input: not with --pooling none");
    if (o->format == CLI_OUT_NPY && o->tokenize_only)
        return usage_error("--format npy holds embeddings: not with --tokenize");
    if (o->normalize && o->pooling == ALBERT_POOL_NONE)
        return usage_error("--normalize applies to pooled vectors: not with --pooling none");
    if (o->validate && o->tokenize_only)
        return usage_error("--validate compares embeddings: not with --tokenize");
    if (o->profile_file && o->no_profile)
        return usage_error("--profile-file and --no-profile exclude each other");
    return 0;
}

static void default_options(cli_options *o)
{
    memset(o, 0, sizeof *o);
    const char *model = albert_env("ALBERT_CL_MODEL");
    o->model_dir = model ? model : "models/albert-base-v2";
    o->profile_dir = albert_env("ALBERT_CL_PROFILE_DIR");
    o->cache_dir = albert_env("ALBERT_CL_CACHE_DIR");
    o->kernel_dir = albert_env("ALBERT_CL_KERNEL_DIR");
    o->input_format = CLI_IN_TEXT;
    o->pooling = ALBERT_POOL_POOLER;
    o->tokenizer_kind = ALBERT_TOKENIZER_SLOW;
    o->max_length = 512;
    o->format = CLI_OUT_JSONL;
    o->batch_size = 32;
    o->validate_tol = 1e-4;
    o->warmup = -1;
}

/* Fills O from ARGV; FILES (ARGC entries) receives the file operands.
 * Returns 0, PARSE_DONE or EXIT_USAGE. */
static int parse_args(cli_options *o, int argc, char **argv, const char **files)
{
    default_options(o);
    o->files = files;
    int only_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (only_files || arg[0] != '-' || strcmp(arg, "-") == 0) {
            files[o->nfiles++] = arg;
        } else if (strcmp(arg, "--") == 0) {
            only_files = 1;
        } else {
            int rc = parse_option(o, argc, argv, &i);
            if (rc != 0)
                return rc;
        }
    }
    if (o->list_devices)
        return 0;
    /* bf16 rounds every GEMM input, int8 quantizes it: differences of a few
     * hundredths (tenths) are their nature, not a fault (README: Precision). */
    if (!o->validate_tol_set && o->precision != ALBERT_PRECISION_FP32)
        o->validate_tol = o->precision == ALBERT_PRECISION_INT8 ? 0.5 : 0.1;
    int rc = check_benchmark(o);
    return rc ? rc : check_combinations(o);
}

/* ------------------------------------------------------------ devices */

/* The library's warnings (an unwritable kernel cache, ...), as ours. */
static void library_warning(void *user, const char *message)
{
    (void)user;
    cli_warn("%s", message);
}

/* The engine options every engine of this run starts from. */
static void engine_options(const cli_options *o, albert_engine_options *eo)
{
    albert_engine_options_init(eo);
    eo->threads = o->threads;
    eo->tuning_file = o->profile_file;
    eo->no_tuning = o->no_profile;
    eo->tuning_dir = o->profile_dir;
    eo->cache_dir = o->cache_dir;
    eo->kernel_dir = o->kernel_dir;
    eo->warn = library_warning;
}

static void print_device(const albert_device_info *d)
{
    char mem[32] = "-";
    if (d->global_mem_bytes)
        snprintf(mem, sizeof mem, "%llu MiB", (unsigned long long)(d->global_mem_bytes >> 20));
    printf("%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", d->id, d->platform, d->name, d->type,
           d->compute_units, mem, d->driver_version, d->fp16 ? "yes" : "no", d->precisions,
           d->tuning_profile[0] ? d->tuning_profile : "-");
}

/* Exits 0 unless a device cannot be described: having no OpenCL is a fact
 * to report, not a failure. */
static int list_devices(const cli_options *o)
{
    albert_engine_options eo;
    engine_options(o, &eo);
    int count = 0;
    albert_error err;
    albert_device_count(&count, &err);
    if (err.msg[0])
        fprintf(stderr, "albert-cl: no OpenCL device: %s\n", err.msg);
    printf("index\tplatform\tdevice\ttype\tcompute_units\tglobal_memory\tdriver\tfp16\t"
           "precisions\tprofile\n");
    int rc = EXIT_SUCCESS;
    for (int i = 0; i < count; i++) {
        albert_device_info info;
        if (albert_device_info_get(i, &eo, &info, &err) == ALBERT_OK) {
            print_device(&info);
        } else {
            fprintf(stderr, "albert-cl: device %d: %s\n", i, err.msg);
            rc = EXIT_FAILURE;
        }
    }
    return rc;
}

/* ------------------------------------------------------------ a run */

/* Everything a run owns, released in one place. */
typedef struct session {
    cli_input input;
    albert_config config;
    albert_model *model;
    albert_tokenizer *tok;
    albert_engine *engine, *reference;
    cli_sink sink;
} session;

static int read_inputs(session *s, const cli_options *o, albert_error *err)
{
    if (o->nfiles == 0)
        return cli_input_read(&s->input, "-", (cli_input_format)o->input_format, err);
    for (int i = 0; i < o->nfiles; i++) {
        int rc = cli_input_read(&s->input, o->files[i], (cli_input_format)o->input_format, err);
        if (rc != ALBERT_OK)
            return rc;
    }
    return ALBERT_OK;
}

/* --tokenize loads no weights; config.json, when there is one, still caps
 * the length and gives the vocabulary size that pre-tokenized ids must fit. */
static int load_config_only(session *s, const char *dir, albert_error *err)
{
    albert_config_init(&s->config);
    size_t n = strlen(dir) + sizeof "/config.json";
    char *path = malloc(n);
    if (!path)
        return albert_fail(err, ALBERT_E_NOMEM, "%s: out of memory", dir);
    snprintf(path, n, "%s/config.json", dir);
    int present = access(path, F_OK) == 0;
    free(path);
    return present ? albert_config_load(dir, &s->config, err) : ALBERT_OK;
}

/* An engine on device ID (NULL: the automatic pick) in PRECISION. */
static int create_engine(const albert_model *m, const cli_options *o, const char *id,
                         int precision, int timing, albert_engine **out, albert_error *err)
{
    albert_engine_options eo;
    engine_options(o, &eo);
    eo.timing = timing;
    eo.precision = precision;
    int rc = id ? albert_device_find(id, &eo.device, err) : ALBERT_OK;
    return rc == ALBERT_OK ? albert_engine_create(m, &eo, out, err) : rc;
}

static int open_model(session *s, const cli_options *o, albert_error *err)
{
    if (o->tokenize_only)
        return load_config_only(s, o->model_dir, err);
    int rc = albert_model_open(o->model_dir, &s->model, err);
    if (rc != ALBERT_OK)
        return rc;
    s->config = *albert_model_config(s->model);
    rc = create_engine(s->model, o, o->device, o->precision, o->profile || o->profile_json,
                       &s->engine, err);
    /* The reference is what HF gives: fp32. */
    if (rc == ALBERT_OK && o->validate)
        rc = create_engine(s->model, o, "cpu", ALBERT_PRECISION_FP32, 0, &s->reference, err);
    return rc;
}

/* --profile / --profile-json, before the records are committed: a profile
 * that cannot be written fails the run like any other output. */
static int report_profile(const session *s, const cli_options *o, const cli_phases *ph,
                          albert_error *err)
{
    if (!o->profile && !o->profile_json)
        return ALBERT_OK;
    return cli_profile_report(o, s->engine, ph, err);
}

/* Commits the output of a run that got to RC, with its profile. */
static int finish_run(session *s, const cli_options *o, const cli_phases *ph, int rc,
                      albert_error *err)
{
    if (rc == ALBERT_OK)
        rc = report_profile(s, o, ph, err);
    if (rc == ALBERT_OK)
        return cli_sink_commit(&s->sink, err);
    cli_sink_abort(&s->sink);
    return rc;
}

static int run_benchmark(session *s, const cli_options *o, cli_phases *ph, albert_error *err)
{
    int rc = open_model(s, o, err);
    if (rc == ALBERT_OK)
        rc = cli_sink_open(&s->sink, o->output, err);
    cli_lap(ph, CLI_PHASE_LOAD);
    if (rc != ALBERT_OK)
        return rc;
    rc = cli_benchmark(o, s->engine, &s->config, ph, &s->sink, err);
    return finish_run(s, o, ph, rc, err);
}

/* The largest batch this run can form must fit the device: refused now,
 * with what would fit, rather than at the first long window. */
static int check_capacity(const cli_runner *r, albert_error *err)
{
    if (!r->engine)
        return ALBERT_OK;
    albert_error e;
    int rc = albert_engine_fits(r->engine, r->opt->batch_size, r->max_length, &e);
    if (rc == ALBERT_OK)
        return ALBERT_OK;
    return albert_fail(err, rc, "%.400s; lower --batch-size or --max-length", e.msg);
}

static int run_session(session *s, const cli_options *o, cli_phases *ph, albert_error *err)
{
    if (o->benchmark)
        return run_benchmark(s, o, ph, err);
    int rc = read_inputs(s, o, err);
    cli_lap(ph, CLI_PHASE_READ);
    if (rc == ALBERT_OK)
        rc = open_model(s, o, err);
    if (rc == ALBERT_OK && cli_input_needs_tokenizer(&s->input))
        rc = albert_tokenizer_open_kind(o->model_dir, (albert_tokenizer_kind)o->tokenizer_kind,
                                        &s->tok, err);
    if (rc == ALBERT_OK)
        rc = cli_sink_open(&s->sink, o->output, err);
    cli_lap(ph, CLI_PHASE_LOAD);
    if (rc != ALBERT_OK)
        return rc;
    int max_pos = s->config.max_position_embeddings;
    cli_runner r = {o, &s->config, s->tok, s->engine, s->reference,
                    o->max_length < max_pos ? o->max_length : max_pos, ph};
    rc = check_capacity(&r, err);
    if (rc == ALBERT_OK)
        rc = cli_run(&r, &s->input, &s->sink, err);
    return finish_run(s, o, ph, rc, err);
}

static void close_session(session *s)
{
    if (s->reference)
        albert_engine_free(s->reference);
    if (s->engine)
        albert_engine_free(s->engine);
    if (s->tok)
        albert_tokenizer_close(s->tok);
    if (s->model)
        albert_model_close(s->model);
    cli_input_free(&s->input);
}

/* A precision the device does not run is the user's mistake (exit 2),
 * caught before anything loads.  A device that cannot be found or described
 * is left to the run, which says why. */
static int check_precision(const cli_options *o)
{
    if (o->tokenize_only || o->precision == ALBERT_PRECISION_FP32)
        return 0;
    albert_engine_options eo;
    engine_options(o, &eo);
    int index = ALBERT_DEVICE_AUTO;
    albert_device_info info;
    albert_error err;
    if ((o->device && albert_device_find(o->device, &index, &err) != ALBERT_OK) ||
        albert_device_info_get(index, &eo, &info, &err) != ALBERT_OK)
        return 0;
    if (albert_device_runs(&info, o->precision))
        return 0;
    return usage_error("--precision %s: device %s (%s) runs %s", precisions[o->precision],
                       info.id, info.name, info.precisions);
}

int main(int argc, char **argv)
{
    cli_signals_install();
    cli_options opt;
    const char **files = calloc((size_t)argc, sizeof *files);
    if (!files) {
        fputs("albert-cl: out of memory\n", stderr);
        return EXIT_FAILURE;
    }
    int rc = parse_args(&opt, argc, argv, files);
    if (rc == 0 && !opt.list_devices)
        rc = check_precision(&opt);
    if (rc == 0 && opt.list_devices)
        rc = list_devices(&opt);
    else if (rc == 0) {
        session s;
        memset(&s, 0, sizeof s);
        albert_error err;
        memset(&err, 0, sizeof err);
        cli_phases phases;
        cli_phases_start(&phases);
        rc = run_session(&s, &opt, &phases, &err) == ALBERT_OK ? EXIT_SUCCESS : EXIT_FAILURE;
        if (rc != EXIT_SUCCESS)
            fprintf(stderr, "albert-cl: %s\n", err.msg);
        close_session(&s);
    }
    free(files);
    albert_error err;
    /* --help, --list-devices, ... too: output that did not get out fails. */
    if (cli_stdout_close(&err) != ALBERT_OK && (rc == EXIT_SUCCESS || rc == PARSE_DONE)) {
        fprintf(stderr, "albert-cl: %s\n", err.msg);
        return EXIT_FAILURE;
    }
    return rc == PARSE_DONE ? EXIT_SUCCESS : rc;
}
