/* files.c: the file service of the daemon: upload sessions, group commit, streaming
 * gets, deletes and garbage collection.
 *
 * Threads (see docs/ARCHITECTURE.md):
 *   loop thread   HTTP, upload bookkeeping, reads from its own db connection;
 *   workers       the parts of an upload, several at once and in any order: hash a
 *                 part, pin it, write it unless the db has it (stage_part); and, one
 *                 part at a time in order, the whole-file hash (stage_feed);
 *   committer     group commit: one store_sync() + one transaction for every version
 *                 or tombstone queued at that moment, HLC versions assigned here;
 *   gc            unreferenced chunks and orphan files, one chunk at a time under the
 *                 store's pin lock.
 * Each thread has its own db connection. */
#include "node/api.h"
#include "node/daemon.h"
#include "node/fdpass.h"
#include "node/work.h"
#include "node/repl.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/rand.h>

/* Checkpoints (ckpt_after_commit). The committer kicks the checkpointer once this many
 * pages were added to the WAL since its last kick (4 KiB each: 16 MiB), if it is idle;
 * the checkpointer also runs every CKPT_IDLE_MS. Once the WAL holds CKPT_FINISH_PAGES
 * (32 MiB), the checkpointer idle and at most CKPT_LEFT_PAGES left to copy, the
 * committer copies those itself, so that the log can restart from its beginning; past
 * CKPT_SELF_PAGES (256 MiB: the checkpointer starved of CPU) it checkpoints whether the
 * checkpointer is idle or not. */
#define CKPT_KICK_PAGES 4096
#define CKPT_FINISH_PAGES 8192
#define CKPT_LEFT_PAGES 1024
#define CKPT_SELF_PAGES 65536
#define CKPT_IDLE_MS 30000

/* ---- thread contexts ------------------------------------------------------------- */

static void *
tctx_init(void *arg, char **cause)
{
	struct node *n = arg;
	struct tctx *t = xcalloc(1, sizeof *t);

	t->n = n;
	if (db_open(&t->db, n->db_path, 0, cause) == -1) {
		free(t);
		return NULL;
	}
	return t;
}

static void
tctx_fini(void *ctx)
{
	struct tctx *t = ctx;

	db_close(t->db);
	free(t);
}

/* The committer's connection leaves checkpoints to the checkpointer thread: copying
 * thousands of pages into the database and syncing it after a commit held up every store
 * waiting for the next batch: the sync of the database alone took 11.6 ms on average,
 * up to 28 ms, several times a second (3 nodes, 64 clients). Measured with
 * ckpt_after_commit: p99 over 60 s 42 ms against 51-53 ms at the same rate, and 13 ms
 * against 16.5 ms at 3,000 stores/s offered (docs/ARCHITECTURE.md). */
static void *
commit_tctx_init(void *arg, char **cause)
{
	struct tctx *t = tctx_init(arg, cause);

	if (t != NULL)
		db_wal_watch(t->db);
	return t;
}

/* Checkpointer thread (p2p-ckpt): when the committer kicks it (the WAL passed
 * CKPT_KICK_PAGES), and every CKPT_IDLE_MS. A passive checkpoint copies the WAL's pages
 * into the database while the committer goes on appending to the WAL, then syncs the
 * database here. SQLite syncs it only when a checkpoint copied the WAL to its end, which
 * under load only the committer's last pass does (ckpt_after_commit): that sync then
 * wrote every page this thread had copied since the log last restarted, up to 32 MiB of
 * scattered pages, and took 20 ms on average while no store could commit (perf trace,
 * node 1 of 3, 64 clients). */
static void
ckpt_idle(void *ctx, void *arg)
{
	struct tctx *t = ctx;
	char *cause = NULL;
	int log = 0, done = 0;

	(void)arg;
	uint64_t t0 = mono_us();
	int rc = db_checkpoint(t->db, &log, &done, &cause);

	if (rc == 0 && done > 0)
		rc = db_sync(t->db, &cause);
	atomic_fetch_add(&t->n->m.ckpts, 1);
	atomic_fetch_add(&t->n->m.ckpt_us, mono_us() - t0);
	atomic_store(&t->n->ckpt_busy, 0);
	if (rc == -1) {
		log_warnx("checkpoint: %s", cause);
		free(cause);
	} else
		log_debug("checkpoint: %d of %d WAL pages copied", done, log);
}

/* ---- uploads ------------------------------------------------------------------------ */

/* One part of an upload, from its arrival until it is both stored and fed to the file
 * hash. Two jobs can read its bytes at once (store and feed); the loop thread owns the
 * rest. */
struct part {
	TAILQ_ENTRY(part) entry;
	struct upload *u;
	uint64_t idx;
	uint8_t *data;          /* pool_buf_get(workers, len); read by the store job when
				 * the upload's source is a file (src_fd) */
	size_t len;
	struct job store_job;   /* stage_part; also stage_feed when feed_too */
	struct job feed_job;    /* stage_feed alone */
	int submitted;          /* store_job queued */
	int feed_too;
	int stored;             /* store_job done */
	int fed;                /* the file hash took it */
	int rc;                 /* of the job that ended: -1 failed */
	char *cause;
	int feed_rc;
	char *feed_cause;
};
TAILQ_HEAD(parthead, part);

/* A request we have not answered yet; cleared if its connection closes first. */
struct held {
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
};

struct commit_job;

struct upload {
	TAILQ_ENTRY(upload) entry;
	struct node *n;
	char id[33];
	struct stage *stage;
	uint32_t chunk_size;
	uint64_t next;          /* next part index expected from the client */
	int short_seen;         /* a part shorter than chunk_size came: it was the last */
	struct parthead parts;  /* received, not yet both stored and fed; in order */
	unsigned nqueued;       /* parts in that list */
	unsigned nstoring;      /* store jobs queued or running */
	uint64_t nfed;          /* parts the file hash took (or a job is feeding) */
	int feeding;            /* a job feeds the file hash */
	unsigned busy;          /* jobs queued or running for this upload */
	int failed;
	int fail_status;
	char *fail_msg;
	struct held wait;       /* a part request waiting for window space */
	struct held commit;     /* the commit request */
	char *commit_key;
	int committing;
	int committed;          /* its version is recorded: its chunks are not orphans */
	int internal;           /* made by a direct PUT */
	uint64_t last_ms;
	uint64_t bytes;
	/* PUT ?fd=: the parts are read from this file (fd.sock) by their store jobs */
	int src_fd;
	int src_sock;           /* the client's fd.sock connection: progress lines */
	struct event *src_ev;   /* its end (the client went away) */
	uint64_t src_size;      /* stored: the first src_size bytes */
};

/* Store jobs of one upload queued or running at once (2 workers: more only queue). */
#define UPLOAD_STORING 4
/* Parts in memory for an upload read from a file (PUT ?fd=): no client to hold back,
 * so a few more than UPLOAD_WINDOW keep both workers busy while the file hash, in
 * order, catches up. */
#define UPLOAD_WINDOW_FILE 6

struct commit_job {
	struct job job;
	struct node *n;
	int del;                /* tombstone instead of a version */
	char *key;
	struct upload *u;       /* PUT: the upload whose stage becomes the version */
	struct manifest m;
	struct held req;
	/* results */
	int sync_failed;
	int status;             /* HTTP status to answer */
	char *err;
	struct db_file f;
	/* files_commit_call: a function run inside the transaction */
	int (*fn)(struct node *n, struct db *db, void *arg);
	void (*fdone)(struct node *n, void *arg, int rc);
	void *farg;
	int sync;
};

static void upload_pump(struct upload *u);
static void upload_free(struct upload *u);
static void part_free(struct part *p);

static void
held_closed(struct evhttp_connection *evcon, void *arg)
{
	struct held *h = arg;

	(void)evcon;
	h->req = NULL;
	h->evcon = NULL;
}

static void
held_set(struct held *h, struct evhttp_request *req)
{
	h->req = req;
	h->evcon = evhttp_request_get_connection(req);
	if (h->evcon != NULL)
		evhttp_connection_set_closecb(h->evcon, held_closed, h);
}

/* Take the request out of h (NULL if its client went away). */
static struct evhttp_request *
held_take(struct held *h)
{
	struct evhttp_request *req = h->req;

	if (h->evcon != NULL)
		evhttp_connection_set_closecb(h->evcon, NULL, NULL);
	h->req = NULL;
	h->evcon = NULL;
	return req;
}

static struct upload *
upload_find(struct node *n, const char *id)
{
	struct upload *u;

	TAILQ_FOREACH(u, &n->uploads, entry)
		if (strcmp(u->id, id) == 0)
			return u;
	return NULL;
}

