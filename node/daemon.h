/* daemon.h: the daemon's internal state, shared by the node/ sources (not a public header). */
#ifndef P2P_DAEMON_H
#define P2P_DAEMON_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/queue.h>

#include "db/db.h"
#include "node/node.h"
#include "store/store.h"

struct event_base;
struct event;
struct evhttp;
struct pool;
struct upload;
struct net;
struct repl;
struct fdpass;

struct metrics {
	atomic_uint_fast64_t stores, store_bytes, store_errors;
	atomic_uint_fast64_t gets, get_bytes, get_errors;
	atomic_uint_fast64_t deletes;
	atomic_uint_fast64_t chunks_written, chunks_deduped;
	atomic_uint_fast64_t chunks_verified, chunk_verify_failures;
	atomic_uint_fast64_t commit_batches, commits;
	/* where the committer's time goes (microseconds): all of its batches, the WAL
	 * write and sync of their commits, the checkpoints it ran itself; and the
	 * checkpointer thread's passes */
	atomic_uint_fast64_t commit_us, commit_wal_us, ckpt_stalls, ckpt_stall_us;
	atomic_uint_fast64_t ckpts, ckpt_us;
	atomic_uint_fast64_t gc_chunks, gc_runs, orphans_removed;
	atomic_uint_fast64_t http_requests, http_errors;
	/* replication (repl.c) */
	atomic_uint_fast64_t repl_bytes_sent, repl_bytes_received;
	atomic_uint_fast64_t repl_chunks_pushed, repl_chunks_fetched, repl_chunks_received;
	atomic_uint_fast64_t repl_push_failures, repl_fetch_failures, repl_bad_chunks;
	atomic_uint_fast64_t repl_repairs, repl_files_applied, repl_conflicts;
	atomic_uint_fast64_t repl_ae_files_sent;
	atomic_uint_fast64_t repl_lag_ms;  /* gauge: last remote version applied */
};

struct node {
	const struct node_config *cfg;
	char *datadir;
	char *db_path;
	char *sock_path;
	int sock_bound;           /* we created sock_path */
	int lock_fd;
	uint8_t node_id[NODE_ID_LEN];
	char node_hex[2 * NODE_ID_LEN + 1];

	struct event_base *base;
	struct event *sigint, *sigterm, *sighup, *upload_timer, *notify_timer;
	struct db *db;            /* loop thread's connection (reads) */
	struct store *store;
	struct pool *workers;     /* hashing + chunk writes */
	struct pool *committer;   /* group commit: sync + one transaction per batch */
	struct pool *gc;          /* garbage collection */
	struct pool *ckpt;        /* WAL checkpoints, off the committer's path */
	struct evhttp *http;
	struct net *net;          /* the peer network (net.c) */
	struct repl *repl;        /* replication (repl.c) */
	struct fdpass *fdpass;    /* descriptors passed by the CLI (fdpass.c) */
	char api_tcp[300];        /* --api as bound ("" none): HOST:PORT, the real port */

	TAILQ_HEAD(, upload) uploads;
	unsigned nuploads;
	unsigned gets_active;
	uint64_t hlc;             /* committer thread only */
	int commit_garbage;       /* committer thread only: this batch replaced a live
	                           * version (its chunks may be unreferenced now) */
	int64_t started_ms;
	int stopping;
	atomic_int sweep_wanted;  /* an upload failed: sweep orphan chunk files */
	atomic_int ckpt_busy;     /* the committer kicked p2p-ckpt; it clears it when done */
	int ckpt_base;            /* committer thread only: the WAL's pages at the last kick */
	int ckpt_finished;        /* committer thread only: ... at its last own checkpoint */
	struct metrics m;
};

/* Context of a worker / committer / gc thread: its own database connection. */
struct tctx {
	struct node *n;
	struct db *db;
};

/* files.c */
/* A chunk's bytes into buf (max bytes): from the database when it is kept inline here,
 * else from its file; checked against h either way. 0 and *len, 1 missing, 2 corrupt,
 * -1 error (*cause set for 2 and -1). Worker threads (db: the thread's connection). */
int chunk_read(struct node *n, struct db *db, const uint8_t h[HASH_LEN], void *buf,
    size_t max, size_t *len, char **cause);
/* Run fn(n, db, arg) on the committer inside its next group transaction (after the
 * batch's syncfs when sync is set: chunks written before the call become durable
 * first), then done(n, arg, rc) on the loop thread: rc 0 ok, -1 failed (fn's own
 * changes rolled back), -2 the sync failed for lack of space. fn returns 0 or -1. */
void files_commit_call(struct node *n, int sync,
    int (*fn)(struct node *n, struct db *db, void *arg),
    void (*done)(struct node *n, void *arg, int rc), void *arg);
int files_init(struct node *n, char **cause);
void files_shutdown(struct node *n);
void files_expire_uploads(struct node *n);

/* api.c */
int api_start(struct node *n, char **cause);
void api_stop(struct node *n);

/* metrics.c */
struct evbuffer;
void metrics_render(struct node *n, struct evbuffer *out);

#endif
