/* Fuzz target: the tokenizer (albert_tokenize over the real albert-base-v2
 * spiece.model or tokenizer.json, opened once per process).  Input layout,
 * so that seeds stay readable:
 *   byte 0     bits 0-2: the slow kind's settings, which of
 *              tokenizer_config.json's do_lower_case, remove_space,
 *              keep_accents differ from HF's defaults (0: the model folder
 *              itself, no config file); bit 3: a pair; bit 4: NULL type_ids
 *              and n_full; bit 5: the fast kind (tokenizer.json) instead;
 *              bit 6: truncation at the start (ALBERT_TRUNCATE_LEFT)
 *   bytes 1-2  max_length: (little-endian value % 1024) - 2, so the
 *              too-small ones are reached too
 *   the rest   the text; for a pair, text TAB pair (no tab: an empty pair)
 * A successful encoding is checked against the untruncated encodings of its
 * parts: [CLS] A' [SEP] (B' [SEP]) with A', B' prefixes of A, B (suffixes
 * when cut at the start), as many tokens as max_length allows, n_full their
 * full total. */
#include "fuzz_util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_KINDS 9 /* 8 slow settings, then the fast kind */
#define FAST_KIND 8

static albert_tokenizer *kinds[N_KINDS];

static const char *const flag_names[3] = {"do_lower_case", "remove_space", "keep_accents"};
static const int flag_defaults[3] = {1, 1, 0};

/* Kind K's folder: a link to the model and a tokenizer_config.json. */
static void make_kind_dir(int k, const char *model_dir, char *dir, size_t size)
{
    char name[64], path[4096], spiece[4096], json[256];
    snprintf(spiece, sizeof spiece, "%s/spiece.model", model_dir);
    snprintf(name, sizeof name, "kind%d/spiece.model", k);
    fuzz_scratch_path(path, sizeof path, name);
    fuzz_symlink(spiece, path);
    int used = snprintf(json, sizeof json, "{");
    for (int i = 0; i < 3; i++)
        used += snprintf(json + used, sizeof json - (size_t)used, "%s\"%s\": %s", i ? ", " : "",
                         flag_names[i], flag_defaults[i] ^ ((k >> i) & 1) ? "true" : "false");
    snprintf(json + used, sizeof json - (size_t)used, "}\n");
    snprintf(name, sizeof name, "kind%d/tokenizer_config.json", k);
    fuzz_scratch_path(path, sizeof path, name);
    fuzz_write_file(path, (const uint8_t *)json, strlen(json));
    snprintf(name, sizeof name, "kind%d", k);
    fuzz_scratch_path(dir, size, name);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char model_dir[4096], dir[4096];
    snprintf(model_dir, sizeof model_dir, "%s/models/albert-base-v2", fuzz_shared_dir());
    for (int k = 0; k < N_KINDS; k++) {
        if (k == 0 || k == FAST_KIND)
            snprintf(dir, sizeof dir, "%s", model_dir);
        else
            make_kind_dir(k, model_dir, dir, sizeof dir);
        albert_error err;
        albert_tokenizer_kind kind = k == FAST_KIND ? ALBERT_TOKENIZER_FAST : ALBERT_TOKENIZER_SLOW;
        if (albert_tokenizer_open_kind(dir, kind, &kinds[k], &err) != ALBERT_OK)
            fuzz_die("cannot open the tokenizer (set ALBERT_CL_SHARED?): %s", err.msg);
    }
    return 0;
}

/* N_FULL -1: not asked for. */
typedef struct encoding {
    int32_t *ids, *types;
    int n, n_full;
} encoding;

/* The untruncated encoding of one text, [CLS] and [SEP] included. */
static int encode_full(const albert_tokenizer *tok, const char *text, size_t len, encoding *e)
{
    int32_t two[2];
    albert_error err;
    int rc = albert_tokenize(tok, text, len, NULL, 0, 2, two, NULL, &e->n, &e->n_full, &err);
    fuzz_expect_status(rc, &err, "albert_tokenize");
    if (rc != ALBERT_OK)
        return rc;
    e->ids = malloc((size_t)e->n_full * sizeof *e->ids);
    if (!e->ids)
        fuzz_die("out of memory for %d ids", e->n_full);
    rc = albert_tokenize(tok, text, len, NULL, 0, e->n_full, e->ids, NULL, &e->n, NULL, &err);
    fuzz_expect_status(rc, &err, "albert_tokenize");
    FUZZ_EXPECT(rc == ALBERT_OK && e->n == e->n_full, "a text encodes to %d tokens, then %d",
                e->n_full, e->n);
    return rc;
}

/* GOT[*AT..] holds PART's KEEP tokens from FROM on, of type TYPE. */
static void expect_part(const encoding *got, int *at, const encoding *part, int from, int keep,
                        int type)
{
    for (int i = 0; i < keep; i++, (*at)++) {
        FUZZ_EXPECT(got->ids[*at] == part->ids[1 + from + i], "token %d is %d, the text's is %d",
                    *at, got->ids[*at], part->ids[1 + from + i]);
        FUZZ_EXPECT(!got->types || got->types[*at] == type, "token %d has type %d", *at,
                    got->types[*at]);
    }
}

static void expect_special(const encoding *got, int *at, int32_t id, int type)
{
    FUZZ_EXPECT(got->ids[*at] == id, "token %d is %d, not special token %d", *at, got->ids[*at],
                id);
    FUZZ_EXPECT(!got->types || got->types[*at] == type, "token %d has type %d", *at,
                got->types[*at]);
    (*at)++;
}

/* Longest-first as HF's slow tokenizer does it (one token at a time from
 * the longer part, from B on ties), in closed form: when both parts get cut
 * A keeps the rounded-up half. */