static struct upload *
upload_new(struct node *n, int internal)
{
	struct upload *u = xcalloc(1, sizeof *u);
	uint8_t rnd[16];

	if (RAND_bytes(rnd, sizeof rnd) != 1)
		fatalx("RAND_bytes failed");
	hex_encode(rnd, sizeof rnd, u->id);
	u->n = n;
	u->chunk_size = n->cfg->chunk_size;
	u->stage = stage_new(n->store, u->chunk_size);
	u->internal = internal;
	u->last_ms = mono_ms();
	u->src_fd = u->src_sock = -1;
	TAILQ_INIT(&u->parts);
	TAILQ_INSERT_TAIL(&n->uploads, u, entry);
	n->nuploads++;
	return u;
}

/* Drop the upload from the table; freed now unless a job still refers to it. */
static void
upload_free(struct upload *u)
{
	struct part *p;
	struct evhttp_request *req;
	int orphans;

	if (u->entry.tqe_prev != NULL) {
		TAILQ_REMOVE(&u->n->uploads, u, entry);
		u->entry.tqe_prev = NULL;
		u->n->nuploads--;
	}
	if ((req = held_take(&u->wait)) != NULL)
		api_error(req, 409, "upload aborted", "upload %s is gone", u->id);
	if ((req = held_take(&u->commit)) != NULL)
		api_error(req, 409, "upload aborted", "upload %s is gone", u->id);
	if (u->busy || u->committing)
		return; /* the job's done() finishes the job */
	/* Aborted or failed (no space, say): the chunks it wrote have no row. The gc
	 * thread sweeps such orphans now rather than at the next start; only once the
	 * stage has dropped its pins, or the sweep may run first and keep them all. */
	orphans = !u->committed && u->stage != NULL && stage_nparts(u->stage) > 0;
	while ((p = TAILQ_FIRST(&u->parts)) != NULL) {
		TAILQ_REMOVE(&u->parts, p, entry);
		part_free(p);
	}
	stage_free(u->stage);
	if (orphans) {
		atomic_store(&u->n->sweep_wanted, 1);
		pool_kick(u->n->gc);
	}
	if (u->src_ev != NULL)
		event_free(u->src_ev);
	if (u->src_fd != -1)
		close(u->src_fd);
	if (u->src_sock != -1)
		close(u->src_sock);
	free(u->fail_msg);
	free(u->commit_key);
	free(u);
}

static int
is_nospace(const char *cause)
{
	/* the file system's ENOSPC, or SQLite's SQLITE_FULL (a transaction with inline
	 * chunks that the disk cannot take) */
	return cause != NULL && (strstr(cause, "no space left on device") != NULL ||
	    strstr(cause, "database or disk is full") != NULL);
}

/* PUT ?fd=: the client's fd.sock connection closed (Ctrl-C, or it died) before the
 * commit: abort, as an upload session's client would (DELETE /v1/uploads/ID). evhttp
 * does not notice a client leaving while its request waits for an answer; the fd.sock
 * connection, which the client holds until the answer, does. */
static void
upload_src_eof(evutil_socket_t fd, short what, void *arg)
{
	struct upload *u = arg;

	(void)fd;
	(void)what;
	if (u->committing)
		return; /* recorded whatever happens now */
	log_info("upload %s: the client went away after %" PRIu64 " bytes: aborted", u->id,
	    u->bytes);
	upload_free(u);
}

static void
upload_fail(struct upload *u, int status, const char *msg)
{
	struct evhttp_request *req;

	if (!u->failed) {
		u->failed = 1;
		u->fail_status = status;
		u->fail_msg = xstrdup(msg);
		log_warnx("upload %s failed: %s", u->id, msg);
		atomic_fetch_add(&u->n->m.store_errors, 1);
	}
	if ((req = held_take(&u->wait)) != NULL)
		api_error(req, u->fail_status, u->fail_status == 507 ? "no space" : "store failed",
		    "%s", u->fail_msg);
	if ((req = held_take(&u->commit)) != NULL)
		api_error(req, u->fail_status, u->fail_status == 507 ? "no space" : "store failed",
		    "%s", u->fail_msg);
	if (u->internal || u->commit_key != NULL)
		upload_free(u);
}

static int
have_chunk(void *arg, const uint8_t h[HASH_LEN])
{
	struct tctx *t = arg;
	char *cause = NULL;
	int rc = db_chunk_have(t->db, h, &cause);

	if (rc == -1) {
		log_warnx("dedup lookup: %s", cause);
		free(cause);
		return 0; /* write it: always safe */
	}
	return rc;
}

static void
part_free(struct part *p)
{
	pool_buf_put(p->u->n->workers, p->data, p->len);
	free(p->cause);
	free(p->feed_cause);
	free(p);
}

/* Worker: store the part (any order, in parallel with the other parts). */
static void
store_run(struct job *j, void *ctx)
{
	struct part *p = (struct part *)((char *)j - offsetof(struct part, store_job));
	struct upload *u = p->u;
	struct stage *st = u->stage;

	if (p->data == NULL) {
		/* from the client's file: a short read means it shrank under us */
		off_t off = (off_t)(p->idx * u->chunk_size);
		ssize_t r;

		p->data = pool_buf_get(u->n->workers, p->len);
		if ((r = fd_read_full(u->src_fd, p->data, p->len, off)) != (ssize_t)p->len) {
			p->rc = -1;
			if (r == -1)
				set_cause(&p->cause, "read the file at offset %lld: %s",
				    (long long)off, strerror(errno));
			else
				set_cause(&p->cause, "the file shrank while being stored (%lld "
				    "bytes at the start, %lld now)", (long long)u->src_size,
				    (long long)off + r);
			return;
		}
	}
	if (p->feed_too)
		p->feed_rc = stage_feed(st, p->data, p->len, &p->feed_cause);
	p->rc = stage_part(st, p->idx, p->data, p->len, have_chunk, ctx, &p->cause);
}

/* Worker: the whole-file hash takes the part (in order, one job per upload at a time). */
static void
feed_run(struct job *j, void *ctx)
{
	struct part *p = (struct part *)((char *)j - offsetof(struct part, feed_job));

	(void)ctx;
	p->feed_rc = stage_feed(p->u->stage, p->data, p->len, &p->feed_cause);
}

/* Loop thread, after a job of part p ended. */
static void
part_job_done(struct part *p)
{
	struct upload *u = p->u;
	struct part *q, *tmp;
	char *msg = NULL;
	int st = 500;

	u->busy--;
	if (u->entry.tqe_prev == NULL && !u->committing) {
		/* aborted while the job ran: the last job frees it */
		if (u->busy == 0)
			upload_free(u);
		return;
	}
	if (p->rc == -1 || p->feed_rc == -1) {
		char **c = p->rc == -1 ? &p->cause : &p->feed_cause;

		st = is_nospace(*c) ? 507 : 500;
		msg = *c != NULL ? *c : xstrdup("cannot store part");
		*c = NULL;
	}
	if (msg != NULL || u->failed) {
		if (msg != NULL)
			upload_fail(u, st, msg); /* may free u (when busy is 0) */
		free(msg);
		return;
	}
	for (q = TAILQ_FIRST(&u->parts); q != NULL; q = tmp) {
		tmp = TAILQ_NEXT(q, entry);
		if (q->stored && q->fed) {
			TAILQ_REMOVE(&u->parts, q, entry);
			u->nqueued--;
			u->bytes += q->len;
			part_free(q);
		}
	}
	fdpass_progress(u->src_sock, u->bytes);
	upload_pump(u);
}

static void
store_done(struct job *j)
{
	struct part *p = (struct part *)((char *)j - offsetof(struct part, store_job));

	p->u->nstoring--;
	p->stored = 1;
	if (p->feed_too) {
		p->u->feeding = 0;
		p->fed = 1;
	}
	part_job_done(p);
}

static void
feed_done(struct job *j)
{
	struct part *p = (struct part *)((char *)j - offsetof(struct part, feed_job));

	p->u->feeding = 0;
	p->fed = 1;
	part_job_done(p);
}

static void
part_submit_store(struct upload *u, struct part *p)
{
	p->submitted = 1;
	p->store_job.run = store_run;
	p->store_job.done = store_done;
	u->nstoring++;
	u->busy++;
	pool_submit(u->n->workers, &p->store_job);
}

static void commit_submit(struct upload *u);

/* Whether p is the file's last part (the client told so, or a file source ends there). */
static int
part_is_last(const struct upload *u, const struct part *p)
{
	if (u->src_fd != -1)
		return (p->idx + 1) * u->chunk_size >= u->src_size;
	return p == TAILQ_LAST(&u->parts, parthead) &&
	    (p->len < u->chunk_size || u->commit_key != NULL);
}

