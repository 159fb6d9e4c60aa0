/* db.h: the node's metadata in SQLite (WAL, busy timeout, foreign keys, numbered
 * migrations in PRAGMA user_version, statements prepared once).
 *
 * One struct db is one connection, used by one thread at a time. The daemon opens one
 * per thread that touches the database; the CLI opens its own (read-only commands use
 * DB_RDONLY and never fail with "database is locked" while the daemon writes).
 *
 * Return convention: 0 ok, 1 "not found" where stated, -1 error with *cause set
 * (sqlite3_errmsg included). */
#ifndef P2P_DB_H
#define P2P_DB_H

#include <stddef.h>
#include <stdint.h>

#define DB_RDONLY 0x1
#define DB_CHECK  0x2 /* run db_check(quick) before using the file; refuse a damaged one */

#define NODE_ID_LEN 32 /* node IDs are 32 bytes (derived from the Ed25519 key) */

struct db;
struct manifest;

/* Opens (creating with mode 0600 unless DB_RDONLY) and migrates to the latest schema.
 * A DB_RDONLY open of a database at an older schema fails with a clear cause; of a
 * missing file, it fails with errno ENOENT and creates nothing. */
int db_open(struct db **out, const char *path, int flags, char **cause);
void db_close(struct db *db);
/* Checkpoints off the writer's path. db_wal_watch: this connection no longer runs the
 * automatic checkpoint after its commits (a stall of the commit while it copies pages to
 * the database) but notes the WAL's size, which db_wal_pages returns. db_checkpoint,
 * usually on another connection (another thread): a passive checkpoint, which copies what
 * it can without blocking the writer or readers; *log and *done (may be NULL) get the
 * WAL's pages and those copied. 0 (also when busy) or -1. */
void db_wal_watch(struct db *db);
/* The connection's last error was SQLITE_FULL (the disk is full). */
int db_is_full(struct db *db);
int db_wal_pages(const struct db *db);
int db_checkpoint(struct db *db, int *log, int *done, char **cause); /* NULL ok */
/* Sync the database file (not the WAL) through SQLite's own file object. A checkpoint
 * syncs the database only when it copied the WAL to its very end; a passive one that the
 * writer outran leaves its copies to the kernel, and the next checkpoint that does reach
 * the end then syncs all of them at once. 0 or -1. */
int db_sync(struct db *db, char **cause);
/* Look for damage: PRAGMA quick_check (full = 0: every page and record, NOT NULL and
 * CHECK constraints; linear in the file's size) or integrity_check (full = 1: also every
 * index against its table). 0 sound; 1 damaged, *problem (caller frees) says what SQLite
 * found first and how much more; -1 the check could not run (*cause). SQLite keeps no
 * checksums: a flipped byte inside a value is found only where it breaks the format, a
 * constraint or an index (full), or by db_file_manifest's manifest hash. */
int db_check(struct db *db, int full, char **problem, char **cause);
/* What this connection's WAL buffer (db/walbuf.c) did: the writes SQLite made to the
 * WAL and those handed to the file system. -1 when the connection has no WAL open
 * through it. */
struct db_walbuf_stats {
	uint64_t writes;
	uint64_t flushes;
};
int db_walbuf_stats(struct db *db, struct db_walbuf_stats *st);
int db_schema_version(struct db *db);

int db_begin(struct db *db, char **cause); /* BEGIN IMMEDIATE */
int db_commit(struct db *db, char **cause);
void db_rollback(struct db *db);

/* Key/value settings of this node (node id, HLC high-water mark, ...). */
int db_meta_get(struct db *db, const char *k, char **v, char **cause); /* 1 if unset */
int db_meta_set(struct db *db, const char *k, const char *v, char **cause);

