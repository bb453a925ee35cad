/* The tokenizer against HF's golden ids, and its truncation, errors,
 * tokenizer_config.json handling, speed and thread safety: the slow kind,
 * or with the argument "fast" the fast one (tokenizer.json), through every
 * test that applies to it. */
#include "core/common.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAXLEN 4096

static albert_tokenizer_kind KIND = ALBERT_TOKENIZER_SLOW;

/* ASan holds freed memory in a quarantine (256 MB by default) that would
 * swamp test_huge_text's bound on peak memory; a small one keeps the bound
 * meaningful in sanitizer builds.  Only ASan reads this. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "quarantine_size_mb=8"; }

static albert_tokenizer *open_base(void)
{
    char dir[1024];
    test_shared_path(dir, sizeof dir, "models/albert-base-v2");
    albert_tokenizer *tok = NULL;
    albert_error err;
    int rc = albert_tokenizer_open_kind(dir, KIND, &tok, &err);
    if (rc != ALBERT_OK) {
        fprintf(stderr, "FATAL: cannot open the tokenizer in %s: %s\n", dir, err.msg);
        exit(1);
    }
    return tok;
}

/* One encoding, as the API returns it. */
typedef struct enc {
    int rc, n, n_full;
    int32_t ids[MAXLEN], types[MAXLEN];
    albert_error err;
} enc;

static void encode(const albert_tokenizer *tok, const char *a, const char *b, int max_length,
                   enc *e)
{
    e->rc = albert_tokenize(tok, a, strlen(a), b, b ? strlen(b) : 0, max_length, e->ids, e->types,
                            &e->n, &e->n_full, &e->err);
}

static void format_ids(const int32_t *ids, int n, char *dst, size_t size)
{
    size_t at = 0;
    dst[0] = '\0';
    for (int i = 0; i < n && at + 16 < size; i++)
        at += (size_t)snprintf(dst + at, size - at, "%s%d", i ? "," : "", ids[i]);
}

/* ------------------------------------------------------------ golden */

typedef struct golden_line {
    char *text;
    int32_t *ids;
    int n;
} golden_line;

static int load_golden(golden_line **out)
{
    char path[1024];
    test_shared_path(path, sizeof path,
                     KIND == ALBERT_TOKENIZER_FAST ? "golden/tokenize-fast.jsonl"
                                                   : "golden/tokenize.jsonl");
    char *data = NULL;
    albert_error err;
    if (albert_read_file(path, &data, NULL, &err) != ALBERT_OK) {
        fprintf(stderr, "FATAL: %s\n", err.msg);
        exit(1);
    }
    golden_line *lines = NULL;
    int count = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *text = cJSON_GetObjectItem(j, "text"), *ids = cJSON_GetObjectItem(j, "ids");
        if (!cJSON_IsString(text) || !cJSON_IsArray(ids)) {
            fprintf(stderr, "FATAL: %s: line %d is not {text, ids}\n", path, count + 1);
            exit(1);
        }
        lines = realloc(lines, (size_t)(count + 1) * sizeof *lines);
        golden_line *g = &lines[count++];
        g->text = strdup(text->valuestring);
        g->n = cJSON_GetArraySize(ids);
        g->ids = malloc((size_t)g->n * sizeof *g->ids);
        for (int i = 0; i < g->n; i++)
            g->ids[i] = (int32_t)cJSON_GetArrayItem(ids, i)->valueint;
        cJSON_Delete(j);
    }
    free(data);
    *out = lines;
    return count;
}

static void free_golden(golden_line *lines, int count)
{
    for (int i = 0; i < count; i++) {
        free(lines[i].text);
        free(lines[i].ids);
    }
    free(lines);
}

static bool matches(const enc *e, const golden_line *g)
{
    return e->rc == ALBERT_OK && e->n == g->n && e->n_full == g->n &&
           memcmp(e->ids, g->ids, (size_t)g->n * sizeof *g->ids) == 0;
}

static void test_golden(const albert_tokenizer *tok, const golden_line *lines, int count)
{
    static enc e;
    int good = 0;
    for (int i = 0; i < count; i++) {
        const golden_line *g = &lines[i];
        encode(tok, g->text, NULL, MAXLEN, &e);
        char want[2048], got[2048];
        format_ids(g->ids, g->n, want, sizeof want);
        format_ids(e.ids, e.rc == ALBERT_OK ? e.n : 0, got, sizeof got);
        CHECK(matches(&e, g), "golden line %d \"%s\": expected [%s] got [%s] (%s)", i + 1, g->text,
              want, got, e.rc ? e.err.msg : "ok");
        good += matches(&e, g);
        bool zero_types = true;
        for (int k = 0; k < e.n; k++)
            zero_types &= e.types[k] == 0;
        CHECK(zero_types, "golden line %d: single text has a non-zero token type", i + 1);
    }
    CHECK(count >= 100, "only %d golden lines", count);
    printf("golden: %d/%d lines match\n", good, count);
}

/* Row R of case C against encoding E: same length as the mask and the same
 * ids and token types where the mask is 1. */
static void check_row(const golden_case *c, int r, const enc *e, const char *model)
{
    const int32_t *ids = c->input_ids + r * c->T, *types = c->token_type_ids + r * c->T;
    const int32_t *mask = c->attention_mask + r * c->T;
    int len = 0, bad = 0;
    for (int t = 0; t < c->T; t++)
        len += mask[t] == 1;
    for (int t = 0; t < len && t < e->n; t++)
        bad += ids[t] != e->ids[t] || types[t] != e->types[t];
    CHECK(e->rc == ALBERT_OK && e->n == len && bad == 0,
          "%s case %s row %d: n %d want %d, %d differ", model, c->name, r, e->n, len, bad);
}

/* The input ids and token types of every text case of the model goldens,
 * which include pairs and a text truncated to 512 tokens. */
static void test_golden_models(const albert_tokenizer *tok)
{
    static enc e;
    for (int m = 0; golden_models[m]; m++) {
        char path[1024], *json = NULL;
        snprintf(path, sizeof path, "%s/golden/%s.json", test_shared_dir(), golden_models[m]);
        albert_error err;
        CHECK(albert_read_file(path, &json, NULL, &err) == ALBERT_OK, "%s", err.msg);
        cJSON *root = cJSON_Parse(json);
        free(json);
        golden_case *cases;
        int count = golden_load(golden_models[m], &cases);
        CHECK(cJSON_GetArraySize(root) == count, "%s: %d cases", path, count);
        for (int i = 0; i < count && i < cJSON_GetArraySize(root); i++) {
            const cJSON *item = cJSON_GetArrayItem(root, i);
            const cJSON *texts = cJSON_GetObjectItem(item, "texts");
            const cJSON *pairs = cJSON_GetObjectItem(item, "pairs");
            for (int r = 0; r < cJSON_GetArraySize(texts); r++) {
                const char *b = pairs ? cJSON_GetArrayItem(pairs, r)->valuestring : NULL;
                encode(tok, cJSON_GetArrayItem(texts, r)->valuestring, b, cases[i].T, &e);
                check_row(&cases[i], r, &e, golden_models[m]);
            }
        }
        golden_free(cases, count);
        cJSON_Delete(root);
    }
}

/* The fast kind's pairs against HF tokenizers' (pairs-fast.jsonl): ids and
 * token types. */