/* Move the upload forward: feed the file hash its next part, store parts, release a
 * waiting client, commit. */
static void
upload_pump(struct upload *u)
{
	struct evhttp_request *req;
	struct part *p;

	if (u->failed)
		return;
	/* a file source: parts come from it as the window allows */
	while (u->src_fd != -1 && u->nqueued < UPLOAD_WINDOW_FILE &&
	    u->next * u->chunk_size < u->src_size) {
		p = xcalloc(1, sizeof *p);
		p->u = u;
		p->idx = u->next++;
		p->len = u->src_size - p->idx * u->chunk_size < u->chunk_size ?
		    (size_t)(u->src_size - p->idx * u->chunk_size) : u->chunk_size;
		TAILQ_INSERT_TAIL(&u->parts, p, entry);
		u->nqueued++;
	}
	if (!u->feeding) {
		TAILQ_FOREACH(p, &u->parts, entry)
			if (p->idx == u->nfed)
				break;
		/* a part read from a file has its bytes once its store job read them
		 * (or its own store job feeds it: the last part, below) */
		if (p != NULL && u->src_fd != -1 && !p->stored &&
		    (p->submitted || !part_is_last(u, p)))
			p = NULL;
		if (p != NULL) {
			u->feeding = 1;
			u->nfed++;
			if (!p->submitted && part_is_last(u, p)) {
				/* the last part, nothing to overlap with: one job does both
				 * (a small store costs one job, not two) */
				p->feed_too = 1;
				part_submit_store(u, p);
			} else {
				/* ahead of queued store jobs: every later part waits for it */
				p->feed_job.run = feed_run;
				p->feed_job.done = feed_done;
				u->busy++;
				pool_submit_first(u->n->workers, &p->feed_job);
			}
		}
	}
	TAILQ_FOREACH(p, &u->parts, entry) {
		if (u->nstoring >= UPLOAD_STORING)
			break;
		if (!p->submitted)
			part_submit_store(u, p);
	}
	if (u->wait.req != NULL && u->nqueued < UPLOAD_WINDOW) {
		req = held_take(&u->wait);
		json_t *o = json_pack("{s:s,s:I}", "upload", u->id, "next", (json_int_t)u->next);
		api_json(req, 202, o);
	}
	if (u->commit_key != NULL && u->nqueued == 0 && !u->committing)
		commit_submit(u);
}

/* Queue the next part: len bytes taken from the front of in. */
static void
upload_enqueue(struct upload *u, struct evbuffer *in, size_t len)
{
	struct part *p = xcalloc(1, sizeof *p);

	p->u = u;
	p->idx = u->next;
	p->data = pool_buf_get(u->n->workers, len);
	p->len = len;
	if (evbuffer_remove(in, p->data, len) != (int)len)
		fatalx("upload: short evbuffer_remove");
	TAILQ_INSERT_TAIL(&u->parts, p, entry);
	u->nqueued++;
	u->next++;
	if (len < u->chunk_size)
		u->short_seen = 1;
	u->last_ms = mono_ms();
}

void
uploads_new(struct node *n, struct evhttp_request *req)
{
	struct upload *u;

	if (n->nuploads >= UPLOAD_MAX) {
		api_error(req, 503, "too many uploads", "at most %d upload sessions at once",
		    UPLOAD_MAX);
		return;
	}
	u = upload_new(n, 0);
	api_json(req, 201, json_pack("{s:s,s:I,s:i}", "upload", u->id, "chunk_size",
	    (json_int_t)u->chunk_size, "window", UPLOAD_WINDOW));
}

void
uploads_part(struct node *n, struct evhttp_request *req, const char *id, const char *idxs)
{
	struct upload *u = upload_find(n, id);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *errstr;
	long long idx;

	if (u == NULL || u->commit_key != NULL) {
		api_error(req, 404, "not found", "no upload %s", id);
		return;
	}
	if (u->failed) {
		api_error(req, u->fail_status, "store failed", "%s", u->fail_msg);
		return;
	}
	idx = parse_num(idxs, 0, (long long)MANIFEST_MAX_CHUNKS, &errstr);
	if (errstr != NULL) {
		api_error(req, 400, "bad part number", "part number %s", errstr);
		return;
	}
	if ((uint64_t)idx != u->next || u->short_seen) {
		api_error(req, 409, "part out of order", "expected part %" PRIu64 ", got %lld%s",
		    u->next, idx, u->short_seen ? " (a short final part was already sent)" : "");
		return;
	}
	if (len == 0) {
		api_error(req, 400, "empty part", "a part carries 1 to %u bytes", u->chunk_size);
		return;
	}
	if (len > u->chunk_size) {
		api_error(req, 413, "part too large", "a part is at most %u bytes, got %zu",
		    u->chunk_size, len);
		return;
	}
	upload_enqueue(u, in, len);
	held_set(&u->wait, req);
	upload_pump(u);
}

void
uploads_abort(struct node *n, struct evhttp_request *req, const char *id)
{
	struct upload *u = upload_find(n, id);

	if (u == NULL || u->committing) {
		api_error(req, 404, "not found", "no upload %s", id);
		return;
	}
	upload_free(u);
	api_json(req, 200, json_pack("{s:s,s:b}", "upload", id, "aborted", 1));
}

void
files_expire_uploads(struct node *n)
{
	struct upload *u, *tmp;
	uint64_t now = mono_ms();

	for (u = TAILQ_FIRST(&n->uploads); u != NULL; u = tmp) {
		tmp = TAILQ_NEXT(u, entry);
		if (!u->busy && !u->committing && u->wait.req == NULL && u->commit.req == NULL &&
		    now - u->last_ms > UPLOAD_IDLE_MS) {
			log_info("upload %s idle for %d s: aborted", u->id, UPLOAD_IDLE_MS / 1000);
			upload_free(u);
		}
	}
}

/* ---- commit (committer thread) ---------------------------------------------------- */

static uint64_t
hlc_next(struct node *n)
{
	uint64_t wall = (uint64_t)wall_ms() << 16;

	n->hlc = wall > n->hlc ? wall : n->hlc + 1;
	return n->hlc;
}

/* The upload's chunks kept inline go into the database with their version. */
static int
commit_inline(struct commit_job *c, struct db *db, char **cause)
{
	const struct stage_chunk *k;
	size_t nk;

	if (c->u == NULL)
		return 0;
	nk = stage_inline(c->u->stage, &k);
	for (size_t i = 0; i < nk; i++)
		if (db_chunk_put_inline(db, k[i].h, k[i].p, k[i].n, 0, cause) == -1)
			return -1;
	return 0;
}

static void
commit_one(struct commit_job *c, struct db *db)
{
	char *cause = NULL;
	struct node *n = c->n;
	struct db_file cur;
	int rc;

	if (c->fn != NULL) {
		c->status = c->fn(n, db, c->farg) == 0 ? 200 : 500;
		if (c->status == 500 && db_is_full(db) && c->err == NULL)
			c->err = xstrdup("database or disk is full");
		return;
	}
	/* the version this write replaces, carried with it (conflict detection) */
	rc = db_file_get(db, c->key, 1, &cur, &cause);
	if (rc == -1) {
		db_file_clear(&cur);
		c->status = 500;
		c->err = cause;
		return;
	}
	if (c->del && (rc == 1 || cur.deleted)) {
		db_file_clear(&cur);
		c->status = 404;
		xasprintf(&c->err, "no file with key \"%s\"", c->key);
		return;
	}
	c->f.prev_version = cur.key != NULL ? cur.version : 0;
	memcpy(c->f.prev_origin, cur.origin, NODE_ID_LEN);
	db_file_clear(&cur);
	c->f.version = hlc_next(n);
	memcpy(c->f.origin, n->node_id, NODE_ID_LEN);
	c->f.created_ms = wall_ms();
	c->f.key = c->key;
	if (c->del) {
		c->f.deleted = 1;
		rc = db_file_put(db, &c->f, NULL, &cause);
	} else {
		c->f.size = c->m.size;
		c->f.chunk_size = c->m.chunk_size;
		c->f.nchunks = c->m.nchunks;
		memcpy(c->f.file_hash, c->m.file_hash, HASH_LEN);
		manifest_hash(&c->m, c->f.manifest_hash);
		c->f.chunks_present = c->m.nchunks;
		rc = commit_inline(c, db, &cause);
		if (rc == 0)
			rc = db_file_put(db, &c->f, &c->m, &cause);
	}
	c->f.key = NULL;
	if (rc == -1) {
		c->status = 500;
		c->err = cause;
		return;
	}
	c->status = c->del ? 200 : 201;
}

