/* util.c: see util.h. */
#include "lib/util.h"
#include "lib/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		fatal("malloc %zu", n);
	return p;
}

void *
xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (p == NULL)
		fatal("calloc %zu*%zu", n, sz);
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t sz)
{
	if (sz != 0 && n > SIZE_MAX / sz)
		fatalx("reallocarray overflow %zu*%zu", n, sz);
	p = realloc(p, (n * sz) != 0 ? n * sz : 1);
	if (p == NULL)
		fatal("realloc %zu*%zu", n, sz);
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		fatal("strdup");
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (p == NULL)
		fatal("strndup");
	return p;
}

int
xvasprintf(char **out, const char *fmt, va_list ap)
{
	int n = vasprintf(out, fmt, ap);
	if (n < 0)
		fatal("vasprintf");
	return n;
}

int
xasprintf(char **out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = xvasprintf(out, fmt, ap);
	va_end(ap);
	return n;
}

int
set_cause(char **cause, const char *fmt, ...)
{
	va_list ap;

	if (cause == NULL)
		return -1;
	va_start(ap, fmt);
	xvasprintf(cause, fmt, ap);
	va_end(ap);
	return -1;
}

long long
parse_num(const char *s, long long min, long long max, const char **errstr)
{
	char *end;
	long long v;

	*errstr = NULL;
	if (s == NULL || *s == '\0' || isspace((unsigned char)*s)) {
		*errstr = "invalid";
		return 0;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0') {
		*errstr = "invalid";
		return 0;
	}
	if ((errno == ERANGE && v == LLONG_MIN) || v < min) {
		*errstr = "too small";
		return 0;
	}
	if ((errno == ERANGE && v == LLONG_MAX) || v > max) {
		*errstr = "too large";
		return 0;
	}
	return v;
}

int
parse_size(const char *s, uint64_t max, uint64_t *out, const char **errstr)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	*errstr = NULL;
	if (s == NULL || !isdigit((unsigned char)*s)) {
		*errstr = "invalid";
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE) {
		*errstr = "too large";
		return -1;
	}
	if (*end != '\0') {
		switch (toupper((unsigned char)*end)) {
		case 'B': mult = 1; break;
		case 'K': mult = 1ULL << 10; break;
		case 'M': mult = 1ULL << 20; break;
		case 'G': mult = 1ULL << 30; break;
		case 'T': mult = 1ULL << 40; break;
		default: *errstr = "invalid"; return -1;
		}
		end++;
		if (mult > 1 && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
			end += strlen(end);
		if (*end != '\0') {
			*errstr = "invalid";
			return -1;
		}
	}
	if (v > max / mult) {
		*errstr = "too large";
		return -1;
	}
	*out = v * mult;
	return 0;
}

int
parse_duration(const char *s, int64_t *out, const char **errstr)
{
	char *end;
	long long v;
	int64_t mult = 1;

	*errstr = NULL;
	if (s == NULL || !isdigit((unsigned char)*s)) {
		*errstr = "invalid";
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE) {
		*errstr = "too large";
		return -1;
	}
	if (*end != '\0') {
		switch (*end) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		case 'w': mult = 7 * 86400; break;
		default: *errstr = "invalid"; return -1;
		}
		if (end[1] != '\0') {
			*errstr = "invalid";
			return -1;
		}
	}
	if (v > INT64_MAX / mult / 1000) {
		*errstr = "too large";
		return -1;
	}
	*out = v * mult;
	return 0;
}

void
hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hex_decode(const char *in, uint8_t *out, size_t n)
{
	if (strlen(in) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int
key_validate(const char *key, size_t len, const char **errstr)
{
	const unsigned char *p = (const unsigned char *)key;
	size_t i = 0;

	if (key == NULL || len == 0) {
		*errstr = "key is empty";
		return -1;
	}
	if (len > KEY_MAX) {
		*errstr = "key is longer than 1024 bytes";
		return -1;
	}
	while (i < len) {
		unsigned c = p[i];
		uint32_t cp;
		size_t n;

		if (c == 0) {
			*errstr = "key contains a NUL byte";
			return -1;
		}
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f) {
				*errstr = "key contains a control character";
				return -1;
			}
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) { n = 2; cp = c & 0x1f; }
		else if ((c & 0xf0) == 0xe0) { n = 3; cp = c & 0x0f; }
		else if ((c & 0xf8) == 0xf0) { n = 4; cp = c & 0x07; }
		else goto bad;
		if (i + n > len)
			goto bad;
		for (size_t k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		/* overlong forms, surrogates, beyond U+10FFFF */
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			goto bad;
		if (cp >= 0x80 && cp <= 0x9f) {
			*errstr = "key contains a control character";
			return -1;
		}
		i += n;
	}
	return 0;
bad:
	*errstr = "key is not valid UTF-8";
	return -1;
}

int
mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

int
fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

char *
path_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

uint64_t
mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

uint64_t
mono_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000 + (uint64_t)t.tv_nsec / 1000;
}

/* Test hook: P2P_CLOCK_OFFSET_S=N (-86400..86400) shifts this process's wall clock by N
 * seconds, to run nodes with skewed clocks on one machine (t_fault_clock_skew). Read
 * once; an invalid value is reported and ignored. */
static int64_t clock_offset_ms;
static pthread_once_t clock_offset_once = PTHREAD_ONCE_INIT;

static void
clock_offset_init(void)
{
	const char *v = getenv("P2P_CLOCK_OFFSET_S"), *errstr = NULL;
	long long s;

	if (v == NULL || *v == '\0')
		return;
	s = parse_num(v, -86400, 86400, &errstr);
	if (errstr != NULL) {
		log_warnx("P2P_CLOCK_OFFSET_S=%s is %s (-86400..86400): ignored", v, errstr);
		return;
	}
	clock_offset_ms = s * 1000;
	if (s != 0)
		log_warnx("test hook: wall clock shifted by %lld s (P2P_CLOCK_OFFSET_S)", s);
}

int64_t
wall_ms(void)
{
	struct timespec t;

	pthread_once(&clock_offset_once, clock_offset_init);
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000 + clock_offset_ms;
}

ssize_t
fd_read_full(int fd, void *p, size_t n, off_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = off < 0 ? read(fd, (char *)p + got, n - got) :
		    pread(fd, (char *)p + got, n - got, off + (off_t)got);

		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int
fd_pwrite_out(int fd, const void *p, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = pwrite(fd, (const char *)p + done, n - done, off + (off_t)done);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return w == 0 ? ENOSPC : errno;
		done += (size_t)w;
	}
	if (n > 0)
		(void)sync_file_range(fd, off, (off_t)n, SYNC_FILE_RANGE_WRITE);
	return 0;
}