static void test_golden_pairs(const albert_tokenizer *tok)
{
    static enc e;
    char path[1024], *data = NULL;
    test_shared_path(path, sizeof path, "golden/pairs-fast.jsonl");
    albert_error err;
    CHECK(albert_read_file(path, &data, NULL, &err) == ALBERT_OK, "%s", err.msg);
    int count = 0, good = 0;
    for (char *line = data ? strtok(data, "\n") : NULL; line; line = strtok(NULL, "\n"), count++) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *ids = cJSON_GetObjectItem(j, "ids");
        const cJSON *types = cJSON_GetObjectItem(j, "token_type_ids");
        encode(tok, cJSON_GetObjectItem(j, "text")->valuestring,
               cJSON_GetObjectItem(j, "text_pair")->valuestring, MAXLEN, &e);
        bool same = e.rc == ALBERT_OK && e.n == cJSON_GetArraySize(ids);
        for (int i = 0; same && i < e.n; i++)
            same = e.ids[i] == cJSON_GetArrayItem(ids, i)->valueint &&
                   e.types[i] == cJSON_GetArrayItem(types, i)->valueint;
        CHECK(same, "%s line %d: ids or token types differ (rc %d, n %d)", path, count + 1, e.rc,
              e.n);
        good += same;
        cJSON_Delete(j);
    }
    CHECK(count >= 3, "%s: only %d pairs", path, count);
    printf("golden pairs: %d/%d match\n", good, count);
    free(data);
}

/* ------------------------------------------------------------ pairs and truncation */

/* Ids of TEXT without [CLS]/[SEP]. */
static int body(const albert_tokenizer *tok, const char *text, int32_t *ids)
{
    static enc e;
    encode(tok, text, NULL, MAXLEN, &e);
    CHECK(e.rc == ALBERT_OK, "encode '%s': %s", text, e.err.msg);
    memcpy(ids, e.ids + 1, (size_t)(e.n - 2) * sizeof *ids);
    return e.n - 2;
}

static void test_pair_layout(const albert_tokenizer *tok)
{
    static enc e;
    int32_t a[64], b[64];
    int na = body(tok, "Hello, my dog is cute", a), nb = body(tok, "Paris is a beautiful city", b);
    encode(tok, "Hello, my dog is cute", "Paris is a beautiful city", MAXLEN, &e);
    CHECK(e.rc == ALBERT_OK && e.n == na + nb + 3 && e.n_full == e.n, "pair length %d, want %d",
          e.n, na + nb + 3);
    CHECK(e.ids[0] == ALBERT_CLS_ID && e.ids[na + 1] == ALBERT_SEP_ID &&
              e.ids[e.n - 1] == ALBERT_SEP_ID,
          "pair special tokens misplaced");
    CHECK(memcmp(e.ids + 1, a, (size_t)na * 4) == 0 &&
              memcmp(e.ids + na + 2, b, (size_t)nb * 4) == 0,
          "pair bodies differ from single encodings");
    int bad_types = 0;
    for (int i = 0; i < e.n; i++)
        bad_types += e.types[i] != (i <= na + 1 ? 0 : 1);
    CHECK(bad_types == 0, "%d token types wrong: 0 through the first [SEP], 1 after", bad_types);

    encode(tok, "Hello", "", MAXLEN, &e);
    CHECK(e.rc == ALBERT_OK && e.n == 4 && e.ids[2] == ALBERT_SEP_ID && e.ids[3] == ALBERT_SEP_ID &&
              e.types[3] == 1,
          "empty pair: n %d", e.n);
}

/* ------------------------------------------------------------ added tokens */

/* The ids of AlbertTokenizer's added tokens in albert-base-v2. */
enum { PAD_ID = 0, UNK_ID = 1, MASK_ID = 4 };

/* One part of an expected body: TEXT tokenized on its own, or (TEXT NULL)
 * the added token ID. */
typedef struct part {
    const char *text;
    int32_t id;
} part;

#define TXT(s) {(s), -1}
#define TOK(i) {NULL, (i)}

static int compose(const albert_tokenizer *tok, const part *parts, int count, int32_t *ids)
{
    int n = 0;
    for (int i = 0; i < count; i++) {
        if (parts[i].text)
            n += body(tok, parts[i].text, ids + n);
        else
            ids[n++] = parts[i].id;
    }
    return n;
}

/* TEXT's body must be its PARTS' ids back to back. */
static void check_split(const albert_tokenizer *tok, const char *text, const part *parts,
                        int count)
{
    int32_t want[256], got[256];
    int nw = compose(tok, parts, count, want), ng = body(tok, text, got);
    char a[1024], b[1024];
    format_ids(want, nw, a, sizeof a);
    format_ids(got, ng, b, sizeof b);
    CHECK(strcmp(a, b) == 0, "'%s': ids %s, want %s", text, b, a);
}

#define SPLIT(tok, text, ...)                                          \
    check_split((tok), (text), (const part[]){__VA_ARGS__},            \
                (int)(sizeof((const part[]){__VA_ARGS__}) / sizeof(part)))