/* ---- files: one row per version; tombstones are rows with deleted = 1 ---------------- */
struct db_file {
	int64_t id;
	char *key;
	uint64_t version;                /* hybrid logical clock: ms << 16 | counter */
	uint8_t origin[NODE_ID_LEN];     /* writer's node id (zeros before identities exist) */
	int deleted;                     /* tombstone */
	uint64_t size;
	uint32_t chunk_size;
	uint64_t nchunks;
	uint8_t file_hash[32];
	uint8_t manifest_hash[32];
	int64_t created_ms;
	uint64_t chunks_present;         /* filled by db_file_get / db_files_list */
	uint64_t prev_version;           /* the version this write replaced (0: none) */
	uint8_t prev_origin[NODE_ID_LEN];
	int has_copies;                  /* min_copies filled (db_files_list_copies) */
	uint64_t min_copies;             /* copies of its least-held chunk: this node (if
					  * held here) + peers recorded as holders;
					  * 0 for a file without chunks */
};
void db_file_clear(struct db_file *f); /* frees key; NULL ok */

/* The current version of key: the row with the greatest (version, origin). Returns 1
 * when there is none or it is a tombstone (f->deleted tells which if include_deleted).
 * f is overwritten; db_file_clear() it after any return. */
int db_file_get(struct db *db, const char *key, int include_deleted, struct db_file *f,
    char **cause);
/* Load the ordered chunk list of a file row into m (manifest from store.h).
 * 1 if the row is gone (a newer version replaced it meanwhile); m is then empty.
 * -1 also when the row and its chunk list do not hash to the row's manifest_hash
 * (damaged metadata: the cause says "damaged"), so a damaged row is never served. */
int db_file_manifest(struct db *db, int64_t file_id, struct manifest *m, char **cause);
/* Record a new version (call inside db_begin/db_commit): inserts missing chunk rows as
 * present (local=1), the file row and its file_chunks, then removes every older
 * version and tombstone of the key (their chunks become GC candidates). If a newer
 * version of the key already exists the row is still recorded but is not current.
 * Sets f->id. size, chunk_size, nchunks and file_hash are taken from m (and copied
 * into f). With f->deleted set it records a tombstone (m NULL or without chunks), e.g.
 * a replicated delete of a key this node never had. Recording the same (key, version,
 * origin) again is a no-op; with different content it fails. */
int db_file_put(struct db *db, struct db_file *f, const struct manifest *m, char **cause);
/* The same for a version that came from a peer: chunk rows that do not exist yet are
 * inserted as known but not held (local = 0); existing rows are left alone. */
int db_file_put_remote(struct db *db, struct db_file *f, const struct manifest *m,
    char **cause);
/* Write a tombstone for key with the given version/origin and drop older versions.
 * Returns 1 if there was no live version to delete. */
int db_file_delete(struct db *db, const char *key, uint64_t version,
    const uint8_t origin[NODE_ID_LEN], int64_t now_ms, char **cause);
/* The identity of every current version and tombstone (no order, no chunk counts: the
 * anti-entropy digest's input, much cheaper than db_files_list). 0 ok, -1 with *cause. */
int db_files_entries(struct db *db, int (*cb)(void *arg, const char *key,
    uint64_t version, const uint8_t origin[32], int deleted), void *arg, char **cause);
/* Chunk hashes [start, start + max) of a file row, in order, into out (room for max);
 * *n gets how many (fewer at the end of the list). 0 ok, -1 with *cause (also when the
 * list has a gap: damaged). */
int db_file_chunks_range(struct db *db, int64_t file_id, uint64_t start, uint32_t max,
    uint8_t (*out)[32], uint32_t *n, char **cause);
/*
 * The anti-entropy digest of the current rows (docs/PROTOCOL.md, DIGEST), kept up to
 * date as rows change instead of rebuilt over every file: a connection it is attached
 * to notes, for each key a write touches, its current entry before and after; both go
 * into the digest when the transaction commits (nothing on rollback). hash() gives an
 * entry's bucket and value. Attach it to the one connection that writes files (the
 * committer), then rebuild it once from that connection; read it from any thread.
 */