static void split_budget(int len_a, int len_b, int budget, int *keep_a, int *keep_b)
{
    if (len_a + len_b <= budget) {
        *keep_a = len_a;
        *keep_b = len_b;
        return;
    }
    int half_up = (budget + 1) / 2;
    *keep_a = budget - len_b > half_up ? budget - len_b : half_up;
    if (*keep_a > len_a)
        *keep_a = len_a;
    *keep_b = budget - *keep_a;
}

/* Longest-first as HF tokenizers does it: the shorter part (A on ties)
 * stays whole if it is at most half the budget and the longer gets the
 * rest; else the shorter gets the rounded-down half, the longer the rest. */
static void split_budget_fast(int len_a, int len_b, int budget, int *keep_a, int *keep_b)
{
    *keep_a = len_a;
    *keep_b = len_b;
    if (len_a + len_b <= budget)
        return;
    bool a_shorter = len_a <= len_b;
    int shorter = a_shorter ? len_a : len_b;
    int keep_short = 2 * shorter <= budget ? shorter : budget / 2;
    *keep_a = a_shorter ? keep_short : budget - keep_short;
    *keep_b = a_shorter ? budget - keep_short : keep_short;
}

/* GOT against the parts A and B (B->ids NULL: no pair). */
static void check_layout(const encoding *got, const encoding *a, const encoding *b,
                         int max_length, bool fast, bool left)
{
    int len_a = a->n_full - 2, len_b = b->ids ? b->n_full - 2 : 0, specials = b->ids ? 3 : 2;
    int full = len_a + len_b + specials, keep_a, keep_b, at = 0;
    FUZZ_EXPECT(got->n_full == -1 || got->n_full == full, "n_full %d, parts make %d", got->n_full,
                full);
    FUZZ_EXPECT(got->n == (full < max_length ? full : max_length), "%d tokens of %d, max_length %d",
                got->n, full, max_length);
    (fast ? split_budget_fast : split_budget)(len_a, len_b, max_length - specials, &keep_a,
                                              &keep_b);
    expect_special(got, &at, ALBERT_CLS_ID, 0);
    expect_part(got, &at, a, left ? len_a - keep_a : 0, keep_a, 0);
    expect_special(got, &at, ALBERT_SEP_ID, 0);
    if (b->ids) {
        expect_part(got, &at, b, left ? len_b - keep_b : 0, keep_b, 1);
        expect_special(got, &at, ALBERT_SEP_ID, 1);
    }
}

typedef struct fuzz_case {
    const albert_tokenizer *tok;
    bool fast;
    albert_truncation side;
    int max_length, null_outputs;
    const char *text, *pair; /* PAIR NULL: one text */
    size_t text_len, pair_len;
} fuzz_case;

/* The layout of the file comment; 0 when the input is too short. */
static int parse_case(const uint8_t *data, size_t size, fuzz_case *c)
{
    if (size < 3)
        return 0;
    c->fast = data[0] >> 5 & 1;
    c->tok = kinds[c->fast ? FAST_KIND : data[0] & 7];
    c->null_outputs = data[0] >> 4 & 1;
    c->side = data[0] >> 6 & 1 ? ALBERT_TRUNCATE_LEFT : ALBERT_TRUNCATE_RIGHT;
    c->max_length = (int)((unsigned)(data[1] | data[2] << 8) % 1024) - 2;
    c->text = (const char *)data + 3;
    c->text_len = size - 3;
    c->pair = NULL;
    c->pair_len = 0;
    if (data[0] & 8) {
        const char *end = c->text + c->text_len, *tab = memchr(c->text, '\t', c->text_len);
        c->pair = tab ? tab + 1 : end;
        c->pair_len = (size_t)(end - c->pair);
        c->text_len = (size_t)((tab ? tab : end) - c->text);
    }
    return 1;
}

static void check_against_parts(const fuzz_case *c, const encoding *got)
{
    encoding a = {0}, b = {0};
    int rc = encode_full(c->tok, c->text, c->text_len, &a);
    if (rc == ALBERT_OK && c->pair)
        rc = encode_full(c->tok, c->pair, c->pair_len, &b);
    FUZZ_EXPECT(rc == ALBERT_OK, "the texts encode together but not alone (%d)", rc);
    check_layout(got, &a, &b, c->max_length, c->fast, c->side == ALBERT_TRUNCATE_LEFT);
    free(a.ids);
    free(b.ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_case c;
    if (!parse_case(data, size, &c))
        return 0;
    /* Exactly the room max_length promises, so a write past it is caught. */
    size_t room = (size_t)(c.max_length > 0 ? c.max_length : 0) * sizeof(int32_t);
    encoding got = {malloc(room), c.null_outputs ? NULL : malloc(room), -2,
                    c.null_outputs ? -1 : -2};
    if (!got.ids || (!c.null_outputs && !got.types))
        fuzz_die("out of memory for max_length %d", c.max_length);
    albert_error err;
    int rc = albert_tokenize_side(c.tok, c.text, c.text_len, c.pair, c.pair_len, c.max_length,
                                  c.side, got.ids, got.types, &got.n,
                                  c.null_outputs ? NULL : &got.n_full, &err);
    fuzz_expect_status(rc, &err, "albert_tokenize");
    int specials = c.pair ? 3 : 2;
    FUZZ_EXPECT((rc == ALBERT_E_ARG) == (c.max_length < specials), "max_length %d: status %d",
                c.max_length, rc);
    if (rc == ALBERT_OK)
        check_against_parts(&c, &got);
    free(got.ids);
    free(got.types);
    return 0;
}