static bool has_id(const int32_t *ids, int n, int32_t id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

static void test_added_single(const albert_tokenizer *tok)
{
    SPLIT(tok, "hello [MASK] world", TXT("hello"), TOK(MASK_ID), TXT("world"));
    SPLIT(tok, "a[MASK]b", TXT("a"), TOK(MASK_ID), TXT("b"));
    SPLIT(tok, "[CLS][SEP]", TOK(ALBERT_CLS_ID), TOK(ALBERT_SEP_ID));
    SPLIT(tok, "<unk>x", TOK(UNK_ID), TXT("x"));
    SPLIT(tok, "<UNK>x", TOK(UNK_ID), TXT("x")); /* lowercased into "<unk>" first */
    SPLIT(tok, "[MASK] at start", TOK(MASK_ID), TXT("at start"));
    SPLIT(tok, "at end [MASK]", TXT("at end"), TOK(MASK_ID));
    SPLIT(tok, "[CLS] start", TOK(ALBERT_CLS_ID), TXT("start"));
    SPLIT(tok, "end <pad>", TXT("end"), TOK(PAD_ID));
    SPLIT(tok, "x\t [MASK]y", TXT("x"), TOK(MASK_ID), TXT("y"));
    SPLIT(tok, "[[MASK]]", TXT("["), TOK(MASK_ID), TXT("]"));
    SPLIT(tok, "[MASK][MASK] [MASK]", TOK(MASK_ID), TOK(MASK_ID), TOK(MASK_ID));
    SPLIT(tok, "9,9[MASK]9,9", TXT("9,9"), TOK(MASK_ID), TXT("9,9"));
    /* Lowercase or partial spellings are ordinary text. */
    SPLIT(tok, "[mask] lower", TXT("[mask]"), TXT("lower"));
    int32_t ids[64];
    int n = body(tok, "[mask] [Mask] [CLS <pad [SEP", ids);
    CHECK(!has_id(ids, n, MASK_ID) && !has_id(ids, n, ALBERT_CLS_ID) && !has_id(ids, n, PAD_ID) &&
              !has_id(ids, n, ALBERT_SEP_ID),
          "near-miss spellings became added tokens");
}

/* Expects A (and B) to encode to [CLS] WANT_A [SEP] WANT_B [SEP], N_FULL
 * tokens before truncation to MAX_LENGTH. */
static void check_added_pair(const albert_tokenizer *tok, const char *a, const char *b,
                             int max_length, const int32_t *want, int n, int n_full)
{
    static enc e;
    encode(tok, a, b, max_length, &e);
    CHECK(e.rc == ALBERT_OK && e.n == n && e.n_full == n_full &&
              memcmp(e.ids, want, (size_t)n * sizeof *want) == 0,
          "'%s' + '%s' at %d: rc %d n %d n_full %d", a, b, max_length, e.rc, e.n, e.n_full);
    CHECK(e.types[3] == 0 && e.types[4] == 1, "'%s' + '%s': token types", a, b);
}

static void test_added_pair(const albert_tokenizer *tok)
{
    int32_t hello = 0, there = 0, world = 0;
    CHECK(body(tok, "hello", &hello) == 1 && body(tok, "there", &there) == 1 &&
              body(tok, "world", &world) == 1,
          "hello, there and world are one token each");
    const int32_t cls = ALBERT_CLS_ID, sep = ALBERT_SEP_ID;
    const int32_t full[] = {cls, hello, MASK_ID, sep, sep, world, PAD_ID, sep};
    check_added_pair(tok, "hello [MASK]", "[SEP] world <pad>", 64, full, 8, 8);
    /* Added tokens count as ordinary tokens: 3 + 3 cut to 2 + 2. */
    const int32_t cut[] = {cls, hello, MASK_ID, sep, sep, world, sep};
    check_added_pair(tok, "hello [MASK] there", "[SEP] world <pad>", 7, cut, 7, 9);
    static enc e;
    encode(tok, "[MASK] [MASK] [MASK] [MASK]", NULL, 4, &e);
    CHECK(e.rc == ALBERT_OK && e.n == 4 && e.n_full == 6 && e.ids[1] == MASK_ID &&
              e.ids[2] == MASK_ID && e.ids[3] == ALBERT_SEP_ID,
          "single truncation through added tokens: n %d n_full %d", e.n, e.n_full);
}

/* "model" is one token, so N repeats make N tokens. */
static void words(char *dst, int n)
{
    dst[0] = '\0';
    for (int i = 0; i < n; i++)
        strcat(dst, i ? " model" : "model");
}

/* Checks a pair of LA and LB one-token words truncated to MAX_LENGTH keeps
 * WANT_A and WANT_B of them. */
static void check_longest_first(const albert_tokenizer *tok, int la, int lb, int max_length,
                                int want_a, int want_b)
{
    static enc e;
    char a[512], b[512];
    words(a, la);
    words(b, lb);
    encode(tok, a, b, max_length, &e);
    int seps = 0, first_sep = -1;
    for (int i = 0; e.rc == ALBERT_OK && i < e.n; i++)
        if (e.ids[i] == ALBERT_SEP_ID) {
            seps++;
            first_sep = first_sep < 0 ? i : first_sep;
        }
    int got_a = first_sep - 1, got_b = e.n - first_sep - 2;
    CHECK(e.rc == ALBERT_OK && seps == 2 && e.ids[e.n - 1] == ALBERT_SEP_ID,
          "pair %d+%d at %d: rc %d seps %d", la, lb, max_length, e.rc, seps);
    CHECK(got_a == want_a && got_b == want_b, "pair %d+%d at %d kept %d+%d, want %d+%d", la, lb,
          max_length, got_a, got_b, want_a, want_b);
    CHECK(e.n_full == la + lb + 3 && e.n == want_a + want_b + 3, "pair %d+%d: n %d n_full %d", la,
          lb, e.n, e.n_full);
    CHECK(e.types[e.n - 1] == 1 && e.types[first_sep] == 0, "pair %d+%d: types at the [SEP]s",
          la, lb);
}

static void test_truncation(const albert_tokenizer *tok, const golden_line *lines, int count)
{
    static enc e;
    const golden_line *g = &lines[0];
    for (int i = 1; i < count; i++)
        if (lines[i].n > g->n)
            g = &lines[i];
    CHECK(g->n > 20, "longest golden line has only %d ids", g->n);
    encode(tok, g->text, NULL, 10, &e);
    CHECK(e.rc == ALBERT_OK && e.n == 10 && e.n_full == g->n, "single truncation: n %d n_full %d",
          e.n, e.n_full);
    CHECK(memcmp(e.ids, g->ids, 9 * sizeof *e.ids) == 0 && e.ids[9] == ALBERT_SEP_ID,
          "single truncation keeps the first 8 tokens and [SEP] last");

    encode(tok, g->text, NULL, 2, &e);
    CHECK(e.rc == ALBERT_OK && e.n == 2 && e.ids[0] == ALBERT_CLS_ID && e.ids[1] == ALBERT_SEP_ID,
          "max_length 2 keeps only the special tokens");

    /* la, lb, budget, then what the slow and the fast kind keep */
    static const int cases[][7] = {
        {10, 4, 8, 4, 4, 4, 4},   /* all from the longer A */
        {4, 10, 8, 4, 4, 4, 4},   /* all from the longer B */
        {10, 4, 12, 8, 4, 8, 4},  /* A only down to what B leaves */
        {5, 5, 7, 4, 3, 3, 4},    /* slow: B, A, B; fast: halves, B the odd one */
        {6, 6, 9, 5, 4, 4, 5},    /* the same */
        {5, 5, 8, 4, 4, 4, 4},    /* even */
        {7, 4, 6, 3, 3, 3, 3},    /* both cut */
        {9, 2, 7, 5, 2, 5, 2},    /* the shorter kept whole */
        {5, 5, 0, 0, 0, 0, 0},    /* nothing left but specials */
        {3, 2, 5, 3, 2, 3, 2},    /* fits: untouched */
    };
    int fast = KIND == ALBERT_TOKENIZER_FAST ? 2 : 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_longest_first(tok, cases[i][0], cases[i][1], 3 + cases[i][2], cases[i][3 + fast],
                            cases[i][4 + fast]);
}

static void test_bad_args(const albert_tokenizer *tok)
{
    static enc e;
    encode(tok, "hello", NULL, 1, &e);
    CHECK(e.rc == ALBERT_E_ARG && strstr(e.err.msg, "max_length"), "single max_length 1: rc %d",
          e.rc);
    encode(tok, "hello", "world", 2, &e);
    CHECK(e.rc == ALBERT_E_ARG && strstr(e.err.msg, "max_length"), "pair max_length 2: rc %d",
          e.rc);
    int n = 0;
    albert_error err;
    int rc = albert_tokenize(tok, NULL, 0, NULL, 0, 8, e.ids, e.types, &n, NULL, &err);
    CHECK(rc == ALBERT_E_ARG, "NULL text: rc %d", rc);
    rc = albert_tokenize(tok, "a", 1, NULL, 0, 8, e.ids, NULL, &n, NULL, &err);
    CHECK(rc == ALBERT_OK && n == 3, "NULL type_ids and n_full are optional: rc %d", rc);
    rc = albert_tokenize_side(tok, "a", 1, NULL, 0, 8, (albert_truncation)2, e.ids, NULL, &n,
                              NULL, &err);
    CHECK(rc == ALBERT_E_ARG && strstr(err.msg, "side"), "truncation side 2: rc %d", rc);
}

/* ------------------------------------------------------------ invalid UTF-8 */

static void expect_bad_utf8(const albert_tokenizer *tok, const char *what, const char *bytes,
                            size_t len, bool in_pair, const char *offset)
{
    static enc e;
    const char *ok = "fine text";
    e.rc = albert_tokenize(tok, in_pair ? ok : bytes, in_pair ? strlen(ok) : len,
                           in_pair ? bytes : NULL, in_pair ? len : 0, 64, e.ids, e.types, &e.n,
                           &e.n_full, &e.err);
    CHECK(e.rc == ALBERT_E_INPUT, "%s: rc %d", what, e.rc);
    const char *part = in_pair ? "pair" : "text";
    CHECK(e.rc != ALBERT_E_INPUT || (strstr(e.err.msg, offset) && strstr(e.err.msg, part)),
          "%s: message '%s' lacks '%s' or '%s'", what, e.err.msg, offset, part);
    /* albert_text_check says the same, without a tokenizer */
    albert_error check;
    CHECK(albert_text_check(part, bytes, len, &check) == ALBERT_E_INPUT &&
              strcmp(check.msg, e.err.msg) == 0,
          "%s: albert_text_check: '%s', albert_tokenize: '%s'", what, check.msg, e.err.msg);
}

static void test_invalid_utf8(const albert_tokenizer *tok)
{
    albert_error err;
    CHECK(albert_text_check(NULL, "caf\xc3\xa9 \xf0\x9f\x99\x82", 10, &err) == ALBERT_OK &&
              albert_text_check("x", NULL, 0, &err) == ALBERT_OK,
          "valid text: %s", err.msg);
    CHECK(albert_text_check(NULL, "\xff", 1, &err) == ALBERT_E_INPUT && strstr(err.msg, "text"),
          "WHAT NULL reads text: %s", err.msg);
    CHECK(albert_text_check("x", NULL, 3, &err) == ALBERT_E_ARG, "NULL text of 3 bytes");
    expect_bad_utf8(tok, "lone continuation", "ab\x80" "cd", 5, false, "byte 2");
    expect_bad_utf8(tok, "overlong slash", "x\xc0\xaf", 3, false, "byte 1");
    expect_bad_utf8(tok, "overlong 3-byte", "\xe0\x80\xaf", 3, false, "byte 0");
    expect_bad_utf8(tok, "surrogate", "abc\xed\xa0\x80", 6, false, "byte 3");
    expect_bad_utf8(tok, "truncated", "caf\xc3", 4, false, "byte 3");
    expect_bad_utf8(tok, "truncated 4-byte", "\xf0\x9f\x99 ok", 6, false, "byte 0");
    expect_bad_utf8(tok, "above U+10FFFF", "\xf4\x90\x80\x80", 4, false, "byte 0");
    expect_bad_utf8(tok, "0xff", "a\xff", 2, false, "byte 1");
    expect_bad_utf8(tok, "interior NUL", "ab\0cd", 5, false, "byte 2");
    expect_bad_utf8(tok, "bad pair", "ok \xc3\x28", 5, true, "byte 3");
}

/* ------------------------------------------------------------ open errors and config */

static void make_temp_dir(char *dir, size_t size)
{
    snprintf(dir, size, "/tmp/albert-test-tok-XXXXXX");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "FATAL: mkdtemp failed\n");
        exit(1);
    }
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[1024];
    albert_path_join(path, sizeof path, dir, name);
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static void remove_in(const char *dir, const char *name)
{
    char path[1024];
    albert_path_join(path, sizeof path, dir, name);
    remove(path);
}

