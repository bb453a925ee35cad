/* Injected faults, for tests only: in a build made with -DALBERT_FAULTS=ON,
 * ALBERT_CL_FAULT=KIND:N makes the Nth event of KIND fail (counting from 1,
 * over the whole process): "alloc" a host allocation (malloc, calloc,
 * realloc, aligned_alloc, strdup, wrapped at link time), "opencl" a checked
 * OpenCL or CLBlast call (ocl_check, clblast_check), "write" an output
 * write of the CLI.  ALBERT_CL_FAULT=count prints how many events of each
 * kind a run had, at exit, on stderr, so a test can sweep N; a run whose
 * fault was injected says "albert-cl faults: injected KIND N" at exit.  Other builds
 * compile this to nothing and read no environment variable. */
#ifndef ALBERT_CORE_FAULT_H
#define ALBERT_CORE_FAULT_H

typedef enum albert_fault_kind {
    ALBERT_FAULT_ALLOC,
    ALBERT_FAULT_OPENCL,
    ALBERT_FAULT_WRITE,
    ALBERT_FAULT_KINDS
} albert_fault_kind;

#ifdef ALBERT_FAULTS
/* 1 when this event of KIND is the one to fail. */
int albert_fault(albert_fault_kind kind);
#else
static inline int albert_fault(albert_fault_kind kind)
{
    (void)kind;
    return 0;
}
#endif

#endif
