#include "test_util.h"

#include "core/common.h"
#include "core/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int test_checks, test_failures;

const char *const golden_models[] = {"albert-base-v2-random", "tiny-gelu", "tiny-groups",
                                     "tiny-f16", NULL};

const char *test_shared_dir(void)
{
    const char *dir = getenv("ALBERT_CL_SHARED");
    if (!dir || !*dir)
        dir = ALBERT_TEST_SHARED_DIR;
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr,
                "FATAL: shared data folder '%s' not found; set ALBERT_CL_SHARED to the folder "
                "holding models/ and golden/\n",
                dir);
        exit(1);
    }
    return dir;
}

void test_shared_path(char *dst, size_t size, const char *rel)
{
    snprintf(dst, size, "%s/%s", test_shared_dir(), rel);
}

int test_finish(void)
{
    int passed = test_checks - test_failures;
    printf("%d passed, %d failed\n", passed, test_failures);
    return test_failures == 0 && test_checks > 0 ? 0 : 1;
}

double test_max_abs_masked(const float *a, const float *b, int outer, int B, int T, int H,
                           const int32_t *mask, size_t *compared)
{
    double worst = 0;
    for (int o = 0; o < outer; o++)
        for (int r = 0; r < B * T; r++) {
            if (mask && !mask[r])
                continue;
            if (compared)
                *compared += (size_t)H;
            size_t base = ((size_t)o * B * T + r) * H;
            for (int h = 0; h < H; h++) {
                double d = fabs((double)a[base + h] - (double)b[base + h]);
                if (d > worst || isnan(d))
                    worst = isnan(d) ? INFINITY : d;
            }
        }
    return worst;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "FATAL: %s: %s\n", what, detail);
    exit(1);
}

static void *load_tensor(const st_file *f, const char *cs, const char *field, int is_int,
                         int required, const st_tensor **out)
{
    char name[160];
    snprintf(name, sizeof name, "%s.%s", cs, field);
    const st_tensor *t = st_find(f, name);
    *out = t;
    if (!t) {
        if (required)
            die(f->path, name);
        return NULL;
    }
    void *buf = malloc((size_t)t->numel * 4);
    albert_error err;
    int rc = is_int ? st_to_i32(f, t, buf, &err) : st_to_f32(f, t, buf, &err);
    if (!buf || rc != ALBERT_OK)
        die(f->path, err.msg);
    return buf;
}

static void load_case(const st_file *f, const cJSON *item, golden_case *c)
{
    const cJSON *name = cJSON_GetObjectItem(item, "name");
    snprintf(c->name, sizeof c->name, "%s", name->valuestring);
    c->has_pairs = cJSON_GetObjectItem(item, "pairs") != NULL;
    const st_tensor *t;
    c->input_ids = load_tensor(f, c->name, "input_ids", 1, 1, &t);
    c->B = (int)t->shape[0];
    c->T = (int)t->shape[1];
    c->token_type_ids = load_tensor(f, c->name, "token_type_ids", 1, 1, &t);
    c->attention_mask = load_tensor(f, c->name, "attention_mask", 1, 1, &t);
    c->last_hidden_state = load_tensor(f, c->name, "last_hidden_state", 0, 1, &t);
    c->H = (int)t->shape[2];
    c->pooler_output = load_tensor(f, c->name, "pooler_output", 0, 1, &t);
    c->hidden_states = load_tensor(f, c->name, "hidden_states", 0, 0, &t);
    c->layers_plus_one = t ? (int)t->shape[0] : 0;
}

int golden_load(const char *model, golden_case **cases)
{
    char path[1024], *json;
    snprintf(path, sizeof path, "%s/golden/%s.json", test_shared_dir(), model);
    albert_error err;
    if (albert_read_file(path, &json, NULL, &err) != ALBERT_OK)
        die(path, err.msg);
    cJSON *root = cJSON_Parse(json);
    free(json);
    if (!cJSON_IsArray(root))
        die(path, "not a JSON array");
    snprintf(path, sizeof path, "%s/golden/%s.safetensors", test_shared_dir(), model);
    st_file *f;
    if (st_open(path, &f, &err) != ALBERT_OK)
        die(path, err.msg);
    int n = cJSON_GetArraySize(root);
    *cases = calloc((size_t)n, sizeof **cases);
    for (int i = 0; i < n; i++)
        load_case(f, cJSON_GetArrayItem(root, i), &(*cases)[i]);
    st_close(f);
    cJSON_Delete(root);
    return n;
}