static void expect_open_error(const char *what, const char *dir, int code, const char *needle)
{
    albert_tokenizer *tok = (albert_tokenizer *)&tok;
    albert_error err;
    int rc = albert_tokenizer_open_kind(dir, KIND, &tok, &err);
    CHECK(rc == code && tok == NULL, "%s: rc %d, want %d", what, rc, code);
    CHECK(rc == ALBERT_OK || strstr(err.msg, needle), "%s: message '%s' lacks '%s'", what, err.msg,
          needle);
    albert_tokenizer_close(rc == ALBERT_OK ? tok : NULL);
}

/* A missing folder, and a file of the kind's that is garbage. */
static void test_open_errors(void)
{
    bool fast = KIND == ALBERT_TOKENIZER_FAST;
    const char *file = fast ? "tokenizer.json" : "spiece.model";
    char missing[64];
    snprintf(missing, sizeof missing, "/nonexistent/albert/%s", file);
    expect_open_error("missing folder", "/nonexistent/albert", ALBERT_E_IO, missing);
    char dir[64];
    make_temp_dir(dir, sizeof dir);
    write_text(dir, file, fast ? "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0"
                               : "this is not a protobuf at all \x01\x02\x03");
    expect_open_error("garbage file", dir, ALBERT_E_FORMAT, file);
    remove_in(dir, file);
    rmdir(dir);
}

/* The node at slash-separated PATH of ROOT (object keys, array indices). */
static cJSON *json_at_path(cJSON *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    cJSON *node = root;
    for (char *key = strtok(buf, "/"); node && key; key = strtok(NULL, "/"))
        node = cJSON_IsArray(node) ? cJSON_GetArrayItem(node, atoi(key))
                                   : cJSON_GetObjectItemCaseSensitive(node, key);
    return node;
}

/* DIR/tokenizer.json: albert-base-v2's with the value at PATH/KEY
 * replaced by the JSON VALUE. */
static void write_variant(const char *dir, const char *path, const char *key, const char *value)
{
    char src[1024], *data = NULL;
    albert_error err;
    test_shared_path(src, sizeof src, "models/albert-base-v2/tokenizer.json");
    CHECK(albert_read_file(src, &data, NULL, &err) == ALBERT_OK, "%s", err.msg);
    cJSON *root = cJSON_Parse(data);
    cJSON *parent = json_at_path(root, path);
    if (cJSON_IsArray(parent))
        cJSON_ReplaceItemInArray(parent, atoi(key), cJSON_Parse(value));
    else
        cJSON_ReplaceItemInObjectCaseSensitive(parent, key, cJSON_Parse(value));
    char *text = cJSON_PrintUnformatted(root);
    write_text(dir, "tokenizer.json", text);
    free(text);
    cJSON_Delete(root);
    free(data);
}

/* That variant must fail to open with CODE and a message naming NEEDLE. */
static void expect_json_error(const char *dir, const char *path, const char *key,
                              const char *value, int code, const char *needle)
{
    write_variant(dir, path, key, value);
    char what[256];
    snprintf(what, sizeof what, "tokenizer.json with %s/%s = %s", path, key, value);
    expect_open_error(what, dir, code, needle);
}

/* Every part of tokenizer.json that is read is checked, and what albert-cl
 * does not implement is named with its JSON path. */
