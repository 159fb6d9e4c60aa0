/* store.c: content-addressed chunk files, the pin set and garbage collection.
 *
 * Every chunk operation works relative to one descriptor on <datadir>/chunks (openat,
 * renameat, unlinkat), so the kernel resolves short paths and a renamed data
 * directory cannot make us write elsewhere. Writes go to chunks/tmp/<pid>-<seq>
 * (O_EXCL) and are renamed to chunks/ab/cd/<hex>; the two directory levels are made
 * the first time a rename finds them missing. Nothing is fsync'd here: store_sync()
 * is the one batched durability point (syncfs). */
#include "store/store.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <xxhash.h>

#define REL_LEN (2 + 1 + 2 + 1 + 2 * HASH_LEN + 1) /* "ab/cd/<hex>" + NUL */
#define TMP_NAME_LEN 64
#define VERIFY_BUF (256u << 10)
/* The at-rest checksum of a chunk file: XXH3-64 of its bytes, in xxHash's canonical
 * (big-endian) form, in an extended attribute set when the chunk is written. A read whose
 * bytes match it is good without re-hashing SHA-256 (XXH3 is over 10x faster); any other
 * read (no checksum: a file system without user xattrs, a chunk written before; or a
 * mismatch) re-hashes SHA-256, which decides, and a good chunk gets its checksum.
 * `p2p verify` always re-hashes SHA-256. The checksum guards against the disk (bit rot,
 * torn or stray writes), not against a hand that rewrites both bytes and xattr: the name
 * is checked against the SHA-256 of every chunk a peer sends, and by verify. */
#define SUM_XATTR "user.p2p.xxh3"
#define PINS_MIN 64

/* One slot of the pin table; n == 0 means empty. */
struct pin {
	uint8_t h[HASH_LEN];
	uint32_t n;
};

struct store {
	char *dir; /* <datadir>/chunks */
	int dfd;   /* O_DIRECTORY descriptor on dir */
	int rdonly; /* STORE_RDONLY: never writes, creates or removes anything */
	_Atomic uint64_t seq; /* temp file names */
	size_t inline_max; /* chunks up to this many bytes are the database's, not files */

	pthread_mutex_t pin_mtx;
	struct pin *pins; /* open addressing, linear probing, power-of-two size */
	size_t pins_cap;
	size_t pins_used;
	uint64_t pin_mul; /* random odd multiplier: peers cannot aim hashes at one slot */
};

static void
rel_path(const uint8_t h[HASH_LEN], char out[REL_LEN])
{
	static const char d[] = "0123456789abcdef";

	out[0] = d[h[0] >> 4];
	out[1] = d[h[0] & 15];
	out[2] = '/';
	out[3] = d[h[1] >> 4];
	out[4] = d[h[1] & 15];
	out[5] = '/';
	hex_encode(h, HASH_LEN, out + 6);
}

void
store_chunk_path(const struct store *s, const uint8_t h[HASH_LEN], char *buf, size_t len)
{
	char rel[REL_LEN];

	rel_path(h, rel);
	snprintf(buf, len, "%s/%s", s->dir, rel);
}

/* "no space left on device" is what callers (and the API's 507) look for. */
static const char *
err_str(int e)
{
	if (e == ENOSPC)
		return "no space left on device";
	if (e == EDQUOT)
		return "no space left on device (disk quota exceeded)";
	return strerror(e);
}

/* Sets *cause to "<what> <hex>: <error>" keeping errno. Returns -1. */
static int
chunk_cause(char **cause, const char *what, const uint8_t h[HASH_LEN], int e)
{
	char hex[HASH_HEX];

	hex_encode(h, HASH_LEN, hex);
	set_cause(cause, "%s %s: %s", what, hex, err_str(e));
	errno = e;
	return -1;
}

/* Removes every entry of chunks/tmp (files left by a crash or a killed writer). */
static int
empty_tmp(struct store *s, char **cause)
{
	DIR *d;
	struct dirent *de;
	int fd;

	fd = openat(s->dfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return set_cause(cause, "%s/tmp: %s", s->dir, strerror(errno));
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return set_cause(cause, "%s/tmp: %s", s->dir, strerror(errno));
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == -1 && errno != ENOENT)
			log_warn("remove %s/tmp/%s", s->dir, de->d_name);
	}
	if (errno != 0) {
		int e = errno;
		closedir(d);
		return set_cause(cause, "%s/tmp: %s", s->dir, strerror(e));
	}
	closedir(d);
	return 0;
}

int
store_open(struct store **out, const char *datadir, char **cause)
{
	return store_open_flags(out, datadir, 0, cause);
}

