/* A record made ready for a batch: tokenized (or its ids checked), on a
 * tokenizer thread. */
#include "scheduler/scheduler.h"

#include <stdlib.h>
#include <string.h>

void sched_item_fail(sched_item *it, int code, int fatal, const char *message)
{
    it->status = code;
    it->fatal = fatal;
    free(it->message);
    it->message = strdup(message);
    /* Without memory for the message the status still tells. */
}

void sched_item_release(sched_item *it)
{
    free(it->text);
    free(it->ids);
    free(it->message);
    free(it->vectors);
    memset(it, 0, sizeof *it);
}

/* "batch row 0: WHAT" (albert_batch_check on a one-row batch) -> "WHAT". */
static const char *without_row(const albert_error *e)
{
    const char *what = e->row >= 0 ? strstr(e->msg, ": ") : NULL;
    return what ? what + 2 : e->msg;
}

/* Ids a record brought: within max_length, the vocabulary and the types. */
static void check_ids(const albert_scheduler *s, sched_item *it)
{
    if (it->n > s->opt.max_length) {
        char what[96];
        snprintf(what, sizeof what, "%d input_ids, more than the maximum length %d", it->n,
                 s->opt.max_length);
        sched_item_fail(it, ALBERT_E_INPUT, 0, what);
        return;
    }
    const albert_batch one = {1, it->n, it->ids, it->types, it->mask};
    albert_error e;
    albert_ok(&e);
    if (albert_batch_check(s->opt.config, &one, &e) != ALBERT_OK)
        sched_item_fail(it, e.code, e.code != ALBERT_E_INPUT, without_row(&e));
}

/* TEXT of TEXT_LEN bytes and PAIR into SCRATCH (2 max_length ints): *N
 * ids, or 0 and IT's error. */
static int encode(const albert_scheduler *s, sched_item *it, const char *text, size_t text_len,
                  const char *pair, size_t pair_len, int32_t *scratch, int *n, int *n_full)
{
    int max = s->opt.max_length;
    if (s->opt.strip_text) {
        albert_text_strip(&text, &text_len);
        albert_text_strip(&pair, &pair_len);
    }
    albert_error e;
    if (albert_tokenize_side(s->opt.tokenizer, text, text_len, pair, pair_len, max,
                             it->truncation, scratch, scratch + max, n, n_full,
                             &e) != ALBERT_OK) {
        sched_item_fail(it, e.code, e.code == ALBERT_E_NOMEM, e.msg);
        return 0;
    }
    return 1;
}

/* sentence-transformers' prompt_length: the prompt's ids alone but its
 * [SEP], i.e. [CLS] and the prompt's pieces; none for a prompt of no ids (a
 * tokenizer without a template), where theirs would be -1. */
static int count_prompt(const albert_scheduler *s, sched_item *it, int32_t *scratch,
                        sched_prompt_memo *memo)
{
    if (memo->text && memo->len == it->prompt_len &&
        memcmp(memo->text, it->text, it->prompt_len) == 0) {
        it->prompt_tokens = memo->tokens;
        return 1;
    }
    int n = 0, n_full = 0;
    if (!encode(s, it, it->text, it->prompt_len, NULL, 0, scratch, &n, &n_full))
        return 0;
    it->prompt_tokens = n > 0 ? n - 1 : 0;
    /* Without memory for the copy the next record counts again. */
    char *copy = malloc(it->prompt_len ? it->prompt_len : 1);
    free(memo->text);
    memo->text = copy;
    if (copy) {
        memcpy(copy, it->text, it->prompt_len);
        memo->len = it->prompt_len;
        memo->tokens = it->prompt_tokens;
    }
    return 1;
}

/* The prompt is UTF-8 (push checks it): the text after it is checked alone,
 * so that an error names the byte in the text as given. */
static int text_after_prompt_ok(sched_item *it)
{
    albert_error e;
    if (albert_text_check("text", it->text + it->prompt_len, it->text_len - it->prompt_len, &e) ==
        ALBERT_OK)
        return 1;
    sched_item_fail(it, e.code, 0, e.msg);
    return 0;
}

static void tokenize(const albert_scheduler *s, sched_item *it, int32_t *scratch,
                     sched_prompt_memo *memo)
{
    int max = s->opt.max_length, n = 0, n_full = 0;
    if (it->has_prompt && !text_after_prompt_ok(it))
        return;
    if (s->host_pooling && s->opt.exclude_prompt && it->has_prompt &&
        !count_prompt(s, it, scratch, memo))
        return;
    if (!encode(s, it, it->text, it->text_len, it->pair, it->pair_len, scratch, &n, &n_full))
        return;
    it->ids = malloc(2 * (size_t)n * sizeof *it->ids);
    if (!it->ids) {
        sched_item_fail(it, ALBERT_E_NOMEM, 1, "out of memory for its ids");
        return;
    }
    memcpy(it->ids, scratch, (size_t)n * sizeof *it->ids);
    memcpy(it->ids + n, scratch + max, (size_t)n * sizeof *it->ids);
    it->types = it->ids + n;
    it->n = n;
    it->n_full = n_full;
}

void sched_prepare(const albert_scheduler *s, sched_item *it, int32_t *scratch,
                   sched_prompt_memo *memo)
{
    if (it->status != ALBERT_OK)
        return; /* pushed as bad */
    if (it->ids) {
        check_ids(s, it);
    } else if (!s->opt.tokenizer) {
        sched_item_fail(it, ALBERT_E_ARG, 1, "a text record, but there is no tokenizer (spiece.model or tokenizer.json) to encode it");
    } else {
        tokenize(s, it, scratch, memo);
    }
    /* The text is not needed any more: memory stays with what is in flight. */
    free(it->text);
    it->text = it->pair = NULL;
}
