/* stage.c: build one file version from its parts, in order.
 *
 * Per part: SHA-256 of the chunk, the same bytes fed to the whole-file SHA-256, pin,
 * ask the caller whether the database already holds the chunk, write it if not. The
 * data is never copied here (the write goes straight from the caller's buffer), so the
 * cost of a part is two SHA-256 passes plus one write(2).
 *
 * A chunk that repeats within the stage (zero-filled regions, say) is pinned again but
 * neither looked up nor written again: its first put already wrote it or found it in
 * the database, and our pin keeps GC away from it. A small index of this stage's chunk
 * hashes finds repeats.
 *
 * A part that fails after the whole-file hash took its bytes (have() or the write
 * failing) leaves the stage dead: later puts and stage_finish fail. That matches the
 * upload API, where an error ends the session. Argument errors (empty part, part too
 * long, part after a short one) change nothing. */
#include "store/store.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct stage {
	struct store *s;
	uint32_t chunk_size;
	uint64_t size;
	uint64_t nparts;
	int short_seen; /* a part shorter than chunk_size was put: it must be the last */
	int dead;       /* a put failed half-way */
	int finished;
	EVP_MD_CTX *file; /* whole-file SHA-256 */
	EVP_MD_CTX *chunk;
	uint8_t (*chunks)[HASH_LEN]; /* nparts entries, each pinned once */
	size_t cap;
	uint32_t *idx;    /* open addressing: part number + 1 of a distinct hash, 0 empty */
	size_t idx_cap;   /* power of two, >= 2 * distinct hashes */
	size_t idx_used;
	uint64_t idx_mul; /* random odd multiplier (peers choose the content) */
};

#define IDX_MIN 64

static size_t
idx_home(const struct stage *st, const uint8_t h[HASH_LEN])
{
	uint64_t x;

	memcpy(&x, h, sizeof x);
	x *= st->idx_mul;
	return (size_t)(x >> (64 - __builtin_ctzll((unsigned long long)st->idx_cap)));
}

/* Slot of h in the index, or the empty slot where it would go. */
static size_t
idx_slot(const struct stage *st, const uint8_t h[HASH_LEN])
{
	size_t mask = st->idx_cap - 1, i = idx_home(st, h);

	while (st->idx[i] != 0 && memcmp(st->chunks[st->idx[i] - 1], h, HASH_LEN) != 0)
		i = (i + 1) & mask;
	return i;
}

/* Record part nparts (already in st->chunks) as the first of its hash. */
static void
idx_add(struct stage *st, size_t slot)
{
	if ((st->idx_used + 1) * 2 > st->idx_cap) {
		uint32_t *old = st->idx;
		size_t oldcap = st->idx_cap;

		st->idx_cap *= 2;
		st->idx = xcalloc(st->idx_cap, sizeof *st->idx);
		for (size_t i = 0; i < oldcap; i++) {
			if (old[i] != 0)
				st->idx[idx_slot(st, st->chunks[old[i] - 1])] = old[i];
		}
		free(old);
		slot = idx_slot(st, st->chunks[st->nparts]);
	}
	st->idx[slot] = (uint32_t)st->nparts + 1;
	st->idx_used++;
}

static EVP_MD_CTX *
sha256_ctx(void)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
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
	st->file = sha256_ctx();
	st->chunk = sha256_ctx();
	st->idx_cap = IDX_MIN;
	st->idx = xcalloc(st->idx_cap, sizeof *st->idx);
	if (getrandom(&st->idx_mul, sizeof st->idx_mul, GRND_NONBLOCK) != sizeof st->idx_mul)
		st->idx_mul = (uint64_t)(uintptr_t)st * 0x9e3779b97f4a7c15ull ^ mono_ms();
	st->idx_mul |= 1;
	return st;
}

int
stage_put(struct stage *st, const void *p, size_t n,
    int (*have)(void *arg, const uint8_t h[HASH_LEN]), void *arg, char **cause)
{
	uint8_t h[HASH_LEN];
	size_t slot;
	int rc;

	if (st->dead)
		return set_cause(cause, "stage: an earlier part failed");
	if (st->finished)
		return set_cause(cause, "stage: already finished");
	if (n == 0)
		return set_cause(cause, "stage: empty part");
	if (n > st->chunk_size)
		return set_cause(cause, "stage: part of %zu bytes exceeds the chunk size %u", n,
		    st->chunk_size);
	if (st->short_seen)
		return set_cause(cause, "stage: part after a short final part");
	if (st->nparts >= MANIFEST_MAX_CHUNKS)
		return set_cause(cause, "stage: more than %llu parts",
		    (unsigned long long)MANIFEST_MAX_CHUNKS);

	if (EVP_DigestInit_ex(st->chunk, NULL, NULL) != 1 ||
	    EVP_DigestUpdate(st->chunk, p, n) != 1 ||
	    EVP_DigestFinal_ex(st->chunk, h, NULL) != 1 ||
	    EVP_DigestUpdate(st->file, p, n) != 1)
		fatalx("stage: EVP sha256 failed");

	/* Pin before asking the database, so GC cannot remove the chunk in between. */
	store_pin(st->s, h);
	slot = idx_slot(st, h);
	if (st->idx[slot] != 0)
		rc = 0; /* a repeat within this stage: already stored and pinned by us */
	else if ((rc = have(arg, h)) == 0)
		rc = store_write_chunk(st->s, h, p, n, cause);
	else if (rc == 1)
		rc = 0;
	else
		rc = set_cause(cause, "stage: chunk lookup failed");
	if (rc == -1) {
		store_unpin(st->s, h);
		st->dead = 1;
		return -1;
	}

	if (st->nparts == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 16;
		st->chunks = xreallocarray(st->chunks, st->cap, HASH_LEN);
	}
	memcpy(st->chunks[st->nparts], h, HASH_LEN);
	if (st->idx[slot] == 0)
		idx_add(st, slot);
	st->nparts++;
	st->size += n;
	if (n < st->chunk_size)
		st->short_seen = 1;
	return 0;
}

uint64_t
stage_size(const struct stage *st)
{
	return st->size;
}

uint64_t
stage_nparts(const struct stage *st)
{
	return st->nparts;
}

int
stage_finish(struct stage *st, struct manifest *m, char **cause)
{
	if (st->dead)
		return set_cause(cause, "stage: an earlier part failed");
	if (st->finished)
		return set_cause(cause, "stage: already finished");
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
	return 0;
}

void
stage_free(struct stage *st)
{
	if (st == NULL)
		return;
	for (uint64_t i = 0; i < st->nparts; i++)
		store_unpin(st->s, st->chunks[i]);
	EVP_MD_CTX_free(st->file);
	EVP_MD_CTX_free(st->chunk);
	free(st->chunks);
	free(st->idx);
	free(st);
}