void golden_free(golden_case *cases, int count)
{
    for (int i = 0; i < count; i++) {
        golden_case *c = &cases[i];
        free(c->input_ids);
        free(c->token_type_ids);
        free(c->attention_mask);
        free(c->last_hidden_state);
        free(c->pooler_output);
        free(c->hidden_states);
    }
    free(cases);
}

albert_model *test_open_model(const char *name)
{
    char rel[256], dir[1024];
    snprintf(rel, sizeof rel, "models/%s", name);
    test_shared_path(dir, sizeof dir, rel);
    albert_model *m = NULL;
    albert_error err;
    if (albert_model_open(dir, &m, &err) != ALBERT_OK) {
        fprintf(stderr, "FATAL: %s: %s\n", dir, err.msg);
        exit(1);
    }
    return m;
}

static albert_engine *open_engine(const albert_model *m, const albert_engine_options *opt)
{
    albert_engine *e = NULL;
    albert_error err;
    if (albert_engine_create(m, opt, &e, &err) != ALBERT_OK) {
        fprintf(stderr, "FATAL: engine on device %d: %s\n", opt->device, err.msg);
        exit(1);
    }
    return e;
}

albert_engine *test_open_engine(const albert_model *m, int device, int timing)
{
    albert_engine_options opt;
    albert_engine_options_init(&opt);
    opt.device = device;
    opt.timing = timing;
    return open_engine(m, &opt);
}

albert_engine *test_open_engine_profile(const albert_model *m, int device,
                                        const char *tuning_file)
{
    albert_engine_options opt;
    albert_engine_options_init(&opt);
    opt.device = device;
    opt.tuning_file = tuning_file;
    return open_engine(m, &opt);
}

void *test_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "FATAL: out of memory\n");
        exit(1);
    }
    return p;
}

void test_remove_tree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "%s", cmd);
}

int test_device_count(void)
{
    int count = 0;
    albert_error err;
    if (albert_device_count(&count, &err) != ALBERT_OK || count < 1) {
        fprintf(stderr, "FATAL: the device registry lists %d devices: %s\n", count, err.msg);
        exit(1);
    }
    return count;
}

int test_cpu_device(void)
{
    int index = -1;
    albert_error err;
    if (albert_device_find("cpu", &index, &err) != ALBERT_OK) {
        fprintf(stderr, "FATAL: no cpu device: %s\n", err.msg);
        exit(1);
    }
    return index;
}

int test_opencl_devices_checked(void)
{
    int n = test_opencl_device_count();
    return getenv("ALBERT_TEST_SANITIZED") ? 1 : n;
}

int test_opencl_device_count(void)
{
    int n = test_cpu_device(); /* OpenCL devices come before it */
    if (n < 1) {
        albert_error note;
        int count = 0;
        albert_device_count(&count, &note);
        fprintf(stderr,
                "FATAL: no OpenCL device (%s); install an OpenCL driver (e.g. "
                "pocl-opencl-icd): OpenCL tests never skip\n",
                note.msg[0] ? note.msg : "none listed");
        exit(1);
    }
    return n;
}

void test_device_label(int device, char *dst, size_t size)
{
    albert_engine_options opt;
    albert_engine_options_init(&opt);
    opt.no_tuning = 1;
    albert_device_info info;
    albert_error err;
    if (albert_device_info_get(device, &opt, &info, &err) != ALBERT_OK)
        snprintf(dst, size, "device %d (%s)", device, err.msg);
    else if (strcmp(info.backend, "cpu") == 0)
        snprintf(dst, size, "cpu");
    else
        snprintf(dst, size, "%s (%s)", info.id, info.name);
}
