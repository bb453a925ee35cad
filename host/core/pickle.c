#include "core/pickle.h"

#include "core/common.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every allocation is one chunk on the arena's list, freed together: values
 * point at each other freely (the memo shares them) and die with the arena. */
typedef struct pk_chunk {
    struct pk_chunk *next;
    max_align_t data[];
} pk_chunk;

struct pk_arena {
    pk_chunk *head;
};

pk_arena *pk_arena_new(void) { return calloc(1, sizeof(pk_arena)); }

void pk_arena_free(pk_arena *a)
{
    if (!a)
        return;
    while (a->head) {
        pk_chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
    free(a);
}

static void *arena_alloc(pk_arena *a, size_t size)
{
    if (size > SIZE_MAX - sizeof(pk_chunk))
        return NULL;
    pk_chunk *c = calloc(1, sizeof *c + size);
    if (!c)
        return NULL;
    c->next = a->head;
    a->head = c;
    return c->data;
}

const char *pk_kind_name(pk_kind k)
{
    static const char *const names[] = {"None", "bool", "int", "long int", "float", "str",
                                        "tuple", "list", "dict", "global", "storage", "tensor"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

/* The interpreter: the stack, the marks on it and the memo, as in Python's
 * pickle.py. */
typedef struct vm {
    pk_arena *a;
    const uint8_t *start, *p, *end;
    const char *what;
    size_t base, op_at; /* BUF's offset in WHAT; the opcode being run, from BUF */
    pk_value **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t nmarks, marks_cap;
    pk_value **memo;
    size_t memo_n, memo_cap;
    albert_error *err;
} vm;

static int vm_fail(vm *v, const char *fmt, ...) ALBERT_PRINTF(2, 3);

static int vm_fail(vm *v, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return albert_fail(v->err, ALBERT_E_FORMAT, "%s: pickle byte %zu: %s", v->what,
                       v->base + v->op_at, msg);
}

static int vm_nomem(vm *v)
{
    return albert_fail(v->err, ALBERT_E_NOMEM, "%s: out of memory reading its pickle", v->what);
}

/* Grows *ARR (of *CAP elements of SIZE bytes) to hold at least NEED. */
static bool grow(void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, n * size);
    if (!p)
        return false;
    *arr = p;
    *cap = n;
    return true;
}

/* *OUT = the next N bytes (where they would be, also on failure). */
static int take(vm *v, size_t n, const uint8_t **out)
{
    *out = v->p;
    if ((size_t)(v->end - v->p) < n)
        return vm_fail(v, "truncated pickle (%zu bytes wanted, %zu left)", n,
                       (size_t)(v->end - v->p));
    v->p += n;
    return ALBERT_OK;
}

/* The little-endian unsigned number in the next N bytes. */
static int take_uint(vm *v, size_t n, uint64_t *out)
{
    const uint8_t *b = NULL;
    int rc = take(v, n, &b);
    *out = 0;
    for (size_t i = 0; rc == ALBERT_OK && i < n; i++)
        *out |= (uint64_t)b[i] << (8 * i);
    return rc;
}

static pk_value *new_value(vm *v, pk_kind kind)
{
    pk_value *x = arena_alloc(v->a, sizeof *x);
    if (x)
        x->kind = kind;
    return x;
}

static int push(vm *v, pk_value *x)
{
    if (!x || !grow((void **)&v->stack, &v->stack_cap, v->sp + 1, sizeof *v->stack))
        return vm_nomem(v);
    v->stack[v->sp++] = x;
    return ALBERT_OK;
}

static int push_new(vm *v, pk_kind kind) { return push(v, new_value(v, kind)); }

static size_t mark_floor(const vm *v) { return v->nmarks ? v->marks[v->nmarks - 1] : 0; }

static int pop(vm *v, pk_value **out)
{
    if (v->sp <= mark_floor(v))
        return vm_fail(v, "pops an empty stack (or past a MARK)");
    *out = v->stack[--v->sp];
    return ALBERT_OK;
}

/* The top value into *TOP and the one below it into *BELOW. */
static int pop2(vm *v, pk_value **top, pk_value **below)
{
    int rc = pop(v, top);
    return rc == ALBERT_OK ? pop(v, below) : rc;
}

static int pop_mark(vm *v, size_t *at)
{
    if (!v->nmarks)
        return vm_fail(v, "no MARK to pop");
    *at = v->marks[--v->nmarks];
    return ALBERT_OK;
}

static int add_item(vm *v, pk_value *c, pk_value *x)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 4;
        pk_value **items = cap <= SIZE_MAX / sizeof *items ? arena_alloc(v->a, cap * sizeof *items)
                                                           : NULL;
        if (!items)
            return vm_nomem(v);
        if (c->n)
            memcpy(items, c->items, c->n * sizeof *items);
        c->items = items;
        c->cap = cap;
    }
    c->items[c->n++] = x;
    return ALBERT_OK;
}

