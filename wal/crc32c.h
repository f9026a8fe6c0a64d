/* wal/crc32c: CRC-32C (Castagnoli), the WAL's record and header checksum. */
#ifndef CURPKV_WAL_CRC32C_H
#define CURPKV_WAL_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The standard CRC-32C (reflected polynomial 0x82F63B78, initial value and final XOR
 * 0xFFFFFFFF): wal_crc32c(0, "123456789", 9) == 0xE3069283. Chainable: the CRC of a||b is
 * wal_crc32c(wal_crc32c(0, a, na), b, nb). Pure functions, any thread.
 */

/* The CRC of n bytes at p continued from crc (0 to start): the SSE4.2 instruction when the CPU
 * has it, else the table. */
uint32_t wal_crc32c(uint32_t crc, const void *p, size_t n);
/* The same, always table-driven (one byte per step). */
uint32_t wal_crc32c_sw(uint32_t crc, const void *p, size_t n);
/* True when wal_crc32c_hw may be called (x86-64 with SSE4.2). */
bool wal_crc32c_hw_available(void);
/* The same with the SSE4.2 crc32 instruction; only when wal_crc32c_hw_available(). */
uint32_t wal_crc32c_hw(uint32_t crc, const void *p, size_t n);
/* Entry i of the table (for the test that recomputes it bit by bit). */
uint32_t wal_crc32c_table(unsigned i);

#endif
