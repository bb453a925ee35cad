/* albert-cl: ALBERT embeddings of text lines, one record per line.  A thin
 * client of the public albert_cl.h API: this file parses the command line
 * and sets up the model, tokenizer and engines; input.c reads the lines,
 * embed.c runs them and output.c writes the records. */
#include "cli/benchmark.h"
#include "cli/dtype.h"
#include "cli/embed.h"
#include "cli/input.h"
#include "server/server.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_USAGE 2
/* Parsing stops here with exit status 0: --help, --version. */
#define PARSE_DONE (-1)

static const char usage_text[] =
    "usage: albert-cl [OPTIONS] [FILE...]\n"
    "       albert-cl serve [OPTIONS]       (an HTTP server: albert-cl serve --help)\n"
    "       albert-cl --benchmark [--batch-size B] [--seq-len T] [OPTIONS]\n"
    "\n"
    "ALBERT embeddings (HuggingFace AlbertModel + AlbertTokenizer semantics) of\n"
    "every input line, on an OpenCL device or the host CPU.\n"
    "FILE is UTF-8 text, one input per line (or what --input-format, or the FILE's\n"
    "name, says); with no FILE, or FILE \"-\", stdin is read.  Several FILEs are\n"
    "read in order and their records numbered on.  gzip input (a FILE or stdin,\n"
    "told by its bytes) is read inflated.\n"
    "Every line is a record, empty lines included (an empty line is [CLS] [SEP]);\n"
    "a final line without a newline counts, a trailing newline adds no record.\n"
    "\n"
    "options:\n"
    "  --model M           HuggingFace model folder (config.json, model.safetensors\n"
    "                      or pytorch_model.bin, spiece.model or tokenizer.json), or\n"
    "                      the name of one in the Hugging Face cache, what\n"
    "                      transformers or huggingface-cli downloaded\n"
    "                      (ORG/NAME[@REVISION]; nothing is downloaded); default\n"
    "                      $ALBERT_CL_MODEL, else models/albert-base-v2, else the\n"
    "                      cache's albert-base-v2.\n"
    "                      A sentence-transformers folder (modules.json) gives\n"
    "                      SentenceTransformer.encode's vectors: its pooling and\n"
    "                      max_seq_length are the defaults of --pooling and\n"
    "                      --max-length, its Dense and Normalize modules follow\n"
    "                      any pooling, texts are stripped, the tokenizer is\n"
    "                      fast if tokenizer.json is there, and the prompt its\n"
    "                      default_prompt_name names goes before every text\n"
    "  --no-sentence-transformers  ignore modules.json: run the folder as an\n"
    "                      AlbertModel with the defaults below\n"
    "  --prompt TEXT       put TEXT before every text (not before input_ids), as\n"
    "                      SentenceTransformer.encode's prompt; --prompt '' puts\n"
    "                      none instead of a folder's default prompt\n"
    "  --prompt-name NAME  the prompt NAME of the folder's\n"
    "                      config_sentence_transformers.json\n"
    "  --device D[,D...]   cpu, or N: an OpenCL device index from --list-devices;\n"
    "                      several (\"0,1,cpu\") or all: every listed device takes\n"
    "                      the next batch when it is free; default: first GPU,\n"
    "                      else first OpenCL device, else cpu\n"
    "  --list-devices      list the devices (index, platform, device, type, compute\n"
    "                      units, global memory, driver, fp16, precisions, profile):\n"
    "                      OpenCL ones, then cpu\n"
    "  --precision P       fp32 (default): HuggingFace-exact; bf16: bfloat16 GEMM\n"
    "                      inputs, float32 accumulation and everything else (the cpu\n"
    "                      device on CPUs with AVX512-BF16 or AMX); int8: int8 GEMMs\n"
    "                      with per-channel weight and per-token activation scales\n"
    "                      (the cpu with AVX512-VNNI or AMX); fp16: Linear weights\n"
    "                      stored as halves, float32 arithmetic (every OpenCL\n"
    "                      device).\n"
    "                      A device that does not run P is a usage error naming\n"
    "                      what it runs (--list-devices: precisions)\n"
    "  --profile-file F    use device profile F (JSON: CLBlast parameters and kernel\n"
    "                      shapes) instead of the one picked for the device from\n"
    "                      $ALBERT_CL_PROFILE_DIR, else the installed profiles\n"
    "  --no-profile        no device profile: CLBlast's and our kernels' defaults\n"
    "  --input-format F    default: what the FILEs' names say (*.jsonl, *.ndjson:\n"
    "                      jsonl; *.csv: csv; *.tsv: tsv; any case, also before\n"
    "                      .gz; other names: text; names that disagree: exit 2)\n"
    "                      text: one input per line\n"
    "                      tsv: a sentence pair per line, split by one tab\n"
    "                      jsonl: one JSON object per line, either\n"
    "                        {\"text\": \"...\", \"text_pair\": \"...\"} (text_pair optional) or\n"
    "                        {\"input_ids\": [...], \"attention_mask\": [...],\n"
    "                         \"token_type_ids\": [...]} (the last two optional);\n"
    "                        other members are ignored\n"
    "                      csv: RFC 4180 rows (quoted fields may hold commas,\n"
    "                        \"\" and line breaks), the first row of each file\n"
    "                        naming the columns: text, and text_pair if there\n"
    "                        (an empty cell: no pair); blank lines are no rows\n"
    "  --text-field NAME   jsonl, csv: the text is member / column NAME (default\n"
    "                      text)\n"
    "  --pair-field NAME   jsonl, csv: the second sentence is NAME (default\n"
    "                      text_pair)\n"
    "  --id-field NAME     jsonl, csv: every record has member / column NAME\n"
    "                      (jsonl: a string or an integer below 2^53 in\n"
    "                      magnitude; csv: a string), and its output record\n"
    "                      (--format jsonl) carries it as \"id\" after \"index\"\n"
    "                      (error records too, once it was read)\n"
    "  --pooling P         pooler (default; see --model): HF pooler_output\n"
    "                      cls: the [CLS] vector of last_hidden_state\n"
    "                      mean: mean of last_hidden_state over non-padding tokens\n"
    "                      max: per value, the max over the same tokens\n"
    "                      mean_sqrt_len: their sum / sqrt(their count)\n"
    "                      weightedmean: their mean weighted by position (1, 2, ...)\n"
    "                      lasttoken: the last one's vector ([SEP])\n"
    "                      (sentence-transformers' Pooling modes; several joined\n"
    "                      by '+', e.g. mean+max: their vectors end to end in its\n"
    "                      order: cls, max, mean, mean_sqrt_len, weightedmean,\n"
    "                      lasttoken)\n"
    "                      none: the vector of every non-padding token\n"
    "                      (pooler and cls: after its attention, the last layer\n"
    "                      computes the [CLS] rows only; albert-base at 128\n"
    "                      tokens: 6% less work)\n"
    "  --normalize         L2-normalise the pooled vectors\n"
    "  --truncate-dim N    keep the first N values of each sentence embedding,\n"
    "                      as SentenceTransformer's truncate_dim (Matryoshka\n"
    "                      models): cut after the folder's modules, so a\n"
    "                      Normalize module's unit vectors come out shorter;\n"
    "                      with --normalize the cut vectors are normalised\n"
    "  --layer N           the vectors of HF's hidden_states[N] instead of the last\n"
    "                      layer's: 0 the embedding projection's output, 1..L a\n"
    "                      layer's, negative from the end (-1 the last, -2 the one\n"
    "                      before); the forward stops there.  Below the last\n"
    "                      layer, not with the pooler (which reads the last)\n"
    "  --layer N,M,...     several of them combined (--layer-combine); all: every\n"
    "                      one (0..L); e.g. --layer -4,-3,-2,-1: the last four\n"
    "  --layer-combine C   mean (default): their mean, value by value;\n"
    "                      concat: their vectors end to end, in the order given\n"
    "                      (N layers: N x hidden_size values); pooling and\n"
    "                      --normalize apply to the combined vectors\n"
    "  --tokenizer K       slow (default; see --model): spiece.model, as the\n"
    "                        sentencepiece-based AlbertTokenizer of\n"
    "                        transformers <= 4.x encodes\n"
    "                      fast: tokenizer.json, as HF tokenizers encodes\n"
    "                        (AlbertTokenizerFast; transformers 5's AlbertTokenizer)\n"
    "  --tokenize          only tokenize, no weights: needs spiece.model (slow) or\n"
    "                      tokenizer.json (fast), and config.json, if present, to\n"
    "                      cap --max-length; writes one jsonl line per input,\n"
    "                        {\"index\": i, \"input_ids\": [...]}, and for a pair\n"
    "                        (tsv, jsonl text_pair) \"token_type_ids\": [...] after\n"
    "                        input_ids\n"
    "  --max-length N      tokens per input, default 512 (see --model), capped by\n"
    "                      the model's max_position_embeddings; longer inputs are\n"
    "                      truncated\n"
    "                      keeping [SEP] last (a pair longest-first, as the\n"
    "                      tokenizer kind does it), with a warning naming file\n"
    "                      and line\n"
    "  --truncation-side S right: a long input loses its end; left: its start\n"
    "                      (a --prompt first), as HF's truncation_side; default:\n"
    "                      the folder's tokenizer_config.json's, else right\n"
    "  --format F          jsonl (default): one line per input,\n"
    "                        {\"index\": i, \"input_ids\": [...], \"embedding\": [...]}\n"
    "                        where embedding is one vector, or with --pooling none\n"
    "                        a list of vectors ([CLS] and [SEP] included); floats\n"
    "                        print with 9 significant digits (float32 round-trips)\n"
    "                      npy: NPY v1.0 float32 ('<f4') array of shape [N, H] of\n"
    "                        the pooled vectors (not with --pooling none)\n"
    "                      safetensors: \"embeddings\" F32 [N, H] of the pooled\n"
    "                        vectors; with --pooling none [T, H] of every input's\n"
    "                        token vectors in turn and \"lengths\" I32 [N], how\n"
    "                        many vectors each input has\n"
    "  --output-dtype D    float32 (default) | float16 (IEEE half; jsonl prints 5\n"
    "                        digits, npy '<f2', safetensors F16; a value of 65520\n"
    "                        or more in magnitude, float16's infinity, fails its\n"
    "                        record) | binary | ubinary (as\n"
    "                        sentence-transformers' quantize_embeddings: a bit\n"
    "                        per value > 0, 8 to a byte, high bit first, the last\n"
    "                        byte padded with 0 bits; binary: each byte - 128 as\n"
    "                        int8, ubinary: uint8; npy '|i1' / '|u1', safetensors\n"
    "                        I8 / U8, jsonl integers)\n"
    "  -o, --output FILE   write to FILE (default stdout).  jsonl records are\n"
    "                      written as they complete, in order, whole: an\n"
    "                      interrupted run leaves FILE holding its first records\n"
    "                      (see --resume); npy and safetensors are written\n"
    "                      only on success.  FILE named *.gz (jsonl only): gzip,\n"
    "                      each write a whole gzip member (--resume works)\n"
    "  --batch-size N      most inputs per forward pass (default 256; --benchmark:\n"
    "                      its batch's rows, default 32)\n"
    "  --max-batch-tokens N  most tokens (inputs x padded length) per forward\n"
    "                      pass; inputs are sorted by length in windows of 1024\n"
    "                      (default 16384 on a GPU, 4096 on other devices)\n"
    "  --on-error M        fail (default): a bad input ends the run (exit 1), the\n"
    "                      records before it written; skip: its record becomes\n"
    "                      {\"index\": i, \"error\": \"FILE:LINE: ...\"}, the rest go\n"
    "                      on, exit status 3 (jsonl only)\n"
    "  --resume            with -o FILE (jsonl): keep FILE's whole records and go\n"
    "                      on after them (an interrupted or killed run); the end\n"
    "                      result is the file an uninterrupted run writes\n"
    "  --shard I/N         only the records whose index modulo N is I (0 <= I < N),\n"
    "                      with their global indices: N runs together cover the\n"
    "                      input (merge: docs/scaling.md)\n"
    "  --progress          a progress line on stderr (default: when it is a\n"
    "                      terminal): records, tokens/s, ETA for files\n"
    "  --quiet             no progress line and no warnings\n"
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
    "                      time, GFLOP/s (GEMMs) and GB/s, per device; then the host\n"
    "                      phases (read, load, tokenize, batch, forward, validate,\n"
    "                      write: each stage's busy ms, summed over its threads;\n"
    "                      stages overlap) and per device its batches, records,\n"
    "                      tokens, padded tokens, busy ms and share of the tokens\n"
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
    "  HF_HUB_CACHE, HF_HOME    the Hugging Face cache --model NAME looks in (as\n"
    "                           huggingface_hub: default ~/.cache/huggingface/hub)\n"
    "  ONEDNN_MAX_CPU_ISA       cap the instructions of the cpu device's GEMMs\n"
    "                           (oneDNN's own variable, e.g. AVX2)\n"
    "\n"
    "Records come out in input order.  Exit status: 0 success; 1 bad input, model,\n"
    "device or validation failure (one line on stderr naming file and line where\n"
    "it applies; the records before it written); 2 usage error; 3 records skipped\n"
    "(--on-error skip); 130, 143, 129: interrupted by SIGINT, SIGTERM, SIGHUP (one\n"
    "line on stderr saying how many whole records -o FILE holds).\n";