/* Moves the stack's values from FROM up into the container C. */
static int add_from_stack(vm *v, pk_value *c, size_t from)
{
    int rc = ALBERT_OK;
    for (size_t i = from; rc == ALBERT_OK && i < v->sp; i++)
        rc = add_item(v, c, v->stack[i]);
    v->sp = from;
    return rc;
}

/* A tuple of the stack's values from FROM up, replacing them. */
static int make_tuple(vm *v, size_t from)
{
    pk_value *t = new_value(v, PK_TUPLE);
    if (!t)
        return vm_nomem(v);
    int rc = add_from_stack(v, t, from);
    return rc == ALBERT_OK ? push(v, t) : rc;
}

static int tuple_n(vm *v, size_t n)
{
    if (v->sp < mark_floor(v) + n)
        return vm_fail(v, "TUPLE%zu of a stack with fewer values", n);
    return make_tuple(v, v->sp - n);
}

static int load_str(vm *v, size_t len_bytes)
{
    uint64_t len;
    const uint8_t *b = NULL;
    int rc = take_uint(v, len_bytes, &len);
    if (rc == ALBERT_OK)
        rc = take(v, len > SIZE_MAX ? SIZE_MAX : (size_t)len, &b);
    if (rc != ALBERT_OK)
        return rc;
    if (memchr(b, 0, (size_t)len))
        return vm_fail(v, "a string holds a NUL byte");
    pk_value *s = new_value(v, PK_STR);
    char *copy = s ? arena_alloc(v->a, (size_t)len + 1) : NULL;
    if (!copy)
        return vm_nomem(v);
    memcpy(copy, b, (size_t)len);
    s->s = copy;
    s->len = (size_t)len;
    return push(v, s);
}

static int push_int(vm *v, int64_t i)
{
    pk_value *x = new_value(v, PK_INT);
    if (x)
        x->i = i;
    return push(v, x);
}

/* BININT1, BININT2 (unsigned) and BININT (signed 32 bits). */
static int load_binint(vm *v, size_t n)
{
    uint64_t u;
    int rc = take_uint(v, n, &u);
    if (rc != ALBERT_OK)
        return rc;
    return push_int(v, n == 4 ? (int64_t)(int32_t)(uint32_t)u : (int64_t)u);
}

/* LONG1: a two's complement little-endian integer of N bytes; past 8 bytes
 * (torch's legacy magic number) the bytes are kept as they are. */
static int load_long1(vm *v)
{
    uint64_t n;
    const uint8_t *b = NULL;
    int rc = take_uint(v, 1, &n);
    if (rc == ALBERT_OK)
        rc = take(v, (size_t)n, &b);
    if (rc != ALBERT_OK)
        return rc;
    if (n <= 8) {
        uint64_t u = 0;
        for (size_t i = 0; i < n; i++)
            u |= (uint64_t)b[i] << (8 * i);
        if (n && n < 8 && (b[n - 1] & 0x80))
            u |= ~(uint64_t)0 << (8 * n);
        return push_int(v, (int64_t)u);
    }
    pk_value *x = new_value(v, PK_LONG);
    char *copy = x ? arena_alloc(v->a, (size_t)n) : NULL;
    if (!copy)
        return vm_nomem(v);
    memcpy(copy, b, (size_t)n);
    x->s = copy;
    x->len = (size_t)n;
    return push(v, x);
}

static int load_binfloat(vm *v)
{
    const uint8_t *b = NULL;
    int rc = take(v, 8, &b);
    if (rc != ALBERT_OK)
        return rc;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) /* big-endian, unlike every other number */
        u = u << 8 | b[i];
    pk_value *x = new_value(v, PK_FLOAT);
    if (x)
        memcpy(&x->f, &u, sizeof x->f);
    return push(v, x);
}

