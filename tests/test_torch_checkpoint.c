/* pytorch_model.bin (core/torch_checkpoint.h) on files torch.save wrote
 * (tests/data/pytorch, tools/gen-torch-checkpoints.py): their values (views,
 * shared and strided storages, CRCs of 0 too), the tiny-f16 model in both
 * formats against its safetensors file, the files the reader must refuse,
 * and damaged copies, which must fail with a message or (a byte the zip
 * format does not check) read exactly as before. */
#include "core/common.h"
#include "core/model.h"
#include "core/pickle.h"
#include "core/safetensors.h"
#include "core/torch_checkpoint.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp_root[256];

static void data_path(char *dst, size_t size, const char *name)
{
    snprintf(dst, size, "%s/pytorch/%s", ALBERT_TEST_DATA_DIR, name);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, n, f) == n, "cannot write %s", path);
    if (f)
        fclose(f);
}

static char *read_data(const char *name, size_t *size)
{
    char path[1024], *data = NULL;
    albert_error err;
    data_path(path, sizeof path, name);
    CHECK(albert_read_file(path, &data, size, &err) == ALBERT_OK, "%s", err.msg);
    return data;
}

/* Element i of every float tensor of the values files is i * 0.5 - 1. */
static int check_floats(const st_file *f, const char *name, st_dtype dtype, int ndim,
                        const int64_t *shape, int first)
{
    const st_tensor *t = st_find(f, name);
    if (!t)
        return 0;
    int ok = t->dtype == dtype && t->ndim == ndim;
    int64_t numel = 1;
    for (int i = 0; ok && i < ndim; i++) {
        ok = t->shape[i] == shape[i];
        numel *= shape[i];
    }
    if (!ok || t->numel != numel)
        return 0;
    float *v = test_calloc((size_t)numel, sizeof *v);
    albert_error err;
    ok = st_to_f32(f, t, v, &err) == ALBERT_OK;
    for (int64_t i = 0; ok && i < numel; i++)
        ok = v[i] == (float)((first + i) * 0.5 - 1);
    free(v);
    return ok;
}

/* The tensors of tools/gen-torch-checkpoints.py's small_dict(). */
static int values_as_saved(const st_file *f)
{
    int32_t ids[4] = {0};
    albert_error err;
    const st_tensor *i64 = st_find(f, "i64"), *a = st_find(f, "shared.a"),
                    *b = st_find(f, "shared.b"), *empty = st_find(f, "empty");
    return f->count == 10 && check_floats(f, "f32", ST_F32, 2, (int64_t[]){2, 3}, 0) &&
           check_floats(f, "f16", ST_F16, 1, (int64_t[]){5}, 0) &&
           check_floats(f, "bf16", ST_BF16, 2, (int64_t[]){2, 2}, 0) &&
           check_floats(f, "f64", ST_F64, 1, (int64_t[]){3}, 0) &&
           check_floats(f, "scalar", ST_F32, 0, NULL, 0) &&
           check_floats(f, "view", ST_F32, 1, (int64_t[]){2}, 2) &&
           check_floats(f, "shared.a", ST_F32, 1, (int64_t[]){4}, 0) &&
           check_floats(f, "shared.b", ST_F32, 2, (int64_t[]){2, 2}, 0) && a && b &&
           a->data == b->data && empty && empty->numel == 0 && empty->ndim == 2 &&
           empty->shape[0] == 0 && empty->shape[1] == 4 && i64 && i64->dtype == ST_I64 &&
           st_to_i32(f, i64, ids, &err) == ALBERT_OK && ids[0] == -1 && ids[3] == 2;
}

static void test_values(void)
{
    const char *files[] = {"values-zip.bin", "values-legacy.bin", "values-p4.bin",
                           "values-nocrc.bin", "values-little.bin"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[1024];
        data_path(path, sizeof path, files[i]);
        st_file *f = NULL;
        albert_error err;
        int rc = torch_checkpoint_open(path, &f, &err);
        CHECK(rc == ALBERT_OK, "%s", err.msg);
        CHECK(rc != ALBERT_OK || values_as_saved(f), "%s: values differ from what was saved",
              files[i]);
        st_close(f);
    }
}

/* NAME holds COUNT tensors, and each one tiny-f16's safetensors file has
 * (by its name, or with the "albert." prefix) equals it as float32: WANT of them. */
