/* stage.c: build one file version from its parts.
 *
 * A part is one chunk. Storing it (stage_part) and hashing it into the whole-file
 * SHA-256 (stage_feed) are separate, so the daemon can store the parts of one upload on
 * several worker threads at once, in any order, while one thread at a time feeds the
 * file hash in order. That split is what lets one store use more than one core: the
 * file hash is the only step that has to follow the byte order.
 *
 * stage_part: SHA-256 of the chunk, pin, ask the caller whether the database already
 * holds the chunk, write it if not. A chunk over the store's inline limit is written as
 * a file straight from the caller's buffer; one up to it is copied into the stage, for
 * the commit to put in the database, while the stage holds under 1 MiB of such copies
 * (STAGE_INLINE_BYTES; beyond, small chunks are files too, so memory stays bounded).
 *
 * A chunk that repeats within the stage (zero-filled regions, say) is pinned again but
 * neither looked up nor written again: the first part to carry it (in time, whatever
 * its number) writes it or finds it in the database, and our pin keeps GC away from it.
 * A small index of this stage's chunk hashes finds repeats. stage_finish refuses while
 * any part is still being stored, so a repeat never outlives the write it relies on.
 *
 * A part that fails half-way (have() or the write failing) leaves the stage dead: later
 * parts and stage_finish fail. That matches the upload API, where an error ends the
 * session. Argument errors (empty part, part too long, a part number taken twice, a part
 * after a short one) change nothing. */
#include "store/store.h"
#include "lib/log.h"
#include "lib/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

enum { PART_FREE, PART_BUSY, PART_DONE };

struct stage {
	struct store *s;
	uint32_t chunk_size;

	pthread_mutex_t mtx;  /* everything down to the file hash */
	uint64_t size;        /* bytes of the parts stored */
	uint64_t nparts;      /* parts stored */
	uint64_t nslots;      /* 1 + the highest part number taken */
	uint64_t short_part;  /* 1 + the number of a part shorter than chunk_size, 0 none */
	unsigned busy;        /* parts being stored */
	int dead;             /* a part failed half-way */
	int finished;
	uint8_t (*chunks)[HASH_LEN]; /* per part number: its hash once it was hashed */
	uint8_t *state;              /* per part number: PART_FREE, PART_BUSY, PART_DONE */
	size_t cap;
	uint32_t *idx;    /* open addressing: part number + 1 of a distinct hash, 0 empty */
	size_t idx_cap;   /* power of two, >= 2 * distinct hashes */
	size_t idx_used;
	uint64_t idx_mul; /* random odd multiplier (peers choose the content) */

	/* the whole-file SHA-256: stage_feed only, one thread at a time, in order */
	EVP_MD_CTX *file;
	uint64_t fed;
	uint64_t fed_size;
	int fed_short;

	/* under mtx: the chunks kept inline (copies), and the count written as files */
	struct stage_chunk *inl;
	size_t ninl, inl_cap, inl_bytes;
	uint64_t files;
};

#define IDX_MIN 64
/* At most this many bytes of inline copies per stage; further small chunks are files. */
#define STAGE_INLINE_BYTES (1u << 20)

static size_t
idx_home(const struct stage *st, const uint8_t h[HASH_LEN])
{
	uint64_t x;

	memcpy(&x, h, sizeof x);
	x *= st->idx_mul;
	return (size_t)(x >> (64 - __builtin_ctzll((unsigned long long)st->idx_cap)));
}

/* Slot of h in the index, or the empty slot where it would go. Under mtx. */
static size_t
idx_slot(const struct stage *st, const uint8_t h[HASH_LEN])
{
	size_t mask = st->idx_cap - 1, i = idx_home(st, h);

	while (st->idx[i] != 0 && memcmp(st->chunks[st->idx[i] - 1], h, HASH_LEN) != 0)
		i = (i + 1) & mask;
	return i;
}

/* Record part i (its hash already in st->chunks) as the first of its hash. Under mtx. */
static void
idx_add(struct stage *st, size_t slot, uint64_t i)
{
	if ((st->idx_used + 1) * 2 > st->idx_cap) {
		uint32_t *old = st->idx;
		size_t oldcap = st->idx_cap;

		st->idx_cap *= 2;
		st->idx = xcalloc(st->idx_cap, sizeof *st->idx);
		for (size_t k = 0; k < oldcap; k++) {
			if (old[k] != 0)
				st->idx[idx_slot(st, st->chunks[old[k] - 1])] = old[k];
		}
		free(old);
		slot = idx_slot(st, st->chunks[i]);
	}
	st->idx[slot] = (uint32_t)i + 1;
	st->idx_used++;
}

/* Room for part number i in chunks[] and state[]. Under mtx. */
static void
grow(struct stage *st, uint64_t i)
{
	size_t cap = st->cap;

	if (i < cap)
		return;
	while (cap <= i)
		cap = cap ? cap * 2 : 16;
	st->chunks = xreallocarray(st->chunks, cap, HASH_LEN);
	st->state = xreallocarray(st->state, cap, 1);
	memset(st->state + st->cap, PART_FREE, cap - st->cap);
	st->cap = cap;
}