static const char serve_usage_text[] =
    "usage: albert-cl serve [OPTIONS]\n"
    "\n"
    "An HTTP server of ALBERT embeddings, compatible with OpenAI's embeddings API\n"
    "and HuggingFace text-embeddings-inference (TEI).  Requests from all clients\n"
    "share batches and devices (docs/serving.md).\n"
    "\n"
    "endpoints:\n"
    "  POST /v1/embeddings  OpenAI: {\"input\": str | [str] | [ids] | [[ids]],\n"
    "                       \"encoding_format\": \"float\" | \"base64\", \"dimensions\": N}\n"
    "                       (also POST /embeddings, as TEI)\n"
    "  POST /embed          TEI: {\"inputs\": str | [str] | [ids] | [[ids]],\n"
    "                       \"normalize\": true, \"dimensions\": N,\n"
    "                       \"truncate\": false, \"prompt_name\": str} -> [[floats], ...]\n"
    "  POST /embed_all      TEI: {\"inputs\": str | [str] | [ids] | [[ids]],\n"
    "                       \"truncate\": false,\n"
    "                       \"prompt_name\": str} -> every token's vector, per input\n"
    "  POST /similarity     TEI: {\"inputs\": {\"source_sentence\": str, \"sentences\":\n"
    "                       [str]}, \"parameters\": {\"truncate\", \"prompt_name\"}}\n"
    "                       -> the cosine similarity to each sentence, in order\n"
    "  POST /tokenize       TEI: {\"inputs\": str | [str], \"add_special_tokens\": true,\n"
    "                       \"prompt_name\": str}\n"
    "                       prompt_name: a prompt of the folder's\n"
    "                       config_sentence_transformers.json, instead of the\n"
    "                       default one (unknown: 422)\n"
    "  /embed, /embed_all and /similarity take TEI's \"truncation_direction\":\n"
    "  \"right\" (cut a long text's end) or \"left\" (its start)\n"
    "  GET  /health (or /ping), /info, /metrics (Prometheus), /v1/models\n"
    "\n"
    "options:\n"
    "  --host H            address to listen on (default 127.0.0.1; 0.0.0.0: all)\n"
    "  --port P            port (default 8080; 0: any free one, printed)\n"
    "  --model M, --device D[,D...], --precision P, --tokenizer K, --threads N,\n"
    "  --profile-file F, --no-profile, --max-length N, --max-batch-tokens N,\n"
    "  --batch-size N, --no-sentence-transformers, --layer N[,N...],\n"
    "  --layer-combine C, --quiet\n"
    "                      as for a run (albert-cl --help)\n"
    "  --pooling P         pooler (default; a sentence-transformers folder: its\n"
    "                      own), cls, mean, max, mean_sqrt_len, weightedmean or\n"
    "                      lasttoken (several joined by '+'): the vector of an input\n"
    "  --normalize         L2-normalise the vectors (as the CLI's --normalize)\n"
    "  --prompt TEXT, --prompt-name NAME  the default prompt, put before every\n"
    "                      text input (not token ids) as for a run; default: the\n"
    "                      folder's default_prompt_name; --prompt '': none\n"
    "  --max-concurrent-requests N  requests answered at once (default 512); more\n"
    "                      are refused with 429\n"
    "  --max-client-batch-size N    inputs per request (default 256; more: 413)\n"
    "  --payload-limit BYTES        request body size (default 2000000; more: 413)\n"
    "  --max-wait-ms N     how long a batch waits for other requests' inputs\n"
    "                      (default 2)\n"
    "  --served-model-name NAME     the \"model\" answered (default: the model\n"
    "                      folder's name)\n"
    "  --auto-truncate     cut text inputs longer than --max-length (default: 413;\n"
    "                      token-id inputs are never cut)\n"
    "  --truncation-side S where texts are cut: right (their end) or left (their\n"
    "                      start); default: the folder's tokenizer_config.json's,\n"
    "                      else right; a request's truncation_direction wins\n"
    "  --api-key KEY       every request but GET /health must carry\n"
    "                      \"Authorization: Bearer KEY\" (else 401); default\n"
    "                      $ALBERT_CL_API_KEY (out of sight of ps), else none\n"
    "\n"
    "SIGTERM or SIGINT: no new connections, the requests in flight are answered,\n"
    "exit 0.  Exit status 1 when it cannot start (model, device, address), 2 on\n"
    "a usage error.\n";