/* Wake the garbage collector after a batch that may have orphaned chunks (a delete,
 * or a remote version that replaced a live one: not every remote version, which on a
 * network of several nodes was every batch), at most once a second: each pass scans
 * the chunk table, and waking it after every batch took most of a core under load
 * (measured: 3.3-4.5k -> 8.6-9k stores/s without).
 * Chunks of replaced versions wait for its 10 s idle pass. Committer thread only. */
static void
gc_kick(struct node *n, int garbage)
{
	static uint64_t last;
	uint64_t now = mono_ms();

	if (garbage && now - last >= 1000) {
		last = now;
		pool_kick(n->gc);
	}
}

/* A job that failed for lack of space is answered 507 (a store) or reports -2 (a
 * function: a replica answered "no space"), as a failed syncfs is. Only once the batch
 * is over: within it, 500 is what makes the group fall back to one job at a time. */
static void
nospace_status(struct jobq *q)
{
	struct job *j;

	TAILQ_FOREACH(j, q, entry) {
		struct commit_job *c = (struct commit_job *)j;

		if (c->status == 500 && is_nospace(c->err))
			c->status = 507;
	}
}

/* After a commit (committer thread). A passive checkpoint on p2p-ckpt copies the WAL's
 * pages into the database while the committer goes on appending, so it never catches up
 * under load, and SQLite restarts the log from its beginning only once a checkpoint has
 * copied all of it. So the committer finishes: once the WAL passed CKPT_FINISH_PAGES,
 * the checkpointer idle and at most CKPT_LEFT_PAGES added since its last pass started,
 * the committer checkpoints those itself (a few hundred pages, and a small sync), and its
 * next transaction restarts the log. More than that added: the checkpointer goes again. */
static void
ckpt_after_commit(struct node *n, struct tctx *t)
{
	int pages = db_wal_pages(t->db), log = 0, done = 0, added, own, rc;
	char *cause = NULL;
	uint64_t t0;

	if (pages < n->ckpt_base || pages < n->ckpt_finished) {
		/* the log restarted */
		n->ckpt_base = 0;
		n->ckpt_finished = 0;
	}
	added = pages - n->ckpt_base;
	if (atomic_load(&n->ckpt_busy) != 0)
		own = pages >= CKPT_SELF_PAGES; /* the checkpointer is far behind */
	else if (pages >= CKPT_FINISH_PAGES && added <= CKPT_LEFT_PAGES)
		own = 1; /* the last pages: the log can restart */
	else {
		if (added >= CKPT_KICK_PAGES || pages >= CKPT_FINISH_PAGES) {
			n->ckpt_base = pages;
			atomic_store(&n->ckpt_busy, 1);
			pool_kick(n->ckpt);
		}
		return;
	}
	if (!own || pages - n->ckpt_finished < CKPT_KICK_PAGES)
		return;
	n->ckpt_finished = pages;
	t0 = mono_us();
	rc = db_checkpoint(t->db, &log, &done, &cause);
	atomic_fetch_add(&n->m.ckpt_stalls, 1);
	atomic_fetch_add(&n->m.ckpt_stall_us, mono_us() - t0);
	if (rc == -1) {
		log_warnx("checkpoint (committer): %s", cause);
		free(cause);
		return;
	}
	log_debug("checkpoint (committer): the WAL held %d pages, %d of %d copied", pages,
	    done, log);
}

/* The commit of a batch: SQLite writes its pages to the WAL and syncs it. */
static int
commit_tx(struct node *n, struct db *db, char **cause)
{
	uint64_t t0 = mono_us();
	int rc = db_commit(db, cause);

	atomic_fetch_add(&n->m.commit_wal_us, mono_us() - t0);
	return rc;
}

/* Committer: one batch of versions, tombstones and functions (commit_batch, below). */
static void
commit_batch_run(struct jobq *q, struct tctx *t, struct node *n)
{
	struct job *j;
	struct commit_job *c;
	char *cause = NULL, hlc[32];
	int any_put = 0, failed = 0, garbage = 0;

	TAILQ_FOREACH(j, q, entry) {
		c = (struct commit_job *)j;
		c->status = 0;
		c->sync_failed = 0;
		if (c->sync)
			any_put = 1;
		if (c->del)
			garbage = 1; /* a tombstone may orphan chunks */
	}
	n->commit_garbage = 0; /* set by a call that replaced a live version */
	/* 1. every chunk written for these versions becomes durable: one syncfs */
	if (any_put && store_sync(n->store, &cause) == -1) {
		int st = is_nospace(cause) ? 507 : 500;
		TAILQ_FOREACH(j, q, entry) {
			c = (struct commit_job *)j;
			if (c->sync) {
				c->status = st;
				c->sync_failed = 1;
				c->err = xstrdup(cause);
			}
		}
		free(cause);
		cause = NULL;
	}
	/* 2. one transaction records them all */
	if (db_begin(t->db, &cause) == 0) {
		TAILQ_FOREACH(j, q, entry) {
			c = (struct commit_job *)j;
			if (c->sync_failed)
				continue;
			commit_one(c, t->db);
			if (c->status == 500)
				failed = 1;
		}
		snprintf(hlc, sizeof hlc, "%" PRIu64, n->hlc);
		if (!failed && db_meta_set(t->db, "hlc", hlc, &cause) == 0 &&
		    commit_tx(n, t->db, &cause) == 0) {
			nospace_status(q);
			atomic_fetch_add(&n->m.commit_batches, 1);
			gc_kick(n, garbage || n->commit_garbage);
			ckpt_after_commit(n, t);
			return;
		}
		db_rollback(t->db);
	}
	/* Slow path: something failed; give each job its own transaction so one bad
	 * job cannot fail the others. */
	log_warnx("group commit failed (%s): committing one by one",
	    cause ? cause : "a job failed");
	free(cause);
	cause = NULL;
	TAILQ_FOREACH(j, q, entry) {
		c = (struct commit_job *)j;
		if (c->sync_failed)
			continue;
		free(c->err);
		c->err = NULL;
		c->status = 0;
		if (db_begin(t->db, &cause) == -1) {
			c->status = 500;
			c->err = cause;
			cause = NULL;
			continue;
		}
		commit_one(c, t->db);
		if (c->status == 500) {
			db_rollback(t->db);
			continue;
		}
		snprintf(hlc, sizeof hlc, "%" PRIu64, n->hlc);
		if (db_meta_set(t->db, "hlc", hlc, &cause) == -1 ||
		    commit_tx(n, t->db, &cause) == -1) {
			db_rollback(t->db);
			c->status = 500;
			c->err = cause;
			cause = NULL;
		}
	}
	nospace_status(q);
	gc_kick(n, garbage || n->commit_garbage);
	ckpt_after_commit(n, t);
}

/* Committer: a batch, timed (p2p_commit_seconds_total). */
static void
commit_batch(struct jobq *q, void *ctx, void *arg)
{
	struct node *n = arg;
	uint64_t t0 = mono_us();

	commit_batch_run(q, ctx, n);
	atomic_fetch_add(&n->m.commit_us, mono_us() - t0);
}

static void
commit_done(struct job *j)
{
	struct commit_job *c = (struct commit_job *)j;
	struct node *n = c->n;
	struct evhttp_request *req = held_take(&c->req);
	struct upload *u = c->u;

	if (c->fn != NULL) {
		c->fdone(n, c->farg, c->status == 200 ? 0 : c->status == 507 ? -2 : -1);
		free(c->err);
		free(c);
		return;
	}
	if (c->status == 200 || c->status == 201) {
		if (c->del)
			atomic_fetch_add(&n->m.deletes, 1);
		else {
			atomic_fetch_add(&n->m.stores, 1);
			atomic_fetch_add(&n->m.store_bytes, c->m.size);
			atomic_fetch_add(&n->m.commits, 1);
		}
		c->f.key = c->key;
		if (c->del) {
			char v[17];
			snprintf(v, sizeof v, "%016" PRIx64, c->f.version);
			repl_local_commit(n, &c->f, NULL, NULL, 0, NULL, NULL, NULL);
			if (req != NULL)
				api_json(req, 200, json_pack("{s:s,s:s,s:b}", "key", c->key,
				    "version", v, "deleted", 1));
		} else {
			/* replication answers once min copies hold it, with the copies it
			 * counted (or now: the copies are counted then) */
			struct evbuffer *o = NULL;
			const struct stage_chunk *k = NULL;
			const char *warning = NULL;

			if (req != NULL) {
				o = evbuffer_new();
				api_file_json_head(o, &c->f);
			}
			/* a one-chunk file kept inline: its bytes are pushed from here */
			if (u == NULL || c->m.nchunks != 1 || stage_inline(u->stage, &k) != 1 ||
			    memcmp(k->h, c->m.chunks[0], HASH_LEN) != 0)
				k = NULL;
			if (repl_local_commit(n, &c->f, &c->m, k != NULL ? k->p : NULL,
			    k != NULL ? k->n : 0, req, o, &warning) == 0 && req != NULL) {
				uint64_t have, target;

				repl_file_copies(n, &c->f, &have, &target);
				api_file_json_tail(o, 0, have, target);
				api_file_json_end(o, warning);
				api_json_text(req, 201, o);
				evbuffer_free(o);
			}
		}
		c->f.key = NULL;
	} else {
		if (!c->del)
			atomic_fetch_add(&n->m.store_errors, 1);
		if (req != NULL)
			api_error(req, c->status, c->status == 404 ? "not found" :
			    c->status == 507 ? "no space" : "commit failed", "%s",
			    c->err ? c->err : "unknown error");
	}
	if (u != NULL) {
		u->committing = 0;
		u->committed = c->status == 200 || c->status == 201;
		upload_free(u); /* unpins the version's chunks: they are recorded now */
	}
	manifest_free(&c->m);
	free(c->err);
	free(c->key);
	free(c);
}