static void expect_tiny_f16(const char *name, int count, int want)
{
    char path[1024], ref_path[1024], full[400];
    data_path(path, sizeof path, name);
    test_shared_path(ref_path, sizeof ref_path, "models/tiny-f16/model.safetensors");
    st_file *f = NULL, *ref = NULL;
    albert_error err;
    CHECK(st_open(ref_path, &ref, &err) == ALBERT_OK, "%s", err.msg);
    CHECK(torch_checkpoint_open(path, &f, &err) == ALBERT_OK, "%s", err.msg);
    int same = 0;
    for (int i = 0; f && ref && i < f->count; i++) {
        const st_tensor *t = &f->tensors[i];
        snprintf(full, sizeof full, "albert.%s", t->name);
        const st_tensor *r = st_find(ref, t->name) ? st_find(ref, t->name) : st_find(ref, full);
        if (!r || r->numel != t->numel)
            continue;
        float *a = test_calloc((size_t)r->numel, sizeof *a), *b = test_calloc((size_t)r->numel, 4);
        same += st_to_f32(ref, r, a, &err) == ALBERT_OK && st_to_f32(f, t, b, &err) == ALBERT_OK &&
                memcmp(a, b, (size_t)r->numel * sizeof *a) == 0;
        free(a);
        free(b);
    }
    CHECK(f && f->count == count, "%s: %d tensors, want %d", name, f ? f->count : -1, count);
    CHECK(same == want, "%s: %d tensors equal tiny-f16's, want %d", name, same, want);
    st_close(f);
    st_close(ref);
}

static void test_tiny_f16(void)
{
    /* AlbertForPreTraining: AlbertModel's 25 tensors, the masked-LM head's
     * 7 and the sentence-order head's 2; tiny-f16 has all but the last 2
     * and the decoder weight (its safetensors file drops the tied copy). */
    expect_tiny_f16("tiny-f16-zip.bin", 34, 31);
    expect_tiny_f16("tiny-f16-legacy.bin", 25, 25);
    char legacy[1024];
    data_path(legacy, sizeof legacy, "tiny-f16-legacy.bin");
    st_file *lf = NULL;
    albert_error lerr;
    /* Its transposed weights were copied out of the file. */
    CHECK(torch_checkpoint_open(legacy, &lf, &lerr) == ALBERT_OK && lf->n_blocks >= 8,
          "tiny-f16-legacy.bin: %d tensors copied", lf ? lf->n_blocks : -1);
    st_close(lf);
    char path[1024];
    data_path(path, sizeof path, "tiny-f16-zip.bin");
    st_file *f = NULL;
    albert_error err;
    if (torch_checkpoint_open(path, &f, &err) == ALBERT_OK) {
        const st_tensor *dec = st_find(f, "predictions.decoder.weight"),
                        *emb = st_find(f, "albert.embeddings.word_embeddings.weight");
        CHECK(dec && emb && dec->data == emb->data, "tied weights do not share their storage");
    }
    st_close(f);
}

/* Tensors that are not contiguous come back as their .contiguous(). */
static void test_strided(void)
{
    char path[1024];
    data_path(path, sizeof path, "strided.bin");
    st_file *f = NULL;
    albert_error err;
    CHECK(torch_checkpoint_open(path, &f, &err) == ALBERT_OK, "%s", err.msg);
    const char *keys[] = {"t", "e", "p"};
    for (size_t i = 0; f && i < sizeof keys / sizeof keys[0]; i++) {
        char expect_key[32];
        snprintf(expect_key, sizeof expect_key, "%s.expect", keys[i]);
        const st_tensor *t = st_find(f, keys[i]), *want = st_find(f, expect_key);
        int same = t && want && t->ndim == want->ndim && t->numel == want->numel &&
                   t->nbytes == want->nbytes &&
                   memcmp(t->shape, want->shape, sizeof t->shape[0] * (size_t)t->ndim) == 0 &&
                   memcmp(t->data, want->data, t->nbytes) == 0;
        CHECK(same, "'%s' is not its .contiguous()", keys[i]);
    }
    st_close(f);
}

static void expect_refused(const char *name, const char *needle)
{
    char path[1024];
    data_path(path, sizeof path, name);
    st_file *f = NULL;
    albert_error err;
    int rc = torch_checkpoint_open(path, &f, &err);
    CHECK(rc == ALBERT_E_FORMAT && f == NULL, "%s: rc %d", name, rc);
    CHECK(rc == ALBERT_OK || (strstr(err.msg, path) && strstr(err.msg, needle)),
          "%s: '%s' lacks '%s'", name, err.msg, needle);
    st_close(f);
}

