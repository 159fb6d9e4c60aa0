/* fuzz.h: shared by the harnesses in tests/fuzz/ (see docs/FUZZING.md).
 *
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput and is linked either with libFuzzer
 * (clang -fsanitize=fuzzer: `make fuzz`) or with standalone.c, the corpus replayer
 * (gcc -fsanitize=address,undefined: `make fuzz-replay`, part of `make test`).
 * A harness returns 0 for every input; a broken invariant aborts through FUZZ_CHECK so
 * that both drivers report it as a crash. Never use assert(): NDEBUG would drop it. */
#ifndef P2P_FUZZ_H
#define P2P_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) do {                                                        \
	if (!(cond)) {                                                               \
		fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__,      \
		    __LINE__, #cond);                                                \
		abort();                                                             \
	}                                                                            \
} while (0)

/* Round trips: abort unless got (the re-encoding) equals want (the input), after
 * printing what differs. */
static inline void
fuzz_same_bytes(const char *what, const void *want, size_t wantlen, const void *got,
    size_t gotlen)
{
	const unsigned char *a = want, *b = got;
	size_t i = 0;

	while (i < wantlen && i < gotlen && a[i] == b[i])
		i++;
	if (i == wantlen && i == gotlen)
		return;
	fprintf(stderr, "%s: re-encoding differs from the input: %zu bytes in, %zu out, "
	    "first difference at offset %zu", what, wantlen, gotlen, i);
	if (i < wantlen && i < gotlen)
		fprintf(stderr, " (in 0x%02x, out 0x%02x)", a[i], b[i]);
	fprintf(stderr, "\n");
	abort();
}

#endif