static void
commit_submit(struct upload *u)
{
	struct commit_job *c = xcalloc(1, sizeof *c);
	char *cause = NULL;

	c->n = u->n;
	c->key = xstrdup(u->commit_key);
	c->u = u;
	c->req = u->commit;        /* move the held request into the job */
	if (c->req.evcon != NULL)
		evhttp_connection_set_closecb(c->req.evcon, held_closed, &c->req);
	u->commit.req = NULL;
	u->commit.evcon = NULL;
	if (stage_finish(u->stage, &c->m, &cause) == -1) {
		struct evhttp_request *req = held_take(&c->req);
		if (req != NULL)
			api_error(req, 400, "bad upload", "%s", cause);
		free(cause);
		free(c->key);
		free(c);
		upload_free(u);
		return;
	}
	/* chunks written as files become durable by the batch's syncfs; inline ones by
	 * the transaction itself */
	c->sync = stage_files_written(u->stage) > 0;
	u->committing = 1;
	if (u->entry.tqe_prev != NULL) {
		TAILQ_REMOVE(&u->n->uploads, u, entry);
		u->entry.tqe_prev = NULL;
		u->n->nuploads--;
	}
	c->job.run = NULL;
	c->job.done = commit_done;
	pool_submit(u->n->committer, &c->job);
}

void
files_commit_call(struct node *n, int sync,
    int (*fn)(struct node *n, struct db *db, void *arg),
    void (*done)(struct node *n, void *arg, int rc), void *arg)
{
	struct commit_job *c = xcalloc(1, sizeof *c);

	c->n = n;
	c->fn = fn;
	c->fdone = done;
	c->farg = arg;
	c->sync = sync;
	c->job.done = commit_done;
	pool_submit(n->committer, &c->job);
}

void
files_put(struct node *n, struct evhttp_request *req, const char *key, const char *upload_id,
    const char *fdtok)
{
	struct upload *u;

	if (upload_id == NULL && fdtok != NULL) {
		struct stat st;
		int fd, sock, fl;

		if (fdpass_take(n, fdtok, &fd, &sock) == -1) {
			api_error(req, 400, "bad fd token", "no descriptor was passed on fd.sock "
			    "under that token (or its connection closed)");
			return;
		}
		if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) != 0 ||
		    fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
		    (fl = fcntl(fd, F_GETFL)) == -1 || (fl & O_ACCMODE) == O_WRONLY) {
			close(fd);
			close(sock);
			api_error(req, 400, "bad fd", "a store from a passed descriptor takes a "
			    "regular file open for reading, and no body");
			return;
		}
		u = upload_new(n, 1);
		u->src_fd = fd;
		u->src_sock = sock;
		u->src_size = (uint64_t)st.st_size;
	} else if (upload_id != NULL) {
		u = upload_find(n, upload_id);
		if (u == NULL || u->commit_key != NULL) {
			api_error(req, 404, "not found", "no upload %s", upload_id);
			return;
		}
		if (u->failed) {
			api_error(req, u->fail_status, "store failed", "%s", u->fail_msg);
			upload_free(u);
			return;
		}
		if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) != 0) {
			api_error(req, 400, "unexpected body", "a commit carries no body");
			return;
		}
	} else {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(in), off = 0;

		if (len > API_MAX_PUT) {
			api_error(req, 413, "body too large", "a direct PUT carries at most %u bytes; "
			    "use an upload session (POST /v1/uploads) or `p2p store`", API_MAX_PUT);
			return;
		}
		u = upload_new(n, 1);
		while (off < len) {
			size_t k = len - off < u->chunk_size ? len - off : u->chunk_size;
			upload_enqueue(u, in, k);
			off += k;
		}
	}
	u->commit_key = xstrdup(key);
	held_set(&u->commit, req);
	if (u->src_fd != -1) { /* Ctrl-C in `p2p store` aborts */
		u->src_ev = event_new(n->base, u->src_sock, EV_READ, upload_src_eof, u);
		event_add(u->src_ev, NULL);
	}
	upload_pump(u);
}

void
files_delete(struct node *n, struct evhttp_request *req, const char *key)
{
	struct commit_job *c = xcalloc(1, sizeof *c);

	c->n = n;
	c->del = 1;
	c->key = xstrdup(key);
	held_set(&c->req, req);
	c->job.done = commit_done;
	pool_submit(n->committer, &c->job);
}

/* ---- get ------------------------------------------------------------------------- */

/* A get streams chunk after chunk. Each chunk is read and checked against its hash on
 * a worker before a byte of it is sent: a corrupt or missing chunk is never served as
 * good. Up to GET_AHEAD reads run ahead of the socket. If the first chunk is bad the
 * client gets a JSON 500; later, with the headers out, the connection is closed short
 * of Content-Length, which every HTTP client reports as an error.
 *
 * GET ?fd= (a file passed on fd.sock): verified chunks are written into that file by a
 * worker job, in order, one at a time (two workers writing one file at once contend on
 * its inode lock, which spins: measured, a fifth more CPU), ahead of queued reads; the
 * reads and hashes of the next chunks go on on the other worker meanwhile. The reply,
 * JSON, comes when every chunk is written, or is an error (the client drops the file). */
#define GET_AHEAD 4        /* slots; an HTTP get uses 2, a get into a file 4 */
#define GET_AHEAD_HTTP 2

struct getter;

struct gread {
	struct job job;
	struct getter *g;
	uint64_t idx;
	uint8_t *buf;       /* pool_buf_get(workers, cap) */
	size_t cap;
	size_t n;
	int rc;             /* store_read_chunk: 0 ok, 1 missing, 2 corrupt, -1 error;
			     * 3 the write into the client's file failed (errno in err) */
	int err;
	char *cause;
};

struct getter {
	struct node *n;
	struct held h;
	char *key;
	struct manifest m;
	uint64_t next_read;
	uint64_t next_send;
	struct gread *slot[GET_AHEAD];
	unsigned inflight;  /* read jobs not done yet */
	int sending;        /* a chunk is in evhttp's output, waiting for its write, or
			     * (out_fd) a job writes it into the client's file */
	int started;        /* headers sent */
	int dead;           /* client gone or transfer aborted */
	uint64_t sent;
	struct event *kill;
	int fetching;       /* waiting for repl_fetch (a chunk that read bad) */
	uint64_t refetched; /* 1 + index of the last chunk fetched again after a bad read */
	uint8_t *missing;   /* per chunk: 1 while it is being fetched from peers, 2 once
			     * the fetch wrote it into out_fd (neither read nor written here) */
	uint64_t *fidx;     /* fetch list index -> chunk index */
	unsigned ahead;     /* reads in flight at most (<= GET_AHEAD) */
	int out_fd;         /* GET ?fd=: the client's file, written by the workers */
	int out_sock;       /* its fd.sock connection: progress lines */
	struct event *out_ev; /* its end: the client went away */
	char version[17];
};

static void getter_pump(struct getter *g);
static void getter_read_ahead(struct getter *g);
static void getter_fail(struct getter *g, struct gread *r);

/* evbuffer cleanup of a sent chunk: len is the chunk's length, the size it was got with */
static void
free_ref(const void *data, size_t len, void *arg)
{
	pool_buf_put(arg, (void *)data, len);
}

/* n, not r->g->n: the getter may be gone already (getter_fail can free it) */
static void
gread_free(struct node *n, struct gread *r)
{
	pool_buf_put(n->workers, r->buf, r->cap);
	free(r->cause);
	free(r);
}