static const struct {
    const char *module, *name;
    pk_global global;
    st_dtype dtype;
} known_globals[] = {
    {"collections", "OrderedDict", PKG_ORDERED_DICT, ST_F32},
    {"torch._utils", "_rebuild_tensor_v2", PKG_REBUILD_TENSOR_V2, ST_F32},
    {"torch._utils", "_rebuild_parameter", PKG_REBUILD_PARAMETER, ST_F32},
    {"torch._utils", "_rebuild_parameter_with_state", PKG_REBUILD_PARAMETER_ST, ST_F32},
    {"torch._tensor", "_rebuild_from_type_v2", PKG_REBUILD_FROM_TYPE_V2, ST_F32},
    {"torch", "Tensor", PKG_TENSOR_TYPE, ST_F32},
    {"torch.nn.parameter", "Parameter", PKG_TENSOR_TYPE, ST_F32},
    {"torch", "FloatStorage", PKG_STORAGE_TYPE, ST_F32},
    {"torch", "HalfStorage", PKG_STORAGE_TYPE, ST_F16},
    {"torch", "BFloat16Storage", PKG_STORAGE_TYPE, ST_BF16},
    {"torch", "DoubleStorage", PKG_STORAGE_TYPE, ST_F64},
    {"torch", "LongStorage", PKG_STORAGE_TYPE, ST_I64},
    {"torch", "IntStorage", PKG_STORAGE_TYPE, ST_I32},
    {"torch", "ShortStorage", PKG_STORAGE_TYPE, ST_I16},
    {"torch", "CharStorage", PKG_STORAGE_TYPE, ST_I8},
    {"torch", "ByteStorage", PKG_STORAGE_TYPE, ST_U8},
    {"torch", "BoolStorage", PKG_STORAGE_TYPE, ST_BOOL},
};

static int push_global(vm *v, const char *module, size_t mlen, const char *name, size_t nlen)
{
    for (size_t i = 0; i < sizeof known_globals / sizeof known_globals[0]; i++) {
        if (strlen(known_globals[i].module) == mlen && strlen(known_globals[i].name) == nlen &&
            memcmp(known_globals[i].module, module, mlen) == 0 &&
            memcmp(known_globals[i].name, name, nlen) == 0) {
            pk_value *g = new_value(v, PK_GLOBAL);
            if (g) {
                g->i = known_globals[i].global;
                g->dtype = known_globals[i].dtype;
            }
            return push(v, g);
        }
    }
    if (mlen == 5 && memcmp(module, "torch", 5) == 0 && nlen > 7 &&
        memcmp(name + nlen - 7, "Storage", 7) == 0)
        return vm_fail(v, "tensors of torch.%.*s: a dtype albert-cl does not read (float32, "
                          "float16, bfloat16, float64 and integers)",
                       (int)(nlen > 80 ? 80 : nlen), name);
    return vm_fail(v, "names %.*s.%.*s, which a state dict does not use (not loaded)",
                   (int)(mlen > 80 ? 80 : mlen), module, (int)(nlen > 80 ? 80 : nlen), name);
}

/* GLOBAL: "module\nname\n". */
static int load_global(vm *v)
{
    const uint8_t *m = v->p, *nl1 = memchr(m, '\n', (size_t)(v->end - m));
    const uint8_t *n = nl1 ? nl1 + 1 : NULL;
    const uint8_t *nl2 = n ? memchr(n, '\n', (size_t)(v->end - n)) : NULL;
    if (!nl2)
        return vm_fail(v, "truncated GLOBAL");
    v->p = nl2 + 1;
    return push_global(v, (const char *)m, (size_t)(nl1 - m), (const char *)n, (size_t)(nl2 - n));
}

static int stack_global(vm *v)
{
    pk_value *name = NULL, *module = NULL;
    int rc = pop2(v, &name, &module);
    if (rc != ALBERT_OK)
        return rc;
    if (name->kind != PK_STR || module->kind != PK_STR)
        return vm_fail(v, "STACK_GLOBAL of a %s and a %s", pk_kind_name(module->kind),
                       pk_kind_name(name->kind));
    return push_global(v, module->s, module->len, name->s, name->len);
}

