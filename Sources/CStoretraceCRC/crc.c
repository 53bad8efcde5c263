#include "storetrace_crc.h"

#include <string.h>

#if defined(__x86_64__)

int st_crc32c_hw_available(void)
{
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

__attribute__((target("sse4.2")))
uint32_t st_crc32c_hw(uint32_t state, const void *bytes, size_t count)
{
    const unsigned char *p = bytes;
    uint64_t c = state;
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, p, 8); /* unaligned load */
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        count -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (count > 0) {
        c32 = __builtin_ia32_crc32qi(c32, *p++);
        count--;
    }
    return c32;
}

#elif defined(__aarch64__)

#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif

int st_crc32c_hw_available(void)
{
    return (getauxval(AT_HWCAP) & HWCAP_CRC32) ? 1 : 0;
}

__attribute__((target("crc")))
uint32_t st_crc32c_hw(uint32_t state, const void *bytes, size_t count)
{
    const unsigned char *p = bytes;
    uint32_t c = state;
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_arm_crc32cd(c, word);
        p += 8;
        count -= 8;
    }
    while (count > 0) {
        c = __builtin_arm_crc32cb(c, *p++);
        count--;
    }
    return c;
}

#else

int st_crc32c_hw_available(void) { return 0; }
uint32_t st_crc32c_hw(uint32_t state, const void *bytes, size_t count)
{
    (void)bytes;
    (void)count;
    return state;
}

#endif