static void
getter_free(struct getter *g)
{
	for (uint64_t i = 0; i < g->m.nchunks; i++)
		store_unpin(g->n->store, g->m.chunks[i]);
	for (int i = 0; i < GET_AHEAD; i++) {
		if (g->slot[i] != NULL)
			gread_free(g->n, g->slot[i]);
	}
	manifest_free(&g->m);
	free(g->missing);
	free(g->fidx);
	if (g->out_ev != NULL)
		event_free(g->out_ev);
	if (g->out_fd != -1)
		close(g->out_fd);
	if (g->out_sock != -1)
		close(g->out_sock);
	if (g->kill != NULL)
		event_free(g->kill);
	g->n->gets_active--;
	free(g->key);
	free(g);
}

/* The transfer is over for us; free once no read job refers to g any more. */
static void
getter_end(struct getter *g)
{
	if (g->out_ev != NULL)
		event_del(g->out_ev);
	/* no more fetch callbacks for g (fetched chunks stay: a new get resumes) */
	repl_fetch_cancel(g->n, g);
	g->fetching = 0;
	g->dead = 1;
	if (g->inflight == 0 && g->kill == NULL)
		getter_free(g);
}

static void
getter_closed(struct evhttp_connection *evcon, void *arg)
{
	struct getter *g = arg;

	(void)evcon;
	g->h.req = NULL;
	g->h.evcon = NULL;
	log_info("get %s: client went away after %" PRIu64 " bytes", g->key, g->sent);
	atomic_fetch_add(&g->n->m.get_errors, 1);
	getter_end(g);
}

static void
getter_kill(evutil_socket_t fd, short what, void *arg)
{
	struct getter *g = arg;
	struct evhttp_connection *evcon = g->h.evcon;

	(void)fd;
	(void)what;
	event_free(g->kill);
	g->kill = NULL;
	if (evcon != NULL) {
		evhttp_connection_set_closecb(evcon, NULL, NULL);
		g->h.req = NULL;
		g->h.evcon = NULL;
		evhttp_connection_free(evcon);
	}
	getter_end(g);
}

/* GET ?fd=: the client's fd.sock connection closed before the answer: stop writing. */
static void
getter_out_eof(evutil_socket_t fd, short what, void *arg)
{
	struct getter *g = arg;
	struct evhttp_request *req;

	(void)fd;
	(void)what;
	if (g->dead)
		return;
	log_info("get %s: the client went away after %" PRIu64 " bytes", g->key, g->sent);
	atomic_fetch_add(&g->n->m.get_errors, 1);
	if ((req = held_take(&g->h)) != NULL)
		api_error(req, 400, "client gone", "the fd.sock connection closed");
	getter_end(g);
}

int
chunk_read(struct node *n, struct db *db, const uint8_t h[HASH_LEN], void *buf, size_t max,
    size_t *len, char **cause)
{
	uint8_t got[HASH_LEN];
	char hex[HASH_HEX];
	int rc;

	if ((rc = db_chunk_read_inline(db, h, buf, max, len, cause)) == 1)
		return store_read_chunk(n->store, h, buf, max, len, cause);
	if (rc != 0)
		return rc;
	/* SQLite keeps no checksum of its own: the name is the check */
	hash_buf(buf, *len, got);
	if (memcmp(got, h, HASH_LEN) != 0) {
		hex_encode(h, HASH_LEN, hex);
		set_cause(cause, "inline chunk %s: its bytes do not match its SHA-256", hex);
		return 2;
	}
	return 0;
}

static void
gread_run(struct job *j, void *ctx)
{
	struct gread *r = (struct gread *)j;
	struct getter *g = r->g;
	struct tctx *t = ctx;
	size_t len = manifest_chunk_len(&g->m, r->idx);

	r->cap = len;
	r->buf = pool_buf_get(g->n->workers, len);
	r->rc = chunk_read(g->n, t->db, g->m.chunks[r->idx], r->buf, len, &r->n, &r->cause);
	if (r->rc == 0 && r->n != len)
		r->rc = 2; /* shorter than the manifest says */
}

/* GET ?fd=: a verified chunk into the client's file, at its offset. */
static void
gwrite_run(struct job *j, void *ctx)
{
	struct gread *r = (struct gread *)j;
	struct getter *g = r->g;

	(void)ctx;
	if ((r->err = fd_pwrite_out(g->out_fd, r->buf, r->n,
	    (off_t)(r->idx * g->m.chunk_size))) != 0)
		r->rc = 3;
}

static void
gwrite_done(struct job *j)
{
	struct gread *r = (struct gread *)j;
	struct getter *g = r->g;
	struct node *n = g->n;

	g->inflight--;
	g->sending = 0;
	if (g->dead) {
		gread_free(n, r);
		if (g->inflight == 0 && g->kill == NULL)
			getter_free(g);
		return;
	}
	if (r->rc != 0) {
		getter_fail(g, r);
		gread_free(n, r);
		return;
	}
	g->sent += r->n;
	g->next_send++;
	gread_free(n, r);
	fdpass_progress(g->out_sock, g->sent);
	getter_read_ahead(g);
	getter_pump(g);
}

static void
gread_done(struct job *j)
{
	struct gread *r = (struct gread *)j;
	struct getter *g = r->g;
	struct node *n = g->n;

	g->inflight--;
	if (g->dead) {
		gread_free(n, r);
		if (g->inflight == 0 && g->kill == NULL)
			getter_free(g);
		return;
	}
	g->slot[r->idx % GET_AHEAD] = r;
	getter_pump(g);
}

static void
getter_submit_read(struct getter *g, uint64_t idx)
{
	struct gread *r = xcalloc(1, sizeof *r);

	r->g = g;
	r->idx = idx;
	r->job.run = gread_run;
	r->job.done = gread_done;
	g->inflight++;
	pool_submit(g->n->workers, &r->job);
}


/* repl_fetch finished for a chunk that read bad mid-transfer: read it again. */
static void
getter_refetched(void *arg, int ok, const char *why)
{
	struct getter *g = arg;

	g->fetching = 0;
	if (g->dead)
		return;
	if (!ok) {
		struct gread r;

		memset(&r, 0, sizeof r);
		r.idx = g->refetched - 1;
		r.rc = 1;
		r.cause = xstrdup(why ? why : "no peer has it");
		getter_fail(g, &r);
		free(r.cause);
		return;
	}
	getter_submit_read(g, g->refetched - 1);
}

/* A chunk missing when the get started was fetched (stored here, and with sunk 1
 * written into out_fd too), or could not be. */
static void
getter_chunk_fetched(void *arg, uint64_t k, int ok, int sunk, const char *why)
{
	struct getter *g = arg;
	uint64_t i = g->fidx[k];
	struct evhttp_request *req;

	if (g->dead)
		return;
	if (!ok) {
		if (!g->started) {
			req = held_take(&g->h);
			if (req != NULL)
				api_error(req, 503, "chunks unavailable", "chunk %" PRIu64 " of "
				    "\"%s\": %s", i, g->key, why ? why : "on no reachable node");
			atomic_fetch_add(&g->n->m.get_errors, 1);
			getter_end(g);
		} else {
			struct gread r;

			memset(&r, 0, sizeof r);
			r.idx = i;
			r.rc = 1;
			r.cause = xstrdup(why ? why : "on no reachable node");
			getter_fail(g, &r);
			free(r.cause);
		}
		return;
	}
	if (sunk < 0) {
		struct gread r;

		memset(&r, 0, sizeof r);
		r.idx = i;
		r.rc = 3;
		r.err = -sunk;
		getter_fail(g, &r);
		return;
	}
	g->missing[i] = sunk > 0 ? 2 : 0;
	getter_read_ahead(g);
	getter_pump(g);
}

static void
getter_read_ahead(struct getter *g)
{
	/* in order, and only chunks held here (a missing one is read once fetched; one
	 * the fetch wrote into out_fd is not read at all) */
	while (g->next_read < g->m.nchunks && g->next_read < g->next_send + g->ahead &&
	    (g->missing == NULL || g->missing[g->next_read] != 1)) {
		if (g->missing != NULL && g->missing[g->next_read] == 2)
			g->next_read++;
		else
			getter_submit_read(g, g->next_read++);
	}
}

static void
getter_sent(struct evhttp_connection *evcon, void *arg)
{
	struct getter *g = arg;

	(void)evcon;
	g->sending = 0;
	getter_pump(g);
}