/* ------------------------------------------------------------ options */

typedef int (*value_setter)(cli_options *o, const char *value);

/* One option: a value with its own syntax (SET), one of CHOICES whose index
 * goes to the int at FIELD, any string (MAX -1) kept at the const char *
 * at FIELD, an integer in [MIN, MAX] stored at FIELD, or a flag (MAX 0)
 * that sets the int at FIELD to 1. */
typedef struct option_spec {
    const char *name;
    value_setter set;
    const char *const *choices;
    size_t field;
    int min, max;
    int modes; /* RUN, SERVE or both */
} option_spec;

/* Where an option applies: a run over files, albert-cl serve, or both. */
enum { RUN = 1, SERVE = 2, ANY = RUN | SERVE };

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
static const char *const input_formats[] = {"text", "tsv", "jsonl", "csv", NULL};
static const char *const poolings[] = {"none", "pooler", "cls", "mean", "max", "mean_sqrt_len",
                                       "weightedmean", "lasttoken", NULL};
static const char *const output_formats[] = {"jsonl", "npy", "safetensors", NULL};
static const char *const tokenizer_kinds[] = {"slow", "fast", NULL};
/* In albert_precision's order. */
static const char *const precisions[] = {"fp32", "bf16", "fp16", "int8", NULL};
static const char *const on_errors[] = {"fail", "skip", NULL};
static const char *const layer_combines[] = {"mean", "concat", NULL};
/* In albert_truncation order. */
static const char *const truncation_sides[] = {"right", "left", NULL};

/* "all", or ids ("cpu" or an index) split by commas; whether those devices
 * exist is the library's to say. */
static int set_device(cli_options *o, const char *v)
{
    o->device = v;
    if (strcmp(v, "all") == 0)
        return 0;
    char id[32];
    for (const char *p = v;; p++) {
        size_t n = strcspn(p, ",");
        int index;
        snprintf(id, sizeof id, "%.*s", (int)(n < sizeof id ? n : sizeof id - 1), p);
        if (n >= sizeof id || (strcmp(id, "cpu") != 0 && parse_int(id, 0, INT_MAX, &index) != 0))
            return usage_error("--device: '%.*s' is not cpu, all or a device index", (int)n, p);
        p += n;
        if (!*p)
            return 0;
    }
}

static int set_batch_size(cli_options *o, const char *v)
{
    if (parse_int(v, 1, 65536, &o->batch_size) != 0)
        return usage_error("--batch-size: '%s' is not an integer from 1 to 65536", v);
    o->batch_size_set = 1;
    return 0;
}

/* "all", or hidden_states indices split by commas: checked against the
 * model's layer count once its config is read. */
static int set_layer(cli_options *o, const char *v)
{
    o->n_layer_given = 0;
    o->layer_all = strcmp(v, "all") == 0;
    for (const char *p = v; !o->layer_all; p++) {
        size_t n = strcspn(p, ",");
        char index[16];
        snprintf(index, sizeof index, "%.*s", (int)(n < sizeof index ? n : sizeof index - 1), p);
        if (o->n_layer_given == CLI_MAX_LAYERS)
            return usage_error("--layer: more than %d indices", CLI_MAX_LAYERS);
        if (n >= sizeof index ||
            parse_int(index, -4096, 4096, &o->layer_given[o->n_layer_given++]) != 0)
            return usage_error("--layer: '%.*s' is not an integer from -4096 to 4096 (a "
                               "hidden_states index), nor all",
                               (int)n, p);
        p += n;
        if (!*p)
            break;
    }
    return 0;
}

/* --pooling P, or several of sentence-transformers' modes as P+Q...: any
 * order, their vectors end to end in its order (the library's). */
static int set_pooling(cli_options *o, const char *v)
{
    unsigned modes = 0;
    int several = strchr(v, '+') != NULL;
    for (const char *p = v;; p += strcspn(p, "+") + 1) {
        char name[32];
        size_t n = strcspn(p, "+");
        if (n == 0)
            return usage_error("--pooling: '%s' has an empty mode name", v);
        snprintf(name, sizeof name, "%.*s", (int)n, p); /* cut short: no mode's name */
        int i = n < sizeof name ? pick(name, poolings) : -1;
        if (i < 0)
            return bad_choice("--pooling", name, poolings);
        if (several && (i == ALBERT_POOL_NONE || i == ALBERT_POOL_POOLER))
            return usage_error("--pooling: '%s' does not combine with other modes", name);
        if (modes >> i & 1)
            return usage_error("--pooling: '%s' twice", name);
        if (!modes)
            o->pooling = i; /* any of them: the library orders them */
        modes |= 1u << i;
        if (!p[n])
            break;
    }
    o->pooling_modes = several ? modes : 0;
    return 0;
}