struct db_digest;
typedef uint64_t db_digest_hash_fn(const char *key, uint64_t version,
    const uint8_t origin[32], int deleted, unsigned *bucket);
struct db_digest *db_digest_new(db_digest_hash_fn *hash);
void db_digest_free(struct db_digest *dg); /* NULL ok; detach it first */
void db_digest_attach(struct db *db, struct db_digest *dg); /* NULL detaches */
/* Recompute from every current row of db (O(files): once, at start-up). */
int db_digest_rebuild(struct db_digest *dg, struct db *db, char **cause);
/* Copy the buckets and the number of entries; -1 while never rebuilt. */
int db_digest_read(struct db_digest *dg, uint64_t bucket[256], uint32_t *count);
/* The same over the rows whose version (its wall-clock part) is before cutoff_ms,
 * rounded down to a second; now_ms is this node's clock. O(1). -1 also when the
 * cutoff is more than ~20 s before now_ms or after it. */
int db_digest_read_before(struct db_digest *dg, int64_t now_ms, int64_t cutoff_ms,
    uint64_t bucket[256], uint32_t *count);
/* The (version, origin, deleted) of key's current row, live or tombstone, without the
 * rest of db_file_get(): 1 found, 0 no row, -1 error. */
int db_file_entry(struct db *db, const char *key, uint64_t *version, uint8_t origin[32],
    int *deleted, char **cause);
/* The current live versions with a chunk not held here (known, local = 0), in no
 * particular order: nothing to read when no chunk is missing (an index says so), else
 * one pass over every chunk list (schema v6). cb as for db_files_list. */
int db_files_incomplete(struct db *db, int (*cb)(void *arg, const struct db_file *f),
    void *arg, char **cause);
/* Current versions in key order; tombstones only if include_deleted.
 * cb returns 0 to go on, non-zero to stop; f (and f->key) is valid only during cb. */
int db_files_list(struct db *db, int include_deleted,
    int (*cb)(void *arg, const struct db_file *f), void *arg, char **cause);
/* The same, with has_copies and min_copies filled by the same query (one pass over the
 * files' chunk lists instead of a manifest load and two queries per chunk). */
int db_files_list_copies(struct db *db, int include_deleted,
    int (*cb)(void *arg, const struct db_file *f), void *arg, char **cause);

/* ---- chunks ------------------------------------------------------------------------ */
/* 1 if a chunk row exists with local = 1 (held on this node), 0 if not, -1 error. */
int db_chunk_have(struct db *db, const uint8_t h[32], char **cause);
/* Chunks held locally that no file references: up to limit hashes into out[]. */
int db_chunks_unreferenced(struct db *db, uint8_t (*out)[32], size_t limit, size_t *n,
    char **cause);
/* Delete the chunk row if it is still unreferenced: 1 deleted, 0 referenced (or no
 * such row), -1 error. */
int db_chunk_forget(struct db *db, const uint8_t h[32], char **cause);
/* Every locally held chunk, with its size and its reference count (the chunk-list
 * entries that name it: a file naming it twice counts twice). */
int db_chunks_each(struct db *db,
    int (*cb)(void *arg, const uint8_t h[32], uint64_t size, uint64_t refs), void *arg,
    char **cause);
/* Recount the references the triggers keep: *bad_counts, chunk rows whose count is
 * wrong; *dangling, chunk-list entries naming a chunk without a row. Both 0 on a sound
 * database. 0 or -1. */
int db_refs_check(struct db *db, uint64_t *bad_counts, uint64_t *dangling, char **cause);
int db_chunk_set_local(struct db *db, const uint8_t h[32], int local, char **cause);
/* A chunk is now held locally and durable (a replica received, a chunk fetched):
 * insert its row or set local = 1. */
int db_chunk_put(struct db *db, const uint8_t h[32], uint64_t size, char **cause);
/* An inline chunk (bytes kept in the database): recorded as held with its n bytes p, in
 * the caller's transaction. Held already: nothing changes unless replace (a fresh copy of
 * a chunk found bad), which swaps the bytes. 0 or -1. */
