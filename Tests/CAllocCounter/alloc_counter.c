#define _GNU_SOURCE
#include "alloc_counter.h"

#include <errno.h>
#include <stddef.h>

/* glibc's real allocator entry points. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static __thread int counting;
static __thread uint64_t allocations;
static __thread size_t first_size;

void st_alloc_counting_begin(void)
{
    allocations = 0;
    first_size = 0;
    counting = 1;
}

size_t st_alloc_first_size(void)
{
    return first_size;
}

uint64_t st_alloc_counting_end(void)
{
    counting = 0;
    return allocations;
}

void *malloc(size_t size)
{
    if (counting && allocations++ == 0)
        first_size = size;
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size)
{
    if (counting && allocations++ == 0)
        first_size = count * size;
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size)
{
    if (counting && allocations++ == 0)
        first_size = size;
    return __libc_realloc(pointer, size);
}

int posix_memalign(void **result, size_t alignment, size_t size)
{
    if (counting && allocations++ == 0)
        first_size = size;
    void *pointer = __libc_memalign(alignment, size);
    if (!pointer)
        return ENOMEM;
    *result = pointer;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size)
{
    if (counting && allocations++ == 0)
        first_size = size;
    return __libc_memalign(alignment, size);
}