/* I/N with 0 <= I < N. */
static int set_shard(cli_options *o, const char *v)
{
    const char *slash = strchr(v, '/');
    char first[16];
    int ok = slash && (size_t)(slash - v) < sizeof first;
    if (ok) {
        snprintf(first, sizeof first, "%.*s", (int)(slash - v), v);
        ok = parse_int(first, 0, INT_MAX - 1, &o->shard) == 0 &&
             parse_int(slash + 1, 1, INT_MAX, &o->shards) == 0 && o->shard < o->shards;
    }
    return ok ? 0 : usage_error("--shard: '%s' is not I/N with 0 <= I < N", v);
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

static const option_spec option_table[] = {
    {"--model", NULL, NULL, offsetof(cli_options, model_name), 0, -1, ANY},
    {"--device", set_device, NULL, 0, 0, 0, ANY},
    {"--list-devices", NULL, NULL, offsetof(cli_options, list_devices), 0, 0, RUN},
    {"--profile-file", NULL, NULL, offsetof(cli_options, profile_file), 0, -1, ANY},
    {"--no-profile", NULL, NULL, offsetof(cli_options, no_profile), 0, 0, ANY},
    {"--input-format", NULL, input_formats, offsetof(cli_options, input_format), 0, 0, RUN},
    {"--text-field", NULL, NULL, offsetof(cli_options, json_keys.text), 0, -1, RUN},
    {"--pair-field", NULL, NULL, offsetof(cli_options, json_keys.pair), 0, -1, RUN},
    {"--id-field", NULL, NULL, offsetof(cli_options, json_keys.id), 0, -1, RUN},
    {"--pooling", set_pooling, NULL, 0, 0, 0, ANY},
    {"--normalize", NULL, NULL, offsetof(cli_options, normalize), 0, 0, ANY},
    {"--truncate-dim", NULL, NULL, offsetof(cli_options, truncate_dim), 1, 1 << 20, RUN},
    {"--layer", set_layer, NULL, 0, 0, 0, ANY},
    {"--layer-combine", NULL, layer_combines, offsetof(cli_options, layer_combine), 0, 0, ANY},
    {"--no-sentence-transformers", NULL, NULL, offsetof(cli_options, no_sentence), 0, 0, ANY},
    {"--prompt", NULL, NULL, offsetof(cli_options, prompt_text), 0, -1, ANY},
    {"--prompt-name", NULL, NULL, offsetof(cli_options, prompt_name), 0, -1, ANY},
    {"--tokenize", NULL, NULL, offsetof(cli_options, tokenize_only), 0, 0, RUN},
    {"--tokenizer", NULL, tokenizer_kinds, offsetof(cli_options, tokenizer_kind), 0, 0, ANY},
    {"--precision", NULL, precisions, offsetof(cli_options, precision), 0, 0, ANY},
    /* 2: room for [CLS] and [SEP]. */
    {"--max-length", NULL, NULL, offsetof(cli_options, max_length), 2, 1 << 20, ANY},
    {"--truncation-side", NULL, truncation_sides, offsetof(cli_options, truncation_side), 0, 0,
     ANY},
    {"--format", NULL, output_formats, offsetof(cli_options, format), 0, 0, RUN},
    {"--output-dtype", NULL, cli_dtype_names, offsetof(cli_options, output_dtype), 0, 0, RUN},
    {"--output", NULL, NULL, offsetof(cli_options, output), 0, -1, RUN},
    {"-o", NULL, NULL, offsetof(cli_options, output), 0, -1, RUN},
    {"--batch-size", set_batch_size, NULL, 0, 0, 0, ANY},
    {"--max-batch-tokens", NULL, NULL, offsetof(cli_options, max_batch_tokens), 1, 1 << 24, ANY},
    {"--on-error", NULL, on_errors, offsetof(cli_options, on_error), 0, 0, RUN},
    {"--resume", NULL, NULL, offsetof(cli_options, resume), 0, 0, RUN},
    {"--shard", set_shard, NULL, 0, 0, 0, RUN},
    {"--progress", NULL, NULL, offsetof(cli_options, progress), 0, 0, RUN},
    {"--quiet", NULL, NULL, offsetof(cli_options, quiet), 0, 0, ANY},
    {"--threads", NULL, NULL, offsetof(cli_options, threads), 1, 4096, ANY},
    {"--validate", NULL, NULL, offsetof(cli_options, validate), 0, 0, RUN},
    {"--validate-tol", set_validate_tol, NULL, 0, 0, 0, RUN},
    {"--profile", NULL, NULL, offsetof(cli_options, profile), 0, 0, RUN},
    {"--profile-json", NULL, NULL, offsetof(cli_options, profile_json), 0, -1, RUN},
    {"--benchmark", NULL, NULL, offsetof(cli_options, benchmark), 0, 0, RUN},
    {"--seq-len", NULL, NULL, offsetof(cli_options, seq_len), 2, 1 << 20, RUN},
    {"--iterations", NULL, NULL, offsetof(cli_options, iterations), 1, 1000000, RUN},
    {"--warmup", NULL, NULL, offsetof(cli_options, warmup), 0, 1000000, RUN},
    {"--host", NULL, NULL, offsetof(cli_options, host), 0, -1, SERVE},
    {"--port", NULL, NULL, offsetof(cli_options, port), 0, 65535, SERVE},
    {"--max-concurrent-requests", NULL, NULL, offsetof(cli_options, max_concurrent), 1, 65536, SERVE},
    {"--max-client-batch-size", NULL, NULL, offsetof(cli_options, max_client_batch), 1, 1 << 20, SERVE},
    {"--payload-limit", NULL, NULL, offsetof(cli_options, payload_limit), 1, 1 << 30, SERVE},
    {"--max-wait-ms", NULL, NULL, offsetof(cli_options, max_wait_ms), 1, 60000, SERVE},
    {"--served-model-name", NULL, NULL, offsetof(cli_options, served_name), 0, -1, SERVE},
    {"--auto-truncate", NULL, NULL, offsetof(cli_options, auto_truncate), 0, 0, SERVE},
    {"--api-key", NULL, NULL, offsetof(cli_options, api_key), 0, -1, SERVE},
};

static int set_value(cli_options *o, const option_spec *spec, const char *value)
{
    if (spec->set)
        return spec->set(o, value);
    if (spec->max == -1) {
        *(const char **)((char *)o + spec->field) = value;
        return 0;
    }
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
        fputs(o->serve ? serve_usage_text : usage_text, stdout);
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
    if (!(spec->modes & (o->serve ? SERVE : RUN)))
        return usage_error(o->serve ? "option '%s' does not go with serve"
                                    : "option '%s' goes with serve only (albert-cl serve ...)",
                           arg);
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
    if (o->resume || o->shards > 1)
        return usage_error("--benchmark reads no input: not with --resume or --shard");
    if (o->truncate_dim)
        return usage_error("--benchmark times the model: not with --truncate-dim");
    if (o->device && (strchr(o->device, ',') || strcmp(o->device, "all") == 0))
        return usage_error("--benchmark measures one device: --device names one");
    o->seq_len = o->seq_len ? o->seq_len : CLI_BENCH_SEQ_LEN;
    o->iterations = o->iterations ? o->iterations : CLI_BENCH_ITERATIONS;
    o->warmup = o->warmup >= 0 ? o->warmup : CLI_BENCH_WARMUP;
    return 0;
}

/* The input format FILE's name says: .jsonl or .ndjson, .csv, .tsv (any
 * case, also before .gz); text for any other name. */
static int format_by_name(const char *path)
{
    const char *slash = strrchr(path, '/'), *file = slash ? slash + 1 : path;
    static const struct {
        const char *ext;
        int format;
    } by_ext[] = {{".jsonl", CLI_IN_JSONL}, {".ndjson", CLI_IN_JSONL}, {".csv", CLI_IN_CSV},
                  {".tsv", CLI_IN_TSV}};
    size_t n = strlen(file);
    if (n > 3 && strcasecmp(file + n - 3, ".gz") == 0)
        n -= 3;
    for (size_t i = 0; i < sizeof by_ext / sizeof by_ext[0]; i++) {
        const size_t e = strlen(by_ext[i].ext);
        if (n > e && strncasecmp(file + n - e, by_ext[i].ext, e) == 0)
            return by_ext[i].format;
    }
    return CLI_IN_TEXT;
}

/* Without --input-format the FILEs' names choose it (stdin, "-", has no
 * say): a corpus.jsonl is read as records, not as lines of JSON text.
 * Names that say different formats are a usage error. */
static int detect_input_format(cli_options *o)
{
    o->input_format_given = o->input_format >= 0;
    if (o->input_format_given)
        return 0;
    o->input_format = CLI_IN_TEXT;
    const char *first = NULL;
    for (int i = 0; i < o->nfiles; i++) {
        if (strcmp(o->files[i], "-") == 0)
            continue;
        const int f = format_by_name(o->files[i]);
        if (!first) {
            first = o->files[i];
            o->input_format = f;
        } else if (f != o->input_format) {
            return usage_error("%s and %s: their names say %s and %s input; --input-format F "
                               "reads every FILE as F", first, o->files[i],
                               input_formats[o->input_format], input_formats[f]);
        }
    }
    return 0;
}

/* --text-field, --pair-field and --id-field: three members of jsonl
 * records (not the pre-tokenized ones'), or columns of csv ones. */
static int check_json_keys(const cli_options *o)
{
    static const char *const flags[3] = {"--text-field", "--pair-field", "--id-field"};
    const char *keys[3] = {o->json_keys.text, o->json_keys.pair, o->json_keys.id};
    if (keys[2] && o->format != CLI_OUT_JSONL)
        return usage_error("--id-field puts ids in jsonl records: not --format %s",
                           output_formats[o->format]);
    const int jsonl = o->input_format == CLI_IN_JSONL;
    for (int i = 0; i < 3; i++) {
        if (!keys[i])
            continue;
        if (!jsonl && o->input_format != CLI_IN_CSV)
            return usage_error("%s names a member of jsonl records or a csv column: with "
                               "--input-format jsonl or csv%s", flags[i],
                               o->input_format_given ? ""
                                                     : " (or FILEs named *.jsonl, *.ndjson, *.csv)");
        if (!*keys[i] && jsonl)
            return usage_error("%s: an empty name", flags[i]);
        if (jsonl && pick(keys[i], cli_json_array_keys) >= 0)
            return usage_error("%s %s: a member of pre-tokenized records", flags[i], keys[i]);
    }
    const char *text = keys[0] ? keys[0] : "text", *pair = keys[1] ? keys[1] : "text_pair";
    if (strcmp(text, pair) == 0)
        return usage_error("--text-field and --pair-field: both name '%s'", text);
    if (keys[2] && (strcmp(keys[2], text) == 0 || strcmp(keys[2], pair) == 0))
        return usage_error("--id-field %s: the member of a text", keys[2]);
    return 0;
}

/* Combinations that cannot mean anything. */
static int check_combinations(const cli_options *o)
{
    if (o->format == CLI_OUT_NPY && o->pooling == ALBERT_POOL_NONE && !o->tokenize_only)
        return usage_error("--format npy needs one vector per input: not with --pooling none "
                           "(--format safetensors holds token vectors)");
    if (o->output_dtype != CLI_DTYPE_FLOAT32 && o->tokenize_only)
        return usage_error("--output-dtype %s converts embeddings: not with --tokenize",
                           cli_dtype_names[o->output_dtype]);
    if (o->format != CLI_OUT_JSONL && o->tokenize_only)
        return usage_error("--format %s holds embeddings: not with --tokenize",
                           output_formats[o->format]);
    if (o->normalize && o->pooling == ALBERT_POOL_NONE)
        return usage_error("--normalize applies to pooled vectors: not with --pooling none");
    if (o->truncate_dim && (o->pooling == ALBERT_POOL_NONE || o->tokenize_only))
        return usage_error("--truncate-dim cuts pooled vectors: not with %s",
                           o->tokenize_only ? "--tokenize" : "--pooling none");
    if (o->validate && o->tokenize_only)
        return usage_error("--validate compares embeddings: not with --tokenize");
    if ((o->n_layer_given || o->layer_all) && o->tokenize_only)
        return usage_error("--layer picks the vectors of a layer: not with --tokenize");
    if (o->profile_file && o->no_profile)
        return usage_error("--profile-file and --no-profile exclude each other");
    int to_file = o->output && strcmp(o->output, "-") != 0;
    if (o->resume && (!to_file || o->format != CLI_OUT_JSONL))
        return usage_error("--resume goes on with the records of -o FILE: jsonl to a file only");
    if (to_file && cli_stream_gzip_name(o->output) && o->benchmark)
        return usage_error("-o %s: gzip output (a name ending in .gz) is for records, not "
                           "--benchmark's line", o->output);
    if (to_file && cli_stream_gzip_name(o->output) && o->format != CLI_OUT_JSONL)
        return usage_error("-o %s: gzip output (a name ending in .gz) is jsonl only, not "
                           "--format %s", o->output, output_formats[o->format]);
    if (o->on_error == CLI_ON_ERROR_SKIP && o->format != CLI_OUT_JSONL)
        return usage_error("--on-error skip writes error records: jsonl only, not --format %s",
                           output_formats[o->format]);
    if (o->progress == CLI_PROGRESS_ON && o->quiet)
        return usage_error("--progress and --quiet exclude each other");
    return check_json_keys(o);
}

static int check_serve(const cli_options *o)
{
    if (o->nfiles)
        return usage_error("serve reads requests, not files: no FILE operands ('%s')", o->files[0]);
    if (o->pooling == ALBERT_POOL_NONE)
        return usage_error("serve answers one vector per input: not with --pooling none");
    if (o->api_key && (!*o->api_key || strpbrk(o->api_key, " \t\r\n")))
        return usage_error("--api-key (or ALBERT_CL_API_KEY): an empty key, or one with "
                           "white space, which no Authorization header can carry");
    if (o->profile_file && o->no_profile)
        return usage_error("--profile-file and --no-profile exclude each other");
    return 0;
}

static void default_options(cli_options *o)
{
    memset(o, 0, sizeof *o);
    o->model_name = albert_env("ALBERT_CL_MODEL");
    o->profile_dir = albert_env("ALBERT_CL_PROFILE_DIR");
    o->cache_dir = albert_env("ALBERT_CL_CACHE_DIR");
    o->kernel_dir = albert_env("ALBERT_CL_KERNEL_DIR");
    o->input_format = -1; /* the FILEs' names say: detect_input_format */
    o->pooling = -1;
    o->tokenizer_kind = -1;
    o->truncation_side = -1; /* the folder's tokenizer_config.json says */
    o->format = CLI_OUT_JSONL;
    o->batch_size = 32; /* --benchmark's; a run's cap is the scheduler's unless given */
    o->shards = 1;
    o->validate_tol = 1e-4;
    o->warmup = -1;
    o->host = "127.0.0.1";
    o->port = 8080;
    o->max_concurrent = 512;
    o->api_key = albert_env("ALBERT_CL_API_KEY");
    o->max_client_batch = 256;
    o->payload_limit = 2000000;
    o->max_wait_ms = 2;
}

/* The model folder's config.json, for the options checked against it; 0,
 * or EXIT_FAILURE said on stderr. */
static int load_config(const cli_options *o, albert_config *c)
{
    albert_error err;
    albert_config_init(c);
    if (albert_config_load(o->model_dir, c, &err) == ALBERT_OK)
        return 0;
    fprintf(stderr, "albert-cl: %s\n", err.msg);
    return EXIT_FAILURE;
}

/* --layer's indices into HF's hidden_states (0 the embedding projection's
 * output, L the last layer's, negative from the end, as in Python), so
 * config.json's layer count is read now, for a usage error before anything
 * loads: one index is the forward's skip_last_layers, several (or all) its
 * layers to combine.  0, EXIT_USAGE or EXIT_FAILURE. */
static int resolve_layer(cli_options *o)
{
    if (!o->n_layer_given && !o->layer_all)
        return 0;
    albert_config c;
    if (load_config(o, &c) != 0)
        return EXIT_FAILURE;
    const int L = c.num_hidden_layers;
    o->n_layers = o->layer_all ? L + 1 : o->n_layer_given;
    for (int i = 0; i < o->n_layers; i++) {
        const int given = o->layer_all ? i : o->layer_given[i];
        o->layers[i] = given < 0 ? L + 1 + given : given;
        if (o->layers[i] < 0 || o->layers[i] > L)
            return usage_error("--layer %d: %s has hidden_states 0 to %d (or -%d to -1)", given,
                               o->model_dir, L, L + 1);
        for (int j = 0; j < i; j++)
            if (o->layers[j] == o->layers[i])
                return usage_error("--layer: hidden_states[%d] is given twice", o->layers[i]);
    }
    const int last_only = o->n_layers == 1 && o->layers[0] == L;
    if (!last_only && o->pooling == ALBERT_POOL_POOLER)
        return usage_error("--layer: the pooler (HF pooler_output) reads the last layer alone; "
                           "give another --pooling (cls, mean, max, ... or none)");
    if (o->n_layers == 1) { /* one layer: the forward stops there */
        o->skip_last_layers = L - o->layers[0];
        o->n_layers = 0;
    }
    return 0;
}

/* --truncate-dim within the sentence embeddings' width, which the model's
 * config.json, the pooling, --layer and the folder's Dense modules set. */
static int check_truncate_dim(const cli_options *o)
{
    if (!o->truncate_dim)
        return 0;
    albert_config c;
    if (load_config(o, &c) != 0)
        return EXIT_FAILURE;
    /* The width before the cut (--pooling none was refused before). */
    const int width = o->head_width ? o->head_width : cli_pooled_width(o, &c);
    if (o->truncate_dim > width)
        return usage_error("--truncate-dim %d: the sentence embeddings of %s have %d values",
                           o->truncate_dim, o->model_dir, width);
    return 0;
}

#define DEFAULT_MODEL_DIR "models/albert-base-v2"

/* The default model: models/albert-base-v2, else albert-base-v2 in the
 * Hugging Face cache under either of the names the hub knows it by.  A
 * download that is there but broken (a bad ref, a missing snapshot) is
 * said, not taken for none. */
static int locate_default_model(cli_options *o)
{
    static const char *const tried[] = {DEFAULT_MODEL_DIR, "albert-base-v2",
                                        "albert/albert-base-v2"};
    albert_error err, broken = {0};
    for (size_t i = 0; i < sizeof tried / sizeof tried[0]; i++) {
        if (albert_model_locate(tried[i], NULL, o->model_path, sizeof o->model_path, &err) ==
            ALBERT_OK) {
            o->model_from_hub = i > 0;
            o->model_name = tried[i];
            return 0;
        }
        if (i > 0 && err.code == ALBERT_E_FORMAT) /* there, but broken */
            broken = err;
    }
    if (broken.msg[0])
        fprintf(stderr, "albert-cl: no model: no folder %s, and in the Hugging Face cache: %s\n",
                DEFAULT_MODEL_DIR, broken.msg);
    else
        fprintf(stderr, "albert-cl: no model: no folder %s, and the Hugging Face cache holds no "
                        "albert-base-v2; give --model (a folder, or a model name the cache "
                        "holds), or download it: tools/fetch-model.sh albert-base-v2\n",
                DEFAULT_MODEL_DIR);
    return EXIT_FAILURE;
}

/* --model (or $ALBERT_CL_MODEL): a folder, or a model the Hugging Face cache
 * holds (albert_model_locate).  0 or EXIT_FAILURE (said on stderr). */
static int locate_model(cli_options *o)
{
    o->model_dir = o->model_path;
    if (!o->model_name)
        return locate_default_model(o);
    albert_error err;
    if (albert_model_locate(o->model_name, NULL, o->model_path, sizeof o->model_path, &err) !=
        ALBERT_OK) {
        fprintf(stderr, "albert-cl: %s\n", err.msg);
        return EXIT_FAILURE;
    }
    o->model_from_hub = strcmp(o->model_path, o->model_name) != 0;
    return 0;
}

/* --prompt TEXT: a usage error unless it fits and is UTF-8. */
static int take_prompt_text(cli_options *o)
{
    if (strlen(o->prompt_text) >= sizeof o->prompt_buf)
        return usage_error("--prompt: more than %zu bytes", sizeof o->prompt_buf - 1);
    long bad = cli_utf8_invalid_at(o->prompt_text, strlen(o->prompt_text));
    if (bad >= 0)
        return usage_error("--prompt: invalid UTF-8 at byte %ld", bad + 1);
    o->prompt = strcpy(o->prompt_buf, o->prompt_text);
    return 0;
}

/* The folder's prompt --prompt-name names, else its default one: an
 * unknown name is a usage error, a bad file or prompt a failure. */
static int take_folder_prompt(cli_options *o)
{
    albert_error err;
    int rc = albert_sentence_prompt(o->model_dir, o->prompt_name, o->prompt_buf,
                                    sizeof o->prompt_buf, &err);
    if (rc == ALBERT_E_ARG && o->prompt_name)
        return usage_error("--prompt-name: %s", err.msg);
    long bad = rc == ALBERT_OK ? cli_utf8_invalid_at(o->prompt_buf, strlen(o->prompt_buf)) : -1;
    if (bad >= 0)
        rc = albert_fail(&err, ALBERT_E_FORMAT,
                         "%s/config_sentence_transformers.json: the prompt \"%s\": invalid "
                         "UTF-8 at byte %ld", o->model_dir,
                         o->prompt_name ? o->prompt_name : "(its default_prompt_name)", bad + 1);
    if (rc != ALBERT_OK) {
        fprintf(stderr, "albert-cl: %s\n", err.msg);
        return EXIT_FAILURE;
    }
    o->prompt = o->prompt_buf;
    return 0;
}

/* The prompt before every text: --prompt, the folder's prompt that
 * --prompt-name names, else its default_prompt_name's (as
 * SentenceTransformer.encode, whose prompts are a sentence-transformers
 * folder's); 0, EXIT_USAGE or EXIT_FAILURE. */
static int resolve_prompt(cli_options *o, const albert_sentence_config *st)
{
    if (o->prompt_text && o->prompt_name)
        return usage_error("--prompt and --prompt-name: give one");
    if (o->prompt_text)
        return take_prompt_text(o);
    if (o->prompt_name && !st->present)
        return usage_error("--prompt-name: %s %s, so it has no prompts", o->model_dir,
                           o->no_sentence ? "is run as an AlbertModel (--no-sentence-transformers)"
                                          : "is not a sentence-transformers folder (no modules.json)");
    if (!o->prompt_name && !st->default_prompt)
        return 0;
    return take_folder_prompt(o);
}

/* The defaults that depend on the model folder: a sentence-transformers
 * folder (modules.json) gives SentenceTransformer.encode's vectors unless
 * options say otherwise, else AlbertModel's (pooler_output, the slow
 * tokenizer, 512 tokens).  0, or EXIT_FAILURE when the folder's files are
 * bad (said on stderr). */
static int resolve_model_defaults(cli_options *o)
{
    if (locate_model(o) != 0)
        return EXIT_FAILURE;
    albert_sentence_config st;
    albert_error err;
    memset(&st, 0, sizeof st);
    if (!o->no_sentence && albert_sentence_config_read(o->model_dir, &st, &err) != ALBERT_OK) {
        fprintf(stderr, "albert-cl: %s (--no-sentence-transformers runs the folder as an "
                        "AlbertModel)\n", err.msg);
        return EXIT_FAILURE;
    }
    if (o->pooling < 0) {
        o->pooling = st.present ? (int)st.pooling : ALBERT_POOL_POOLER;
        o->pooling_modes = st.present ? st.pooling_modes : 0;
    }
    /* --normalize, not the folder's Normalize module, normalises a cut too. */
    o->normalize_truncated = o->normalize && o->truncate_dim;
    if (o->pooling != ALBERT_POOL_NONE)
        o->normalize |= st.normalize; /* the Normalize module follows any pooling */
    if (o->pooling != ALBERT_POOL_NONE && st.dense_modules) /* as do the Dense ones */
        o->head_width = st.dense_width;
    if (o->tokenizer_kind < 0 && st.present && !st.fast_tokenizer && !o->quiet)
        cli_warn("%s has no tokenizer.json: sentence-transformers would convert spiece.model to "
                 "the fast tokenizer; albert-cl uses the slow one, whose ids differ on some texts "
                 "(docs/tokenizers.md)", o->model_dir);
    if (o->tokenizer_kind < 0)
        o->tokenizer_kind = st.fast_tokenizer ? ALBERT_TOKENIZER_FAST : ALBERT_TOKENIZER_SLOW;
    if (o->max_length == 0)
        o->max_length = st.max_length ? st.max_length : 512;
    o->strip_text = o->sentence_transformers = st.present;
    o->exclude_prompt = st.present && !st.include_prompt;
    int rc = resolve_prompt(o, &st);
    if (rc == 0)
        rc = resolve_layer(o);
    if (rc == 0)
        rc = check_truncate_dim(o);
    if (rc == 0 && o->head_width && o->n_layers > 1 && o->layer_combine == CLI_COMBINE_CONCAT)
        return usage_error("--layer-combine concat: %s's Dense modules take vectors of "
                           "hidden_size values (--layer-combine mean, or "
                           "--no-sentence-transformers)", o->model_dir);
    return rc;
}

/* Fills O from ARGV; FILES (ARGC entries) receives the file operands.
 * Returns 0, PARSE_DONE, EXIT_USAGE, or EXIT_FAILURE when the model
 * folder's sentence-transformers files are bad. */
static int parse_args(cli_options *o, int argc, char **argv, const char **files)
{
    default_options(o);
    o->files = files;
    int only_files = 0;
    o->serve = argc > 1 && strcmp(argv[1], "serve") == 0;
    for (int i = 1 + o->serve; i < argc; i++) {
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
    int rc;
    if (o->serve) {
        rc = check_serve(o);
        return rc ? rc : resolve_model_defaults(o);
    }
    /* bf16 rounds every GEMM input, int8 quantizes it: differences of a few
     * hundredths (tenths) are their nature, not a fault (docs/accuracy.md: Precision). */
    if (!o->validate_tol_set && o->precision != ALBERT_PRECISION_FP32)
        o->validate_tol = o->precision == ALBERT_PRECISION_INT8 ? 0.5 : 0.1;
    rc = check_benchmark(o);
    rc = rc ? rc : detect_input_format(o);
    rc = rc ? rc : check_combinations(o);
    /* After the usage checks (exit 2), which none of these defaults can
     * break: a folder's pooling is never none. */
    return rc ? rc : resolve_model_defaults(o);
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
    cli_reader input;
    albert_config config;
    albert_model *model;
    albert_tokenizer *tok;
    albert_engine **engines;
    int nengines;
    albert_engine *reference;
    albert_head *head; /* a sentence-transformers folder's Dense modules */
    cli_stream stream;
    cli_sink sink;
    cli_arrays arrays; /* npy, safetensors: what goes into the sink */
    int stream_open, sink_open;
} session;

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

/* An engine on device INDEX (ALBERT_DEVICE_AUTO: the automatic pick). */
static int create_engine(const albert_model *m, const cli_options *o, int index, int precision,
                         int timing, albert_engine **out, albert_error *err)
{
    albert_engine_options eo;
    engine_options(o, &eo);
    eo.timing = timing;
    eo.precision = precision;
    eo.device = index;
    return albert_engine_create(m, &eo, out, err);
}

/* The device indices --device names, in its order (*N of them, at most
 * CAP); none given: the automatic pick. */
static int device_indices(const cli_options *o, int *idx, int cap, int *n, albert_error *err)
{
    *n = 0;
    if (!o->device) {
        idx[(*n)++] = ALBERT_DEVICE_AUTO;
        return ALBERT_OK;
    }
    if (strcmp(o->device, "all") == 0) {
        int count = 0;
        albert_device_count(&count, err);
        for (int i = 0; i < count && i < cap; i++)
            idx[(*n)++] = i;
        return albert_ok(err);
    }
    for (const char *p = o->device; *p && *n < cap; p += *p == ',') {
        char id[32];
        size_t len = strcspn(p, ",");
        snprintf(id, sizeof id, "%.*s", (int)len, p);
        p += len;
        int rc = albert_device_find(id, &idx[*n], err);
        if (rc != ALBERT_OK)
            return rc;
        for (int j = 0; j < *n; j++)
            if (idx[j] == idx[*n])
                return albert_fail(err, ALBERT_E_ARG, "--device: device %s named twice", id);
        (*n)++;
    }
    return ALBERT_OK;
}

/* Room for every device there is (an index list names each once). */
static int device_room(void)
{
    int count = 1;
    albert_error err;
    albert_device_count(&count, &err);
    return count + 1;
}

static int open_engines(session *s, const cli_options *o, albert_error *err)
{
    int cap = device_room();
    int *idx = calloc((size_t)cap, sizeof *idx);
    s->engines = calloc((size_t)cap, sizeof *s->engines);
    if (!idx || !s->engines) {
        free(idx);
        return albert_fail(err, ALBERT_E_NOMEM, "out of memory for the devices");
    }
    int n = 0, rc = device_indices(o, idx, cap, &n, err);
    for (int i = 0; rc == ALBERT_OK && i < n; i++) {
        rc = create_engine(s->model, o, idx[i], o->precision, o->profile || o->profile_json,
                           &s->engines[i], err);
        s->nengines += rc == ALBERT_OK;
    }
    free(idx);
    return rc;
}

static int open_model(session *s, const cli_options *o, albert_error *err)
{
    if (o->tokenize_only)
        return load_config_only(s, o->model_dir, err);
    int rc = albert_model_open(o->model_dir, &s->model, err);
    if (rc != ALBERT_OK)
        return rc;
    s->config = *albert_model_config(s->model);
    if (o->head_width)
        rc = albert_head_open(o->model_dir, &s->head, err);
    if (rc == ALBERT_OK && s->head &&
        albert_head_width_in(s->head) != cli_pooled_width(o, &s->config))
        rc = albert_fail(err, ALBERT_E_FORMAT,
                         "%s: the first Dense module takes vectors of %d values (its "
                         "in_features), and the pooling gives %d (hidden_size, times its "
                         "modes)",
                         o->model_dir, albert_head_width_in(s->head),
                         cli_pooled_width(o, &s->config));
    if (rc == ALBERT_OK)
        rc = open_engines(s, o, err);
    /* The reference is what HF gives: fp32. */
    if (rc == ALBERT_OK && o->validate) {
        int cpu;
        rc = albert_device_find("cpu", &cpu, err);
        if (rc == ALBERT_OK)
            rc = create_engine(s->model, o, cpu, ALBERT_PRECISION_FP32, 0, &s->reference, err);
    }
    return rc;
}

/* --profile / --profile-json, before the records are committed: a profile
 * that cannot be written fails the run like any other output. */
static int report_profile(const session *s, const cli_options *o, const cli_phases *ph,
                          const cli_outcome *done, albert_error *err)
{
    if (!o->profile && !o->profile_json)
        return ALBERT_OK;
    return cli_profile_report(o, s->engines, s->nengines, done, ph, err);
}

/* Ends the output of a run that got to RC: npy and safetensors get their
 * counts and are committed only on success; jsonl records are out already. */
static int finish_run(session *s, const cli_options *o, const cli_phases *ph,
                      const cli_outcome *done, int rc, albert_error *err)
{
    if (rc == ALBERT_OK)
        rc = report_profile(s, o, ph, done, err);
    if (s->stream_open) {
        albert_error e;
        int closed = cli_stream_close(&s->stream, &e);
        s->stream_open = 0;
        if (rc == ALBERT_OK && closed != ALBERT_OK)
            rc = albert_fail(err, closed, "%s", e.msg);
    }
    if (!s->sink_open)
        return rc;
    s->sink_open = 0;
    if (rc == ALBERT_OK && done)
        rc = cli_arrays_end(&s->arrays, err);
    cli_arrays_close(&s->arrays);
    if (rc == ALBERT_OK)
        rc = cli_sink_commit(&s->sink, err);
    else
        cli_sink_abort(&s->sink);
    return rc;
}

static int run_benchmark(session *s, const cli_options *o, cli_phases *ph, albert_error *err)
{
    int rc = open_model(s, o, err);
    if (rc == ALBERT_OK)
        rc = cli_sink_open(&s->sink, o->output, err);
    s->sink_open = rc == ALBERT_OK;
    cli_lap(ph, CLI_PHASE_LOAD);
    if (rc != ALBERT_OK)
        return rc;
    rc = cli_benchmark(o, s->engines[0], &s->config, ph, &s->sink, err);
    return finish_run(s, o, ph, NULL, rc, err);
}

/* jsonl streams, npy and safetensors go through an all-or-nothing sink
 * (header first, rewritten with the counts at the end). */
static int open_output(session *s, const cli_options *o, cli_output *out, albert_error *err)
{
    memset(out, 0, sizeof *out);
    if (o->format != CLI_OUT_JSONL) {
        int rc = cli_sink_open(&s->sink, o->output, err);
        s->sink_open = rc == ALBERT_OK;
        if (rc == ALBERT_OK)
            rc = cli_arrays_begin(&s->arrays, &s->sink, o->format, (cli_dtype)o->output_dtype,
                                  cli_output_width(o, &s->config), o->pooling == ALBERT_POOL_NONE,
                                  err);
        out->arrays = &s->arrays;
        return rc;
    }
    const int nested = o->pooling == ALBERT_POOL_NONE && !o->tokenize_only;
    const int width = o->tokenize_only ? 0 : cli_dtype_elements((cli_dtype)o->output_dtype,
                                                               cli_output_width(o, &s->config));
    cli_resume resume = {o->shard, o->shards, 0, 0, o->json_keys.id != NULL, width, nested,
                         o->output_dtype};
    int rc = cli_stream_open(&s->stream, o->output, o->resume ? &resume : NULL, err);
    s->stream_open = rc == ALBERT_OK;
    out->stream = &s->stream;
    out->skip = resume.kept;
    out->skipped_before = resume.kept_errors;
    return rc;
}

/* -o naming an input file would empty it before it is read. */
static int not_an_input(const cli_reader *in, const char *output, albert_error *err)
{
    struct stat out;
    if (!output || strcmp(output, "-") == 0 || stat(output, &out) != 0)
        return ALBERT_OK;
    for (int i = 0; i < in->nfiles; i++) {
        if (in->files[i] && cli_input_stream_is(in->files[i], &out))
            return albert_fail(err, ALBERT_E_ARG, "%s: the output is also an input file (%s)",
                               output, in->names[i]);
    }
    return ALBERT_OK;
}

/* Whether the model folder holds the file of the tokenizer kind. */
static int has_tokenizer_file(const cli_options *o)
{
    char path[PATH_MAX];
    albert_path_join(path, sizeof path, o->model_dir,
                     o->tokenizer_kind == ALBERT_TOKENIZER_FAST ? "tokenizer.json" : "spiece.model");
    return access(path, F_OK) == 0;
}

static int run_session(session *s, const cli_options *o, cli_phases *ph, cli_outcome *done,
                       albert_error *err)
{
    if (o->benchmark)
        return run_benchmark(s, o, ph, err);
    int rc = cli_reader_open(&s->input, o->files, o->nfiles, (cli_input_format)o->input_format,
                             &o->json_keys, err);
    cli_lap(ph, CLI_PHASE_READ);
    if (rc == ALBERT_OK)
        rc = open_model(s, o, err);
    /* Pre-tokenized jsonl may need no tokenizer; it is opened when its file
     * is there, and one that is there but fails says why. */
    if (rc == ALBERT_OK) {
        albert_error e;
        int opened = albert_tokenizer_open_kind(o->model_dir, (albert_tokenizer_kind)o->tokenizer_kind,
                                                &s->tok, &e);
        if (opened != ALBERT_OK && (o->input_format != CLI_IN_JSONL || has_tokenizer_file(o)))
            rc = albert_fail(err, opened, "%s", e.msg);
    }
    int max_pos = s->config.max_position_embeddings;
    cli_runner r = {o, &s->config, s->tok, s->engines, s->nengines, s->reference,
                    o->max_length < max_pos ? o->max_length : max_pos, ph, s->head,
                    o->truncation_side >= 0 ? (albert_truncation)o->truncation_side
                                            : albert_tokenizer_truncation(s->tok)};
    albert_scheduler *sched = NULL;
    if (rc == ALBERT_OK)
        rc = cli_start(&r, &sched, err);
    cli_output out;
    if (rc == ALBERT_OK)
        rc = not_an_input(&s->input, o->output, err);
    if (rc == ALBERT_OK)
        rc = open_output(s, o, &out, err);
    cli_lap(ph, CLI_PHASE_LOAD);
    if (rc != ALBERT_OK) {
        albert_scheduler_free(sched);
        return rc;
    }
    rc = cli_run(&r, sched, &s->input, &out, done, err);
    cli_phases_stop(ph);
    return finish_run(s, o, ph, done, rc, err);
}

static void close_session(session *s)
{
    if (s->stream_open) {
        albert_error e;
        cli_stream_close(&s->stream, &e);
    }
    cli_arrays_close(&s->arrays);
    if (s->sink_open)
        cli_sink_abort(&s->sink);
    albert_engine_free(s->reference);
    albert_head_close(s->head);
    for (int i = 0; s->engines && i < s->nengines; i++)
        albert_engine_free(s->engines[i]);
    free(s->engines);
    albert_tokenizer_close(s->tok);
    albert_model_close(s->model);
    cli_reader_close(&s->input);
}

/* A precision a device does not run is the user's mistake (exit 2), caught
 * before anything loads.  A device that cannot be found or described is
 * left to the run, which says why. */
static int check_precision(const cli_options *o)
{
    if (o->tokenize_only || o->precision == ALBERT_PRECISION_FP32)
        return 0;
    albert_engine_options eo;
    engine_options(o, &eo);
    int cap = device_room(), n = 0;
    int *idx = calloc((size_t)cap, sizeof *idx);
    albert_error err;
    if (!idx || device_indices(o, idx, cap, &n, &err) != ALBERT_OK)
        n = 0;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        albert_device_info info;
        if (albert_device_info_get(idx[i], &eo, &info, &err) == ALBERT_OK &&
            !albert_device_runs(&info, o->precision))
            rc = usage_error("--precision %s: device %s (%s) runs %s", precisions[o->precision],
                             info.id, info.name, info.precisions);
    }
    free(idx);
    return rc;
}

/* 0, 1, or 3 when records were skipped. */
static int run_status(const cli_options *o, int *skipped_any)
{
    session s;
    memset(&s, 0, sizeof s);
    albert_error err;
    memset(&err, 0, sizeof err);
    cli_phases phases;
    cli_phases_start(&phases);
    cli_outcome done;
    memset(&done, 0, sizeof done);
    int rc = run_session(&s, o, &phases, &done, &err);
    if (rc != ALBERT_OK)
        fprintf(stderr, "albert-cl: %s\n", err.msg);
    *skipped_any = done.skipped > 0;
    free(done.devices);
    close_session(&s);
    return rc == ALBERT_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ------------------------------------------------------------ serve */

/* The model folder's last component: "models/albert-base-v2/" is
 * "albert-base-v2". */
static void folder_name(const char *dir, char *dst, size_t size)
{
    size_t end = strlen(dir);
    while (end > 1 && dir[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && dir[start - 1] != '/')
        start--;
    snprintf(dst, size, "%.*s", (int)(end - start), dir + start);
}

/* The largest of the engines' token budgets when --max-batch-tokens is not
 * given: the scheduler's per-device default (albert_cl.h). */
static int default_batch_tokens(const session *s)
{
    int most = 0;
    for (int i = 0; i < s->nengines; i++) {
        albert_device_info info;
        albert_error err;
        int gpu = albert_device_info_get(albert_engine_device(s->engines[i]), NULL, &info, &err) ==
                      ALBERT_OK && strcmp(info.type, "GPU") == 0;
        int budget = gpu ? 16384 : 4096;
        most = budget > most ? budget : most;
    }
    return most;
}

static void serve_settings(const session *s, const cli_options *o, const char **names,
                           const char *model_name, srv_settings *set)
{
    memset(set, 0, sizeof *set);
    set->model_name = model_name;
    set->model_dir = o->model_dir;
    set->config = &s->config;
    set->tok = s->tok;
    set->devices = names;
    set->ndevices = s->nengines;
    int max_pos = s->config.max_position_embeddings;
    set->max_length = o->max_length < max_pos ? o->max_length : max_pos;
    set->pooling = o->pooling;
    set->pooling_modes = o->pooling_modes;
    set->layer = s->config.num_hidden_layers - o->skip_last_layers;
    set->layers = o->layers;
    set->n_layers = o->n_layers;
    set->layer_concat = o->layer_combine == CLI_COMBINE_CONCAT;
    set->width = cli_output_width(o, &s->config);
    set->normalize = o->normalize;
    set->strip_text = o->strip_text;
    set->prompt = o->prompt;
    set->sentence_transformers = o->sentence_transformers;
    set->prompt_max = sizeof o->prompt_buf;
    set->exclude_prompt = o->exclude_prompt;
    set->precision = o->precision;
    set->tokenizer_kind = o->tokenizer_kind;
    set->max_batch_tokens = o->max_batch_tokens ? o->max_batch_tokens : default_batch_tokens(s);
    set->max_client_batch = o->max_client_batch;
    set->payload_limit = (size_t)o->payload_limit;
    set->max_concurrent = o->max_concurrent;
    set->max_wait_ms = o->max_wait_ms;
    set->auto_truncate = o->auto_truncate;
    set->truncation = o->truncation_side >= 0 ? (albert_truncation)o->truncation_side
                                              : albert_tokenizer_truncation(s->tok);
    set->api_key = o->api_key;
}

static int serve_session(session *s, const cli_options *o, albert_error *err)
{
    int rc = open_model(s, o, err);
    if (rc == ALBERT_OK)
        rc = albert_tokenizer_open_kind(o->model_dir, (albert_tokenizer_kind)o->tokenizer_kind,
                                        &s->tok, err);
    if (rc != ALBERT_OK)
        return rc;
    const char **names = calloc((size_t)s->nengines, sizeof *names);
    if (!names)
        return albert_fail(err, ALBERT_E_NOMEM, "out of memory for the devices");
    for (int i = 0; i < s->nengines; i++)
        names[i] = albert_engine_device_name(s->engines[i]);
    char model_name[256];
    if (o->model_from_hub) /* the repo id, as TEI's model_id */
        snprintf(model_name, sizeof model_name, "%.*s", (int)strcspn(o->model_name, "@"),
                 o->model_name);
    else
        folder_name(o->model_dir, model_name, sizeof model_name);
    srv_settings set;
    serve_settings(s, o, names, o->served_name ? o->served_name : model_name, &set);
    cli_runner r = {o,    &s->config,     s->tok, s->engines, s->nengines,
                    NULL, set.max_length, NULL,   s->head,    set.truncation};
    albert_scheduler_options so;
    cli_scheduler_options(&r, &so);
    srv_launch launch = {&set, &so, o->host, o->port, o->quiet};
    rc = srv_serve(&launch, err);
    free(names);
    return rc;
}

/* albert-cl serve: 0 after a stop signal, 1 when it could not start. */
static int run_serve(const cli_options *o)
{
    srv_block_signals();
    session s;
    memset(&s, 0, sizeof s);
    albert_error err;
    memset(&err, 0, sizeof err);
    int rc = serve_session(&s, o, &err);
    if (rc != ALBERT_OK)
        fprintf(stderr, "albert-cl serve: %s\n", err.msg);
    close_session(&s);
    return rc == ALBERT_OK ? EXIT_SUCCESS : EXIT_FAILURE;
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
    int skipped = 0;
    if (rc == 0 && opt.serve) {
        cli_set_quiet(opt.quiet);
        rc = run_serve(&opt);
    } else if (rc == 0 && !opt.list_devices) {
        cli_set_quiet(opt.quiet);
        rc = run_status(&opt, &skipped);
    }
    free(files);
    albert_error err;
    /* --help, --list-devices, ... too: output that did not get out fails. */
    if (cli_stdout_close(&err) != ALBERT_OK && (rc == EXIT_SUCCESS || rc == PARSE_DONE)) {
        fprintf(stderr, "albert-cl: %s\n", err.msg);
        return EXIT_FAILURE;
    }
    if (rc == EXIT_SUCCESS && skipped)
        return CLI_EXIT_SKIPPED;
    return rc == PARSE_DONE ? EXIT_SUCCESS : rc;
}
