/* The .cl files of kernels/, compiled into the library (generated file). */
#ifndef ALBERT_KERNELS_EMBEDDED_H
#define ALBERT_KERNELS_EMBEDDED_H

typedef struct albert_kernel_source {
    const char *name;   /* file name, e.g. "layernorm.cl" */
    const char *source; /* NUL-terminated */
} albert_kernel_source;

/* Terminated by an entry whose name is NULL. */
extern const albert_kernel_source albert_embedded_kernels[];

#endif
