/* test_store.c: store/ (chunk files, pins, GC, walk, manifests, stages). */
#include "store/store.h"
#include "lib/util.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <xxhash.h>

#define SMALL_CS CHUNK_SIZE_MIN /* 4 KiB */

static char tmpdir[] = "/tmp/p2p-test-store.XXXXXX";
static struct store *S;
static int mounted; /* tmpfs mounted at <tmpdir>/mnt (ENOSPC test) */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
setup(void)
{
	char *cause = NULL;

	strcpy(tmpdir + strlen(tmpdir) - 6, "XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_msg(store_open(&S, tmpdir, &cause) == 0, "store_open: %s", cause);
}

static void
teardown(void)
{
	char mnt[512];

	store_close(S);
	S = NULL;
	if (mounted) {
		snprintf(mnt, sizeof mnt, "%s/mnt", tmpdir);
		umount2(mnt, MNT_DETACH);
		mounted = 0;
	}
	rm_rf(tmpdir);
}

static void
fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static void
sha256_evp(const void *p, size_t n, uint8_t out[HASH_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	ck_assert_int_eq(EVP_DigestUpdate(ctx, p, n), 1);
	ck_assert_int_eq(EVP_DigestFinal_ex(ctx, out, NULL), 1);
	EVP_MD_CTX_free(ctx);
}

/* Number of entries (other than . and ..) in a directory; -1 if it cannot be opened. */
static int
count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

static int
tmp_count(void)
{
	char p[512];

	snprintf(p, sizeof p, "%s/chunks/tmp", tmpdir);
	return count_dir(p);
}

struct walk_rec {
	int chunks;
	int junk;
	int stop_after; /* 0: never */
};

static int
walk_cb(void *arg, const uint8_t *h, const char *path)
{
	struct walk_rec *w = arg;
	char want[512];

	if (h != NULL) {
		store_chunk_path(S, h, want, sizeof want);
		ck_assert_str_eq(path, want);
		w->chunks++;
	} else
		w->junk++;
	return w->stop_after != 0 && w->chunks + w->junk >= w->stop_after;
}

static int
walk_chunks(void)
{
	struct walk_rec w = { 0, 0, 0 };
	char *cause = NULL;

	ck_assert_msg(store_walk(S, walk_cb, &w, &cause) == 0, "walk: %s", cause);
	return w.chunks;
}

static void
put_chunk(const void *p, size_t n, uint8_t h[HASH_LEN])
{
	char *cause = NULL;

	hash_buf(p, n, h);
	ck_assert_msg(store_write_chunk(S, h, p, n, &cause) == 0, "write: %s", cause);
}

/* XOR one byte of a file in place (its size unchanged) */
static void
flip_byte(const char *path, off_t off, uint8_t mask)
{
	uint8_t b;
	int fd = open(path, O_RDWR);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &b, 1, off), 1);
	b ^= mask;
	ck_assert_int_eq(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

/* --- chunk files --- */

START_TEST(test_hash_buf)
{
	static const char abc_hex[] =
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	uint8_t h[HASH_LEN], e[HASH_LEN];
	char hex[HASH_HEX];

	hash_buf("abc", 3, h);
	hex_encode(h, HASH_LEN, hex);
	ck_assert_str_eq(hex, abc_hex);
	hash_buf("", 0, h);
	sha256_evp("", 0, e);
	ck_assert_mem_eq(h, e, HASH_LEN);
}
END_TEST

START_TEST(test_roundtrip)
{
	uint8_t data[10000], back[10000], h[HASH_LEN];
	uint64_t size = 0;
	size_t n = 0;
	char *cause = NULL;
	int fd = -1;

	fill(data, sizeof data, 1);
	put_chunk(data, sizeof data, h);
	ck_assert_int_eq(store_read_chunk(S, h, back, sizeof back, &n, &cause), 0);
	ck_assert_uint_eq(n, sizeof data);
	ck_assert_mem_eq(back, data, sizeof data);
	ck_assert_int_eq(store_verify_chunk(S, h, &size, &cause), 0);
	ck_assert_uint_eq(size, sizeof data);
	ck_assert_int_eq(store_open_chunk(S, h, &fd, &size, &cause), 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_uint_eq(size, sizeof data);
	close(fd);
	/* a larger buffer than needed is fine */
	{
		uint8_t big[20000];
		ck_assert_int_eq(store_read_chunk(S, h, big, sizeof big, &n, &cause), 0);
		ck_assert_uint_eq(n, sizeof data);
	}
	ck_assert_int_eq(tmp_count(), 0);
}
END_TEST

START_TEST(test_empty_chunk)
{
	uint8_t h[HASH_LEN], buf[16];
	uint64_t size = 1;
	size_t n = 1;
	char *cause = NULL;

	put_chunk("", 0, h);
	ck_assert_int_eq(store_verify_chunk(S, h, &size, &cause), 0);
	ck_assert_uint_eq(size, 0);
	ck_assert_int_eq(store_read_chunk(S, h, buf, sizeof buf, &n, &cause), 0);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_path_layout)
{
	uint8_t data[100], h[HASH_LEN];
	char path[512], want[512], hex[HASH_HEX];
	struct stat st;

	fill(data, sizeof data, 2);
	put_chunk(data, sizeof data, h);
	hex_encode(h, HASH_LEN, hex);
	snprintf(want, sizeof want, "%s/chunks/%.2s/%.2s/%s", tmpdir, hex, hex + 2, hex);
	store_chunk_path(S, h, path, sizeof path);
	ck_assert_str_eq(path, want);
	ck_assert_int_eq(stat(want, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_size, sizeof data);
	{
		mode_t um = umask(0);
		umask(um);
		ck_assert_uint_eq(st.st_mode & 0777, 0644 & ~um);
	}
}
END_TEST

START_TEST(test_dedup)
{
	uint8_t data[5000], h[HASH_LEN], h2[HASH_LEN];
	char dir[512], hex[HASH_HEX];

	fill(data, sizeof data, 3);
	put_chunk(data, sizeof data, h);
	put_chunk(data, sizeof data, h2);
	ck_assert_mem_eq(h, h2, HASH_LEN);
	hex_encode(h, HASH_LEN, hex);
	snprintf(dir, sizeof dir, "%s/chunks/%.2s/%.2s", tmpdir, hex, hex + 2);
	ck_assert_int_eq(count_dir(dir), 1);
	ck_assert_int_eq(walk_chunks(), 1);
	ck_assert_int_eq(tmp_count(), 0);
}
END_TEST

START_TEST(test_corrupt)
{
	uint8_t data[8192], back[8192], h[HASH_LEN];
	char path[512], *cause = NULL;
	uint64_t size;
	size_t n;
	int fd;

	fill(data, sizeof data, 4);
	put_chunk(data, sizeof data, h);
	store_chunk_path(S, h, path, sizeof path);
	flip_byte(path, 1234, 0x01);
	ck_assert_int_eq(store_verify_chunk(S, h, &size, &cause), 2);
	ck_assert_int_eq(store_read_chunk(S, h, back, sizeof back, &n, &cause), 2);

	/* restored, then one byte longer: a size mismatch */
	put_chunk(data, sizeof data, h);
	ck_assert_int_eq(store_verify_chunk(S, h, &size, &cause), 0);
	fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	close(fd);
	ck_assert_int_eq(store_verify_chunk(S, h, &size, &cause), 2);
	ck_assert_uint_eq(size, sizeof data + 1);
	ck_assert_int_eq(store_read_chunk(S, h, back, sizeof back, &n, &cause), 2);

	/* truncated */
	ck_assert_int_eq(truncate(path, 100), 0);
	ck_assert_int_eq(store_verify_chunk(S, h, &size, &cause), 2);
	ck_assert_int_eq(store_read_chunk(S, h, back, sizeof back, &n, &cause), 2);

	/* buffer smaller than the chunk */
	put_chunk(data, sizeof data, h);
	ck_assert_int_eq(store_read_chunk(S, h, back, sizeof back - 1, &n, &cause), 2);
}
END_TEST

/* The at-rest checksum (XXH3-64 in the user.p2p.xxh3 xattr) that reads check instead of
 * SHA-256: set on write, checked on read, added by a good SHA-256 read when missing, and
 * re-checked with SHA-256 by verify. */
#define SUM_XATTR "user.p2p.xxh3"

static void
set_sum(const char *path, const void *p, size_t n)
{
	XXH64_canonical_t c;

	XXH64_canonicalFromHash(&c, XXH3_64bits(p, n));
	ck_assert_int_eq(setxattr(path, SUM_XATTR, &c, sizeof c, 0), 0);
}

START_TEST(test_checksum)
{
	uint8_t data[8192], other[8192], back[8192], h[HASH_LEN], junk[8] = { 0 };
	char path[512], *cause = NULL;
	struct store *ro = NULL;
	uint64_t size;
	size_t n;
	int fd;

	fill(data, sizeof data, 9);
	put_chunk(data, sizeof data, h);
	store_chunk_path(S, h, path, sizeof path);
	if (!store_chunk_has_sum(S, h)) {
		/* allowed only where the file system takes no user xattrs: then every read
		 * re-hashes SHA-256, which the other tests cover */
		ck_assert_int_eq(setxattr(path, "user.p2p.probe", "x", 1, 0), -1);
		ck_assert_msg(errno == ENOTSUP || errno == EOPNOTSUPP, "xattr: %s",
		    strerror(errno));
		fprintf(stderr, "test_checksum: SKIP: no user xattrs on %s\n", path);
		return;
	}
	ck_assert_int_eq(store_read_chunk(S, h, back, sizeof back, &n, &cause), 0);
	ck_assert_mem_eq(back, data, sizeof data);

	/* no checksum (a chunk from before): the read re-hashes SHA-256 and adds it */
	ck_assert_int_eq(removexattr(path, SUM_XATTR), 0);
	ck_assert_int_eq(store_chunk_has_sum(S, h), 0);
	/* ... but not through a read-only store */
	ck_assert_msg(store_open_flags(&ro, tmpdir, STORE_RDONLY, &cause) == 0, "%s", cause);
	ck_assert_int_eq(store_read_chunk(ro, h, back, sizeof back, &n, &cause), 0);
	ck_assert_int_eq(store_chunk_has_sum(S, h), 0);
	store_close(ro);
	ck_assert_int_eq(store_read_chunk(S, h, back, sizeof back, &n, &cause), 0);
	ck_assert_int_eq(store_chunk_has_sum(S, h), 1);

	/* no checksum and a flipped byte: SHA-256 refuses it, and adds nothing */
	ck_assert_int_eq(removexattr(path, SUM_XATTR), 0);
	flip_byte(path, 77, 0x80);
	ck_assert_int_eq(store_read_chunk(S, h, back, sizeof back, &n, &cause), 2);
	ck_assert_int_eq(store_chunk_has_sum(S, h), 0);
	ck_assert_int_eq(store_verify_chunk(S, h, &size, &cause), 2);

	/* good bytes, a wrong checksum (or one of the wrong length): SHA-256 decides the
	 * read is good, and the checksum is rewritten */
	put_chunk(data, sizeof data, h);
	ck_assert_int_eq(setxattr(path, SUM_XATTR, junk, sizeof junk, 0), 0);
	ck_assert_int_eq(store_read_chunk(S, h, back, sizeof back, &n, &cause), 0);
	ck_assert_mem_eq(back, data, sizeof data);
	ck_assert_int_eq(store_verify_chunk(S, h, &size, &cause), 0);
	ck_assert_int_eq(getxattr(path, SUM_XATTR, junk, sizeof junk), (ssize_t)sizeof junk);
	ck_assert_uint_eq(XXH64_hashFromCanonical((XXH64_canonical_t *)junk),
	    XXH3_64bits(data, sizeof data));
	ck_assert_int_eq(setxattr(path, SUM_XATTR, junk, 3, 0), 0);
	ck_assert_int_eq(store_chunk_has_sum(S, h), 0);
	ck_assert_int_eq(store_read_chunk(S, h, back, sizeof back, &n, &cause), 0);
	ck_assert_int_eq(store_chunk_has_sum(S, h), 1);
	/* a checksum that matches and a flipped byte: the mismatch sends it to SHA-256 */
	flip_byte(path, 4000, 0x01);
	ck_assert_int_eq(store_read_chunk(S, h, back, sizeof back, &n, &cause), 2);

	/* other bytes under the name with their own checksum (only a hand with write
	 * access to the store does this): reads trust the checksum, verify does not */
	fill(other, sizeof other, 10);
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, other, sizeof other), (ssize_t)sizeof other);
	close(fd);
	set_sum(path, other, sizeof other);
	ck_assert_int_eq(store_read_chunk(S, h, back, sizeof back, &n, &cause), 0);
	ck_assert_int_eq(store_verify_chunk(S, h, &size, &cause), 2);
	ck_assert_ptr_null(cause);
}
END_TEST

START_TEST(test_missing)
{
	uint8_t h[HASH_LEN], buf[16];
	uint64_t size;
	size_t n;
	char *cause = NULL;
	int fd = 123;

	hash_buf("never written", 13, h);
	ck_assert_int_eq(store_open_chunk(S, h, &fd, &size, &cause), 1);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(store_read_chunk(S, h, buf, sizeof buf, &n, &cause), 1);
	ck_assert_int_eq(store_verify_chunk(S, h, &size, &cause), 1);
	ck_assert_ptr_null(cause);
}
END_TEST

START_TEST(test_tmp_cleaned)
{
	char p[512], *cause = NULL;
	int fd;

	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s/chunks/tmp/leftover-%d", tmpdir, i);
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, "junk", 4), 4);
		close(fd);
	}
	ck_assert_int_eq(tmp_count(), 3);
	store_close(S);
	S = NULL;
	ck_assert_msg(store_open(&S, tmpdir, &cause) == 0, "store_open: %s", cause);
	ck_assert_int_eq(tmp_count(), 0);
}
END_TEST