int
store_open_flags(struct store **out, const char *datadir, int flags, char **cause)
{
	struct store *s;
	char *tmp = NULL;

	*out = NULL;
	s = xcalloc(1, sizeof *s);
	s->dfd = -1;
	s->rdonly = (flags & STORE_RDONLY) != 0;
	xasprintf(&s->dir, "%s/chunks", datadir);
	xasprintf(&tmp, "%s/tmp", s->dir);
	if (!s->rdonly && mkdir_p(tmp, 0755) == -1) {
		set_cause(cause, "create %s: %s", tmp, strerror(errno));
		goto fail;
	}
	s->dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd == -1 && s->rdonly && errno == ENOENT) {
		/* A node that never stored anything: an empty store, for a reader. */
	} else if (s->dfd == -1) {
		set_cause(cause, "open %s: %s", s->dir, strerror(errno));
		goto fail;
	}
	/* Only the owner (the daemon) may clean tmp/: a reader running beside it would
	 * delete chunks that an upload is writing. */
	if (!s->rdonly && empty_tmp(s, cause) == -1)
		goto fail;

	if (getrandom(&s->pin_mul, sizeof s->pin_mul, GRND_NONBLOCK) != sizeof s->pin_mul)
		s->pin_mul = (uint64_t)mono_ms() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	s->pin_mul |= 1;
	if (pthread_mutex_init(&s->pin_mtx, NULL) != 0)
		fatalx("pthread_mutex_init");
	s->pins_cap = PINS_MIN;
	s->pins = xcalloc(s->pins_cap, sizeof *s->pins);
	free(tmp);
	*out = s;
	return 0;
fail:
	free(tmp);
	if (s->dfd != -1)
		close(s->dfd);
	free(s->dir);
	free(s);
	return -1;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->dfd != -1)
		close(s->dfd);
	pthread_mutex_destroy(&s->pin_mtx);
	free(s->pins);
	free(s->dir);
	free(s);
}

void
store_set_inline_max(struct store *s, size_t n)
{
	s->inline_max = n < STORE_INLINE_MAX_LIMIT ? n : STORE_INLINE_MAX_LIMIT;
}

