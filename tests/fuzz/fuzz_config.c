/* fuzz_config.c: lib/config.c config_load on the input as a file's content.
 * config_load takes a path, so the input goes into one memfd (mode 0600), reopened
 * through /proc/self/fd/N: no disk I/O per run. The set() callback checks what the
 * parser hands it and rejects keys that start with "reject" (with a cause) or "silent"
 * (without one) to exercise those paths. When the file is accepted, the number of
 * set() calls must equal the number of setting lines, counted here independently. */
#include "tests/fuzz/fuzz.h"
#include "lib/config.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct seen {
	unsigned long nset;
};

static int
keychar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '_' || c == '-' || c == '.';
}

static int
set(void *arg, const char *key, const char *val, char **cause)
{
	struct seen *s = arg;
	size_t klen = strlen(key);

	FUZZ_CHECK(klen >= 1 && klen <= CONFIG_KEY_MAX);
	for (size_t i = 0; i < klen; i++)
		FUZZ_CHECK(keychar(key[i]));
	FUZZ_CHECK(strlen(val) <= CONFIG_LINE_MAX);
	FUZZ_CHECK(*cause == NULL);
	s->nset++;
	if (strncmp(key, "reject", 6) == 0) {
		*cause = strdup("rejected by the harness");
		return -1;
	}
	if (strncmp(key, "silent", 6) == 0)
		return -1;
	if (strncmp(key, "warn", 4) == 0)
		*cause = strdup("accepted with a note"); /* config_load must free it */
	return 0;
}

static int
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Lines that are neither blank nor comments: each must reach set() once. */
static unsigned long
count_settings(const uint8_t *p, size_t len)
{
	unsigned long n = 0;
	size_t i = 0;

	while (i < len) {
		size_t e = i;
		while (e < len && p[e] != '\n')
			e++;
		size_t a = i;
		while (a < e && blank((char)p[a]))
			a++;
		size_t b = e;
		while (b > a && blank((char)p[b - 1]))
			b--;
		if (a < b && p[a] != '#')
			n++;
		i = e + 1;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct seen s = { 0 };
	char *cause = NULL;
	int rc;

	if (fd == -1) {
		fd = memfd_create("fuzz_config", MFD_CLOEXEC);
		FUZZ_CHECK(fd != -1);
		FUZZ_CHECK(fchmod(fd, 0600) == 0);
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	FUZZ_CHECK(ftruncate(fd, 0) == 0);
	FUZZ_CHECK(size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size);

	rc = config_load(path, set, &s, &cause);
	if (rc == 0) {
		FUZZ_CHECK(cause == NULL);
		FUZZ_CHECK(memchr(data, '\0', size) == NULL);
		FUZZ_CHECK(s.nset == count_settings(data, size));
	} else {
		FUZZ_CHECK(rc == -1);
		FUZZ_CHECK(cause != NULL);
		FUZZ_CHECK(strncmp(cause, path, strlen(path)) == 0);
		free(cause);
	}
	return 0;
}
