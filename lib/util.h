/* util.h: allocation, number parsing, hex, key validation, small file helpers. */
#ifndef P2P_UTIL_H
#define P2P_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* Abort on OOM: only for internal structures, never for peer-chosen sizes. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t sz);
void *xreallocarray(void *p, size_t n, size_t sz);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
int xasprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int xvasprintf(char **out, const char *fmt, va_list ap);

/* Set *cause (if cause != NULL) to a newly allocated message; returns -1. */
int set_cause(char **cause, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* strtonum(3): base 10, whole string, within [min,max]; on error returns 0 and sets
 * *errstr to "invalid", "too small" or "too large". */
long long parse_num(const char *s, long long min, long long max, const char **errstr);
/* "4096", "64K", "1M", "2G", "1MiB" (powers of 1024) -> bytes, <= max. 0 ok, -1 bad. */
int parse_size(const char *s, uint64_t max, uint64_t *out, const char **errstr);
/* "90", "90s", "15m", "24h", "7d" -> seconds. 0 ok, -1 bad. */
int parse_duration(const char *s, int64_t *out, const char **errstr);

void hex_encode(const uint8_t *in, size_t n, char *out); /* out: 2n+1 bytes */
int hex_decode(const char *in, uint8_t *out, size_t n);  /* exactly 2n hex chars; 0 ok */

#define KEY_MAX 1024
/* A key is a name: 1..KEY_MAX bytes of valid UTF-8 without NUL or control
 * characters (C0, DEL, C1). "../x" is a fine key. 0 ok, -1 with *errstr. */
int key_validate(const char *key, size_t len, const char **errstr);

/* Read n bytes from fd (at offset off, pread(2); off -1: from the file position,
 * read(2)), retrying EINTR and short reads; fewer only at end of file. The count read,
 * or -1 with errno set. */
ssize_t fd_read_full(int fd, void *p, size_t n, off_t off);
/* Write all n bytes at off (pwrite, EINTR retried), then start their writeback without
 * waiting (sync_file_range): a reader's fsync of the file has little left to do.
 * 0, or the errno of the failure (ENOSPC for a write of 0 bytes). */
int fd_pwrite_out(int fd, const void *p, size_t n, off_t off);

int mkdir_p(const char *path, mode_t mode);
int fsync_dir(const char *path);
/* Directory part of path ("." when there is none); caller frees. */
char *path_dirname(const char *path);

uint64_t mono_ms(void); /* CLOCK_MONOTONIC */
uint64_t mono_us(void);
/* CLOCK_REALTIME, ms since epoch, plus the test hook P2P_CLOCK_OFFSET_S (seconds; see
 * util.c): every wall-clock timestamp of the node (HLC versions, tombstone ages, peers'
 * last seen) comes from here. */
int64_t wall_ms(void);

#endif