/* A reader beside a running daemon (p2p verify) must not touch chunks/tmp, where an
 * upload may be writing, nor create anything, nor write. */
START_TEST(test_open_rdonly)
{
	char p[512], *cause = NULL;
	struct store *ro = NULL;
	struct stat st;
	uint8_t h[HASH_LEN], buf[16];
	size_t n;
	int fd;

	snprintf(p, sizeof p, "%s/chunks/tmp/in-flight", tmpdir);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_msg(store_open_flags(&ro, tmpdir, STORE_RDONLY, &cause) == 0, "%s", cause);
	ck_assert_int_eq(tmp_count(), 1);
	hash_buf("abc", 3, h);
	ck_assert_int_eq(store_write_chunk(ro, h, "abc", 3, &cause), -1);
	ck_assert_int_eq(errno, EROFS);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(store_write_chunk(S, h, "abc", 3, &cause), 0);
	ck_assert_int_eq(store_read_chunk(ro, h, buf, sizeof buf, &n, &cause), 0);
	store_close(ro);
	ro = NULL;

	/* a data directory without a store: empty, and nothing is created */
	snprintf(p, sizeof p, "%s/never", tmpdir);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_msg(store_open_flags(&ro, p, STORE_RDONLY, &cause) == 0, "%s", cause);
	ck_assert_int_eq(store_read_chunk(ro, h, buf, sizeof buf, &n, &cause), 1);
	snprintf(p, sizeof p, "%s/never/chunks", tmpdir);
	ck_assert_int_eq(stat(p, &st), -1);
	store_close(ro);
}
END_TEST