int db_chunk_put_inline(struct db *db, const uint8_t h[32], const void *p, size_t n,
    int replace, char **cause);
/* The bytes of an inline chunk held here into buf (max bytes): 0 and *n, 1 when the
 * chunk is not held inline here (a file, or not held), 2 when its bytes are longer than
 * max (damaged), -1 error. The bytes are not checked against h: the caller does. */
int db_chunk_read_inline(struct db *db, const uint8_t h[32], void *buf, size_t max,
    size_t *n, char **cause);
/* Remove rows of chunks neither held nor referenced; *n gets the count. */
int db_chunks_forget_remote(struct db *db, uint64_t *n, char **cause);
/* Remove tombstones whose version is below cutoff (an HLC value); *n gets the count. */
int db_tombstones_expire(struct db *db, uint64_t cutoff, uint64_t *n, char **cause);

struct db_stats {
	uint64_t files, tombstones, bytes; /* bytes: sum of current versions' sizes */
	uint64_t chunks, chunk_bytes;      /* locally held, deduplicated */
	uint64_t peers;
};
int db_stats(struct db *db, struct db_stats *st, char **cause);

/* ---- peers (used by the network; designed now) ------------------------------------- */
struct db_peer {
	uint8_t id[NODE_ID_LEN];
	char addr[300];       /* "host:port", "[v6]:port" or "bt:AA:BB:CC:DD:EE:FF/ch" */
	char transport[8];    /* "tcp" | "rfcomm" */
	char status[16];      /* "connected" | "disconnected" | "failed" | "left" */
	int64_t first_seen_ms, last_seen_ms, last_connect_ms;
	int64_t failures;     /* consecutive */
	int64_t rtt_us;       /* -1 unknown */
};
int db_peer_upsert(struct db *db, const struct db_peer *p, char **cause);
int db_peer_get(struct db *db, const uint8_t id[NODE_ID_LEN], struct db_peer *p,
    char **cause); /* 1 if unknown */
int db_peers_list(struct db *db, int (*cb)(void *arg, const struct db_peer *p), void *arg,
    char **cause);
/* Remove peers whose last_seen is older than cutoff_ms; *n gets the count. */
int db_peers_cleanup(struct db *db, int64_t cutoff_ms, uint64_t *n, char **cause);

/* ---- shares: which peer holds which chunk (replication; designed now) -------------- */
/* The peer must be known (db_peer_upsert); removing a peer removes its shares. */
int db_share_set(struct db *db, const uint8_t peer[NODE_ID_LEN], const uint8_t h[32],
    int64_t now_ms, char **cause);
int db_share_drop(struct db *db, const uint8_t peer[NODE_ID_LEN], const uint8_t h[32],
    char **cause);
int db_shares_of_chunk(struct db *db, const uint8_t h[32],
    int (*cb)(void *arg, const uint8_t peer[NODE_ID_LEN]), void *arg, char **cause);
/* The chunks of every current live version and who holds them, in key then chunk
 * order, in one query: a call per (chunk, peer holding it), or per chunk with peer NULL
 * when no peer does; a file without chunks gets one call with idx -1. local: the chunk
 * is held here. Pointers are valid only during cb; cb returns non-zero to stop. */
struct db_holder {
	int64_t file_id;
	const char *key;
	uint64_t nchunks;
	int64_t idx;
	int local;
	const uint8_t *peer; /* NODE_ID_LEN bytes, or NULL */
};
int db_files_holders(struct db *db, int (*cb)(void *arg, const struct db_holder *h),
    void *arg, char **cause);
/* Set the share if the peer is known (no error when it is not: returns 1). */
int db_share_set_known(struct db *db, const uint8_t peer[NODE_ID_LEN], const uint8_t h[32],
    int64_t now_ms, char **cause);

#endif
