/* Constants exactly as the installed headers define them (linux-libc-dev's
 * UAPI and glibc's), looked up by name, for tests that check storetrace's
 * flag tables value by value. The headers stay inside the .c files: the
 * kernel's and glibc's versions of them cannot share one Swift module. */
#ifndef ST_UAPI_H
#define ST_UAPI_H
#include <stdint.h>

/* Sets *value and returns 1 if `name` is defined by the headers, else 0. */
int st_uapi_value(const char *name, uint64_t *value);

/* glibc's name of an errno value (strerrorname_np), or NULL. */
const char *st_errno_name(int value);

#endif