size_t
store_inline_max(const struct store *s)
{
	return s->inline_max;
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) { /* should not happen for a regular file; do not spin */
			errno = ENOSPC;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* mkdir ab and ab/cd under the chunks directory; another thread may win the race. */
static int
make_dirs(struct store *s, const char *rel)
{
	char d[6];

	memcpy(d, rel, 2);
	d[2] = '\0';
	if (mkdirat(s->dfd, d, 0755) == -1 && errno != EEXIST)
		return -1;
	memcpy(d, rel, 5);
	d[5] = '\0';
	if (mkdirat(s->dfd, d, 0755) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

static void
sum_set(int fd, const void *p, size_t n)
{
	XXH64_canonical_t c;

	XXH64_canonicalFromHash(&c, XXH3_64bits(p, n));
	/* ENOTSUP (no user xattrs here), ENOSPC, ...: the chunk just has no checksum and
	 * its reads re-hash SHA-256 */
	(void)fsetxattr(fd, SUM_XATTR, &c, sizeof c, 0);
}

/* 1 and *sum when the chunk file carries a well-formed checksum, else 0. */
static int
sum_get(int fd, uint64_t *sum)
{
	XXH64_canonical_t c;

	if (fgetxattr(fd, SUM_XATTR, &c, sizeof c) != (ssize_t)sizeof c)
		return 0;
	*sum = XXH64_hashFromCanonical(&c);
	return 1;
}

int
store_chunk_has_sum(struct store *s, const uint8_t h[HASH_LEN])
{
	uint64_t sum;
	int fd, rc;

	if (store_open_chunk(s, h, &fd, NULL, NULL) != 0)
		return 0;
	rc = sum_get(fd, &sum);
	close(fd);
	return rc;
}

int
store_write_chunk(struct store *s, const uint8_t h[HASH_LEN], const void *p, size_t n,
    char **cause)
{
	char tmp[TMP_NAME_LEN], rel[REL_LEN];
	int fd, e;

	if (s->rdonly) {
		errno = EROFS;
		return set_cause(cause, "the chunk store was opened read-only");
	}
	for (;;) {
		snprintf(tmp, sizeof tmp, "tmp/%ld-%llu", (long)getpid(),
		    (unsigned long long)atomic_fetch_add(&s->seq, 1));
		fd = openat(s->dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd != -1)
			break;
		if (errno != EEXIST) /* EEXIST: a leftover of another process; next name */
			return chunk_cause(cause, "create chunk", h, errno);
	}
	if (write_all(fd, p, n) == -1) {
		e = errno;
		close(fd);
		goto fail;
	}
	sum_set(fd, p, n);
	/* Start writeback now, without waiting for it: by the time store_sync() runs for
	 * the batch, most bytes are on their way and the syncfs() has little left. */
	if (n > 0)
		(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	if (close(fd) == -1) { /* NFS and quotas may report ENOSPC/EDQUOT only here */
		e = errno;
		goto fail;
	}
	rel_path(h, rel);
	if (renameat(s->dfd, tmp, s->dfd, rel) == 0)
		return 0;
	if (errno != ENOENT || make_dirs(s, rel) == -1 ||
	    renameat(s->dfd, tmp, s->dfd, rel) == -1) {
		e = errno;
		goto fail;
	}
	return 0;
fail:
	unlinkat(s->dfd, tmp, 0);
	return chunk_cause(cause, "write chunk", h, e);
}

int
store_sync(struct store *s, char **cause)
{
	if (syncfs(s->dfd) == -1) {
		int e = errno;
		set_cause(cause, "sync %s: %s", s->dir, err_str(e));
		errno = e;
		return -1;
	}
	return 0;
}

int
store_open_chunk(struct store *s, const uint8_t h[HASH_LEN], int *fd, uint64_t *size,
    char **cause)
{
	char rel[REL_LEN];
	struct stat st;
	int f;

	*fd = -1;
	if (s->dfd == -1) /* read-only open of a store that does not exist yet */
		return 1;
	rel_path(h, rel);
	f = openat(s->dfd, rel, O_RDONLY | O_CLOEXEC);
	if (f == -1) {
		if (errno == ENOENT)
			return 1;
		return chunk_cause(cause, "open chunk", h, errno);
	}
	if (fstat(f, &st) == -1) {
		int e = errno;
		close(f);
		return chunk_cause(cause, "stat chunk", h, e);
	}
	if (!S_ISREG(st.st_mode)) {
		close(f);
		return set_cause(cause, "chunk %s/%s is not a regular file", s->dir, rel);
	}
	*fd = f;
	if (size != NULL)
		*size = (uint64_t)st.st_size;
	return 0;
}

int
store_read_chunk(struct store *s, const uint8_t h[HASH_LEN], void *buf, size_t max,
    size_t *n, char **cause)
{
	uint8_t got[HASH_LEN], extra;
	uint64_t size, sum;
	ssize_t r;
	int fd, rc;

	*n = 0;
	if ((rc = store_open_chunk(s, h, &fd, &size, cause)) != 0)
		return rc;
	if (size > max) { /* larger than the caller's expected length */
		close(fd);
		return 2;
	}
	if ((r = fd_read_full(fd, buf, max, -1)) == -1)
		goto err;
	*n = (size_t)r;
	if ((size_t)r == max && max > 0) { /* the file must end here */
		ssize_t x = fd_read_full(fd, &extra, 1, -1);
		if (x == -1)
			goto err;
		if (x != 0) {
			close(fd);
			return 2;
		}
	}
	if (sum_get(fd, &sum) && XXH3_64bits(buf, *n) == sum) {
		close(fd);
		return 0;
	}
	/* no checksum (written before checksums, or copied in) or a mismatch: SHA-256
	 * decides, and a good chunk gets its checksum (again) */
	hash_buf(buf, *n, got);
	rc = memcmp(got, h, HASH_LEN) == 0 ? 0 : 2;
	if (rc == 0 && !s->rdonly)
		sum_set(fd, buf, *n);
	close(fd);
	return rc;
err:
	rc = errno;
	close(fd);
	return chunk_cause(cause, "read chunk", h, rc);
}

int
store_verify_chunk(struct store *s, const uint8_t h[HASH_LEN], uint64_t *size,
    char **cause)
{
	uint8_t got[HASH_LEN], *buf = NULL;
	EVP_MD_CTX *ctx = NULL;
	uint64_t total = 0, st_size;
	int fd, rc, e;

	if (size != NULL)
		*size = 0;
	if ((rc = store_open_chunk(s, h, &fd, &st_size, cause)) != 0)
		return rc;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	buf = xmalloc(VERIFY_BUF);
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		fatalx("EVP_MD_CTX_new");
	if (EVP_DigestInit_ex(ctx, sha256_md(), NULL) != 1)
		fatalx("EVP_DigestInit_ex sha256");
	for (;;) {
		ssize_t r = read(fd, buf, VERIFY_BUF);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			e = errno;
			rc = chunk_cause(cause, "read chunk", h, e);
			goto out;
		}
		if (r == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)r) != 1)
			fatalx("EVP_DigestUpdate");
		total += (uint64_t)r;
	}
	if (EVP_DigestFinal_ex(ctx, got, NULL) != 1)
		fatalx("EVP_DigestFinal_ex");
	if (size != NULL)
		*size = total;
	rc = (memcmp(got, h, HASH_LEN) == 0 && total == st_size) ? 0 : 2;
out:
	e = errno;
	EVP_MD_CTX_free(ctx);
	free(buf);
	close(fd);
	errno = e;
	return rc;
}

/* --- pins: counted hash set, open addressing with backward-shift deletion --- */

static size_t
pin_home(const struct store *s, const uint8_t h[HASH_LEN], size_t cap)
{
	uint64_t x;

	memcpy(&x, h, sizeof x);
	x *= s->pin_mul; /* multiply-shift: the top log2(cap) bits */
	return (size_t)(x >> (64 - __builtin_ctzll((unsigned long long)cap)));
}

/* Slot holding h, or the empty slot where it would go. Caller holds pin_mtx. */
static size_t
pin_slot(const struct store *s, const uint8_t h[HASH_LEN])
{
	size_t mask = s->pins_cap - 1, i = pin_home(s, h, s->pins_cap);

	while (s->pins[i].n != 0 && memcmp(s->pins[i].h, h, HASH_LEN) != 0)
		i = (i + 1) & mask;
	return i;
}

static void
pin_resize(struct store *s, size_t cap)
{
	struct pin *old = s->pins;
	size_t oldcap = s->pins_cap;

	s->pins = xcalloc(cap, sizeof *s->pins);
	s->pins_cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].n != 0)
			s->pins[pin_slot(s, old[i].h)] = old[i];
	}
	free(old);
}