static void test_refused(void)
{
    expect_refused("complex.bin", "torch.ComplexFloatStorage: a dtype albert-cl does not read");
    expect_refused("values-big.bin", "big-endian checkpoints are not supported");
    expect_refused("list.bin", "holds a Python list, not a state dict");
    expect_refused("nested.bin", "'epoch' is a Python int, not a tensor");
    /* A pickle without torch.save's magic number first. */
    char path[512];
    snprintf(path, sizeof path, "%s/plain.bin", tmp_root);
    write_file(path, "\x80\x02N.\x80\x02N.", 8);
    st_file *f = NULL;
    albert_error err;
    CHECK(torch_checkpoint_open(path, &f, &err) == ALBERT_E_FORMAT &&
              strstr(err.msg, "no torch.save magic number"),
          "'%s'", err.msg);
    /* A whole module: its class is a name the reader does not load. */
    expect_refused("module.bin", "torch.nn.modules.linear.Linear");
}

/* Every cut of NAME fails with a message naming the file. */
static void test_truncated(const char *name, size_t step)
{
    size_t size = 0;
    char *data = read_data(name, &size), path[512];
    snprintf(path, sizeof path, "%s/cut.bin", tmp_root);
    int wrong = 0;
    for (size_t n = 0; data && n < size; n += n < 4096 ? 1 : step) {
        write_file(path, data, n);
        st_file *f = NULL;
        albert_error err;
        int rc = torch_checkpoint_open(path, &f, &err);
        wrong += rc == ALBERT_OK || !strstr(err.msg, path);
        if (rc == ALBERT_OK || !strstr(err.msg, path))
            fprintf(stderr, "%s cut at %zu: rc %d '%s'\n", name, n, rc, err.msg);
        st_close(f);
    }
    CHECK(wrong == 0, "%s: %d cuts not refused with a message", name, wrong);
    free(data);
}

/* Each byte of the zip file changed in turn: refused with a message (CRCs,
 * the pickle, the directory), or a file that reads exactly as saved. */
static void test_flipped(void)
{
    size_t size = 0;
    char *data = read_data("values-zip.bin", &size), path[512];
    snprintf(path, sizeof path, "%s/flipped.bin", tmp_root);
    int wrong = 0, refused = 0;
    for (size_t i = 0; data && i < size; i++) {
        data[i] ^= 0x5a;
        write_file(path, data, size);
        data[i] ^= 0x5a;
        st_file *f = NULL;
        albert_error err;
        int rc = torch_checkpoint_open(path, &f, &err);
        refused += rc != ALBERT_OK;
        wrong += rc == ALBERT_OK ? !values_as_saved(f) : !strstr(err.msg, path);
        st_close(f);
    }
    CHECK(wrong == 0, "%d changed bytes gave other values or no message", wrong);
    CHECK(refused > (int)size / 2, "only %d of %zu changed bytes refused", refused, size);
    free(data);
}

/* Pickles written by hand: what torch.save never writes is refused. */
static void test_pickles(void)
{
#define PK(s) s, sizeof(s) - 1
    const struct {
        const char *bytes;
        size_t n;
        const char *needle; /* NULL: loads */
    } cases[] = {
        {PK("\x80\x02}q\x00."), NULL},
        {PK("\x80\x02}q\x00"), "no STOP"},
        {PK("\x80\x02" "cos\nsystem\n" "X\x02\x00\x00\x00" "ls" "\x85R."), "os.system"},
        {PK("\x80\x02" "]h\x05."), "never set"},
        {PK("\x80\x02" "]q\x07."), "out of order"},
        {PK("\x80\x02" "}(X\x01\x00\x00\x00" "ku."), "odd number"},
        {PK("\x80\x02" "N]e."), "no MARK"},
        {PK("\x80\x02" "}}."), "2 values"},
        {PK("\x80\x01" "}."), "protocol 1"},
        {PK("\x80\x02" "X\x02\x00\x00\x00" "a\x00."), "NUL"},
        {PK("\x80\x02" "X\xff\xff\xff\xff."), "truncated"},
        {PK("\x80\x02" "\x8c\x03" "abc."), NULL},
        {PK("\x80\x02" "i."), "opcode 0x69"},
        {PK("(dp0\n."), "protocol 0 or 1"},
        {PK("\x80\x02" "ctorch\nComplexDoubleStorage\n."), "a dtype albert-cl does not read"},
    };
#undef PK
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pk_arena *a = pk_arena_new();
        pk_value *v = NULL;
        size_t used = 0;
        albert_error err;
        int rc = pk_load(a, (const uint8_t *)cases[i].bytes, cases[i].n, "case", 0, &v, &used,
                         &err);
        if (!cases[i].needle)
            CHECK(rc == ALBERT_OK && v && used == cases[i].n, "case %zu: %s", i, err.msg);
        else
            CHECK(rc == ALBERT_E_FORMAT && !v && strstr(err.msg, cases[i].needle) &&
                      strstr(err.msg, "case: pickle byte"),
                  "case %zu: rc %d '%s' lacks '%s'", i, rc, err.msg, cases[i].needle);
        pk_arena_free(a);
    }
    /* A pickle's opcodes are bounded: memory stays bounded too. */
    size_t n = 3 + PK_MAX_OPS + 2;
    uint8_t *big = test_calloc(n, 1);
    memcpy(big, "\x80\x02]", 3);
    memset(big + 3, 'N', PK_MAX_OPS);
    memcpy(big + n - 2, "e.", 2);
    pk_arena *a = pk_arena_new();
    pk_value *v = NULL;
    size_t used;
    albert_error err;
    CHECK(pk_load(a, big, n, "big", 0, &v, &used, &err) == ALBERT_E_FORMAT &&
              strstr(err.msg, "too large for a state dict"),
          "'%s'", err.msg);
    pk_arena_free(a);
    free(big);
}

