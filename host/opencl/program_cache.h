/* Our kernels as one OpenCL program, compiled at run time from the sources
 * embedded in the library (or from a folder of *.cl files while developing
 * kernels), with an on-disk cache of program binaries.
 *
 * Cache: the folder the engine options name, else $XDG_CACHE_HOME/albert-cl,
 * else ~/.cache/albert-cl (created 0700).  One file per key, the key being a
 * BLAKE2b hash of the kernel source, build options, device name, driver
 * version and platform version; files are written to a temporary name and
 * renamed, so concurrent processes never see a partial entry.
 *
 * Drivers trust the binaries they are given: PoCL crashes the process on a
 * truncated one.  So each entry starts with a header (magic, key, payload
 * size) and a MAC: keyed BLAKE2b (libsodium's crypto_generichash) of the
 * header fields and the payload, under a 32-byte random key kept in the
 * folder's mac.key (created once, atomically, mode 0600; a key file that is
 * not a private 32-byte file of this user is replaced).  An entry whose
 * magic, key, size or MAC does not match is never handed to the driver: it
 * is deleted and rebuilt from source, as is one the driver refuses.
 *
 * This protects against corrupt and truncated files, entries of other
 * versions, devices or drivers, and entries forged or altered by anyone who
 * cannot read the key file.  It does not protect against someone who can
 * read it (the user, root, a process running as the user): they can write
 * entries the driver will load, as they could replace the library itself.
 *
 * A cache that cannot be read or written only costs a build, never an
 * error; it is reported through the context's warning sink (once per
 * problem per context), as are rejected entries. */
#ifndef ALBERT_OPENCL_PROGRAM_CACHE_H
#define ALBERT_OPENCL_PROGRAM_CACHE_H

#include "opencl/context.h"

/* Where the program's sources come from and where its binaries are kept
 * (albert_engine_options' kernel_dir and cache_dir). */
typedef struct ocl_program_dirs {
    const char *kernel_dir; /* NULL: the sources embedded in the library */
    const char *cache_dir;  /* NULL: $XDG_CACHE_HOME/albert-cl, else ~/.cache/albert-cl;
                               "": no cache */
} ocl_program_dirs;

/* The built program for CTX's device with OPTIONS (-D tunables), from DIRS
 * (NULL: both defaults); counts what it did in ctx->programs.  A failed
 * build's error holds the build log. */
int ocl_program_get(ocl_ctx *ctx, const ocl_program_dirs *dirs, const char *options,
                    cl_program *out, albert_error *err);

/* The cache file that ocl_program_get reads and writes for DIRS and OPTIONS
 * ("" in PATH when there is no cache folder). */
int ocl_program_cache_path(const ocl_ctx *ctx, const ocl_program_dirs *dirs, const char *options,
                           char *path, size_t size, albert_error *err);

/* Writes BIN (SIZE bytes) as that file, with the folder's key, as
 * ocl_program_get does after a build: tests plant entries with it that pass
 * every check but the driver's. */
int ocl_program_cache_put(ocl_ctx *ctx, const ocl_program_dirs *dirs, const char *options,
                          const unsigned char *bin, size_t size, albert_error *err);

#endif
