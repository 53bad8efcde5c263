/* Counts heap allocations made by the calling thread, for tests that prove
 * a loop allocates nothing. The counting malloc/calloc/realloc/memalign
 * wrappers are linked into the test executable and forward to glibc. */
#ifndef ALLOC_COUNTER_H
#define ALLOC_COUNTER_H
#include <stddef.h>
#include <stdint.h>

void st_alloc_counting_begin(void);
/* Allocations by this thread since st_alloc_counting_begin(). */
uint64_t st_alloc_counting_end(void);
/* Bytes asked for by the first of them (0 if none): says what allocated. */
size_t st_alloc_first_size(void);

#endif
