/* Fuzz target: a sentence-transformers folder (core/sentence_config.c).
 * Each input is cut at its first four NUL bytes into modules.json,
 * 1_Pooling/config.json, sentence_bert_config.json, 2_Dense/config.json and
 * config_sentence_transformers.json (a missing part: no such file) of a
 * scratch folder; then albert_text_strip runs on the whole input as a text.
 * What albert_sentence_config_read and albert_sentence_prompt accept must
 * keep their header's promises. */
#include "fuzz_util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PARTS 5

static char dir[4096], paths[PARTS][4096];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char *const names[PARTS] = {"st/modules.json", "st/1_Pooling/config.json",
                                             "st/sentence_bert_config.json",
                                             "st/2_Dense/config.json",
                                             "st/config_sentence_transformers.json"};
    fuzz_scratch_path(dir, sizeof dir, "st/");
    static const char *const modules[] = {"1_Pooling", "2_Dense"};
    for (int i = 0; i < 2; i++) {
        char sub[4200];
        snprintf(sub, sizeof sub, "%s/%s", dir, modules[i]);
        if (mkdir(sub, 0700) != 0 && errno != EEXIST)
            fuzz_die("cannot make %s: %s", sub, strerror(errno));
    }
    for (int i = 0; i < PARTS; i++)
        fuzz_scratch_path(paths[i], sizeof paths[i], names[i]);
    return 0;
}

static void check(const albert_sentence_config *st)
{
    FUZZ_EXPECT(st->present == 1, "present %d on success with modules.json", st->present);
    FUZZ_EXPECT(st->pooling >= ALBERT_POOL_CLS && st->pooling <= ALBERT_POOL_LAST_TOKEN,
                "pooling %d", (int)st->pooling);
    FUZZ_EXPECT(st->normalize == 0 || st->normalize == 1, "normalize %d", st->normalize);
    FUZZ_EXPECT(st->max_length == 0 || (st->max_length >= 2 && st->max_length <= 1 << 20),
                "max_length %d", st->max_length);
    FUZZ_EXPECT(st->dense_modules >= 0 && st->dense_modules <= 8, "dense_modules %d",
                st->dense_modules);
    FUZZ_EXPECT(st->dense_modules ? st->dense_width >= 1 && st->dense_width <= 65536
                                  : st->dense_width == 0,
                "dense_width %d with %d Dense modules", st->dense_width, st->dense_modules);
    FUZZ_EXPECT(st->include_prompt == 0 || st->include_prompt == 1, "include_prompt %d",
                st->include_prompt);
    const unsigned modes = 0xFCu; /* CLS (2) to LAST_TOKEN (7) */
    FUZZ_EXPECT(st->pooling_modes && !(st->pooling_modes & ~modes) &&
                    (st->pooling_modes >> st->pooling & 1),
                "pooling_modes 0x%x with pooling %d", st->pooling_modes, (int)st->pooling);
    FUZZ_EXPECT(st->prompts >= 0 && (st->default_prompt == 0 || st->default_prompt == 1) &&
                    (!st->default_prompt || st->prompts > 0),
                "%d prompts, default %d", st->prompts, st->default_prompt);
}

/* The default prompt of a folder that has one, into a buffer of each size
 * up to its length: a NUL-terminated string that fits, or ALBERT_E_ARG and "". */
static void check_default_prompt(void)
{
    char prompt[64];
    for (size_t size = 1; size <= sizeof prompt; size *= 2) {
        memset(prompt, 'x', sizeof prompt);
        albert_error err;
        int rc = albert_sentence_prompt(dir, NULL, prompt, size, &err);
        fuzz_expect_status(rc, &err, "albert_sentence_prompt");
        FUZZ_EXPECT(rc == ALBERT_OK ? memchr(prompt, 0, size) != NULL : prompt[0] == '\0',
                    "%s with %zu bytes: not a string that fits", albert_status_name(rc), size);
    }
}

static void strip_all(const uint8_t *data, size_t size)
{
    const char *t = (const char *)data;
    size_t n = size;
    albert_text_strip(&t, &n);
    FUZZ_EXPECT(t >= (const char *)data && t + n <= (const char *)data + size,
                "strip left the text: offset %td, %zu bytes of %zu", t - (const char *)data, n,
                size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *part = data, *end = data + size;
    for (int i = 0; i < PARTS; i++) {
        const uint8_t *cut = part ? memchr(part, 0, (size_t)(end - part)) : NULL;
        if (part)
            fuzz_write_file(paths[i], part, (size_t)((cut ? cut : end) - part));
        else
            unlink(paths[i]);
        part = cut ? cut + 1 : NULL;
    }
    albert_sentence_config st;
    albert_error err;
    int rc = albert_sentence_config_read(dir, &st, &err);
    fuzz_expect_status(rc, &err, "albert_sentence_config_read");
    if (rc == ALBERT_OK)
        check(&st);
    if (rc == ALBERT_OK && st.default_prompt)
        check_default_prompt();
    strip_all(data, size);
    return 0;
}