static EVP_MD_CTX *
sha256_ctx(void)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL || EVP_DigestInit_ex(ctx, sha256_md(), NULL) != 1)
		fatalx("EVP sha256 init failed");
	return ctx;
}

struct stage *
stage_new(struct store *s, uint32_t chunk_size)
{
	struct stage *st;

	if (chunk_size < CHUNK_SIZE_MIN || chunk_size > CHUNK_SIZE_MAX)
		return NULL;
	st = xcalloc(1, sizeof *st);
	st->s = s;
	st->chunk_size = chunk_size;
	if (pthread_mutex_init(&st->mtx, NULL) != 0)
		fatalx("pthread_mutex_init");
	st->file = sha256_ctx();
	st->idx_cap = IDX_MIN;
	st->idx = xcalloc(st->idx_cap, sizeof *st->idx);
	if (getrandom(&st->idx_mul, sizeof st->idx_mul, GRND_NONBLOCK) != sizeof st->idx_mul)
		st->idx_mul = (uint64_t)(uintptr_t)st * 0x9e3779b97f4a7c15ull ^ mono_ms();
	st->idx_mul |= 1;
	return st;
}

/* Take part number i for a part of n bytes: the argument checks. Under mtx. */
static int
part_take(struct stage *st, uint64_t i, size_t n, char **cause)
{
	if (st->dead)
		return set_cause(cause, "stage: an earlier part failed");
	if (st->finished)
		return set_cause(cause, "stage: already finished");
	if (n == 0)
		return set_cause(cause, "stage: empty part");
	if (n > st->chunk_size)
		return set_cause(cause, "stage: part of %zu bytes exceeds the chunk size %u", n,
		    st->chunk_size);
	if (i >= MANIFEST_MAX_CHUNKS)
		return set_cause(cause, "stage: more than %llu parts",
		    (unsigned long long)MANIFEST_MAX_CHUNKS);
	if (st->short_part != 0 && i + 1 > st->short_part)
		return set_cause(cause, "stage: part after a short final part");
	if (n < st->chunk_size && st->nslots > i + 1)
		return set_cause(cause, "stage: short part %llu before part %llu",
		    (unsigned long long)i, (unsigned long long)(st->nslots - 1));
	if (i < st->cap && st->state[i] != PART_FREE)
		return set_cause(cause, "stage: part %llu was put twice", (unsigned long long)i);
	grow(st, i);
	st->state[i] = PART_BUSY;
	if (i + 1 > st->nslots)
		st->nslots = i + 1;
	if (n < st->chunk_size)
		st->short_part = i + 1;
	st->busy++;
	return 0;
}

/* Keep a copy of a chunk to be stored inline: 0, or 1 when the stage holds
 * STAGE_INLINE_BYTES of copies already (the caller writes a file instead: a large file
 * of small chunks must not sit in memory until its commit). */
static int
inline_add(struct stage *st, const uint8_t h[HASH_LEN], const void *p, size_t n)
{
	void *copy;

	pthread_mutex_lock(&st->mtx);
	if (st->inl_bytes + n > STAGE_INLINE_BYTES) {
		pthread_mutex_unlock(&st->mtx);
		return 1;
	}
	st->inl_bytes += n;
	pthread_mutex_unlock(&st->mtx);
	copy = xmalloc(n > 0 ? n : 1);
	memcpy(copy, p, n);
	pthread_mutex_lock(&st->mtx);
	if (st->ninl == st->inl_cap) {
		st->inl_cap = st->inl_cap ? 2 * st->inl_cap : 4;
		st->inl = xreallocarray(st->inl, st->inl_cap, sizeof *st->inl);
	}
	memcpy(st->inl[st->ninl].h, h, HASH_LEN);
	st->inl[st->ninl].p = copy;
	st->inl[st->ninl].n = n;
	st->ninl++;
	pthread_mutex_unlock(&st->mtx);
	return 0;
}

static int
file_add(struct stage *st, const uint8_t h[HASH_LEN], const void *p, size_t n,
    char **cause)
{
	if (store_write_chunk(st->s, h, p, n, cause) == -1)
		return -1;
	pthread_mutex_lock(&st->mtx);
	st->files++;
	pthread_mutex_unlock(&st->mtx);
	return 0;
}

size_t
stage_inline(const struct stage *st, const struct stage_chunk **out)
{
	*out = st->inl;
	return st->ninl;
}

uint64_t
stage_files_written(const struct stage *st)
{
	return st->files;
}