static void
getter_headers(struct getter *g, struct evhttp_request *req)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	char hex[HASH_HEX], len[24];

	snprintf(len, sizeof len, "%" PRIu64, g->m.size);
	hex_encode(g->m.file_hash, HASH_LEN, hex);
	evhttp_add_header(oh, "Content-Type", "application/octet-stream");
	evhttp_add_header(oh, "Content-Length", len);
	evhttp_add_header(oh, "X-P2P-SHA256", hex);
}

static void
getter_fail(struct getter *g, struct gread *r)
{
	struct node *n = g->n;
	char hex[HASH_HEX];
	const char *what = r->rc == 1 ? "is missing" : r->rc == 2 ? "is corrupt" : "cannot be read";

	hex_encode(g->m.chunks[r->idx], HASH_LEN, hex);
	if (r->rc == 3) {
		/* the client's file, not this node's chunk: nothing for `p2p verify` */
		struct evhttp_request *req = held_take(&g->h);

		log_info("get %s: cannot write chunk %" PRIu64 " into the client's file: %s",
		    g->key, r->idx, strerror(r->err));
		atomic_fetch_add(&n->m.get_errors, 1);
		if (req != NULL)
			api_error(req, r->err == ENOSPC || r->err == EDQUOT ? 507 : 500,
			    "write failed", "writing into the output file: %s",
			    strerror(r->err));
		getter_end(g);
		return;
	}
	log_warnx("get %s: chunk %" PRIu64 " (%s) %s%s%s; not serving it (run `p2p verify`)",
	    g->key, r->idx, hex, what, r->cause ? ": " : "", r->cause ? r->cause : "");
	if (r->rc == 2)
		atomic_fetch_add(&n->m.chunk_verify_failures, 1);
	atomic_fetch_add(&n->m.get_errors, 1);
	if (!g->started) {
		struct evhttp_request *req = held_take(&g->h);
		if (req != NULL)
			api_error(req, 500, "chunk unavailable", "chunk %" PRIu64 " (%s) of \"%s\" %s "
			    "on this node; run `p2p verify`", r->idx, hex, g->key, what);
		getter_end(g);
		return;
	}
	/* Headers are out: close the connection short of Content-Length, from a fresh
	 * loop iteration rather than inside evhttp's callback. */
	g->kill = evtimer_new(n->base, getter_kill, g);
	event_active(g->kill, EV_TIMEOUT, 0);
	g->dead = 1;
}

static void
getter_pump(struct getter *g)
{
	struct node *n = g->n;
	struct gread *r;
	struct evbuffer *buf;

	if (g->dead || g->h.req == NULL)
		return;
	if (g->sending)
		return;
	if (g->missing != NULL && g->next_send < g->m.nchunks &&
	    g->missing[g->next_send] == 2) {
		/* in the client's file already (repl_fetch_each wrote it) */
		while (g->next_send < g->m.nchunks && g->missing[g->next_send] == 2) {
			g->sent += manifest_chunk_len(&g->m, g->next_send);
			g->next_send++;
			atomic_fetch_add(&n->m.chunks_verified, 1);
		}
		fdpass_progress(g->out_sock, g->sent);
		getter_read_ahead(g);
	}
	if (g->next_send == g->m.nchunks) {
		struct evhttp_request *req = held_take(&g->h);
		atomic_fetch_add(&n->m.gets, 1);
		atomic_fetch_add(&n->m.get_bytes, g->sent);
		if (g->out_fd != -1) {
			char hex[HASH_HEX];

			hex_encode(g->m.file_hash, HASH_LEN, hex);
			api_json(req, 200, json_pack("{s:s,s:s,s:I,s:s,s:I}", "key", g->key,
			    "version", g->version, "size", (json_int_t)g->m.size, "sha256", hex,
			    "chunks", (json_int_t)g->m.nchunks));
		} else {
			if (!g->started) {
				getter_headers(g, req);
				evhttp_send_reply_start(req, 200, "OK");
			}
			evhttp_send_reply_end(req);
		}
		getter_end(g);
		return;
	}
	r = g->slot[g->next_send % GET_AHEAD];
	if (r == NULL || r->idx != g->next_send)
		return; /* not read yet */
	g->slot[g->next_send % GET_AHEAD] = NULL;
	if ((r->rc == 1 || r->rc == 2) && g->refetched != r->idx + 1) {
		/* missing or corrupt here: fetch it from a holder (verified on receipt,
		 * stored again), then read it again */
		char hex[HASH_HEX];

		hex_encode(g->m.chunks[r->idx], HASH_LEN, hex);
		log_warnx("get %s: chunk %" PRIu64 " (%s) %s here: fetching it from a peer",
		    g->key, r->idx, hex, r->rc == 2 ? "is corrupt" : "is missing");
		if (r->rc == 2)
			atomic_fetch_add(&n->m.chunk_verify_failures, 1);
		g->refetched = r->idx + 1;
		if (repl_fetch(n, &g->m.chunks[r->idx], 1, g->m.chunk_size,
		    getter_refetched, g) == 0) {
			g->fetching = 1;
			gread_free(n, r);
			return;
		}
	}
	if (r->rc != 0) {
		getter_fail(g, r);
		gread_free(n, r);
		return;
	}
	atomic_fetch_add(&n->m.chunks_verified, 1);
	g->sending = 1;
	if (g->out_fd != -1) {
		/* into the client's file, ahead of queued reads */
		r->job.run = gwrite_run;
		r->job.done = gwrite_done;
		g->inflight++;
		pool_submit_first(n->workers, &r->job);
		return;
	}
	if (!g->started) {
		getter_headers(g, g->h.req);
		evhttp_send_reply_start(g->h.req, 200, "OK");
		g->started = 1;
	}
	buf = evbuffer_new();
	evbuffer_add_reference(buf, r->buf, r->n, free_ref, n->workers); /* r->n == r->cap */
	g->sent += r->n;
	g->next_send++;
	free(r->cause);
	free(r);
	getter_read_ahead(g);
	evhttp_send_reply_chunk_with_cb(g->h.req, buf, getter_sent, g);
	evbuffer_free(buf);
}

