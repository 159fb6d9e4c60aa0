/* repl.h: replication and retrieval (docs/ARCHITECTURE.md "Replication").
 *
 * Every node holds the metadata of every file (versions, tombstones, manifests); chunks
 * are held by R nodes chosen by rendezvous hashing over live peers + self. Metadata
 * travels as FILE messages (pushed eagerly after each local commit, and exchanged for
 * the buckets that differ when two peers compare DIGESTs: anti-entropy); chunks travel
 * as CHUNK_PUT (pushed to placement holders, acknowledged once durable) and CHUNK_GET /
 * CHUNK_DATA (fetched by a get on a node that lacks them, each verified on receipt).
 *
 * The pure pieces (placement, digest buckets, conflict names and resolution) are at
 * the bottom, exposed for tests/unit/test_repl.c. */
#ifndef P2P_REPL_H
#define P2P_REPL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct node;
struct msg;
struct manifest;
struct db_file;
struct evhttp_request;
struct evbuffer;

#define REPL_NO_HOLDER_WAIT_MS 5000 /* a fetch waits this long for a connected holder */
#define REPL_REPLICAS_DEFAULT 3
#define REPL_REPLICAS_ALL 0            /* --replicas all: every node holds everything */
#define REPL_MIN_COPIES_DEFAULT 2
#define REPL_AE_MS 5000                /* anti-entropy: DIGEST to one peer this often */
#define REPL_REPAIR_AFTER_S_DEFAULT 600 /* a holder unreachable this long is replaced */
#define REPL_REPAIR_TICK_MS 5000       /* how often repair looks for work */
#define REPL_TOMBSTONE_S_DEFAULT (30LL * 24 * 3600)
#define REPL_PUSH_WINDOW 64            /* chunks of a version unacknowledged (push) */
/* Fetch window per peer: CHUNK_GETs unanswered (or answered, not yet written) count by
 * their chunk's expected length (from the manifest of the get or the repair scan that
 * wants it; REPL_GET_LEN_UNKNOWN when not known). 6 MiB is 6 chunks of 1 MiB; the chunk cap is what a peer
 * reads at once before answering "missing" (REPL_SERVE_MAX in repl.c). */
#define REPL_GET_WINDOW_BYTES (6u << 20)
#define REPL_GET_WINDOW_MAX 64
#define REPL_GET_LEN_UNKNOWN (1u << 20) /* MSG_CHUNK_MAX: the largest chunk sent */
#define REPL_MIN_COPIES_WAIT_MS 120000 /* a store waits this long for min copies */
#define REPL_FETCH_TIMEOUT_MS 30000    /* a CHUNK_GET unanswered this long: next holder */
#define REPL_OUT_SOFT (4u << 20)       /* read no chunk ahead while a peer has this queued */

/* ---- the daemon side (node/repl.c; loop thread unless said otherwise) -------------- */
int repl_start(struct node *n, char **cause);
/* Shutdown begins: start nothing new (no sends, reads, fetches); what is in flight is
 * only cleaned up. Then repl_stop() after the pools are gone frees everything. */
void repl_quiesce(struct node *n);
void repl_stop(struct node *n);

/* From the network (node/net.c): an established peer, a peer gone, a replication
 * message (types 0x10..0x3f; -1 = malformed in context: the caller drops the link),
 * and "the output queue to this peer drained below REPL_OUT_SOFT". */
void repl_peer_up(struct node *n, const uint8_t id[32]);
void repl_peer_down(struct node *n, const uint8_t id[32]);
int repl_on_msg(struct node *n, const uint8_t id[32], struct msg *m);
void repl_peer_drained(struct node *n, const uint8_t id[32]);

/* From the committer's done() callbacks (node/files.c), loop thread: a local version
 * or tombstone was committed; push it to every peer and start placing its chunks.
 * only, only_len: the bytes of the version's only chunk when the caller still has them
 * (an upload's inline copy; NULL otherwise): pushed from a copy, not read back.
 * For a version, req (may be NULL) is answered once min copies hold it; the function
 * takes it over, and reply (the text of the answer so far: api_file_json_head), and
 * returns 1; or returns 0 when the caller should answer now, with *warning set (when
 * warning is not NULL) if it should say that no copy could be made elsewhere. */
int repl_local_commit(struct node *n, const struct db_file *f, const struct manifest *m,
    const void *only, size_t only_len, struct evhttp_request *req, struct evbuffer *reply,
    const char **warning);

/* A get needs these chunks: fetch them from holders (several in parallel), verify each
 * on receipt, store it durably as a local chunk, then call done(arg, ok, why) on the
 * loop. chunk_len: no chunk is longer (the manifest's chunk size; 0 unknown): it sizes
 * the fetch window. Returns 0 started (done is called later, never from inside this
 * call), -1 no peer is connected. */
int repl_fetch(struct node *n, const uint8_t (*hashes)[32], uint64_t count,
    uint32_t chunk_len, void (*done)(void *arg, int ok, const char *why), void *arg);
/* The same, with each(arg, idx, ok, sunk, why) called as each chunk (hashes[idx]) is
 * stored or given up on, so that a get can stream chunk i while later ones are still
 * coming. With fd != -1 (a get into a passed file; the fetch keeps a dup of it), the
 * worker that verified and stored a chunk received for this fetch also writes it into
 * fd at offs[idx]: sunk is then 1 (written), -errno (that write failed), or 0 (not
 * written: the chunk came another way; read it from the store). */