int
stage_part(struct stage *st, uint64_t i, const void *p, size_t n,
    int (*have)(void *arg, const uint8_t h[HASH_LEN]), void *arg, char **cause)
{
	uint8_t h[HASH_LEN];
	size_t slot;
	int rc, repeat;

	pthread_mutex_lock(&st->mtx);
	rc = part_take(st, i, n, cause);
	pthread_mutex_unlock(&st->mtx);
	if (rc == -1)
		return -1;

	hash_buf(p, n, h);
	/* Pin before asking the database, so GC cannot remove the chunk in between. */
	store_pin(st->s, h);
	pthread_mutex_lock(&st->mtx);
	memcpy(st->chunks[i], h, HASH_LEN);
	slot = idx_slot(st, h);
	if ((repeat = st->idx[slot] != 0) == 0)
		idx_add(st, slot, i); /* the first part with this hash: it stores it */
	pthread_mutex_unlock(&st->mtx);

	if (repeat)
		rc = 0; /* stored (or being stored) by another part of this stage, pinned */
	else if ((rc = have(arg, h)) == 0) {
		rc = n <= store_inline_max(st->s) ? inline_add(st, h, p, n) : 1;
		if (rc == 1)
			rc = file_add(st, h, p, n, cause);
	}
	else if (rc == 1)
		rc = 0;
	else
		rc = set_cause(cause, "stage: chunk lookup failed");

	pthread_mutex_lock(&st->mtx);
	st->busy--;
	if (rc == 0) {
		st->state[i] = PART_DONE;
		st->nparts++;
		st->size += n;
	} else {
		st->state[i] = PART_FREE;
		st->dead = 1;
	}
	pthread_mutex_unlock(&st->mtx);
	if (rc == -1)
		store_unpin(st->s, h);
	return rc;
}

int
stage_feed(struct stage *st, const void *p, size_t n, char **cause)
{
	if (n == 0 || n > st->chunk_size)
		return set_cause(cause, "stage: fed a part of %zu bytes (chunk size %u)", n,
		    st->chunk_size);
	if (st->fed_short)
		return set_cause(cause, "stage: part fed after a short final part");
	if (EVP_DigestUpdate(st->file, p, n) != 1)
		fatalx("stage: EVP sha256 update failed");
	st->fed++;
	st->fed_size += n;
	if (n < st->chunk_size)
		st->fed_short = 1;
	return 0;
}

int
stage_put(struct stage *st, const void *p, size_t n,
    int (*have)(void *arg, const uint8_t h[HASH_LEN]), void *arg, char **cause)
{
	uint64_t i;

	pthread_mutex_lock(&st->mtx);
	i = st->nslots;
	pthread_mutex_unlock(&st->mtx);
	if (stage_part(st, i, p, n, have, arg, cause) == -1)
		return -1;
	return stage_feed(st, p, n, cause);
}

uint64_t
stage_size(struct stage *st)
{
	uint64_t v;

	pthread_mutex_lock(&st->mtx);
	v = st->size;
	pthread_mutex_unlock(&st->mtx);
	return v;
}

uint64_t
stage_nparts(struct stage *st)
{
	uint64_t v;

	pthread_mutex_lock(&st->mtx);
	v = st->nparts;
	pthread_mutex_unlock(&st->mtx);
	return v;
}

int
stage_finish(struct stage *st, struct manifest *m, char **cause)
{
	int rc = -1;

	pthread_mutex_lock(&st->mtx);
	if (st->dead)
		set_cause(cause, "stage: an earlier part failed");
	else if (st->finished)
		set_cause(cause, "stage: already finished");
	else if (st->busy > 0)
		set_cause(cause, "stage: %u parts are still being stored", st->busy);
	else if (st->nparts != st->nslots)
		set_cause(cause, "stage: %llu of parts 0..%llu were stored (a gap)",
		    (unsigned long long)st->nparts, (unsigned long long)st->nslots - 1);
	else if (st->fed != st->nparts || st->fed_size != st->size)
		set_cause(cause, "stage: the file hash took %llu parts (%llu bytes) of %llu "
		    "(%llu bytes)", (unsigned long long)st->fed, (unsigned long long)st->fed_size,
		    (unsigned long long)st->nparts, (unsigned long long)st->size);
	else
		rc = 0;
	if (rc == -1) {
		pthread_mutex_unlock(&st->mtx);
		return -1;
	}
	manifest_init(m, st->chunk_size);
	if (EVP_DigestFinal_ex(st->file, m->file_hash, NULL) != 1)
		fatalx("stage: EVP sha256 final failed");
	st->finished = 1;
	m->size = st->size;
	m->nchunks = st->nparts;
	if (st->nparts > 0) {
		m->chunks = xreallocarray(NULL, (size_t)st->nparts, HASH_LEN);
		memcpy(m->chunks, st->chunks, (size_t)st->nparts * HASH_LEN);
	}
	pthread_mutex_unlock(&st->mtx);
	return 0;
}

void
stage_free(struct stage *st)
{
	if (st == NULL)
		return;
	for (uint64_t i = 0; i < st->nslots; i++)
		if (st->state[i] == PART_DONE)
			store_unpin(st->s, st->chunks[i]);
	for (size_t k = 0; k < st->ninl; k++)
		free(st->inl[k].p);
	free(st->inl);
	pthread_mutex_destroy(&st->mtx);
	EVP_MD_CTX_free(st->file);
	free(st->chunks);
	free(st->state);
	free(st->idx);
	free(st);
}
