/* fuzz_numbers.c: lib/util.c parse_num, parse_size and parse_duration on a
 * NUL-terminated copy of the input (they read C strings: CLI flags, config values,
 * HTTP headers). Checks the documented results: a value within the bounds on success,
 * a reason on failure, and for plain decimal input the value strtoull/strtoll give. */
#include "tests/fuzz/fuzz.h"
#include "lib/util.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

static int
all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static void
check_num(const char *s, long long min, long long max)
{
	const char *errstr = "unset";
	long long v = parse_num(s, min, max, &errstr);

	if (errstr != NULL) {
		FUZZ_CHECK(v == 0);
		FUZZ_CHECK(strcmp(errstr, "invalid") == 0 || strcmp(errstr, "too small") == 0 ||
		    strcmp(errstr, "too large") == 0);
		return;
	}
	FUZZ_CHECK(v >= min && v <= max);
	/* Accepted text is an optional sign then decimal digits, nothing else. */
	FUZZ_CHECK(all_digits(s + (s[0] == '+' || s[0] == '-')));
}

static void
check_size(const char *s, uint64_t max)
{
	const char *errstr = "unset";
	uint64_t v = 12345;
	int rc = parse_size(s, max, &v, &errstr);

	if (rc == -1) {
		FUZZ_CHECK(errstr != NULL);
		FUZZ_CHECK(v == 12345); /* untouched on failure */
		return;
	}
	FUZZ_CHECK(rc == 0 && errstr == NULL);
	FUZZ_CHECK(v <= max);
	FUZZ_CHECK(s[0] >= '0' && s[0] <= '9');
	if (all_digits(s)) {
		errno = 0;
		unsigned long long ref = strtoull(s, NULL, 10);
		FUZZ_CHECK(errno == 0 && ref == v);
	}
}

static void
check_duration(const char *s)
{
	const char *errstr = "unset";
	int64_t v = 12345;
	int rc = parse_duration(s, &v, &errstr);

	if (rc == -1) {
		FUZZ_CHECK(errstr != NULL);
		FUZZ_CHECK(v == 12345);
		return;
	}
	FUZZ_CHECK(rc == 0 && errstr == NULL);
	/* Callers turn seconds into milliseconds: that must not overflow. */
	FUZZ_CHECK(v >= 0 && v <= INT64_MAX / 1000);
	if (all_digits(s)) {
		errno = 0;
		long long ref = strtoll(s, NULL, 10);
		FUZZ_CHECK(errno == 0 && ref == v);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	check_num(s, LLONG_MIN, LLONG_MAX);
	check_num(s, 0, LLONG_MAX);
	check_num(s, 1, 65535);
	check_num(s, -5, 5);
	check_size(s, UINT64_MAX);
	check_size(s, (uint64_t)1 << 40);
	check_size(s, 4096);
	check_size(s, 0);
	check_duration(s);

	free(s);
	return 0;
}