static void test_fast_open_errors(void)
{
    char dir[64];
    make_temp_dir(dir, sizeof dir);
    static const struct {
        const char *path, *key, *value;
        int code;
        const char *needle;
    } cases[] = {
        {"normalizer/normalizers", "2", "{\"type\": \"BertNormalizer\"}", ALBERT_E_UNSUPPORTED,
         "normalizer.normalizers[2].type \"BertNormalizer\""},
        {"normalizer/normalizers/5", "precompiled_charsmap", "\"!!not base64\"", ALBERT_E_FORMAT,
         "normalizer.normalizers[5].precompiled_charsmap"},
        {"normalizer/normalizers/5", "precompiled_charsmap", "\"AAAA\"", ALBERT_E_FORMAT,
         "normalizer.normalizers[5].precompiled_charsmap"},
        {"normalizer/normalizers/6/pattern", "Regex", "\"(\"", ALBERT_E_FORMAT,
         "normalizer.normalizers[6].pattern.Regex"},
        {"normalizer/normalizers/0/pattern", "String", "\"\"", ALBERT_E_UNSUPPORTED,
         "normalizer.normalizers[0].pattern.String"},
        {"normalizer/normalizers/1", "content", "7", ALBERT_E_FORMAT,
         "normalizer.normalizers[1].content"},
        {"", "normalizer", "[]", ALBERT_E_FORMAT, "normalizer must be an object"},
        {"", "pre_tokenizer", "{\"type\": \"Whitespace\"}", ALBERT_E_UNSUPPORTED,
         "pre_tokenizer.type \"Whitespace\""},
        {"pre_tokenizer", "prepend_scheme", "\"sometimes\"", ALBERT_E_FORMAT,
         "pre_tokenizer.prepend_scheme"},
        {"pre_tokenizer", "replacement", "\"ab\"", ALBERT_E_FORMAT, "pre_tokenizer.replacement"},
        {"model", "type", "\"BPE\"", ALBERT_E_UNSUPPORTED, "model.type \"BPE\""},
        {"model/vocab", "3", "\"x\"", ALBERT_E_FORMAT, "model.vocab[3]"},
        {"model", "vocab", "[]", ALBERT_E_FORMAT, "model.vocab"},
        {"model", "unk_id", "30000", ALBERT_E_FORMAT, "model.unk_id"},
        {"", "post_processor", "{\"type\": \"BertProcessing\"}", ALBERT_E_UNSUPPORTED,
         "post_processor.type \"BertProcessing\""},
        {"post_processor/single/0/SpecialToken", "id", "\"[NOPE]\"", ALBERT_E_FORMAT,
         "post_processor.single[0].SpecialToken.id must be a name in special_tokens"},
        {"post_processor/special_tokens/[CLS]", "ids", "[\"2\"]", ALBERT_E_FORMAT,
         "post_processor.special_tokens.[CLS].ids"},
        {"post_processor/pair", "3", "{\"Sequence\": {\"id\": \"A\", \"type_id\": 1}}",
         ALBERT_E_UNSUPPORTED, "post_processor.pair"},
        {"added_tokens/4", "lstrip", "1", ALBERT_E_FORMAT, "added_tokens[4].lstrip"},
        {"", "added_tokens", "{}", ALBERT_E_FORMAT, "added_tokens must be an array"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_json_error(dir, cases[i].path, cases[i].key, cases[i].value, cases[i].code,
                          cases[i].needle);
    remove_in(dir, "tokenizer.json");
    rmdir(dir);
}

/* Ids of TEXT's body as a string, for comparing two tokenizers. */
static void body_string(const albert_tokenizer *tok, const char *text, char *dst, size_t size)
{
    int32_t ids[256];
    int n = body(tok, text, ids);
    format_ids(ids, n, dst, size);
}

static bool same_ids(const albert_tokenizer *t1, const char *s1, const albert_tokenizer *t2,
                     const char *s2)
{
    char a[2048], b[2048];
    body_string(t1, s1, a, sizeof a);
    body_string(t2, s2, b, sizeof b);
    return strcmp(a, b) == 0;
}

static void test_config(const albert_tokenizer *base)
{
    char dir[64], model[1024], link[1024];
    make_temp_dir(dir, sizeof dir);
    test_shared_path(model, sizeof model, "models/albert-base-v2/spiece.model");
    albert_path_join(link, sizeof link, dir, "spiece.model");
    CHECK(symlink(model, link) == 0, "symlink %s", link);

    write_text(dir, "tokenizer_config.json",
               "{\"do_lower_case\": false, \"keep_accents\": true, \"remove_space\": true}");
    albert_tokenizer *tok = NULL;
    albert_error err;
    int rc = albert_tokenizer_open(dir, &tok, &err);
    CHECK(rc == ALBERT_OK, "open with tokenizer_config.json: %s", err.msg);
    if (rc == ALBERT_OK) {
        CHECK(!same_ids(tok, "Paris", base, "Paris"), "do_lower_case=false changes nothing");
        CHECK(same_ids(tok, "paris", base, "Paris"), "cased config on lowercase != default");
        CHECK(!same_ids(tok, "cafe", tok, "café"), "keep_accents=true still strips accents");
        CHECK(same_ids(base, "cafe", base, "café"), "default does not strip accents");
        CHECK(same_ids(tok, "a [MASK]", base, "a [MASK]"), "cased config: [MASK] not split off");
        CHECK(!same_ids(tok, "<UNK>x", base, "<UNK>x"), "cased config turned <UNK> into <unk>");
        albert_tokenizer_close(tok);
    }

    write_text(dir, "tokenizer_config.json", "{\"do_lower_case\": fals");
    expect_open_error("malformed tokenizer_config.json", dir, ALBERT_E_FORMAT,
                      "tokenizer_config.json");
    write_text(dir, "tokenizer_config.json", "{\"keep_accents\": \"yes\"}");
    expect_open_error("string keep_accents", dir, ALBERT_E_FORMAT, "keep_accents");

    remove_in(dir, "tokenizer_config.json");
    remove_in(dir, "spiece.model");
    rmdir(dir);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------ empty texts */

/* Issue 14: an empty text made a null pointer plus 0 (UBSan, clang). */
static void test_empty(const albert_tokenizer *tok)
{
    static enc e;
    encode(tok, "", NULL, 8, &e);
    CHECK(e.rc == ALBERT_OK && e.n == 2 && e.n_full == 2 && e.ids[0] == ALBERT_CLS_ID &&
              e.ids[1] == ALBERT_SEP_ID,
          "empty text: rc %d n %d", e.rc, e.n);
    encode(tok, "", "", 8, &e);
    CHECK(e.rc == ALBERT_OK && e.n == 3 && e.n_full == 3 && e.ids[2] == ALBERT_SEP_ID &&
              e.types[2] == 1,
          "empty text and pair: rc %d n %d", e.rc, e.n);
    /* The fast kind keeps a blank text's word boundary, "\u2581" (HF does). */
    int blank = KIND == ALBERT_TOKENIZER_FAST ? 1 : 0;
    encode(tok, " \t\n", "[MASK]", 8, &e);
    CHECK(e.rc == ALBERT_OK && e.n == 4 + blank && e.ids[2 + blank] == MASK_ID,
          "blank text, [MASK] pair: n %d", e.n);
}

/* Pieces spell the text back: "\u2581" for each word start. */
static void test_pieces(const albert_tokenizer *tok)
{
    static enc e;
    encode(tok, "Hello world, again.", NULL, 16, &e);
    char piece[64], spelled[128] = "";
    albert_error err;
    for (int i = 1; e.rc == ALBERT_OK && i + 1 < e.n; i++) {
        CHECK(albert_tokenizer_piece(tok, e.ids[i], piece, sizeof piece, &err) == ALBERT_OK,
              "piece of id %d: %s", (int)e.ids[i], err.msg);
        strncat(spelled, piece, sizeof spelled - strlen(spelled) - 1);
    }
    CHECK(strcmp(spelled, "\xe2\x96\x81" "hello\xe2\x96\x81" "world,\xe2\x96\x81" "again.") == 0,
          "pieces spell '%s'", spelled);
    CHECK(albert_tokenizer_piece(tok, ALBERT_CLS_ID, piece, sizeof piece, &err) == ALBERT_OK &&
              strcmp(piece, "[CLS]") == 0,
          "piece of [CLS]: '%s'", piece);
    CHECK(albert_tokenizer_piece(tok, ALBERT_SEP_ID, piece, 3, &err) == ALBERT_OK &&
              strcmp(piece, "[S") == 0,
          "piece cut to 3 bytes: '%s'", piece);
    CHECK(albert_tokenizer_piece(tok, 30000, piece, sizeof piece, &err) == ALBERT_E_ARG &&
              piece[0] == '\0' && strstr(err.msg, "30000"),
          "id past the vocabulary: %s", err.msg);
    CHECK(albert_tokenizer_piece(tok, -1, piece, sizeof piece, &err) == ALBERT_E_ARG,
          "negative id");
    CHECK(albert_tokenizer_piece(NULL, 2, piece, sizeof piece, &err) == ALBERT_E_ARG,
          "NULL tokenizer");
    int before = -1, after = -1;
    CHECK(albert_tokenizer_specials(tok, &before, &after, &err) == ALBERT_OK && before == 1 &&
              after == 1,
          "specials around a text: %d before, %d after", before, after);
    CHECK(albert_tokenizer_specials(NULL, &before, &after, &err) == ALBERT_E_ARG,
          "specials of a NULL tokenizer");
}

/* ------------------------------------------------------------ chunks (tokenizer.h) */

static albert_tokenizer *open_chunked(const char *dir, size_t chunk_bytes, size_t run_max)
{
    albert_tokenizer *tok = NULL;
    albert_error err;
    if (albert_tokenizer_open_kind(dir, KIND, &tok, &err) != ALBERT_OK) {
        fprintf(stderr, "FATAL: %s: %s\n", dir, err.msg);
        exit(1);
    }
    CHECK(albert_tokenizer_chunks(tok), "%s: the tokenizer does not chunk", dir);
    albert_tokenizer_set_chunking(tok, chunk_bytes, run_max);
    return tok;
}

/* A cut at every blank (chunks of one byte) must not change an id: the
 * golden lines and the model goldens' texts, pairs and truncation. */
static void test_cut_at_every_blank(const golden_line *lines, int count)
{
    char dir[1024];
    test_shared_path(dir, sizeof dir, "models/albert-base-v2");
    albert_tokenizer *tok = open_chunked(dir, 1, ALBERT_TOK_RUN_MAX_BYTES);
    test_golden(tok, lines, count);
    if (KIND == ALBERT_TOKENIZER_SLOW)
        test_golden_models(tok);
    else
        test_golden_pairs(tok);
    albert_tokenizer_close(tok);
}

/* The same for every tokenizer_config.json setting, against the same
 * tokenizer with chunking off. */
static void test_cuts_every_config(const golden_line *lines, int count)
{
    char dir[64], model[1024], link[1024];
    make_temp_dir(dir, sizeof dir);
    test_shared_path(model, sizeof model, "models/albert-base-v2/spiece.model");
    albert_path_join(link, sizeof link, dir, "spiece.model");
    CHECK(symlink(model, link) == 0, "symlink %s", link);
    static enc whole, cut;
    for (int bits = 0; bits < 8; bits++) {
        char cfg[128];
        snprintf(cfg, sizeof cfg,
                 "{\"do_lower_case\": %s, \"remove_space\": %s, \"keep_accents\": %s}",
                 bits & 1 ? "true" : "false", bits & 2 ? "true" : "false",
                 bits & 4 ? "true" : "false");
        write_text(dir, "tokenizer_config.json", cfg);
        albert_tokenizer *tok = open_chunked(dir, 1, ALBERT_TOK_RUN_MAX_BYTES);
        int differ = 0;
        for (int i = 0; i < count; i++) {
            albert_tokenizer_set_chunking(tok, SIZE_MAX, SIZE_MAX);
            encode(tok, lines[i].text, NULL, MAXLEN, &whole);
            albert_tokenizer_set_chunking(tok, 1, ALBERT_TOK_RUN_MAX_BYTES);
            encode(tok, lines[i].text, NULL, MAXLEN, &cut);
            differ += whole.rc != ALBERT_OK || cut.n != whole.n || cut.n_full != whole.n_full ||
                      memcmp(cut.ids, whole.ids, (size_t)whole.n * sizeof *whole.ids) != 0;
        }
        CHECK(differ == 0, "%s: %d golden lines change when cut at every blank", cfg, differ);
        albert_tokenizer_close(tok);
    }
    remove_in(dir, "tokenizer_config.json");
    remove_in(dir, "spiece.model");
    rmdir(dir);
}

/* A growable byte string for the generated texts. */
typedef struct text_buf {
    char *s;
    size_t n, cap;
} text_buf;

static void text_add(text_buf *t, const char *s, size_t n)
{
    if (t->n + n + 1 > t->cap) {
        t->cap = 2 * (t->n + n + 1);
        t->s = realloc(t->s, t->cap);
    }
    memcpy(t->s + t->n, s, n);
    t->n += n;
    t->s[t->n] = '\0';
}

/* The golden lines one after another, joined by assorted blanks, until the
 * text holds MIN_BYTES; *BODY gets the sum of the lines' token counts. */
static text_buf join_lines(const golden_line *lines, int count, size_t min_bytes, size_t *body)
{
    static const char *const blanks[] = {" ", "\n", "\t", "\r\n", "  \t ", "\xe3\x80\x80"};
    text_buf t = {0};
    *body = 0;
    for (int i = 0; t.n < min_bytes; i++) {
        const golden_line *g = &lines[i % count];
        const char *blank = blanks[i % 6];
        text_add(&t, blank, strlen(blank));
        text_add(&t, g->text, strlen(g->text));
        *body += (size_t)(g->n - 2);
    }
    return t;
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Issue 14: a 50 MB line took 6 GB in sentencepiece.  A multi-megabyte text
 * (many chunks) must keep its peak memory small (the whole-text path needed
 * about 70 bytes a byte, 200 MB here), keep the ids of a prefix short enough
 * to be one chunk, the old whole-text path, and count every line's tokens.
 * Runs before any test that raises the peak. */
static void test_huge_text(albert_tokenizer *tok, const golden_line *lines, int count)
{
    static enc big, prefix;
    size_t body, prefix_body;
    text_buf t = join_lines(lines, count, 3u << 20, &body);
    text_buf p = join_lines(lines, count, 4u << 10, &prefix_body);
    CHECK(p.n < ALBERT_TOK_CHUNK_BYTES && prefix_body > 600, "prefix: %zu bytes, %zu tokens", p.n,
          prefix_body);
    long rss0 = peak_rss_kb();
    double t0 = now_s();
    big.rc = albert_tokenize(tok, t.s, t.n, NULL, 0, 512, big.ids, big.types, &big.n, &big.n_full,
                             &big.err);
    double dt = now_s() - t0;
    long grew = peak_rss_kb() - rss0;
    CHECK(grew < 64 << 10, "%zu-byte text: peak memory grew by %ld KB", t.n, grew);
    prefix.rc = albert_tokenize(tok, p.s, p.n, NULL, 0, 512, prefix.ids, prefix.types, &prefix.n,
                                &prefix.n_full, &prefix.err);
    CHECK(big.rc == ALBERT_OK && prefix.rc == ALBERT_OK && big.n == 512 && prefix.n == 512 &&
              memcmp(big.ids, prefix.ids, 512 * sizeof *big.ids) == 0,
          "%zu-byte text: rc %d, its first 512 ids differ from its %zu-byte prefix's", t.n,
          big.rc, p.n);
    if (KIND == ALBERT_TOKENIZER_SLOW) {
        CHECK(big.n_full == (int)body + 2, "%zu-byte text: n_full %d, the lines hold %zu + 2",
              t.n, big.n_full, body);
    } else {
        /* The fast kind is not additive over lines (a trailing blank is a
         * token there); its whole-text path is cheap enough to compare. */
        static enc whole;
        albert_tokenizer_set_chunking(tok, SIZE_MAX, SIZE_MAX);
        whole.rc = albert_tokenize(tok, t.s, t.n, NULL, 0, 512, whole.ids, whole.types, &whole.n,
                                   &whole.n_full, &whole.err);
        albert_tokenizer_set_chunking(tok, ALBERT_TOK_CHUNK_BYTES,
                                      ALBERT_TOK_RUN_MAX_BYTES);
        CHECK(whole.rc == ALBERT_OK && big.n_full == whole.n_full,
              "%zu-byte text: n_full %d, whole-text path %d", t.n, big.n_full, whole.n_full);
    }
    printf("%zu-byte text: %d tokens in %.3f s, peak memory +%ld KB\n", t.n, big.n_full, dt, grew);
    /* Cut at its start, the text keeps the ids its tail alone ends with
     * (from a line break 4 KiB before its end: one chunk). */
    static enc left, tail;
    const char *from = memchr(t.s + t.n - (4u << 10), '\n', 4u << 10);
    CHECK(from != NULL, "no line break in the last 4 KiB");
    left.rc = albert_tokenize_side(tok, t.s, t.n, NULL, 0, 512, ALBERT_TRUNCATE_LEFT, left.ids,
                                   NULL, &left.n, &left.n_full, &left.err);
    tail.rc = albert_tokenize_side(tok, from, t.n - (size_t)(from - t.s), NULL, 0, 512,
                                   ALBERT_TRUNCATE_LEFT, tail.ids, NULL, &tail.n, &tail.n_full,
                                   &tail.err);
    CHECK(left.rc == ALBERT_OK && tail.rc == ALBERT_OK && left.n == 512 && tail.n == 512 &&
              tail.n_full > 600 && left.n_full == big.n_full &&
              memcmp(left.ids, tail.ids, 512 * sizeof *left.ids) == 0 &&
              memcmp(left.ids, big.ids, 512 * sizeof *left.ids) != 0,
          "%zu-byte text cut at its start: rc %d, its last 510 ids differ from its tail's", t.n,
          left.rc);
    free(t.s);
    free(p.s);
}

/* TEXT (LEN bytes) chunked, against REF (REF_LEN bytes) with TOK_REF: the
 * first 510 ids must agree, and the counts within SLACK. */
static void check_against(const albert_tokenizer *tok, const albert_tokenizer *tok_ref,
                          const char *what, const char *text, size_t len, const char *ref,
                          size_t ref_len, int slack)
{
    static enc a, b;
    a.rc = albert_tokenize(tok, text, len, NULL, 0, 512, a.ids, NULL, &a.n, &a.n_full, &a.err);
    b.rc = albert_tokenize(tok_ref, ref, ref_len, NULL, 0, 512, b.ids, NULL, &b.n, &b.n_full,
                           &b.err);
    CHECK(a.rc == ALBERT_OK && b.rc == ALBERT_OK && a.n == b.n &&
              memcmp(a.ids, b.ids, (size_t)a.n * sizeof *a.ids) == 0,
          "%s: rc %d/%d, the kept ids differ", what, a.rc, b.rc);
    CHECK(abs(a.n_full - b.n_full) <= slack, "%s: n_full %d, reference %d", what, a.n_full,
          b.n_full);
}

/* Runs with no blank at all are cut near ALBERT_TOK_RUN_MAX_BYTES (bounded
 * memory) and keep the whole run's kept ids; this Latin run's single cut
 * happens to change no piece.  A run of unknown characters stays one
 * unknown piece, as sentencepiece makes it of a run of any length (the
 * whole run is quadratic there, so a short one is the reference). */
static void test_blank_free_runs(const albert_tokenizer *tok, const golden_line *lines, int count)
{
    char dir[1024];
    test_shared_path(dir, sizeof dir, "models/albert-base-v2");
    albert_tokenizer *whole = open_chunked(dir, SIZE_MAX, SIZE_MAX);
    text_buf t = {0};
    for (int i = 0; t.n < ALBERT_TOK_RUN_MAX_BYTES + (20u << 10); i++)
        for (const char *c = lines[i % count].text; *c; c++)
            if (*c != ' ')
                text_add(&t, c, 1);
    /* The fast kind's Viterbi sees the two sides of the cut apart. */
    check_against(tok, whole, "blank-free Latin run", t.s, t.n, t.s, t.n,
                  KIND == ALBERT_TOKENIZER_FAST ? 4 : 0);
    t.n = 0;
    static const char cjk[] = "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe6\x96\x87";
    while (t.n < 2 * ALBERT_TOK_RUN_MAX_BYTES + 1000)
        text_add(&t, cjk, sizeof cjk - 1);
    check_against(tok, whole, "blank-free CJK run", t.s, t.n, t.s, 10 * (sizeof cjk - 1), 0);
    free(t.s);
    albert_tokenizer_close(whole);
}

/* Hard cuts every 16 bytes: never through an added token or a character. */
static void test_hard_cuts(const albert_tokenizer *base)
{
    char dir[1024];
    test_shared_path(dir, sizeof dir, "models/albert-base-v2");
    albert_tokenizer *tok = open_chunked(dir, 1, 16);
    static enc e;
    char text[128];
    int lost = 0;
    for (int at = 0; at < 40; at++) {
        memset(text, 'a', 64);
        memcpy(text + at, at % 2 ? "[MASK]" : "<UNK>", at % 2 ? 6 : 5);
        text[64] = '\0';
        encode(tok, text, NULL, 64, &e);
        lost += e.rc != ALBERT_OK || !has_id(e.ids, e.n, at % 2 ? MASK_ID : UNK_ID);
    }
    CHECK(lost == 0, "%d of 40 added tokens lost at a hard cut", lost);
    static const char *const wide[] = {"\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80"};
    for (int w = 0; w < 3; w++) {
        text[0] = '\0';
        for (int i = 0; i < 30; i++)
            strcat(text, wide[w]);
        encode(tok, text, NULL, 64, &e);
        static enc one;
        encode(base, text, NULL, 64, &one);
        CHECK(e.rc == ALBERT_OK, "%zu-byte characters cut: %s", strlen(wide[w]), e.err.msg);
        CHECK(w == 0 || (e.n == one.n && memcmp(e.ids, one.ids, (size_t)e.n * 4) == 0),
              "a run of unknown %zu-byte characters cut every 16 bytes: %d ids, whole %d",
              strlen(wide[w]), e.n, one.n);
    }
    albert_tokenizer_close(tok);
}

/* An invalid byte in a later chunk is reported at its offset in the text. */
static void test_late_invalid_utf8(const albert_tokenizer *tok)
{
    text_buf t = {0};
    while (t.n < 100000)
        text_add(&t, "word ", 5);
    t.s[99999] = (char)0xff;
    static enc e;
    e.rc = albert_tokenize(tok, t.s, t.n, NULL, 0, 64, e.ids, NULL, &e.n, &e.n_full, &e.err);
    CHECK(e.rc == ALBERT_E_INPUT && strstr(e.err.msg, "byte 99999"),
          "invalid byte at 99999 of a chunked text: rc %d '%s'", e.rc, e.err.msg);
    free(t.s);
}

/* A file whose Replace patterns hold letters forbids hard cuts: a run with
 * no cut point is then one chunk, and its ids are the whole text's. */
static void test_no_hard_cuts(const golden_line *lines, int count)
{
    char dir[64];
    make_temp_dir(dir, sizeof dir);
    write_variant(dir, "normalizer/normalizers/0/pattern", "String", "\"\\u00e9\"");
    albert_tokenizer *tok = open_chunked(dir, 1, ALBERT_TOK_RUN_MIN_BYTES);
    albert_tokenizer *whole = open_chunked(dir, SIZE_MAX, SIZE_MAX);
    text_buf t = {0};
    for (int i = 0; t.n < 3 * ALBERT_TOK_RUN_MAX_BYTES; i++)
        for (const char *c = lines[i % count].text; *c; c++)
            if (*c != ' ')
                text_add(&t, c, 1);
    text_add(&t, " and then words", 15);
    check_against(tok, whole, "blank-free run, no hard cuts", t.s, t.n, t.s, t.n, 0);
    free(t.s);
    albert_tokenizer_close(tok);
    albert_tokenizer_close(whole);
    remove_in(dir, "tokenizer.json");
    rmdir(dir);
}

/* ------------------------------------------------------------ speed and threads */

static void test_long_line(const albert_tokenizer *tok)
{
    static const char *const vocab[] = {"kernel", "matrix,", "1,234,", "naïve", "queue", "x²,"};
    size_t cap = 30000 * 10 + 1, at = 0;
    char *text = malloc(cap);
    for (int i = 0; i < 30000; i++)
        at += (size_t)snprintf(text + at, cap - at, "%s%s", i ? " " : "", vocab[i % 6]);
    static enc e;
    double t0 = now_s();
    e.rc = albert_tokenize(tok, text, at, NULL, 0, 512, e.ids, e.types, &e.n, &e.n_full, &e.err);
    double dt = now_s() - t0;
    CHECK(e.rc == ALBERT_OK && e.n == 512 && e.n_full > 30000, "30,000 words: rc %d n %d n_full %d",
          e.rc, e.n, e.n_full);
    CHECK(dt < 5.0, "30,000 words took %.2f s", dt);
    printf("30,000-word line: %d tokens in %.3f s\n", e.n_full, dt);
    free(text);
}

typedef struct worker {
    const albert_tokenizer *tok;
    const golden_line *lines;
    int count, mismatches;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    enc *e = malloc(sizeof *e);
    for (int round = 0; round < 5; round++)
        for (int i = 0; i < w->count; i++) {
            encode(w->tok, w->lines[i].text, NULL, MAXLEN, e);
            w->mismatches += !matches(e, &w->lines[i]);
        }
    free(e);
    return NULL;
}

static void test_threads(const albert_tokenizer *tok, const golden_line *lines, int count)
{
    enum { T = 4 };
    pthread_t th[T];
    worker w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker){tok, lines, count, 0};
        CHECK(pthread_create(&th[i], NULL, work, &w[i]) == 0, "pthread_create %d", i);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        CHECK(w[i].mismatches == 0, "thread %d: %d mismatches", i, w[i].mismatches);
    }
}

/* The tests that hold for both kinds. */
static void test_common(albert_tokenizer *tok, const golden_line *lines, int count)
{
    test_golden(tok, lines, count);
    test_huge_text(tok, lines, count);
    test_pair_layout(tok);
    test_truncation(tok, lines, count);
    test_bad_args(tok);
    test_invalid_utf8(tok);
    test_empty(tok);
    test_pieces(tok);
    test_open_errors();
    test_cut_at_every_blank(lines, count);
    test_blank_free_runs(tok, lines, count);
    test_hard_cuts(tok);
    test_late_invalid_utf8(tok);
    test_long_line(tok);
    test_threads(tok, lines, count);
}

/* albert_text_strip as Python's str.strip(): every kind of whitespace it
 * knows at either end, nothing inside, no byte read outside the text
 * (ASan: the texts are exact-size copies), cut characters left alone. */
static void check_strip_n(const char *in, size_t len, const char *want, size_t want_len)
{
    char *copy = malloc(len ? len : 1);
    CHECK(copy != NULL, "out of memory");
    if (!copy)
        return;
    memcpy(copy, in, len);
    const char *t = copy;
    size_t n = len;
    albert_text_strip(&t, &n);
    CHECK(n == want_len && memcmp(t, want, n) == 0, "strip of %zu bytes gave '%.*s', not '%s'",
          len, (int)n, t, want);
    free(copy);
}

static void check_strip(const char *in, size_t len, const char *want)
{
    check_strip_n(in, len, want, strlen(want));
}

static void test_strip(void)
{
    static const char spaces[] = " \t\n\v\f\r\x1c\x1f\xc2\x85\xc2\xa0\xe1\x9a\x80\xe2\x80\x80"
                                 "\xe2\x80\x8a\xe2\x80\xa8\xe2\x80\xa9\xe2\x80\xaf\xe2\x81\x9f"
                                 "\xe3\x80\x80";
    char buf[256];
    snprintf(buf, sizeof buf, "%sa b\xe3\x80\x80" "c%s", spaces, spaces);
    check_strip(buf, strlen(buf), "a b\xe3\x80\x80" "c");
    check_strip(spaces, strlen(spaces), "");
    check_strip("", 0, "");
    check_strip("x", 1, "x");
    /* Not whitespace to Python: U+200B, U+180E, U+FEFF, NUL; cut UTF-8. */
    check_strip("\xe2\x80\x8bx\xe1\xa0\x8e", 7, "\xe2\x80\x8bx\xe1\xa0\x8e");
    check_strip_n("\xef\xbb\xbfx\0", 5, "\xef\xbb\xbfx\0", 5);
    check_strip("\xe3\x80x \xe3\x80", 6, "\xe3\x80x \xe3\x80");
    check_strip("\xa0x\xc2", 3, "\xa0x\xc2");
    const char *null_text = NULL;
    size_t len = 3;
    albert_text_strip(&null_text, &len);
    albert_text_strip(NULL, NULL);
    CHECK(null_text == NULL && len == 3, "a NULL text is left alone");
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "fast") == 0)
        KIND = ALBERT_TOKENIZER_FAST;
    albert_tokenizer *tok = open_base();
    golden_line *lines;
    int count = load_golden(&lines);
    test_common(tok, lines, count);
    test_strip();
    if (KIND == ALBERT_TOKENIZER_SLOW) {
        test_golden_models(tok);
        test_added_single(tok);
        test_added_pair(tok);
        test_config(tok);
        test_cuts_every_config(lines, count);
    } else {
        test_golden_pairs(tok);
        test_fast_open_errors();
        test_no_hard_cuts(lines, count);
    }
    free_golden(lines, count);
    albert_tokenizer_close(tok);
    return test_finish();
}