void
files_get(struct node *n, struct evhttp_request *req, const char *key, int head,
    const char *fdtok)
{
	struct db_file f;
	struct getter *g;
	char *cause = NULL, v[17];
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	int rc, out_fd = -1, out_sock = -1;

	if (fdtok != NULL && !head) {
		struct stat st;
		int fl;

		if (fdpass_take(n, fdtok, &out_fd, &out_sock) == -1) {
			api_error(req, 400, "bad fd token", "no descriptor was passed on fd.sock "
			    "under that token (or its connection closed)");
			return;
		}
		if (fstat(out_fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size != 0 ||
		    (fl = fcntl(out_fd, F_GETFL)) == -1 || (fl & O_ACCMODE) == O_RDONLY ||
		    (fl & O_APPEND)) {
			close(out_fd);
			close(out_sock);
			api_error(req, 400, "bad fd", "a get into a passed descriptor takes an "
			    "empty regular file open for writing (not O_APPEND)");
			return;
		}
	}
	memset(&f, 0, sizeof f);
	rc = db_file_get(n->db, key, 0, &f, &cause);
	if (rc == 1) {
		db_file_clear(&f);
		api_error(req, 404, "not found", "no file with key \"%s\"", key);
		goto out;
	}
	if (rc == -1)
		goto fail;
	g = xcalloc(1, sizeof *g);
	g->n = n;
	g->key = xstrdup(key);
	g->ahead = out_fd != -1 ? GET_AHEAD : GET_AHEAD_HTTP;
	g->out_fd = out_fd;
	g->out_sock = out_sock;
	out_fd = out_sock = -1; /* g's now */
	n->gets_active++;
	if ((rc = db_file_manifest(n->db, f.id, &g->m, &cause)) != 0) {
		getter_free(g);
		if (rc == 1) { /* replaced between the two reads */
			db_file_clear(&f);
			api_error(req, 404, "not found", "no file with key \"%s\"", key);
			return;
		}
		goto fail;
	}
	for (uint64_t i = 0; i < g->m.nchunks; i++)
		store_pin(n->store, g->m.chunks[i]);
	snprintf(v, sizeof v, "%016" PRIx64, f.version);
	evhttp_add_header(oh, "X-P2P-Version", v);
	memcpy(g->version, v, sizeof g->version);
	db_file_clear(&f);
	if (head) {
		getter_headers(g, req);
		evhttp_send_reply(req, 200, "OK", NULL);
		getter_free(g);
		return;
	}
	held_set(&g->h, req);
	evhttp_connection_set_closecb(g->h.evcon, getter_closed, g);
	if (g->out_sock != -1) {
		g->out_ev = event_new(n->base, g->out_sock, EV_READ, getter_out_eof, g);
		event_add(g->out_ev, NULL);
	}
	{
		/* chunks this node does not hold: fetch them first (stored durably as
		 * local chunks, so an interrupted get resumes where it was) */
		uint8_t (*miss)[HASH_LEN] = NULL;
		uint64_t nmiss = 0;

		for (uint64_t i = 0; i < g->m.nchunks; i++) {
			rc = db_chunk_have(n->db, g->m.chunks[i], &cause);
			if (rc == -1) {
				log_warnx("get %s: %s", key, cause);
				free(cause);
				cause = NULL;
			}
			if (rc == 1)
				continue;
			if (miss == NULL) {
				miss = xcalloc(g->m.nchunks, HASH_LEN);
				g->missing = xcalloc(g->m.nchunks, 1);
				g->fidx = xcalloc(g->m.nchunks, sizeof *g->fidx);
			}
			g->missing[i] = 1;
			g->fidx[nmiss] = i;
			memcpy(miss[nmiss++], g->m.chunks[i], HASH_LEN);
		}
		if (nmiss > 0) {
			/* streamed as they arrive: chunk i goes out once it is here */
			uint64_t *offs = NULL;

			if (g->out_fd != -1) {
				/* the fetch writes what it verified straight into the file */
				offs = xcalloc(nmiss, sizeof *offs);
				for (uint64_t k = 0; k < nmiss; k++)
					offs[k] = g->fidx[k] * g->m.chunk_size;
			}
			rc = repl_fetch_each(n, miss, nmiss, g->m.chunk_size,
			    getter_chunk_fetched, g, g->out_fd, offs);
			free(offs);
			free(miss);
			if (rc == -1) {
				struct evhttp_request *r2 = held_take(&g->h);
				api_error(r2, 503, "chunks unavailable", "%" PRIu64 " of %" PRIu64
				    " chunks of \"%s\" are not on this node and no peer is "
				    "connected", nmiss, g->m.nchunks, key);
				atomic_fetch_add(&n->m.get_errors, 1);
				getter_end(g);
				return;
			}
		}
	}
	getter_read_ahead(g);
	getter_pump(g); /* a 0-byte file has nothing to read */
	return;
fail:
	db_file_clear(&f);
	api_error(req, 500, "database error", "%s", cause);
	free(cause);
out:
	if (out_fd != -1)
		close(out_fd);
	if (out_sock != -1)
		close(out_sock);
}

/* ---- list ------------------------------------------------------------------------ */

struct list_out {
	struct node *n;
	struct evbuffer *b;
	int first;
};

static int
list_cb(void *arg, const struct db_file *f)
{
	struct list_out *l = arg;

	if (!l->first)
		evbuffer_add(l->b, ",", 1);
	l->first = 0;
	api_file_json_add(l->b, l->n, f);
	return 0;
}

/* GET /v1/files: written as text straight from the rows (with 10,000 files, building
 * and dumping a jansson tree took most of the request's time). */
void
files_list(struct node *n, struct evhttp_request *req, int include_deleted)
{
	struct list_out l = { n, evbuffer_new(), 1 };
	char *cause = NULL;

	evbuffer_add(l.b, "{\"files\":[", 10);
	if (db_files_list_copies(n->db, include_deleted, list_cb, &l, &cause) == -1) {
		evbuffer_free(l.b);
		api_error(req, 500, "database error", "%s", cause);
		free(cause);
		return;
	}
	evbuffer_add(l.b, "]}\n", 3);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "application/json");
	evhttp_send_reply(req, 200, "OK", l.b);
	evbuffer_free(l.b);
}

/* ---- garbage collection (gc thread) -------------------------------------------- */

static int
gc_forget(void *arg, const uint8_t h[HASH_LEN])
{
	struct tctx *t = arg;
	char *cause = NULL;
	int rc = db_chunk_forget(t->db, h, &cause);

	if (rc == -1) {
		log_warnx("gc: %s", cause);
		free(cause);
	}
	return rc;
}

/* An orphan is a chunk file the database does not know: a store that crashed before
 * its commit. Called under the pin lock, so an in-flight store (pinned) is safe. */
static int
gc_orphan(void *arg, const uint8_t h[HASH_LEN])
{
	struct tctx *t = arg;
	char *cause = NULL;
	int rc = db_chunk_have(t->db, h, &cause);

	if (rc == -1) {
		log_warnx("gc: %s", cause);
		free(cause);
		return 0;
	}
	return rc == 0 ? 1 : 0;
}

struct sweep {
	struct tctx *t;
	uint64_t removed;
};

static int
sweep_cb(void *arg, const uint8_t *h, const char *path)
{
	struct sweep *s = arg;

	if (h == NULL) {
		log_warnx("gc: stray file in the chunk store: %s", path);
		return 0;
	}
	if (store_gc_chunk(s->t->n->store, h, gc_orphan, s->t) == 1)
		s->removed++;
	return 0;
}

static void
gc_idle(void *ctx, void *arg)
{
	struct tctx *t = ctx;
	struct node *n = arg;
	static int swept;   /* one gc thread per process */
	uint8_t (*cand)[HASH_LEN];
	size_t k = 0, removed = 0;
	char *cause = NULL;

	if (!swept || atomic_exchange(&n->sweep_wanted, 0)) {
		struct sweep s = { t, 0 };
		swept = 1;
		if (store_walk(n->store, sweep_cb, &s, &cause) == -1) {
			log_warnx("gc: orphan sweep: %s", cause);
			free(cause);
			cause = NULL;
		}
		if (s.removed > 0)
			log_info("gc: removed %" PRIu64 " orphan chunk files", s.removed);
		atomic_fetch_add(&n->m.orphans_removed, s.removed);
	}
	cand = xcalloc(256, HASH_LEN);
	if (db_chunks_unreferenced(t->db, cand, 256, &k, &cause) == -1) {
		log_warnx("gc: %s", cause);
		free(cause);
		free(cand);
		return;
	}
	for (size_t i = 0; i < k; i++)
		if (store_gc_chunk(n->store, cand[i], gc_forget, t) == 1)
			removed++;
	free(cand);
	{
		uint64_t nf = 0;

		if (db_chunks_forget_remote(t->db, &nf, &cause) == -1) {
			log_warnx("gc: %s", cause);
			free(cause);
			cause = NULL;
		}
	}
	atomic_fetch_add(&n->m.gc_runs, 1);
	if (removed > 0) {
		atomic_fetch_add(&n->m.gc_chunks, removed);
		log_debug("gc: removed %zu unreferenced chunks", removed);
	}
	if (k == 256)
		pool_kick(n->gc);
}

/* ---- life cycle ------------------------------------------------------------------ */

int
files_init(struct node *n, char **cause)
{
	struct pool_ops w = { .thread_init = tctx_init, .thread_fini = tctx_fini, .arg = n,
		.buf_size = n->cfg->chunk_size, .buf_keep = 2 * UPLOAD_WINDOW };
	struct pool_ops c = { .thread_init = commit_tctx_init, .thread_fini = tctx_fini,
		.run_batch = commit_batch, .arg = n };
	struct pool_ops k = { .thread_init = tctx_init, .thread_fini = tctx_fini,
		.idle = ckpt_idle, .idle_ms = CKPT_IDLE_MS, .arg = n };
	struct pool_ops g = { .thread_init = tctx_init, .thread_fini = tctx_fini,
		.idle = gc_idle, .idle_ms = 10000, .arg = n };
	char *v = NULL;
	const char *errstr;

	TAILQ_INIT(&n->uploads);
	if (db_meta_get(n->db, "hlc", &v, NULL) == 0) {
		n->hlc = (uint64_t)parse_num(v, 0, LLONG_MAX, &errstr);
		free(v);
	}
	if ((n->workers = pool_new(n->base, "p2p-work", 2, 0, &w, cause)) == NULL ||
	    (n->committer = pool_new(n->base, "p2p-commit", 1, 1, &c, cause)) == NULL ||
	    (n->gc = pool_new(n->base, "p2p-gc", 1, 0, &g, cause)) == NULL ||
	    (n->ckpt = pool_new(n->base, "p2p-ckpt", 1, 0, &k, cause)) == NULL)
		return -1;
	pool_kick(n->gc); /* orphan sweep right after start-up */
	return 0;
}

void
files_shutdown(struct node *n)
{
	struct upload *u;

	while ((u = TAILQ_FIRST(&n->uploads)) != NULL)
		upload_free(u);
	/* workers first (they may feed the committer), then the committer, then gc */
	pool_free(n->workers);
	n->workers = NULL;
	pool_free(n->committer);
	n->committer = NULL;
	pool_free(n->gc);
	n->gc = NULL;
	pool_free(n->ckpt); /* last: it may copy what the committer wrote last */
	n->ckpt = NULL;
}