int repl_fetch_each(struct node *n, const uint8_t (*hashes)[32], uint64_t count,
    uint32_t chunk_len, void (*each)(void *arg, uint64_t idx, int ok, int sunk, const char *why), void *arg,
    int fd, const uint64_t *offs);
/* The getter gave up (client gone): forget the callback; fetched chunks stay. */
void repl_fetch_cancel(struct node *n, void *arg);

/* JSON for GET /v1/shares and the "replicas" of a file object. */
void repl_api_shares(struct node *n, struct evhttp_request *req);
void repl_file_copies(struct node *n, const struct db_file *f, uint64_t *have,
    uint64_t *target);

/* ---- pure helpers (node/repl_util.c; unit tested) ----------------------------------- */

/* Rendezvous score of a chunk on a node: the first 8 bytes (big-endian) of
 * SHA-256(chunk_hash || node_id). */
uint64_t repl_score(const uint8_t chunk[32], const uint8_t node[32]);
/* The r highest-scoring nodes of nodes[0..n) for chunk, best first (ties: smaller node
 * ID first); indices into out[]. r == 0 or r > n: all n, ranked. Returns the count. */
size_t repl_place(const uint8_t chunk[32], const uint8_t (*nodes)[32], size_t n, size_t r,
    size_t *out);

/* Anti-entropy digest: bucket of a key = first byte of SHA-256(key); an entry's
 * contribution = first 8 bytes of SHA-256(key || 0 || version || origin || deleted),
 * XORed into its bucket. */
unsigned repl_bucket(const char *key);
uint64_t repl_entry_hash(const char *key, uint64_t version, const uint8_t origin[32],
    int deleted);
void repl_digest_add(uint64_t bucket[256], const char *key, uint64_t version,
    const uint8_t origin[32], int deleted);
/* The bucket and contribution of one entry (db_digest_hash_fn). */
uint64_t repl_digest_entry(const char *key, uint64_t version, const uint8_t origin[32],
    int deleted, unsigned *bucket);

/* The name a losing concurrent version is kept under:
 * "KEY.conflict-<first 8 hex of origin>-<16 hex version>", the KEY part cut at a
 * UTF-8 boundary so that the whole stays within KEY_MAX bytes. out: KEY_MAX + 1. */
void repl_conflict_name(const char *key, uint64_t version, const uint8_t origin[32],
    char *out, size_t outlen);

struct repl_ver {
	uint64_t version;
	uint8_t origin[32];
	int deleted;
	uint64_t prev_version;   /* the version the writer replaced (0 + zeros: none) */
	uint8_t prev_origin[32];
};
/* The bytes a CHUNK_GET counts in its peer's fetch window: the chunk's expected length
 * len (0: unknown), at most REPL_GET_LEN_UNKNOWN. */
uint32_t repl_get_charge(uint64_t len);
/* May one more CHUNK_GET counting charge bytes go to a peer with n unanswered, counting
 * bytes in all? At most REPL_GET_WINDOW_MAX, and REPL_GET_WINDOW_BYTES unless it is the
 * only one. */
int repl_get_room(unsigned n, uint64_t bytes, uint32_t charge);

/*
 * The versions of each writer (origin) that FILE messages brought, so that a FILE the
 * node cannot have recorded yet is told from one it may have (anti-entropy repeats what
 * a node holds) without a database read on the loop. Only a hint: the committer checks
 * every FILE it records against the database anyway. floor: every version recorded
 * here with an origin not in the table is at most floor (at start, the node's clock,
 * which has passed every version it recorded; an origin pushed out of a full table
 * raises it to its greatest version).
 */
#define REPL_SEEN_MAX 64
struct repl_seen {
	uint64_t floor;
	size_t n, next;
	struct {
		uint8_t origin[32];
		uint64_t max;
	} v[REPL_SEEN_MAX];
};
void repl_seen_init(struct repl_seen *s, uint64_t floor);
/* 1 if version is above every version of origin seen so far and above the floor (not
 * recorded here: no need to look), 0 if it may be recorded. Either way it counts as
 * seen from now on. */
int repl_seen_new(struct repl_seen *s, const uint8_t origin[32], uint64_t version);

/* (version, origin) order: <0, 0, >0. */
int repl_ver_cmp(uint64_t va, const uint8_t oa[32], uint64_t vb, const uint8_t ob[32]);

enum repl_action {
	REPL_SAME,            /* already current: nothing to do */
	REPL_APPLY,           /* record it; it is the new current version */
	REPL_APPLY_KEEP_CUR,  /* record it, and keep the current one as a conflict copy */
	REPL_KEEP_IN,         /* older but concurrent: keep it as a conflict copy only */
	REPL_IGNORE,          /* older and superseded (or an older tombstone) */
};
/* What to do with version in when cur (NULL: none) is the current version of its key.
 * A greater (version, origin) wins everywhere. The loser is kept (as a conflict copy)
 * when it is a live version the winner's writer had not seen: the winner's prev is
 * smaller than the loser. Tombstones are never kept as copies. */
enum repl_action repl_resolve(const struct repl_ver *cur, const struct repl_ver *in);

/* The wall-clock milliseconds of an HLC version. */
static inline int64_t
repl_version_ms(uint64_t v)
{
	return (int64_t)(v >> 16);
}

#endif
