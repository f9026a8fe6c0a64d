/* fuzz: libFuzzer targets for hostile input (the frame/message decoders, SCAN results, the conf
 * parser). Each target defines LLVMFuzzerTestOneInput; built with clang -fsanitize=fuzzer by
 * scripts/fuzz.sh, or with fuzz/driver.c (any compiler) as the short smoke `make check` runs. A
 * target aborts when a property fails; a sanitizer reports memory errors. */
#ifndef CURPKV_FUZZ_H
#define CURPKV_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