START_TEST(test_open_creates_dirs)
{
	char p[512], *cause = NULL;
	struct store *s2 = NULL;
	struct stat st;

	snprintf(p, sizeof p, "%s/new/data", tmpdir);
	ck_assert_msg(store_open(&s2, p, &cause) == 0, "store_open: %s", cause);
	snprintf(p, sizeof p, "%s/new/data/chunks/tmp", tmpdir);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	store_close(s2);
	store_close(NULL);

	/* a data directory that is a file cannot be opened */
	snprintf(p, sizeof p, "%s/afile", tmpdir);
	close(open(p, O_WRONLY | O_CREAT, 0644));
	ck_assert_int_eq(store_open(&s2, p, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_null(s2);
	free(cause);
}
END_TEST

START_TEST(test_sync)
{
	uint8_t h[HASH_LEN];
	char *cause = NULL;

	put_chunk("sync me", 7, h);
	ck_assert_msg(store_sync(S, &cause) == 0, "sync: %s", cause);
}
END_TEST

START_TEST(test_walk)
{
	uint8_t data[300], h[HASH_LEN];
	char p[512], hex[HASH_HEX], *cause = NULL;
	struct walk_rec w = { 0, 0, 0 };

	ck_assert_int_eq(walk_chunks(), 0);
	for (uint32_t i = 0; i < 5; i++) {
		fill(data, sizeof data, 100 + i);
		put_chunk(data, sizeof data, h);
	}
	/* junk: a non-hex name, a hex name in the wrong directory, a stray in tmp/ */
	hex_encode(h, HASH_LEN, hex);
	snprintf(p, sizeof p, "%s/chunks/%.2s/%.2s/not-a-chunk", tmpdir, hex, hex + 2);
	close(open(p, O_WRONLY | O_CREAT, 0644));
	hash_buf("elsewhere", 9, h);
	hex_encode(h, HASH_LEN, hex);
	snprintf(p, sizeof p, "%s/chunks/%s", tmpdir,
	    strncmp(hex, "0000", 4) == 0 ? "ff/ff" : "00/00");
	ck_assert_int_eq(mkdir_p(p, 0755), 0);
	snprintf(p + strlen(p), sizeof p - strlen(p), "/%s", hex);
	close(open(p, O_WRONLY | O_CREAT, 0644));
	snprintf(p, sizeof p, "%s/chunks/tmp/in-progress", tmpdir);
	close(open(p, O_WRONLY | O_CREAT, 0644));

	ck_assert_msg(store_walk(S, walk_cb, &w, &cause) == 0, "walk: %s", cause);
	ck_assert_int_eq(w.chunks, 5);
	ck_assert_int_eq(w.junk, 2);

	/* the callback stops the walk */
	memset(&w, 0, sizeof w);
	w.stop_after = 3;
	ck_assert_int_eq(store_walk(S, walk_cb, &w, &cause), 0);
	ck_assert_int_eq(w.chunks + w.junk, 3);
}
END_TEST

static void *
write_thread(void *arg)
{
	uint8_t data[512], h[HASH_LEN];
	uintptr_t id = (uintptr_t)arg;
	char *cause = NULL;

	for (uint32_t i = 0; i < 200; i++) {
		fill(data, sizeof data, (uint32_t)(i % 50)); /* threads write the same chunks */
		hash_buf(data, sizeof data, h);
		if (store_write_chunk(S, h, data, sizeof data, &cause) != 0)
			return (void *)(id + 1);
	}
	return NULL;
}

START_TEST(test_concurrent_writes)
{
	pthread_t t[4];
	void *rv;

	for (uintptr_t i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, write_thread, (void *)i), 0);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], &rv), 0);
		ck_assert_ptr_null(rv);
	}
	ck_assert_int_eq(walk_chunks(), 50);
	ck_assert_int_eq(tmp_count(), 0);
}
END_TEST

/* --- pins and GC --- */

START_TEST(test_pins)
{
	uint8_t a[HASH_LEN], b[HASH_LEN];

	hash_buf("a", 1, a);
	hash_buf("b", 1, b);
	ck_assert_uint_eq(store_pin_count(S), 0);
	ck_assert(!store_pinned(S, a));
	store_pin(S, a);
	store_pin(S, a);
	store_pin(S, b);
	ck_assert_uint_eq(store_pin_count(S), 2);
	ck_assert(store_pinned(S, a));
	ck_assert(store_pinned(S, b));
	store_unpin(S, a);
	ck_assert(store_pinned(S, a));
	store_unpin(S, a);
	ck_assert(!store_pinned(S, a));
	ck_assert(store_pinned(S, b));
	ck_assert_uint_eq(store_pin_count(S), 1);
	store_unpin(S, b);
	ck_assert_uint_eq(store_pin_count(S), 0);
}
END_TEST

START_TEST(test_pins_many)
{
	enum { N = 20000 };
	static uint8_t h[N][HASH_LEN];

	for (uint32_t i = 0; i < N; i++) {
		hash_buf(&i, sizeof i, h[i]);
		store_pin(S, h[i]);
		if (i % 3 == 0)
			store_pin(S, h[i]);
	}
	ck_assert_uint_eq(store_pin_count(S), N);
	/* unpin in a scattered order: every other, then the rest backwards */
	for (uint32_t i = 0; i < N; i += 2)
		store_unpin(S, h[i]);
	for (uint32_t i = 0; i < N; i++)
		ck_assert_int_eq(store_pinned(S, h[i]), i % 2 == 1 || i % 3 == 0);
	for (uint32_t i = N; i-- > 0;) {
		int left = (i % 3 == 0) + (i % 2 == 1); /* pins - the even unpins above */
		while (left-- > 0)
			store_unpin(S, h[i]);
	}
	for (uint32_t i = 0; i < N; i++)
		ck_assert_int_eq(store_pinned(S, h[i]), 0);
	ck_assert_uint_eq(store_pin_count(S), 0);
}
END_TEST

struct forget_rec {
	int calls;
	int ret;
};

static int
forget_cb(void *arg, const uint8_t h[HASH_LEN])
{
	struct forget_rec *f = arg;

	f->calls++;
	return f->ret;
}

START_TEST(test_gc)
{
	uint8_t data[200], h[HASH_LEN];
	struct forget_rec f = { 0, 1 };
	char path[512];

	fill(data, sizeof data, 7);
	put_chunk(data, sizeof data, h);
	store_chunk_path(S, h, path, sizeof path);

	store_pin(S, h);
	ck_assert_int_eq(store_gc_chunk(S, h, forget_cb, &f), 0);
	ck_assert_int_eq(f.calls, 0);
	ck_assert_int_eq(access(path, F_OK), 0);
	store_unpin(S, h);

	f.ret = 0; /* still referenced */
	ck_assert_int_eq(store_gc_chunk(S, h, forget_cb, &f), 0);
	ck_assert_int_eq(f.calls, 1);
	ck_assert_int_eq(access(path, F_OK), 0);

	f.ret = -1; /* DB error */
	ck_assert_int_eq(store_gc_chunk(S, h, forget_cb, &f), -1);
	ck_assert_int_eq(f.calls, 2);
	ck_assert_int_eq(access(path, F_OK), 0);

	f.ret = 1;
	ck_assert_int_eq(store_gc_chunk(S, h, forget_cb, &f), 1);
	ck_assert_int_eq(f.calls, 3);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(errno, ENOENT);

	/* already gone on disk: the row is what mattered */
	ck_assert_int_eq(store_gc_chunk(S, h, forget_cb, &f), 1);
}
END_TEST

/* --- stage --- */

static int
have_none(void *arg, const uint8_t h[HASH_LEN])
{
	if (arg != NULL)
		(*(int *)arg)++;
	return 0;
}

