/* store.h: the content-addressed chunk store under a node's data directory.
 *
 *   <datadir>/chunks/ab/cd/<64 hex>   one file per chunk, named by its SHA-256
 *   <datadir>/chunks/tmp/              chunk files being written (emptied by store_open)
 *
 * The store knows files and hashes only; which chunks are referenced is the database's
 * business (db/). Durability protocol (see docs/ARCHITECTURE.md):
 *   1. store_write_chunk(): write tmp file, rename into place (no fsync);
 *   2. store_sync(): one syncfs() for everything written since the last sync;
 *   3. only then the caller commits the DB rows that make the chunks "present".
 * A chunk file without a DB row is an orphan (a crash between 1 and 3) and is never
 * trusted for dedup: dedup asks the database, not the file system.
 *
 * Pins protect chunks that an in-flight store or get relies on from the garbage
 * collector: pin before checking the DB for the chunk, unpin after commit/abort/get end.
 * All functions are thread-safe unless said otherwise. */
#ifndef P2P_STORE_H
#define P2P_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <openssl/evp.h>

#define HASH_LEN 32
#define HASH_HEX (2 * HASH_LEN + 1)
#define CHUNK_SIZE_DEFAULT (1u << 20)
#define CHUNK_SIZE_MIN (4u << 10)
#define CHUNK_SIZE_MAX (16u << 20)
/* Chunks up to the inline limit are not written as files: the caller keeps their bytes
 * in the database (db_chunk_put_inline) in the transaction that records them. */
#define STORE_INLINE_MAX_DEFAULT (16u << 10)
#define STORE_INLINE_MAX_LIMIT (64u << 10)

struct store;

/* Creates <datadir>/chunks and chunks/tmp if needed, removes leftovers in chunks/tmp.
 * Only the data directory's owner (the daemon) may do this. */
int store_open(struct store **out, const char *datadir, char **cause);
/* STORE_RDONLY: for readers beside a running daemon (`p2p verify`): creates nothing,
 * leaves chunks/tmp alone, and store_write_chunk fails with EROFS. */
#define STORE_RDONLY 0x1
int store_open_flags(struct store **out, const char *datadir, int flags, char **cause);
void store_close(struct store *s); /* NULL ok */
/* The inline limit (bytes, 0..STORE_INLINE_MAX_LIMIT; 0 after store_open: none). */
void store_set_inline_max(struct store *s, size_t n);
size_t store_inline_max(const struct store *s);

void store_chunk_path(const struct store *s, const uint8_t h[HASH_LEN], char *buf, size_t len);

/* SHA-256, fetched from the provider once for the process (store/sha256.c).
 * EVP_sha256() and the one-shot SHA256() look the algorithm up again at every use
 * (OpenSSL 3: a lock and a table lookup per call). */
const EVP_MD *sha256_md(void);
/* SHA-256 of a buffer. */
void hash_buf(const void *p, size_t n, uint8_t out[HASH_LEN]);

/* Write a chunk whose hash the caller computed: tmp file + rename. If a file of that
 * name exists it is replaced (it may be an unsynced orphan). 0 ok; -1 with *cause
 * (ENOSPC is reported as "no space left on device"; errno is preserved). */
int store_write_chunk(struct store *s, const uint8_t h[HASH_LEN], const void *p, size_t n,
    char **cause);
/* Make every chunk written so far durable: one syncfs() on the store's file system. */
int store_sync(struct store *s, char **cause);

/* Open a chunk for reading; *size gets its length. 0 ok, 1 missing, -1 error. */
int store_open_chunk(struct store *s, const uint8_t h[HASH_LEN], int *fd, uint64_t *size,
    char **cause);
/* Read a whole chunk (<= max bytes) into buf and check it: good if it matches its at-rest
 * checksum (XXH3-64 in an xattr, set by store_write_chunk), else if it matches its SHA-256
 * name (then the checksum is set, unless read-only).
 * 0 ok, 1 missing, 2 corrupt (checksum, hash or size mismatch), -1 error. */
int store_read_chunk(struct store *s, const uint8_t h[HASH_LEN], void *buf, size_t max,
    size_t *n, char **cause);
/* Re-hash a chunk file (SHA-256; its at-rest checksum plays no part).
 * 0 ok, 1 missing, 2 corrupt, -1 error. */
int store_verify_chunk(struct store *s, const uint8_t h[HASH_LEN], uint64_t *size,
    char **cause);
/* 1 if the chunk file carries an at-rest checksum, else 0 (also when missing). */
int store_chunk_has_sum(struct store *s, const uint8_t h[HASH_LEN]);