void
store_pin(struct store *s, const uint8_t h[HASH_LEN])
{
	size_t i;

	pthread_mutex_lock(&s->pin_mtx);
	i = pin_slot(s, h);
	if (s->pins[i].n != 0) {
		if (s->pins[i].n == UINT32_MAX)
			fatalx("pin count overflow");
		s->pins[i].n++;
		goto out;
	}
	if ((s->pins_used + 1) * 2 > s->pins_cap) { /* load factor <= 1/2 */
		if (s->pins_cap > SIZE_MAX / 2 / sizeof *s->pins)
			fatalx("pin table too large");
		pin_resize(s, s->pins_cap * 2);
		i = pin_slot(s, h);
	}
	memcpy(s->pins[i].h, h, HASH_LEN);
	s->pins[i].n = 1;
	s->pins_used++;
out:
	pthread_mutex_unlock(&s->pin_mtx);
}

void
store_unpin(struct store *s, const uint8_t h[HASH_LEN])
{
	size_t mask, i, j;

	pthread_mutex_lock(&s->pin_mtx);
	i = pin_slot(s, h);
	if (s->pins[i].n == 0) {
		char hex[HASH_HEX];
		hex_encode(h, HASH_LEN, hex);
		log_warnx("unpin of chunk %s that is not pinned", hex);
		goto out;
	}
	if (--s->pins[i].n != 0)
		goto out;
	/* Backward shift: move later entries of the cluster into the hole when their
	 * home slot does not lie cyclically in (hole, j]. */
	mask = s->pins_cap - 1;
	j = i;
	for (;;) {
		size_t k;

		j = (j + 1) & mask;
		if (s->pins[j].n == 0)
			break;
		k = pin_home(s, s->pins[j].h, s->pins_cap);
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		s->pins[i] = s->pins[j];
		i = j;
	}
	s->pins[i].n = 0;
	s->pins_used--;
	if (s->pins_cap > PINS_MIN && s->pins_used * 8 < s->pins_cap)
		pin_resize(s, s->pins_cap / 2);
out:
	pthread_mutex_unlock(&s->pin_mtx);
}

static int
pinned_locked(struct store *s, const uint8_t h[HASH_LEN])
{
	return s->pins[pin_slot(s, h)].n != 0;
}

int
store_pinned(struct store *s, const uint8_t h[HASH_LEN])
{
	int r;

	pthread_mutex_lock(&s->pin_mtx);
	r = pinned_locked(s, h);
	pthread_mutex_unlock(&s->pin_mtx);
	return r;
}

size_t
store_pin_count(struct store *s)
{
	size_t n;

	pthread_mutex_lock(&s->pin_mtx);
	n = s->pins_used;
	pthread_mutex_unlock(&s->pin_mtx);
	return n;
}

