/* Fuzz target: a sentence-transformers folder (core/sentence_config.c).
 * Each input is cut at its first three NUL bytes into modules.json,
 * 1_Pooling/config.json, sentence_bert_config.json and 2_Dense/config.json
 * (a missing part: no such file) of a scratch folder; then albert_text_strip runs on the whole
 * input as a text.  What albert_sentence_config_read accepts must keep its
 * header's promises. */
#include "fuzz_util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PARTS 4

static char dir[4096], paths[PARTS][4096];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char *const names[PARTS] = {"st/modules.json", "st/1_Pooling/config.json",
                                             "st/sentence_bert_config.json",
                                             "st/2_Dense/config.json"};
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
    strip_all(data, size);
    return 0;
}
