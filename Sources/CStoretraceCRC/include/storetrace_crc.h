/* storetrace_crc.h: CRC-32C with the CPU's own instruction (x86 SSE4.2
 * crc32, ARMv8 CRC32C), for the capture reader and writer: checking every
 * chunk in software cost a third of replay's time.
 *
 * The caller keeps a software implementation for CPUs without it
 * (StoretraceCapture/CRC32C.swift) and checks st_crc32c_hw_available() once.
 */
#ifndef STORETRACE_CRC_H
#define STORETRACE_CRC_H

#include <stddef.h>
#include <stdint.h>

/* 1 if this CPU has a CRC-32C instruction st_crc32c_hw can use. */
int st_crc32c_hw_available(void);

/* Continues a raw (not inverted) CRC-32C register over `count` bytes:
 * pass ~crc in and invert the result, as for the table-driven form.
 * Only call when st_crc32c_hw_available() returned 1. */
uint32_t st_crc32c_hw(uint32_t state, const void *bytes, size_t count);

#endif