static int
have_all(void *arg, const uint8_t h[HASH_LEN])
{
	return 1;
}

static int
have_fail(void *arg, const uint8_t h[HASH_LEN])
{
	return -1;
}

/* Stages data[0..len) in chunk_size parts and checks the manifest and the files. */
static void
stage_check(size_t len, uint32_t cs)
{
	uint8_t *data = xmalloc(len ? len : 1), whole[HASH_LEN], h[HASH_LEN], *back;
	struct stage *st = stage_new(S, cs);
	struct manifest m;
	char *cause = NULL;
	uint64_t want = len / cs + (len % cs != 0);
	int asked = 0;
	size_t n;

	ck_assert_ptr_nonnull(st);
	fill(data, len, (uint32_t)len);
	for (size_t off = 0; off < len; off += cs) {
		size_t part = len - off < cs ? len - off : cs;
		ck_assert_msg(stage_put(st, data + off, part, have_none, &asked, &cause) == 0,
		    "stage_put: %s", cause);
	}
	ck_assert_uint_eq(stage_size(st), len);
	ck_assert_uint_eq(stage_nparts(st), want);
	ck_assert_int_eq(asked, (int)want);
	ck_assert_msg(stage_finish(st, &m, &cause) == 0, "finish: %s", cause);
	ck_assert_uint_eq(m.size, len);
	ck_assert_uint_eq(m.chunk_size, cs);
	ck_assert_uint_eq(m.nchunks, want);
	sha256_evp(data, len, whole);
	ck_assert_mem_eq(m.file_hash, whole, HASH_LEN);

	back = xmalloc(cs);
	for (uint64_t i = 0; i < m.nchunks; i++) {
		size_t clen = manifest_chunk_len(&m, i);
		ck_assert_uint_eq(clen, i + 1 < want ? cs : len - i * cs);
		hash_buf(data + i * cs, clen, h);
		ck_assert_mem_eq(m.chunks[i], h, HASH_LEN);
		ck_assert(store_pinned(S, h));
		ck_assert_int_eq(store_read_chunk(S, h, back, cs, &n, &cause), 0);
		ck_assert_uint_eq(n, clen);
		ck_assert_mem_eq(back, data + i * cs, clen);
	}
	ck_assert_int_eq(walk_chunks(), (int)want);
	stage_free(st);
	ck_assert_uint_eq(store_pin_count(S), 0);
	manifest_free(&m);
	free(back);
	free(data);
}

START_TEST(test_stage_sizes)
{
	static const size_t sizes[] = { 1, SMALL_CS - 1, SMALL_CS, SMALL_CS + 1,
		3 * SMALL_CS + 100 };

	stage_check(sizes[_i], SMALL_CS);
}
END_TEST

/* Parts up to the inline limit are kept by the stage (copies, each hash once), not
 * written; longer ones are files. */
START_TEST(test_stage_inline)
{
	uint8_t data[3 * SMALL_CS + 100], h[HASH_LEN];
	struct stage *st;
	const struct stage_chunk *k;
	struct manifest m;
	char *cause = NULL;
	size_t nk;

	store_set_inline_max(S, 100);
	ck_assert_uint_eq(store_inline_max(S), 100);
	st = stage_new(S, SMALL_CS);
	fill(data, sizeof data, 7);
	memcpy(data + SMALL_CS, data, SMALL_CS); /* parts 0 and 1 repeat */
	for (size_t off = 0; off < sizeof data; off += SMALL_CS) {
		size_t part = sizeof data - off < SMALL_CS ? sizeof data - off : SMALL_CS;
		ck_assert_msg(stage_put(st, data + off, part, have_none, NULL, &cause) == 0,
		    "stage_put: %s", cause);
	}
	ck_assert_msg(stage_finish(st, &m, &cause) == 0, "finish: %s", cause);
	ck_assert_uint_eq(m.nchunks, 4);
	ck_assert_uint_eq(stage_files_written(st), 2); /* part 1 repeats part 0 */
	ck_assert_int_eq(walk_chunks(), 2);
	nk = stage_inline(st, &k);
	ck_assert_uint_eq(nk, 1);
	ck_assert_uint_eq(k[0].n, 100);
	ck_assert_mem_eq(k[0].p, data + 3 * SMALL_CS, 100);
	hash_buf(data + 3 * SMALL_CS, 100, h);
	ck_assert_mem_eq(k[0].h, h, HASH_LEN);
	ck_assert_mem_eq(m.chunks[3], h, HASH_LEN);
	ck_assert(store_pinned(S, h));
	stage_free(st);
	manifest_free(&m);
	/* the limit caps at STORE_INLINE_MAX_LIMIT; 0 keeps every part a file */
	store_set_inline_max(S, SIZE_MAX);
	ck_assert_uint_eq(store_inline_max(S), STORE_INLINE_MAX_LIMIT);
	store_set_inline_max(S, 0);
	st = stage_new(S, SMALL_CS);
	ck_assert_int_eq(stage_put(st, data + 3 * SMALL_CS, 100, have_none, NULL, &cause), 0);
	ck_assert_int_eq(stage_finish(st, &m, &cause), 0);
	ck_assert_uint_eq(stage_inline(st, &k), 0);
	ck_assert_uint_eq(stage_files_written(st), 1);
	ck_assert_int_eq(walk_chunks(), 3);
	stage_free(st);
	manifest_free(&m);

	/* a stage keeps at most 1 MiB of copies: a large file of small chunks becomes files
	 * beyond that, not memory held until its commit */
	store_set_inline_max(S, SMALL_CS);
	st = stage_new(S, SMALL_CS);
	for (unsigned i = 0; i < 300; i++) {
		uint8_t part[SMALL_CS];

		fill(part, sizeof part, 1000 + i);
		ck_assert_int_eq(stage_put(st, part, sizeof part, have_none, NULL, &cause), 0);
	}
	ck_assert_int_eq(stage_finish(st, &m, &cause), 0);
	ck_assert_uint_eq(stage_inline(st, &k), (1u << 20) / SMALL_CS);
	ck_assert_uint_eq(stage_files_written(st), 300 - (1u << 20) / SMALL_CS);
	ck_assert_int_eq(walk_chunks(), 3 + 300 - (1 << 20) / SMALL_CS);
	stage_free(st);
	manifest_free(&m);
}
END_TEST

START_TEST(test_stage_empty)
{
	static const uint8_t empty_sha[HASH_LEN] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8,
		0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
		0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55 };
	struct stage *st = stage_new(S, SMALL_CS);
	struct manifest m;
	char *cause = NULL;

	ck_assert_int_eq(stage_finish(st, &m, &cause), 0);
	ck_assert_uint_eq(m.size, 0);
	ck_assert_uint_eq(m.nchunks, 0);
	ck_assert_ptr_null(m.chunks);
	ck_assert_mem_eq(m.file_hash, empty_sha, HASH_LEN);
	stage_free(st);
	manifest_free(&m);
	stage_check(0, SMALL_CS);
}
END_TEST

START_TEST(test_stage_default_cs)
{
	stage_check(2 * CHUNK_SIZE_DEFAULT + 12345, CHUNK_SIZE_DEFAULT);
}
END_TEST