static bool is_global(const pk_value *x, pk_global g)
{
    return x->kind == PK_GLOBAL && x->i == (int64_t)g;
}

/* A tuple of at most PK_MAX_DIMS non-negative ints into DST; their count. */
static int int_tuple(vm *v, const pk_value *t, const char *what, int64_t *dst, int *n)
{
    if (t->kind != PK_TUPLE || t->n > PK_MAX_DIMS)
        return vm_fail(v, "a tensor's %s is a %s of %zu, not a tuple of at most %d ints", what,
                       pk_kind_name(t->kind), t->n, PK_MAX_DIMS);
    for (size_t i = 0; i < t->n; i++) {
        if (t->items[i]->kind != PK_INT || t->items[i]->i < 0)
            return vm_fail(v, "a tensor's %s holds a %s, not a non-negative int", what,
                           pk_kind_name(t->items[i]->kind));
        dst[i] = t->items[i]->i;
    }
    *n = (int)t->n;
    return ALBERT_OK;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
 * backward_hooks[, metadata]). */
static int rebuild_tensor(vm *v, const pk_value *args)
{
    pk_value *const *a = args->items;
    if (args->n < 6 || args->n > 7 || a[0]->kind != PK_STORAGE || a[1]->kind != PK_INT ||
        a[1]->i < 0)
        return vm_fail(v, "_rebuild_tensor_v2 wants (storage, offset, size, stride, "
                          "requires_grad, hooks)");
    pk_value *x = new_value(v, PK_TENSOR);
    pk_tensor *t = x ? arena_alloc(v->a, sizeof *t) : NULL;
    if (!t)
        return vm_nomem(v);
    int nstride = 0;
    int rc = int_tuple(v, a[2], "size", t->shape, &t->ndim);
    if (rc == ALBERT_OK)
        rc = int_tuple(v, a[3], "stride", t->stride, &nstride);
    if (rc == ALBERT_OK && nstride != t->ndim)
        rc = vm_fail(v, "a tensor of %d dimensions with %d strides", t->ndim, nstride);
    if (rc != ALBERT_OK)
        return rc;
    t->storage = a[0];
    t->offset = a[1]->i;
    x->dtype = a[0]->dtype;
    x->tensor = t;
    return push(v, x);
}

/* _rebuild_from_type_v2(func, type, args, state): a tensor (or Parameter)
 * with Python attributes, which are dropped. */
static int rebuild_from_type(vm *v, const pk_value *args)
{
    if (args->n != 4 || !is_global(args->items[0], PKG_REBUILD_TENSOR_V2) ||
        !is_global(args->items[1], PKG_TENSOR_TYPE) || args->items[2]->kind != PK_TUPLE)
        return vm_fail(v, "_rebuild_from_type_v2 of something other than a tensor");
    return rebuild_tensor(v, args->items[2]);
}

/* _rebuild_parameter(data, requires_grad, hooks[, state]): the tensor. */
static int rebuild_parameter(vm *v, const pk_value *args, size_t n)
{
    if (args->n != n || args->items[0]->kind != PK_TENSOR)
        return vm_fail(v, "_rebuild_parameter of something other than a tensor");
    return push(v, args->items[0]);
}

static int reduce(vm *v)
{
    pk_value *args = NULL, *fn = NULL;
    int rc = pop2(v, &args, &fn);
    if (rc != ALBERT_OK)
        return rc;
    if (args->kind != PK_TUPLE || fn->kind != PK_GLOBAL)
        return vm_fail(v, "REDUCE of a %s with a %s", pk_kind_name(fn->kind),
                       pk_kind_name(args->kind));
    switch ((pk_global)fn->i) {
    case PKG_ORDERED_DICT:
        if (args->n)
            return vm_fail(v, "OrderedDict with arguments");
        return push_new(v, PK_DICT);
    case PKG_REBUILD_TENSOR_V2: return rebuild_tensor(v, args);
    case PKG_REBUILD_PARAMETER: return rebuild_parameter(v, args, 3);
    case PKG_REBUILD_PARAMETER_ST: return rebuild_parameter(v, args, 4);
    case PKG_REBUILD_FROM_TYPE_V2: return rebuild_from_type(v, args);
    default: return vm_fail(v, "REDUCE of a type, not a function");
    }
}

/* torch's persistent id: ('storage', storage type, key, location, numel),
 * and in the legacy format a sixth item, view_metadata, None since torch 0.4. */