/* A model folder: config.json and spiece.model of tiny-f16, then WEIGHTS
 * (from tests/data/pytorch) as pytorch_model.bin, and with SAFETENSORS
 * tiny-f16's model.safetensors too. */
static void make_folder(char *dir, size_t size, const char *label, const char *weights,
                        int safetensors)
{
    snprintf(dir, size, "%s/%s", tmp_root, label);
    mkdir(dir, 0755);
    const char *copy[] = {"config.json", "spiece.model", safetensors ? "model.safetensors" : NULL};
    for (size_t i = 0; i < 3 && copy[i]; i++) {
        char rel[128], src[1024], dst[1024], *data = NULL;
        size_t n = 0;
        albert_error err;
        snprintf(rel, sizeof rel, "models/tiny-f16/%s", copy[i]);
        test_shared_path(src, sizeof src, rel);
        snprintf(dst, sizeof dst, "%s/%s", dir, copy[i]);
        CHECK(albert_read_file(src, &data, &n, &err) == ALBERT_OK, "%s", err.msg);
        write_file(dst, data, n);
        free(data);
    }
    size_t n = 0;
    char *data = read_data(weights, &n), dst[1024];
    snprintf(dst, sizeof dst, "%s/pytorch_model.bin", dir);
    write_file(dst, data, n);
    free(data);
}

static void test_model_folders(void)
{
    char dir[512];
    albert_model *m = NULL;
    albert_error err;
    make_folder(dir, sizeof dir, "zip", "tiny-f16-zip.bin", 0);
    CHECK(albert_model_open(dir, &m, &err) == ALBERT_OK, "%s", err.msg);
    albert_model_close(m);
    /* model.safetensors first, as from_pretrained: this .bin is never read. */
    make_folder(dir, sizeof dir, "both", "list.bin", 1);
    CHECK(albert_model_open(dir, &m, &err) == ALBERT_OK, "%s", err.msg);
    albert_model_close(m);
    make_folder(dir, sizeof dir, "bad", "list.bin", 0);
    CHECK(albert_model_open(dir, &m, &err) == ALBERT_E_FORMAT && strstr(err.msg, "pytorch_model.bin"),
          "'%s'", err.msg);
    /* The loader's own checks hold for this format too. */
    make_folder(dir, sizeof dir, "values", "values-zip.bin", 0);
    CHECK(albert_model_open(dir, &m, &err) == ALBERT_E_FORMAT && strstr(err.msg, "pytorch_model.bin") &&
              strstr(err.msg, "is missing"),
          "'%s'", err.msg);
}

int main(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/albert-torch-ckpt-%d", (int)getpid());
    mkdir(tmp_root, 0755);
    test_values();
    test_tiny_f16();
    test_strided();
    test_refused();
    test_pickles();
    test_truncated("values-zip.bin", 1);
    test_truncated("values-legacy.bin", 1);
    test_truncated("tiny-f16-zip.bin", 4093);
    test_truncated("tiny-f16-legacy.bin", 4093);
    test_flipped();
    test_model_folders();
    test_remove_tree(tmp_root);
    return test_finish();
}
