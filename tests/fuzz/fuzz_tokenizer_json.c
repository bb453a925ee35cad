/* Fuzz target: tokenizer.json, the fast kind's file (tokenizer/fast.c and
 * what it reads with: normalizer.c, unigram.c, added.c, template.c).  Each
 * input becomes tokenizer.json in a scratch folder; what opens is then run
 * on a few texts that reach every step (spaces, accents, added tokens,
 * unknown characters, digits), alone and as pairs, at two max_lengths. */
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>

static char dir[4096], path[4096];

static const char *const TEXTS[] = {
    "Hello  World, [MASK] caf\xc3\xa9 ``quoted'' 3,141.59",
    "   \t leading and trailing \xe3\x80\x80 ",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd e\xcc\x81 \xe2\x96\x81x",
    "<unk>(a)-b.c\xe2\x80\x93 d\xc2\xa3\xe2\x82\xac [CLS][SEP]<pad> AB \xc3\xa9",
    "",
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_scratch_path(path, sizeof path, "tok/tokenizer.json");
    fuzz_scratch_path(dir, sizeof dir, "tok");
    return 0;
}

/* albert_tokenize's promises: a status, and on success at most MAX_LENGTH
 * ids, none negative, n_full at least n, types 0 or 1 with a pair. */
static void run(const albert_tokenizer *tok, const char *a, const char *b, int max_length)
{
    int32_t *ids = malloc((size_t)max_length * sizeof *ids);
    int32_t *types = malloc((size_t)max_length * sizeof *types);
    if (!ids || !types)
        fuzz_die("out of memory for %d ids", max_length);
    int n = -1, n_full = -1;
    albert_error err;
    int rc = albert_tokenize(tok, a, strlen(a), b, b ? strlen(b) : 0, max_length, ids, types, &n,
                             &n_full, &err);
    fuzz_expect_status(rc, &err, "albert_tokenize");
    FUZZ_EXPECT(rc == ALBERT_OK || rc == ALBERT_E_ARG || rc == ALBERT_E_INPUT ||
                    rc == ALBERT_E_FORMAT || rc == ALBERT_E_NOMEM,
                "albert_tokenize: status %d", rc);
    for (int i = 0; rc == ALBERT_OK && i < n; i++)
        FUZZ_EXPECT(ids[i] >= 0 && types[i] >= 0, "token %d: id %d type %d", i, ids[i],
                    types[i]);
    FUZZ_EXPECT(rc != ALBERT_OK || (n >= 0 && n <= max_length && n_full >= n),
                "n %d n_full %d max_length %d", n, n_full, max_length);
    free(ids);
    free(types);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_write_file(path, data, size);
    albert_tokenizer *tok = NULL;
    albert_error err;
    int rc = albert_tokenizer_open_kind(dir, ALBERT_TOKENIZER_FAST, &tok, &err);
    fuzz_expect_status(rc, &err, "albert_tokenizer_open_kind");
    FUZZ_EXPECT((rc == ALBERT_OK) == (tok != NULL), "status %d with tokenizer %p", rc,
                (void *)tok);
    size_t count = sizeof TEXTS / sizeof TEXTS[0];
    for (size_t i = 0; tok && i < count; i++) {
        run(tok, TEXTS[i], NULL, 512);
        run(tok, TEXTS[i], TEXTS[(i + 1) % count], 9);
    }
    albert_tokenizer_close(tok);
    return 0;
}
