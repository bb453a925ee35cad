/* What the fuzz targets share (README.md): a per-process scratch folder for
 * the parsers that only take a path, the shared data folder, and the checks
 * that turn a broken promise of the library into a crash libFuzzer keeps. */
#ifndef ALBERT_FUZZ_UTIL_H
#define ALBERT_FUZZ_UTIL_H

#include "albert_cl.h"

#include <stddef.h>
#include <stdint.h>

/* A library promise (a header comment) did not hold: prints the message and
 * aborts, so libFuzzer saves the input.  Not for harness problems. */
#define FUZZ_EXPECT(cond, ...)                                          \
    do {                                                                \
        if (!(cond))                                                    \
            fuzz_broken(__FILE__, __LINE__, #cond, __VA_ARGS__);        \
    } while (0)

void fuzz_broken(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

/* The harness itself cannot go on (no scratch folder, shared data missing):
 * exits 2 with "fuzz harness: ..." so nobody mistakes it for a finding. */
void fuzz_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* RC is a status, and a failure fills ERR with it and a message
 * (include/albert_cl.h's error convention). */
void fuzz_expect_status(int rc, const albert_error *err, const char *call);

/* This process's scratch folder: $TMPDIR (tools/fuzz.sh points it into
 * /dev/shm), else /dev/shm, else /tmp; made on the first call, removed at
 * exit with everything fuzz_scratch_path named in it.  One per process, so
 * libFuzzer's -fork and -jobs workers never share files. */
const char *fuzz_scratch_dir(void);

/* DST = scratch/NAME ("a/b": the folder "a" is made). */
void fuzz_scratch_path(char *dst, size_t size, const char *name);

/* Writes DATA to PATH, replacing it. */
void fuzz_write_file(const char *path, const uint8_t *data, size_t size);

/* PATH becomes a symbolic link to TARGET. */
void fuzz_symlink(const char *target, const char *path);

/* The shared data folder: $ALBERT_CL_SHARED, else the one CMake was given. */
const char *fuzz_shared_dir(void);

struct st_file;
struct st_tensor;

/* What every reader of tensors (core/safetensors.h's st_file) promises
 * about T: found by its name, at most ST_MAX_DIMS dimensions, the shape's
 * product its element count, that times the dtype's size its byte count.
 * Then T is converted the way the loader does (st_to_f32, st_to_i32),
 * which reads every byte; each conversion either succeeds or fails with an
 * error. */
void fuzz_check_tensor(const struct st_file *f, const struct st_tensor *t);

/* A reader of tensor files (st_open, torch_checkpoint_open). */
typedef int (*fuzz_tensor_reader)(const char *path, struct st_file **out, albert_error *err);

/* Writes DATA to scratch/NAME, opens it with OPEN (CALL names it): a status
 * with a message, a file exactly on success; then every tensor through
 * INSIDE (the reader's own promise of where data lies) and
 * fuzz_check_tensor. */
void fuzz_check_tensor_file(const char *name, const uint8_t *data, size_t size,
                            fuzz_tensor_reader open, const char *call,
                            void (*inside)(const struct st_file *, const struct st_tensor *));

#endif