int
store_gc_chunk(struct store *s, const uint8_t h[HASH_LEN],
    int (*forget)(void *arg, const uint8_t h[HASH_LEN]), void *arg)
{
	char rel[REL_LEN];
	int rc;

	pthread_mutex_lock(&s->pin_mtx);
	if (pinned_locked(s, h)) {
		rc = 0;
		goto out;
	}
	rc = forget(arg, h);
	if (rc != 1) {
		rc = rc == 0 ? 0 : -1;
		goto out;
	}
	rel_path(h, rel);
	if (unlinkat(s->dfd, rel, 0) == -1 && errno != ENOENT) {
		log_warn("remove chunk %s/%s", s->dir, rel);
		rc = -1;
	}
out:
	pthread_mutex_unlock(&s->pin_mtx);
	return rc;
}

/* --- walk --- */

static int
is_lower_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	}
	return 1;
}

static int
is_dir(int dfd, const struct dirent *de)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return 0;
	return S_ISDIR(st.st_mode);
}

/* Opens dir name under dfd for reading; NULL with errno. */
static DIR *
open_sub(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd == -1)
		return NULL;
	if ((d = fdopendir(fd)) == NULL) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return d;
}

/* Leaf level: chunks/<a>/<b>/<files>. Returns 0 go on, 1 stopped, -1 error. */
static int
walk_leaf(struct store *s, DIR *d, const char *a, const char *b,
    int (*cb)(void *, const uint8_t *, const char *), void *arg, char **cause)
{
	struct dirent *de;
	char path[PATH_MAX];
	uint8_t h[HASH_LEN];

	while ((errno = 0, de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		int ok;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s/%s/%s", s->dir, a, b, name);
		/* A chunk's name is its hash and it must sit in the directories its first
		 * two bytes name; anything else is not a chunk the store would ever find. */
		ok = strlen(name) == 2 * HASH_LEN && is_lower_hex(name, 2 * HASH_LEN) &&
		    memcmp(name, a, 2) == 0 && memcmp(name + 2, b, 2) == 0 &&
		    !is_dir(dirfd(d), de) && hex_decode(name, h, HASH_LEN) == 0;
		if (cb(arg, ok ? h : NULL, path) != 0)
			return 1;
	}
	if (errno != 0)
		return set_cause(cause, "read %s/%s/%s: %s", s->dir, a, b, strerror(errno));
	return 0;
}

int
store_walk(struct store *s, int (*cb)(void *arg, const uint8_t *h, const char *path),
    void *arg, char **cause)
{
	DIR *top, *mid = NULL, *leaf = NULL;
	struct dirent *de1, *de2;
	int rc = 0;

	if (s->dfd == -1) /* read-only open of a store that does not exist yet */
		return 0;
	if ((top = open_sub(s->dfd, ".")) == NULL)
		return set_cause(cause, "open %s: %s", s->dir, strerror(errno));
	while (rc == 0 && (errno = 0, de1 = readdir(top)) != NULL) {
		char a[3];

		if (strlen(de1->d_name) != 2 || strcmp(de1->d_name, "..") == 0 ||
		    !is_dir(dirfd(top), de1))
			continue; /* ".", "..", "tmp", strays */
		memcpy(a, de1->d_name, 3);
		if ((mid = open_sub(dirfd(top), a)) == NULL) {
			if (errno == ENOENT)
				continue;
			rc = set_cause(cause, "open %s/%s: %s", s->dir, a, strerror(errno));
			break;
		}
		while (rc == 0 && (errno = 0, de2 = readdir(mid)) != NULL) {
			char b[3];

			if (strlen(de2->d_name) != 2 || strcmp(de2->d_name, "..") == 0 ||
			    !is_dir(dirfd(mid), de2))
				continue;
			memcpy(b, de2->d_name, 3);
			if ((leaf = open_sub(dirfd(mid), b)) == NULL) {
				if (errno == ENOENT)
					continue;
				rc = set_cause(cause, "open %s/%s/%s: %s", s->dir, a, b,
				    strerror(errno));
				break;
			}
			rc = walk_leaf(s, leaf, a, b, cb, arg, cause);
			closedir(leaf);
			leaf = NULL;
		}
		if (rc == 0 && errno != 0)
			rc = set_cause(cause, "read %s/%s: %s", s->dir, a, strerror(errno));
		closedir(mid);
		mid = NULL;
	}
	if (rc == 0 && errno != 0)
		rc = set_cause(cause, "read %s: %s", s->dir, strerror(errno));
	closedir(top);
	return rc == 1 ? 0 : rc;
}
