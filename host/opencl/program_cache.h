/* Our kernels as one OpenCL program, compiled at run time from the sources
 * embedded in the library (or from a folder of *.cl files while developing
 * kernels), with an on-disk cache of program binaries.
 *
 * Cache: the folder the engine options name, else $XDG_CACHE_HOME/albert-cl,
 * else ~/.cache/albert-cl.  One file per key, the key being a hash of the kernel
 * source, build options, device name, driver version and platform version.
 * Each file starts with a header (magic, key, payload size, payload
 * checksum), so stale or corrupt entries are detected and rebuilt; files are
 * written to a temporary name and renamed, so concurrent processes never see
 * a partial entry.  A cache that cannot be read or written only costs a
 * build: it is never an error. */
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

#endif
