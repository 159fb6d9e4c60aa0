/* fuzz_key.c: lib/util.c key_validate on arbitrary bytes, checked against an
 * independent oracle written from the Unicode standard's table of well-formed UTF-8
 * byte sequences (Unicode 15, table 3-7) rather than from the decoder's own logic:
 * a key is accepted iff it is 1..KEY_MAX bytes of well-formed UTF-8 with no NUL, C0,
 * DEL or C1 (U+0080..U+009F) code point. */
#include "tests/fuzz/fuzz.h"
#include "lib/util.h"

#include <string.h>

/* Length of the well-formed sequence at p (1..4), or 0 if there is none. */
static size_t
utf8_seq(const uint8_t *p, size_t left)
{
	static const struct {
		uint8_t lo0, hi0, lo1, hi1;
		size_t n;
	} tab[] = {
		{ 0x00, 0x7f, 0, 0, 1 },
		{ 0xc2, 0xdf, 0x80, 0xbf, 2 },
		{ 0xe0, 0xe0, 0xa0, 0xbf, 3 },
		{ 0xe1, 0xec, 0x80, 0xbf, 3 },
		{ 0xed, 0xed, 0x80, 0x9f, 3 },
		{ 0xee, 0xef, 0x80, 0xbf, 3 },
		{ 0xf0, 0xf0, 0x90, 0xbf, 4 },
		{ 0xf1, 0xf3, 0x80, 0xbf, 4 },
		{ 0xf4, 0xf4, 0x80, 0x8f, 4 },
	};

	for (size_t t = 0; t < sizeof tab / sizeof tab[0]; t++) {
		if (p[0] < tab[t].lo0 || p[0] > tab[t].hi0)
			continue;
		if (tab[t].n > left)
			return 0;
		if (tab[t].n >= 2 && (p[1] < tab[t].lo1 || p[1] > tab[t].hi1))
			return 0;
		for (size_t k = 2; k < tab[t].n; k++)
			if (p[k] < 0x80 || p[k] > 0xbf)
				return 0;
		return tab[t].n;
	}
	return 0;
}

static int
oracle(const uint8_t *p, size_t len)
{
	size_t i = 0;

	if (len == 0 || len > KEY_MAX)
		return 0;
	while (i < len) {
		size_t n = utf8_seq(p + i, len - i);

		if (n == 0)
			return 0;
		if (n == 1 && (p[i] < 0x20 || p[i] == 0x7f))
			return 0; /* NUL, C0, DEL */
		if (n == 2 && p[i] == 0xc2 && p[i + 1] <= 0x9f)
			return 0; /* C1: U+0080..U+009F is C2 80..C2 9F */
		i += n;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *errstr = NULL;
	int rc = key_validate((const char *)data, size, &errstr);

	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK(rc == 0 || errstr != NULL);
	if (rc == 0) {
		FUZZ_CHECK(size >= 1 && size <= KEY_MAX);
		FUZZ_CHECK(memchr(data, '\0', size) == NULL);
		for (size_t i = 0; i < size; i++)
			FUZZ_CHECK(data[i] >= 0x20 && data[i] != 0x7f);
	}
	FUZZ_CHECK((rc == 0) == oracle(data, size));
	return 0;
}