START_TEST(test_stage_repeated_chunk)
{
	uint8_t data[2 * SMALL_CS];
	struct stage *st = stage_new(S, SMALL_CS);
	struct manifest m;
	char *cause = NULL;

	int asked = 0;

	memset(data, 'z', sizeof data); /* two identical chunks: pinned twice */
	ck_assert_int_eq(stage_put(st, data, SMALL_CS, have_none, &asked, &cause), 0);
	ck_assert_int_eq(stage_put(st, data + SMALL_CS, SMALL_CS, have_none, &asked, &cause), 0);
	ck_assert_int_eq(asked, 1); /* the repeat is neither looked up nor written again */
	ck_assert_int_eq(stage_finish(st, &m, &cause), 0);
	ck_assert_uint_eq(m.nchunks, 2);
	ck_assert_mem_eq(m.chunks[0], m.chunks[1], HASH_LEN);
	ck_assert_uint_eq(store_pin_count(S), 1);
	store_unpin(S, m.chunks[0]);
	ck_assert(store_pinned(S, m.chunks[0])); /* the stage's second pin */
	store_pin(S, m.chunks[0]);
	stage_free(st);
	ck_assert_uint_eq(store_pin_count(S), 0);
	ck_assert_int_eq(walk_chunks(), 1);
	manifest_free(&m);
}
END_TEST

START_TEST(test_stage_repeats_many)
{
	enum { NPARTS = 300, NDISTINCT = 37 };
	uint8_t data[SMALL_CS], h[HASH_LEN];
	struct stage *st = stage_new(S, SMALL_CS);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	struct manifest m;
	char *cause = NULL;
	int asked = 0;

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (uint32_t i = 0; i < NPARTS; i++) {
		fill(data, sizeof data, i % NDISTINCT);
		EVP_DigestUpdate(ctx, data, sizeof data);
		ck_assert_int_eq(stage_put(st, data, sizeof data, have_none, &asked, &cause), 0);
	}
	EVP_DigestFinal_ex(ctx, h, NULL);
	EVP_MD_CTX_free(ctx);
	ck_assert_int_eq(asked, NDISTINCT);
	ck_assert_int_eq(walk_chunks(), NDISTINCT);
	ck_assert_uint_eq(store_pin_count(S), NDISTINCT);
	ck_assert_int_eq(stage_finish(st, &m, &cause), 0);
	ck_assert_mem_eq(m.file_hash, h, HASH_LEN);
	ck_assert_uint_eq(m.nchunks, NPARTS);
	for (uint32_t i = 0; i < NPARTS; i++) {
		fill(data, sizeof data, i % NDISTINCT);
		hash_buf(data, sizeof data, h);
		ck_assert_mem_eq(m.chunks[i], h, HASH_LEN);
	}
	stage_free(st);
	ck_assert_uint_eq(store_pin_count(S), 0);
	manifest_free(&m);
}
END_TEST

START_TEST(test_stage_have)
{
	uint8_t data[3 * SMALL_CS + 7];
	struct stage *st = stage_new(S, SMALL_CS);
	struct manifest m;
	char *cause = NULL;

	fill(data, sizeof data, 9);
	for (size_t off = 0; off < sizeof data; off += SMALL_CS) {
		size_t n = sizeof data - off < SMALL_CS ? sizeof data - off : SMALL_CS;
		ck_assert_int_eq(stage_put(st, data + off, n, have_all, NULL, &cause), 0);
	}
	ck_assert_int_eq(stage_finish(st, &m, &cause), 0);
	ck_assert_uint_eq(m.nchunks, 4);
	ck_assert_uint_eq(store_pin_count(S), 4); /* pinned even though not written */
	ck_assert_int_eq(walk_chunks(), 0);
	ck_assert_int_eq(tmp_count(), 0);
	stage_free(st);
	ck_assert_uint_eq(store_pin_count(S), 0);
	manifest_free(&m);
}
END_TEST