static int persistent_load(vm *v)
{
    pk_value *pid = NULL;
    int rc = pop(v, &pid);
    if (rc != ALBERT_OK)
        return rc;
    pk_value *const *a = pid->items;
    if (pid->kind != PK_TUPLE || pid->n < 5 || pid->n > 6 || a[0]->kind != PK_STR ||
        strcmp(a[0]->s, "storage") != 0 || !is_global(a[1], PKG_STORAGE_TYPE) ||
        a[2]->kind != PK_STR || a[3]->kind != PK_STR || a[4]->kind != PK_INT || a[4]->i < 0)
        return vm_fail(v, "a persistent id other than ('storage', type, key, location, numel)");
    if (pid->n == 6 && a[5]->kind != PK_NONE)
        return vm_fail(v, "a storage view (torch before 0.4): not supported");
    pk_value *s = new_value(v, PK_STORAGE);
    if (!s)
        return vm_nomem(v);
    s->dtype = a[1]->dtype;
    s->s = a[2]->s;
    s->len = a[2]->len;
    s->i = a[4]->i;
    return push(v, s);
}

/* BUILD sets an object's attributes: an OrderedDict's _metadata, a tensor's
 * Python attributes; neither matters here. */
static int build(vm *v)
{
    pk_value *state = NULL, *obj = NULL;
    int rc = pop2(v, &state, &obj);
    if (rc != ALBERT_OK)
        return rc;
    if (obj->kind != PK_DICT && obj->kind != PK_TENSOR)
        return vm_fail(v, "BUILD of a %s", pk_kind_name(obj->kind));
    return push(v, obj);
}

/* SETITEMS, APPENDS: the values above the last MARK go into the dict (as
 * key, value pairs) or list just below it. */
static int add_marked(vm *v, pk_kind kind, const char *op)
{
    size_t from = 0;
    int rc = pop_mark(v, &from);
    if (rc != ALBERT_OK)
        return rc;
    pk_value *c = from > mark_floor(v) ? v->stack[from - 1] : NULL;
    if (!c || c->kind != kind)
        return vm_fail(v, "%s without a %s below its MARK", op, pk_kind_name(kind));
    if (kind == PK_DICT && (v->sp - from) % 2)
        return vm_fail(v, "SETITEMS of an odd number of values");
    return add_from_stack(v, c, from);
}

/* SETITEM, APPEND: the top value (key and value for SETITEM) into the
 * container below it. */
static int add_top(vm *v, pk_kind kind, size_t n, const char *op)
{
    if (v->sp < mark_floor(v) + n + 1)
        return vm_fail(v, "%s on a stack of fewer values", op);
    pk_value *c = v->stack[v->sp - n - 1];
    if (c->kind != kind)
        return vm_fail(v, "%s on a %s", op, pk_kind_name(c->kind));
    return add_from_stack(v, c, v->sp - n);
}

static int memo_put(vm *v, uint64_t idx)
{
    if (v->sp <= mark_floor(v))
        return vm_fail(v, "memoizes an empty stack");
    if (idx > v->memo_n)
        return vm_fail(v, "memo index %llu out of order (%zu so far)", (unsigned long long)idx,
                       v->memo_n);
    if (idx == v->memo_n &&
        !grow((void **)&v->memo, &v->memo_cap, v->memo_n + 1, sizeof *v->memo))
        return vm_nomem(v);
    if (idx == v->memo_n)
        v->memo_n++;
    v->memo[idx] = v->stack[v->sp - 1];
    return ALBERT_OK;
}

static int memo_get(vm *v, uint64_t idx)
{
    if (idx >= v->memo_n)
        return vm_fail(v, "memo index %llu was never set", (unsigned long long)idx);
    return push(v, v->memo[idx]);
}

static int push_mark(vm *v)
{
    if (!grow((void **)&v->marks, &v->marks_cap, v->nmarks + 1, sizeof *v->marks))
        return vm_nomem(v);
    v->marks[v->nmarks++] = v->sp;
    return ALBERT_OK;
}

static int memo_op(vm *v, size_t idx_bytes, bool put)
{
    uint64_t idx;
    int rc = take_uint(v, idx_bytes, &idx);
    if (rc != ALBERT_OK)
        return rc;
    return put ? memo_put(v, idx) : memo_get(v, idx);
}