/* Pins: a counted set of hashes. */
void store_pin(struct store *s, const uint8_t h[HASH_LEN]);
void store_unpin(struct store *s, const uint8_t h[HASH_LEN]);
int store_pinned(struct store *s, const uint8_t h[HASH_LEN]);
size_t store_pin_count(struct store *s);
/* Garbage collection of one chunk: under the pin lock, if the hash is not pinned, call
 * forget(arg, h) (which deletes the DB row and returns 1 if it was still unreferenced,
 * 0 if not, -1 on error) and, when it returned 1, unlink the file.
 * Returns 1 removed, 0 kept (pinned or referenced), -1 error. */
int store_gc_chunk(struct store *s, const uint8_t h[HASH_LEN],
    int (*forget)(void *arg, const uint8_t h[HASH_LEN]), void *arg);
/* Walk every chunk file (not tmp/); cb returns 0 to go on, non-zero to stop.
 * Files whose names are not 64 lowercase hex digits are reported with h == NULL. */
int store_walk(struct store *s, int (*cb)(void *arg, const uint8_t *h, const char *path),
    void *arg, char **cause);

/* A manifest identifies one version of a file: its size, chunk size, the SHA-256 of the
 * whole content and the ordered chunk hashes (all chunk_size bytes except the last). */
struct manifest {
	uint64_t size;
	uint32_t chunk_size;
	uint64_t nchunks;
	uint8_t file_hash[HASH_LEN];
	uint8_t (*chunks)[HASH_LEN]; /* nchunks entries, owned */
};

#define MANIFEST_MAX_CHUNKS (1ull << 24) /* 16 Mi chunks: 16 TiB at 1 MiB */
void manifest_init(struct manifest *m, uint32_t chunk_size);
void manifest_free(struct manifest *m); /* frees chunks; NULL ok */
void manifest_add(struct manifest *m, const uint8_t h[HASH_LEN]);
/* Expected length of chunk i. */
uint32_t manifest_chunk_len(const struct manifest *m, uint64_t i);
/* Canonical encoding (docs/PROTOCOL.md "Manifest"): encode to a malloc'd buffer. */
int manifest_encode(const struct manifest *m, uint8_t **out, size_t *len);
/* Decode untrusted bytes; checks every bound and that size matches nchunks/chunk_size.
 * 0 ok, -1 with *cause. */
int manifest_decode(struct manifest *m, const void *p, size_t len, char **cause);
/* SHA-256 of the canonical encoding: the version's identity. */
void manifest_hash(const struct manifest *m, uint8_t out[HASH_LEN]);

/* Stage: build one new version from its parts. Part i is bytes [i * chunk_size, ...) of
 * the file: one chunk (chunk_size bytes, the last may be shorter; a 0-byte file has no
 * part). Two halves, which may run on different threads at the same time:
 *   stage_part() stores part i: hashes the chunk, pins it, asks have(arg, h) whether the
 *     DB already holds it (1 yes, 0 no, -1 error) and writes it only if not: as a file,
 *     or, up to the store's inline limit, as a copy kept by the stage for the caller to
 *     record in the database (stage_inline). Thread-safe: any number of threads, parts
 *     in any order, each part number once.
 *   stage_feed() feeds the same bytes to the whole-file SHA-256: every part, strictly in
 *     order, one thread at a time (not thread-safe with itself).
 * stage_put() does both for the next part in order (one thread). A part that fails in
 * have() or the write kills the stage (later parts and stage_finish fail); argument
 * errors change nothing. */
struct stage;
struct stage *stage_new(struct store *s, uint32_t chunk_size);
int stage_part(struct stage *st, uint64_t i, const void *p, size_t n,
    int (*have)(void *arg, const uint8_t h[HASH_LEN]), void *arg, char **cause);
int stage_feed(struct stage *st, const void *p, size_t n, char **cause);
int stage_put(struct stage *st, const void *p, size_t n,
    int (*have)(void *arg, const uint8_t h[HASH_LEN]), void *arg, char **cause);
uint64_t stage_size(struct stage *st);   /* bytes of the parts stored */
uint64_t stage_nparts(struct stage *st); /* parts stored */
/* Finish: fills m (a copy of the chunk list). Fails while a part is being stored, if a
 * part number is missing, or if the file hash was not fed every stored part. Does not
 * sync: the caller batches store_sync() with other stages before committing. Chunks
 * stay pinned. */
int stage_finish(struct stage *st, struct manifest *m, char **cause);
/* Unpin every chunk this stage pinned and free it. NULL ok. */
void stage_free(struct stage *st);
/* The chunks of this stage to be kept inline (not written as files: their bytes, which
 * the stage owns until stage_free), each hash once; and how many chunks were written as
 * files (0: the commit needs no store_sync). Call after stage_finish. */
struct stage_chunk {
	uint8_t h[HASH_LEN];
	void *p;
	size_t n;
};
size_t stage_inline(const struct stage *st, const struct stage_chunk **out);
uint64_t stage_files_written(const struct stage *st);

#endif