START_TEST(test_stage_errors)
{
	uint8_t data[2 * SMALL_CS];
	struct stage *st;
	struct manifest m;
	char *cause = NULL;

	ck_assert_ptr_null(stage_new(S, CHUNK_SIZE_MIN - 1));
	ck_assert_ptr_null(stage_new(S, CHUNK_SIZE_MAX + 1));
	stage_free(NULL);

	fill(data, sizeof data, 10);
	st = stage_new(S, SMALL_CS);
	ck_assert_int_eq(stage_put(st, data, 0, have_none, NULL, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(stage_put(st, data, SMALL_CS + 1, have_none, NULL, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	cause = NULL;
	/* argument errors leave the stage usable */
	ck_assert_int_eq(stage_put(st, data, SMALL_CS, have_none, NULL, &cause), 0);
	ck_assert_int_eq(stage_put(st, data + SMALL_CS, 100, have_none, NULL, &cause), 0);
	ck_assert_int_eq(stage_put(st, data + SMALL_CS + 100, 100, have_none, NULL, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "part after a short final part"));
	free(cause);
	cause = NULL;
	ck_assert_uint_eq(stage_nparts(st), 2);
	ck_assert_uint_eq(stage_size(st), SMALL_CS + 100);
	ck_assert_int_eq(stage_finish(st, &m, &cause), 0);
	ck_assert_uint_eq(m.nchunks, 2);
	/* finished: no more parts, no second finish */
	ck_assert_int_eq(stage_put(st, data, SMALL_CS, have_none, NULL, &cause), -1);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(stage_finish(st, &m, &cause), -1);
	free(cause);
	cause = NULL;
	stage_free(st);
	manifest_free(&m);
	ck_assert_uint_eq(store_pin_count(S), 0);

	/* have() failing kills the stage and drops that part's pin */
	st = stage_new(S, SMALL_CS);
	ck_assert_int_eq(stage_put(st, data, SMALL_CS, have_none, NULL, &cause), 0);
	ck_assert_int_eq(stage_put(st, data + SMALL_CS, SMALL_CS, have_fail, NULL, &cause), -1);
	free(cause);
	cause = NULL;
	ck_assert_uint_eq(store_pin_count(S), 1);
	ck_assert_int_eq(stage_put(st, data + SMALL_CS, SMALL_CS, have_none, NULL, &cause), -1);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(stage_finish(st, &m, &cause), -1);
	free(cause);
	stage_free(st);
	ck_assert_uint_eq(store_pin_count(S), 0);
}
END_TEST

/* --- stage: parts in parallel, out of order --- */

#define PAR_PARTS 64
#define PAR_THREADS 4

static _Atomic int par_asked;

static int
have_count(void *arg, const uint8_t h[HASH_LEN])
{
	par_asked++;
	return 0;
}

/* Part i of the parallel tests: distinct content except that parts 5k+3 repeat part 3;
 * the last part is short (and so distinct). */
static int
par_repeat(uint32_t i)
{
	return i % 5 == 3 && i != 3 && i != PAR_PARTS - 1;
}

static size_t
par_part(uint8_t *buf, uint32_t i)
{
	fill(buf, SMALL_CS, par_repeat(i) || i == 3 ? 3 : 100 + i);
	return i == PAR_PARTS - 1 ? 1000 : SMALL_CS;
}

struct par_arg {
	struct stage *st;
	uint32_t self;
	int rc;
};

/* Thread t stores parts t, t + PAR_THREADS, ... from the last down. */
static void *
par_thread(void *arg)
{
	struct par_arg *a = arg;
	uint8_t buf[SMALL_CS];
	char *cause = NULL;

	for (int i = PAR_PARTS - 1; i >= 0; i--) {
		if ((uint32_t)i % PAR_THREADS != a->self)
			continue;
		size_t n = par_part(buf, (uint32_t)i);
		if (stage_part(a->st, (uint64_t)i, buf, n, have_count, NULL, &cause) != 0) {
			fprintf(stderr, "stage_part %d: %s\n", i, cause);
			free(cause);
			a->rc = -1;
			return NULL;
		}
	}
	return NULL;
}

START_TEST(test_stage_parallel)
{
	uint8_t buf[SMALL_CS], h[HASH_LEN], whole[HASH_LEN], back[SMALL_CS];
	struct stage *st = stage_new(S, SMALL_CS), *seq = stage_new(S, SMALL_CS);
	struct par_arg a[PAR_THREADS];
	pthread_t t[PAR_THREADS];
	struct manifest m, ms;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *cause = NULL;
	int distinct = 0;
	size_t n;

	par_asked = 0;
	for (uint32_t i = 0; i < PAR_THREADS; i++) {
		a[i] = (struct par_arg){ st, i, 0 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, par_thread, &a[i]), 0);
	}
	/* the file hash, in order, while the parts are being stored */
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (uint32_t i = 0; i < PAR_PARTS; i++) {
		n = par_part(buf, i);
		EVP_DigestUpdate(ctx, buf, n);
		ck_assert_int_eq(stage_feed(st, buf, n, &cause), 0);
	}
	EVP_DigestFinal_ex(ctx, whole, NULL);
	EVP_MD_CTX_free(ctx);
	for (int i = 0; i < PAR_THREADS; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_int_eq(a[i].rc, 0);
	}
	for (uint32_t i = 0; i < PAR_PARTS; i++)
		distinct += !par_repeat(i);
	ck_assert_int_eq(par_asked, distinct); /* a repeat is neither looked up nor written */
	ck_assert_uint_eq(stage_nparts(st), PAR_PARTS);
	ck_assert_msg(stage_finish(st, &m, &cause) == 0, "finish: %s", cause);
	ck_assert_mem_eq(m.file_hash, whole, HASH_LEN);
	ck_assert_uint_eq(m.size, (PAR_PARTS - 1) * SMALL_CS + 1000);

	/* the same manifest as the same parts put one by one, in order */
	for (uint32_t i = 0; i < PAR_PARTS; i++) {
		n = par_part(buf, i);
		ck_assert_int_eq(stage_put(seq, buf, n, have_all, NULL, &cause), 0);
	}
	ck_assert_int_eq(stage_finish(seq, &ms, &cause), 0);
	ck_assert_uint_eq(ms.nchunks, m.nchunks);
	ck_assert_mem_eq(ms.chunks, m.chunks, (size_t)m.nchunks * HASH_LEN);
	ck_assert_mem_eq(ms.file_hash, m.file_hash, HASH_LEN);
	stage_free(seq);

	for (uint32_t i = 0; i < PAR_PARTS; i++) {
		size_t len = par_part(buf, i);
		hash_buf(buf, len, h);
		ck_assert_mem_eq(m.chunks[i], h, HASH_LEN);
		ck_assert(store_pinned(S, h));
		ck_assert_int_eq(store_read_chunk(S, h, back, SMALL_CS, &n, &cause), 0);
		ck_assert_uint_eq(n, len);
		ck_assert_mem_eq(back, buf, len);
	}
	ck_assert_int_eq(walk_chunks(), distinct);
	ck_assert_int_eq(tmp_count(), 0);
	stage_free(st);
	ck_assert_uint_eq(store_pin_count(S), 0);
	manifest_free(&m);
	manifest_free(&ms);
}
END_TEST

/* One thread, parts backwards, the file hash fed in order before or after. */
START_TEST(test_stage_out_of_order)
{
	uint8_t data[3 * SMALL_CS + 10], whole[HASH_LEN];
	struct stage *st = stage_new(S, SMALL_CS);
	struct manifest m;
	char *cause = NULL;

	fill(data, sizeof data, 21);
	ck_assert_int_eq(stage_part(st, 3, data + 3 * SMALL_CS, 10, have_none, NULL, &cause), 0);
	ck_assert_int_eq(stage_part(st, 1, data + SMALL_CS, SMALL_CS, have_none, NULL, &cause),
	    0);
	/* a gap (part 0 and 2 missing), and a file hash that has seen nothing */
	ck_assert_int_eq(stage_finish(st, &m, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "gap"));
	free(cause);
	cause = NULL;
	ck_assert_int_eq(stage_part(st, 2, data + 2 * SMALL_CS, SMALL_CS, have_none, NULL,
	    &cause), 0);
	ck_assert_int_eq(stage_part(st, 0, data, SMALL_CS, have_none, NULL, &cause), 0);
	ck_assert_int_eq(stage_finish(st, &m, &cause), -1); /* not fed yet */
	ck_assert_ptr_nonnull(strstr(cause, "file hash"));
	free(cause);
	cause = NULL;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(stage_feed(st, data + i * SMALL_CS, SMALL_CS, &cause), 0);
	ck_assert_int_eq(stage_feed(st, data + 3 * SMALL_CS, 10, &cause), 0);
	ck_assert_int_eq(stage_feed(st, data, 10, &cause), -1); /* after the short one */
	free(cause);
	cause = NULL;
	ck_assert_msg(stage_finish(st, &m, &cause) == 0, "finish: %s", cause);
	sha256_evp(data, sizeof data, whole);
	ck_assert_mem_eq(m.file_hash, whole, HASH_LEN);
	ck_assert_uint_eq(m.nchunks, 4);
	ck_assert_uint_eq(m.size, sizeof data);
	ck_assert_uint_eq(store_pin_count(S), 4);
	stage_free(st);
	ck_assert_uint_eq(store_pin_count(S), 0);
	manifest_free(&m);
}
END_TEST

START_TEST(test_stage_part_errors)
{
	uint8_t data[2 * SMALL_CS];
	struct stage *st = stage_new(S, SMALL_CS);
	struct manifest m;
	char *cause = NULL;

	fill(data, sizeof data, 22);
	ck_assert_int_eq(stage_part(st, 1, data, SMALL_CS, have_none, NULL, &cause), 0);
	/* a part number taken twice */
	ck_assert_int_eq(stage_part(st, 1, data, SMALL_CS, have_none, NULL, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "twice"));
	free(cause);
	cause = NULL;
	/* a short part before a later one */
	ck_assert_int_eq(stage_part(st, 0, data, 100, have_none, NULL, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "short part 0 before part 1"));
	free(cause);
	cause = NULL;
	ck_assert_int_eq(stage_part(st, 2, data, 100, have_none, NULL, &cause), 0);
	/* nothing after the short one */
	ck_assert_int_eq(stage_part(st, 3, data, SMALL_CS, have_none, NULL, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "after a short final part"));
	free(cause);
	cause = NULL;
	ck_assert_int_eq(stage_part(st, MANIFEST_MAX_CHUNKS, data, 100, have_none, NULL, &cause),
	    -1);
	free(cause);
	cause = NULL;
	/* none of that changed the stage */
	ck_assert_int_eq(stage_part(st, 0, data, SMALL_CS, have_none, NULL, &cause), 0);
	ck_assert_uint_eq(stage_nparts(st), 3);
	ck_assert_uint_eq(stage_size(st), 2 * SMALL_CS + 100);
	ck_assert_int_eq(stage_feed(st, data, SMALL_CS, &cause), 0);
	ck_assert_int_eq(stage_feed(st, data, SMALL_CS, &cause), 0);
	ck_assert_int_eq(stage_feed(st, data, 100, &cause), 0);
	ck_assert_int_eq(stage_finish(st, &m, &cause), 0);
	ck_assert_uint_eq(m.nchunks, 3);
	stage_free(st);
	manifest_free(&m);
	ck_assert_uint_eq(store_pin_count(S), 0);
}
END_TEST

/* A part that fails while others are stored: the stage is dead, no pin is left. */
START_TEST(test_stage_part_fails)
{
	uint8_t data[3 * SMALL_CS];
	struct stage *st = stage_new(S, SMALL_CS);
	struct manifest m;
	char *cause = NULL;

	fill(data, sizeof data, 23);
	ck_assert_int_eq(stage_part(st, 2, data + 2 * SMALL_CS, SMALL_CS, have_none, NULL,
	    &cause), 0);
	ck_assert_int_eq(stage_feed(st, data, SMALL_CS, &cause), 0);
	ck_assert_int_eq(stage_part(st, 1, data + SMALL_CS, SMALL_CS, have_fail, NULL, &cause),
	    -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	cause = NULL;
	ck_assert_uint_eq(store_pin_count(S), 1); /* part 2's */
	ck_assert_int_eq(stage_part(st, 0, data, SMALL_CS, have_none, NULL, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "earlier part failed"));
	free(cause);
	cause = NULL;
	ck_assert_int_eq(stage_finish(st, &m, &cause), -1);
	free(cause);
	stage_free(st);
	ck_assert_uint_eq(store_pin_count(S), 0);
}
END_TEST

/* The chunk write fails (a read-only store: EROFS): the part fails with the write's
 * reason, the stage is dead, nothing is left in tmp/ or pinned. */
START_TEST(test_stage_write_error)
{
	uint8_t data[2 * SMALL_CS];
	struct store *ro = NULL;
	struct stage *st;
	struct manifest m;
	char *cause = NULL;

	ck_assert_msg(store_open_flags(&ro, tmpdir, STORE_RDONLY, &cause) == 0, "open: %s",
	    cause);
	st = stage_new(ro, SMALL_CS);
	fill(data, sizeof data, 24);
	ck_assert_int_eq(stage_part(st, 0, data, SMALL_CS, have_all, NULL, &cause), 0);
	ck_assert_int_eq(stage_part(st, 1, data + SMALL_CS, SMALL_CS, have_none, NULL, &cause),
	    -1);
	ck_assert_ptr_nonnull(strstr(cause, "read-only"));
	free(cause);
	cause = NULL;
	ck_assert_uint_eq(store_pin_count(ro), 1);
	ck_assert_int_eq(stage_feed(st, data, SMALL_CS, &cause), 0);
	ck_assert_int_eq(stage_feed(st, data + SMALL_CS, SMALL_CS, &cause), 0);
	ck_assert_int_eq(stage_finish(st, &m, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "earlier part failed"));
	free(cause);
	stage_free(st);
	ck_assert_uint_eq(store_pin_count(ro), 0);
	ck_assert_int_eq(tmp_count(), 0);
	ck_assert_int_eq(walk_chunks(), 0);
	store_close(ro);
}
END_TEST

/* stage_finish refuses while a part is still being stored (its have() blocks here). */
struct gate {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	int entered;
	int open;
};

static int
have_gated(void *arg, const uint8_t h[HASH_LEN])
{
	struct gate *g = arg;

	pthread_mutex_lock(&g->mtx);
	g->entered = 1;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mtx);
	pthread_mutex_unlock(&g->mtx);
	return 0;
}

struct gated_put {
	struct stage *st;
	struct gate *g;
	const uint8_t *data;
	int rc;
};

static void *
gated_thread(void *arg)
{
	struct gated_put *p = arg;
	char *cause = NULL;

	p->rc = stage_part(p->st, 0, p->data, SMALL_CS, have_gated, p->g, &cause);
	free(cause);
	return NULL;
}

START_TEST(test_stage_finish_busy)
{
	uint8_t data[SMALL_CS];
	struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct stage *st = stage_new(S, SMALL_CS);
	struct gated_put p = { st, &g, data, -2 };
	struct manifest m;
	pthread_t t;
	char *cause = NULL;

	fill(data, sizeof data, 25);
	ck_assert_int_eq(stage_feed(st, data, SMALL_CS, &cause), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, gated_thread, &p), 0);
	pthread_mutex_lock(&g.mtx);
	while (!g.entered)
		pthread_cond_wait(&g.cv, &g.mtx);
	pthread_mutex_unlock(&g.mtx);
	ck_assert_int_eq(stage_finish(st, &m, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "still being stored"));
	free(cause);
	cause = NULL;
	ck_assert_uint_eq(stage_nparts(st), 0);
	pthread_mutex_lock(&g.mtx);
	g.open = 1;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mtx);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(p.rc, 0);
	ck_assert_msg(stage_finish(st, &m, &cause) == 0, "finish: %s", cause);
	ck_assert_uint_eq(m.nchunks, 1);
	stage_free(st);
	manifest_free(&m);
}
END_TEST

/* --- manifest --- */

static void
sample_manifest(struct manifest *m, uint64_t size, uint32_t cs)
{
	uint8_t h[HASH_LEN];

	manifest_init(m, cs);
	m->size = size;
	hash_buf(&size, sizeof size, m->file_hash);
	for (uint64_t i = 0; i < size / cs + (size % cs != 0); i++) {
		hash_buf(&i, sizeof i, h);
		manifest_add(m, h);
	}
}

START_TEST(test_manifest_roundtrip)
{
	static const uint64_t sizes[] = { 0, 1, SMALL_CS, 10 * SMALL_CS + 1 };
	struct manifest m, d;
	uint8_t *enc, h1[HASH_LEN], h2[HASH_LEN];
	size_t len;
	char *cause = NULL;

	for (size_t k = 0; k < nitems(sizes); k++) {
		sample_manifest(&m, sizes[k], SMALL_CS);
		ck_assert_int_eq(manifest_encode(&m, &enc, &len), 0);
		ck_assert_uint_eq(len, 57 + 32 * m.nchunks);
		ck_assert_mem_eq(enc, "P2PM\x01", 5);
		ck_assert_msg(manifest_decode(&d, enc, len, &cause) == 0, "decode: %s", cause);
		ck_assert_uint_eq(d.size, m.size);
		ck_assert_uint_eq(d.chunk_size, m.chunk_size);
		ck_assert_uint_eq(d.nchunks, m.nchunks);
		ck_assert_mem_eq(d.file_hash, m.file_hash, HASH_LEN);
		if (m.nchunks > 0)
			ck_assert_mem_eq(d.chunks, m.chunks, m.nchunks * HASH_LEN);
		manifest_hash(&m, h1);
		hash_buf(enc, len, h2);
		ck_assert_mem_eq(h1, h2, HASH_LEN);
		manifest_hash(&d, h2);
		ck_assert_mem_eq(h1, h2, HASH_LEN);
		free(enc);
		manifest_free(&m);
		manifest_free(&d);
	}
	manifest_free(NULL);
}
END_TEST

START_TEST(test_manifest_layout)
{
	/* one 5000-byte file in 4096-byte chunks, spelled out byte by byte */
	struct manifest m;
	uint8_t *enc;
	size_t len;

	manifest_init(&m, 4096);
	m.size = 5000;
	memset(m.file_hash, 0xaa, HASH_LEN);
	manifest_add(&m, (const uint8_t *)"11111111111111111111111111111111");
	manifest_add(&m, (const uint8_t *)"22222222222222222222222222222222");
	ck_assert_uint_eq(manifest_chunk_len(&m, 0), 4096);
	ck_assert_uint_eq(manifest_chunk_len(&m, 1), 904);
	ck_assert_uint_eq(manifest_chunk_len(&m, 2), 0);
	ck_assert_int_eq(manifest_encode(&m, &enc, &len), 0);
	ck_assert_uint_eq(len, 57 + 64);
	ck_assert_mem_eq(enc, "P2PM\x01\x00\x00\x10\x00", 9);
	ck_assert_mem_eq(enc + 9, "\x00\x00\x00\x00\x00\x00\x13\x88", 8);
	ck_assert_uint_eq(enc[17], 0xaa);
	ck_assert_uint_eq(enc[48], 0xaa);
	ck_assert_mem_eq(enc + 49, "\x00\x00\x00\x00\x00\x00\x00\x02", 8);
	ck_assert_mem_eq(enc + 57, "1111", 4);
	ck_assert_mem_eq(enc + 89, "2222", 4);
	free(enc);

	/* encode refuses an inconsistent manifest */
	m.size = 10000;
	ck_assert_int_eq(manifest_encode(&m, &enc, &len), -1);
	ck_assert_ptr_null(enc);
	manifest_free(&m);
}
END_TEST

static void
put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void
expect_reject(const void *p, size_t len, const char *why)
{
	struct manifest d;
	char *cause = NULL;

	ck_assert_msg(manifest_decode(&d, p, len, &cause) == -1, "accepted: %s", why);
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_null(d.chunks);
	free(cause);
}

START_TEST(test_manifest_reject)
{
	struct manifest m;
	uint8_t *enc, *bad;
	size_t len;

	sample_manifest(&m, 3 * SMALL_CS + 1, SMALL_CS);
	ck_assert_int_eq(manifest_encode(&m, &enc, &len), 0);
	bad = xmalloc(len + 1);

	memcpy(bad, enc, len);
	bad[0] = 'X';
	expect_reject(bad, len, "bad magic");

	memcpy(bad, enc, len);
	bad[4] = 2;
	expect_reject(bad, len, "version 2");
	bad[4] = 0;
	expect_reject(bad, len, "version 0");

	for (size_t l = 0; l < len; l++)
		expect_reject(enc, l, "truncated");

	memcpy(bad, enc, len);
	bad[len] = 0;
	expect_reject(bad, len + 1, "trailing byte");

	memcpy(bad, enc, len);
	put_be64(bad + 9, 2 * SMALL_CS); /* 2 chunks' worth with 4 hashes */
	expect_reject(bad, len, "nchunks > ceil(size/cs)");
	put_be64(bad + 9, 5 * SMALL_CS);
	expect_reject(bad, len, "nchunks < ceil(size/cs)");
	put_be64(bad + 9, 0);
	expect_reject(bad, len, "chunks for an empty file");

	memcpy(bad, enc, len);
	put_be32(bad + 5, CHUNK_SIZE_MIN - 1);
	expect_reject(bad, len, "chunk size too small");
	put_be32(bad + 5, CHUNK_SIZE_MAX + 1);
	expect_reject(bad, len, "chunk size too large");
	put_be32(bad + 5, 0);
	expect_reject(bad, len, "chunk size 0");

	/* huge but self-consistent counts with a short body: rejected before allocating */
	memcpy(bad, enc, 57);
	put_be64(bad + 9, (uint64_t)SMALL_CS * MANIFEST_MAX_CHUNKS);
	put_be64(bad + 49, MANIFEST_MAX_CHUNKS);
	expect_reject(bad, 57, "2^24 chunks, no hashes");
	put_be64(bad + 9, (uint64_t)SMALL_CS * (MANIFEST_MAX_CHUNKS + 1));
	put_be64(bad + 49, MANIFEST_MAX_CHUNKS + 1);
	expect_reject(bad, 57, "over the chunk limit");
	put_be64(bad + 9, UINT64_MAX);
	put_be64(bad + 49, UINT64_MAX / SMALL_CS + 1);
	expect_reject(bad, 57, "2^52 chunks");
	put_be64(bad + 49, UINT64_MAX);
	expect_reject(bad, 57, "2^64-1 chunks");

	free(bad);
	free(enc);
	manifest_free(&m);
}
END_TEST

START_TEST(test_manifest_from_stage)
{
	uint8_t data[2 * SMALL_CS + 5], *enc, h[HASH_LEN], h2[HASH_LEN];
	struct stage *st = stage_new(S, SMALL_CS);
	struct manifest m, d;
	char *cause = NULL;
	size_t len;

	fill(data, sizeof data, 11);
	for (size_t off = 0; off < sizeof data; off += SMALL_CS) {
		size_t n = sizeof data - off < SMALL_CS ? sizeof data - off : SMALL_CS;
		ck_assert_int_eq(stage_put(st, data + off, n, have_none, NULL, &cause), 0);
	}
	ck_assert_int_eq(stage_finish(st, &m, &cause), 0);
	ck_assert_int_eq(manifest_encode(&m, &enc, &len), 0);
	ck_assert_int_eq(manifest_decode(&d, enc, len, &cause), 0);
	manifest_hash(&m, h);
	manifest_hash(&d, h2);
	ck_assert_mem_eq(h, h2, HASH_LEN);
	free(enc);
	manifest_free(&m);
	manifest_free(&d);
	stage_free(st);
}
END_TEST

/* --- disk full --- */

START_TEST(test_enospc)
{
	char mnt[512], tmp[600], *cause = NULL;
	struct store *s2 = NULL;
	uint8_t data[SMALL_CS], h[HASH_LEN];
	int rc = 0, e = 0;

	snprintf(mnt, sizeof mnt, "%s/mnt", tmpdir);
	ck_assert_int_eq(mkdir(mnt, 0755), 0);
	if (geteuid() != 0 || mount("tmpfs", mnt, "tmpfs", 0, "size=256k") == -1) {
		fprintf(stderr, "SKIP test_enospc: cannot mount a 256 KiB tmpfs (%s)\n",
		    geteuid() != 0 ? "not root" : strerror(errno));
		return;
	}
	mounted = 1;
	ck_assert_msg(store_open(&s2, mnt, &cause) == 0, "store_open: %s", cause);
	for (uint32_t i = 0; i < 1000; i++) {
		fill(data, sizeof data, 1000 + i);
		hash_buf(data, sizeof data, h);
		if ((rc = store_write_chunk(s2, h, data, sizeof data, &cause)) != 0) {
			e = errno;
			break;
		}
	}
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(e, ENOSPC);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, "no space left on device") != NULL, "cause: %s", cause);
	free(cause);
	snprintf(tmp, sizeof tmp, "%s/chunks/tmp", mnt);
	ck_assert_int_eq(count_dir(tmp), 0);
	store_close(s2);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	tc = tcase_create("chunks");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_hash_buf);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_empty_chunk);
	tcase_add_test(tc, test_path_layout);
	tcase_add_test(tc, test_dedup);
	tcase_add_test(tc, test_sync);
	tcase_add_test(tc, test_concurrent_writes);
	suite_add_tcase(s, tc);

	tc = tcase_create("integrity");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_corrupt);
	tcase_add_test(tc, test_checksum);
	tcase_add_test(tc, test_missing);
	suite_add_tcase(s, tc);

	tc = tcase_create("open");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_tmp_cleaned);
	tcase_add_test(tc, test_open_creates_dirs);
	tcase_add_test(tc, test_open_rdonly);
	suite_add_tcase(s, tc);

	tc = tcase_create("walk");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_walk);
	suite_add_tcase(s, tc);

	tc = tcase_create("pins_gc");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_pins);
	tcase_add_test(tc, test_pins_many);
	tcase_add_test(tc, test_gc);
	suite_add_tcase(s, tc);

	tc = tcase_create("stage");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_stage_empty);
	tcase_add_test(tc, test_stage_inline);
	tcase_add_loop_test(tc, test_stage_sizes, 0, 5);
	tcase_add_test(tc, test_stage_default_cs);
	tcase_add_test(tc, test_stage_repeated_chunk);
	tcase_add_test(tc, test_stage_repeats_many);
	tcase_add_test(tc, test_stage_have);
	tcase_add_test(tc, test_stage_errors);
	tcase_add_test(tc, test_stage_parallel);
	tcase_add_test(tc, test_stage_out_of_order);
	tcase_add_test(tc, test_stage_part_errors);
	tcase_add_test(tc, test_stage_part_fails);
	tcase_add_test(tc, test_stage_write_error);
	tcase_add_test(tc, test_stage_finish_busy);
	suite_add_tcase(s, tc);

	tc = tcase_create("manifest");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_manifest_roundtrip);
	tcase_add_test(tc, test_manifest_layout);
	tcase_add_test(tc, test_manifest_reject);
	tcase_add_test(tc, test_manifest_from_stage);
	suite_add_tcase(s, tc);

	tc = tcase_create("enospc");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_enospc);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