static int proto(vm *v)
{
    uint64_t version;
    int rc = take_uint(v, 1, &version);
    if (rc == ALBERT_OK && (version < 2 || version > 5))
        rc = vm_fail(v, "pickle protocol %llu (torch.save writes 2 to 5)",
                     (unsigned long long)version);
    return rc;
}

/* FRAME (protocol 4+) only groups the opcodes after it: its length is skipped. */
static int frame(vm *v)
{
    uint64_t len;
    return take_uint(v, 8, &len);
}

/* Runs opcode OP; STOP is the caller's. */
static int run_op(vm *v, uint8_t op)
{
    switch (op) {
    case 0x80: return proto(v);
    case 0x95: return frame(v);
    case '(': return push_mark(v);
    case ')': return push_new(v, PK_TUPLE);
    case ']': return push_new(v, PK_LIST);
    case '}': return push_new(v, PK_DICT);
    case 't': {
        size_t from = 0;
        int rc = pop_mark(v, &from);
        return rc == ALBERT_OK ? make_tuple(v, from) : rc;
    }
    case 0x85: return tuple_n(v, 1);
    case 0x86: return tuple_n(v, 2);
    case 0x87: return tuple_n(v, 3);
    case 'N': return push_new(v, PK_NONE);
    case 0x88:
    case 0x89: {
        pk_value *b = new_value(v, PK_BOOL);
        if (b)
            b->i = op == 0x88;
        return push(v, b);
    }
    case 'K': return load_binint(v, 1);
    case 'M': return load_binint(v, 2);
    case 'J': return load_binint(v, 4);
    case 0x8a: return load_long1(v);
    case 'G': return load_binfloat(v);
    case 0x8c: return load_str(v, 1);
    case 'X': return load_str(v, 4);
    case 0x8d: return load_str(v, 8);
    case 'c': return load_global(v);
    case 0x93: return stack_global(v);
    case 'q': return memo_op(v, 1, true);
    case 'r': return memo_op(v, 4, true);
    case 0x94: return memo_put(v, v->memo_n);
    case 'h': return memo_op(v, 1, false);
    case 'j': return memo_op(v, 4, false);
    case 'R': return reduce(v);
    case 'b': return build(v);
    case 'Q': return persistent_load(v);
    case 's': return add_top(v, PK_DICT, 2, "SETITEM");
    case 'u': return add_marked(v, PK_DICT, "SETITEMS");
    case 'a': return add_top(v, PK_LIST, 1, "APPEND");
    case 'e': return add_marked(v, PK_LIST, "APPENDS");
    default: return vm_fail(v, "opcode 0x%02x is not one torch.save writes for a state dict", op);
    }
}

static int run(vm *v, pk_value **out)
{
    if (v->p < v->end && *v->p != 0x80)
        return vm_fail(v, "a pickle of protocol 0 or 1 (torch.save writes 2 to 5)");
    for (size_t ops = 0; v->p < v->end; ops++) {
        v->op_at = (size_t)(v->p - v->start);
        if (ops == PK_MAX_OPS)
            return vm_fail(v, "more than %u opcodes: too large for a state dict", PK_MAX_OPS);
        uint8_t op = *v->p++;
        if (op == '.') {
            if (v->sp != 1 || v->nmarks)
                return vm_fail(v, "STOP with %zu values and %zu MARKs on the stack", v->sp,
                               v->nmarks);
            *out = v->stack[0];
            return ALBERT_OK;
        }
        int rc = run_op(v, op);
        if (rc != ALBERT_OK)
            return rc;
    }
    v->op_at = (size_t)(v->p - v->start);
    return vm_fail(v, "truncated pickle (no STOP)");
}

int pk_load(pk_arena *a, const uint8_t *buf, size_t len, const char *what, size_t base,
            pk_value **out, size_t *used, albert_error *err)
{
    vm v = {.a = a, .start = buf, .p = buf, .end = buf + len, .what = what, .base = base,
            .err = err};
    *out = NULL;
    int rc = run(&v, out);
    *used = (size_t)(v.p - buf);
    free(v.stack);
    free(v.marks);
    free(v.memo);
    if (rc != ALBERT_OK)
        *out = NULL;
    return rc == ALBERT_OK ? albert_ok(err) : rc;
}
