/* files.c: the file service of the daemon: upload sessions, group commit, streaming
 * gets, deletes and garbage collection.
 *
 * Threads (see docs/ARCHITECTURE.md):
 *   loop thread   HTTP, upload bookkeeping, reads from its own db connection;
 *   workers       stage_put: hash a part, pin it, write it unless the db has it;
 *   committer     group commit: one store_sync() + one transaction for every version
 *                 or tombstone queued at that moment, HLC versions assigned here;
 *   gc            unreferenced chunks and orphan files, one chunk at a time under the
 *                 store's pin lock.
 * Each thread has its own db connection. */
#include "node/api.h"
#include "node/daemon.h"
#include "node/work.h"
#include "node/repl.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/rand.h>

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

/* ---- uploads ------------------------------------------------------------------------ */

struct part {
	TAILQ_ENTRY(part) entry;
	uint8_t *data;
	size_t len;
};

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
	TAILQ_HEAD(, part) parts;
	unsigned nqueued;       /* parts queued or being processed */
	int busy;               /* a worker job runs for this upload */
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

	/* the worker job (one at a time per upload) */
	struct job job;
	struct part *cur;
	int cur_rc;
	char *cur_cause;
};

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
	if (!u->committed && u->stage != NULL && stage_nparts(u->stage) > 0) {
		/* Aborted or failed (no space, say): the chunks it wrote have no row. Let
		 * the gc thread sweep such orphans now rather than at the next start. */
		atomic_store(&u->n->sweep_wanted, 1);
		pool_kick(u->n->gc);
	}
	while ((p = TAILQ_FIRST(&u->parts)) != NULL) {
		TAILQ_REMOVE(&u->parts, p, entry);
		free(p->data);
		free(p);
	}
	stage_free(u->stage);
	free(u->fail_msg);
	free(u->commit_key);
	free(u);
}

static int
is_nospace(const char *cause)
{
	return cause != NULL && strstr(cause, "no space left on device") != NULL;
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
part_run(struct job *j, void *ctx)
{
	struct upload *u = (struct upload *)((char *)j - offsetof(struct upload, job));
	struct tctx *t = ctx;

	u->cur_rc = stage_put(u->stage, u->cur->data, u->cur->len, have_chunk, t, &u->cur_cause);
}

static void
part_done(struct job *j)
{
	struct upload *u = (struct upload *)((char *)j - offsetof(struct upload, job));
	struct node *n = u->n;
	struct part *p = u->cur;

	u->busy = 0;
	u->cur = NULL;
	u->nqueued--;
	u->bytes += p->len;
	free(p->data);
	free(p);
	if (u->entry.tqe_prev == NULL && !u->committing) {
		/* aborted while we ran */
		upload_free(u);
		return;
	}
	if (u->cur_rc == -1) {
		int st = is_nospace(u->cur_cause) ? 507 : 500;
		char *msg = u->cur_cause ? u->cur_cause : xstrdup("cannot store part");
		u->cur_cause = NULL;
		upload_fail(u, st, msg);
		free(msg);
		return;
	}
	(void)n;
	upload_pump(u);
}

static void commit_submit(struct upload *u);

/* Move the upload forward: start the next part, release a waiting client, commit. */
static void
upload_pump(struct upload *u)
{
	struct evhttp_request *req;

	if (u->failed)
		return;
	if (!u->busy && (u->cur = TAILQ_FIRST(&u->parts)) != NULL) {
		TAILQ_REMOVE(&u->parts, u->cur, entry);
		u->busy = 1;
		u->job.run = part_run;
		u->job.done = part_done;
		pool_submit(u->n->workers, &u->job);
	}
	if (u->wait.req != NULL && u->nqueued < UPLOAD_WINDOW) {
		req = held_take(&u->wait);
		json_t *o = json_pack("{s:s,s:I}", "upload", u->id, "next", (json_int_t)u->next);
		api_json(req, 202, o);
	}
	if (u->commit_key != NULL && u->nqueued == 0 && !u->committing)
		commit_submit(u);
}

/* Queue one part (copies the bytes). */
static void
upload_enqueue(struct upload *u, const void *data, size_t len)
{
	struct part *p = xcalloc(1, sizeof *p);

	p->data = xmalloc(len);
	memcpy(p->data, data, len);
	p->len = len;
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
	struct part *p;

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
	p = xcalloc(1, sizeof *p);
	p->data = xmalloc(len);
	evbuffer_remove(in, p->data, len);
	p->len = len;
	TAILQ_INSERT_TAIL(&u->parts, p, entry);
	u->nqueued++;
	u->next++;
	if (len < u->chunk_size)
		u->short_seen = 1;
	u->last_ms = mono_ms();
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

static void
commit_one(struct commit_job *c, struct db *db)
{
	char *cause = NULL;
	struct node *n = c->n;
	struct db_file cur;
	int rc;

	if (c->fn != NULL) {
		c->status = c->fn(n, db, c->farg) == 0 ? 200 : 500;
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

/* Wake the garbage collector after a batch that may have orphaned chunks, at most
 * once a second: each pass scans the chunk table, and waking it after every batch
 * took most of a core under load (measured: 3.3-4.5k -> 8.6-9k stores/s without).
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

static void
commit_batch(struct jobq *q, void *ctx, void *arg)
{
	struct tctx *t = ctx;
	struct node *n = arg;
	struct job *j;
	struct commit_job *c;
	char *cause = NULL, hlc[32];
	int any_put = 0, failed = 0, garbage = 0;

	TAILQ_FOREACH(j, q, entry) {
		c = (struct commit_job *)j;
		c->status = 0;
		c->sync_failed = 0;
		if ((c->fn == NULL && !c->del) || c->sync)
			any_put = 1;
		if (c->del || c->fn != NULL)
			garbage = 1; /* a tombstone or a remote version may orphan chunks */
	}
	/* 1. every chunk written for these versions becomes durable: one syncfs */
	if (any_put && store_sync(n->store, &cause) == -1) {
		int st = is_nospace(cause) ? 507 : 500;
		TAILQ_FOREACH(j, q, entry) {
			c = (struct commit_job *)j;
			if ((c->fn == NULL && !c->del) || c->sync) {
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
		    db_commit(t->db, &cause) == 0) {
			atomic_fetch_add(&n->m.commit_batches, 1);
			gc_kick(n, garbage);
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
		    db_commit(t->db, &cause) == -1) {
			db_rollback(t->db);
			c->status = 500;
			c->err = cause;
			cause = NULL;
		}
	}
	gc_kick(n, garbage);
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
			repl_local_commit(n, &c->f, NULL, NULL, NULL);
			if (req != NULL)
				api_json(req, 200, json_pack("{s:s,s:s,s:b}", "key", c->key,
				    "version", v, "deleted", 1));
		} else {
			/* replication answers once min copies hold it (or now) */
			json_t *o = api_file_json(n, &c->f);
			if (repl_local_commit(n, &c->f, &c->m, req, o) == 0) {
				if (req != NULL)
					api_json(req, 201, o);
				else
					json_decref(o);
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
files_put(struct node *n, struct evhttp_request *req, const char *key, const char *upload_id)
{
	struct upload *u;

	if (upload_id != NULL) {
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
		uint8_t *body;

		if (len > API_MAX_PUT) {
			api_error(req, 413, "body too large", "a direct PUT carries at most %u bytes; "
			    "use an upload session (POST /v1/uploads) or `p2p store`", API_MAX_PUT);
			return;
		}
		u = upload_new(n, 1);
		body = evbuffer_pullup(in, -1);
		while (off < len) {
			size_t k = len - off < u->chunk_size ? len - off : u->chunk_size;
			upload_enqueue(u, body + off, k);
			off += k;
		}
	}
	u->commit_key = xstrdup(key);
	held_set(&u->commit, req);
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
 * of Content-Length, which every HTTP client reports as an error. */
#define GET_AHEAD 2

struct getter;

struct gread {
	struct job job;
	struct getter *g;
	uint64_t idx;
	uint8_t *buf;
	size_t n;
	int rc;             /* store_read_chunk: 0 ok, 1 missing, 2 corrupt, -1 error */
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
	int sending;        /* a chunk is in evhttp's output, waiting for its write */
	int started;        /* headers sent */
	int dead;           /* client gone or transfer aborted */
	uint64_t sent;
	struct event *kill;
	int fetching;       /* waiting for repl_fetch (a chunk that read bad) */
	uint64_t refetched; /* 1 + index of the last chunk fetched again after a bad read */
	uint8_t *missing;   /* per chunk: 1 while it is being fetched from peers */
	uint64_t *fidx;     /* fetch list index -> chunk index */
};

static void getter_pump(struct getter *g);

static void
free_ref(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

static void
getter_free(struct getter *g)
{
	for (uint64_t i = 0; i < g->m.nchunks; i++)
		store_unpin(g->n->store, g->m.chunks[i]);
	for (int i = 0; i < GET_AHEAD; i++) {
		if (g->slot[i] != NULL) {
			free(g->slot[i]->buf);
			free(g->slot[i]->cause);
			free(g->slot[i]);
		}
	}
	manifest_free(&g->m);
	free(g->missing);
	free(g->fidx);
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

static void
gread_run(struct job *j, void *ctx)
{
	struct gread *r = (struct gread *)j;
	struct getter *g = r->g;
	size_t len = manifest_chunk_len(&g->m, r->idx);

	(void)ctx;
	r->buf = xmalloc(len ? len : 1);
	r->rc = store_read_chunk(g->n->store, g->m.chunks[r->idx], r->buf, len, &r->n,
	    &r->cause);
	if (r->rc == 0 && r->n != len)
		r->rc = 2; /* shorter than the manifest says */
}

static void
gread_done(struct job *j)
{
	struct gread *r = (struct gread *)j;
	struct getter *g = r->g;

	g->inflight--;
	if (g->dead) {
		free(r->buf);
		free(r->cause);
		free(r);
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

static void getter_read_ahead(struct getter *g);
static void getter_fail(struct getter *g, struct gread *r);

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

/* A chunk missing when the get started was fetched (stored here), or could not be. */
static void
getter_chunk_fetched(void *arg, uint64_t k, int ok, const char *why)
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
	g->missing[i] = 0;
	getter_read_ahead(g);
	getter_pump(g);
}

static void
getter_read_ahead(struct getter *g)
{
	/* in order, and only chunks held here (a missing one is read once fetched) */
	while (g->next_read < g->m.nchunks && g->next_read < g->next_send + GET_AHEAD &&
	    (g->missing == NULL || !g->missing[g->next_read]))
		getter_submit_read(g, g->next_read++);
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
	if (g->next_send == g->m.nchunks) {
		struct evhttp_request *req = held_take(&g->h);
		if (!g->started) {
			getter_headers(g, req);
			evhttp_send_reply_start(req, 200, "OK");
		}
		atomic_fetch_add(&n->m.gets, 1);
		atomic_fetch_add(&n->m.get_bytes, g->sent);
		evhttp_send_reply_end(req);
		getter_end(g);
		return;
	}
	r = g->slot[g->next_send % GET_AHEAD];
	if (r == NULL || r->idx != g->next_send)
		return; /* not read yet */
	g->slot[g->next_send % GET_AHEAD] = NULL;
	if (r->rc != 0 && r->rc != -1 && g->refetched != r->idx + 1) {
		/* missing or corrupt here: fetch it from a holder (verified on receipt,
		 * stored again), then read it again */
		char hex[HASH_HEX];

		hex_encode(g->m.chunks[r->idx], HASH_LEN, hex);
		log_warnx("get %s: chunk %" PRIu64 " (%s) %s here: fetching it from a peer",
		    g->key, r->idx, hex, r->rc == 2 ? "is corrupt" : "is missing");
		if (r->rc == 2)
			atomic_fetch_add(&n->m.chunk_verify_failures, 1);
		g->refetched = r->idx + 1;
		if (repl_fetch(n, &g->m.chunks[r->idx], 1, getter_refetched, g) == 0) {
			g->fetching = 1;
			free(r->buf);
			free(r->cause);
			free(r);
			return;
		}
	}
	if (r->rc != 0) {
		getter_fail(g, r);
		free(r->buf);
		free(r->cause);
		free(r);
		return;
	}
	atomic_fetch_add(&n->m.chunks_verified, 1);
	if (!g->started) {
		getter_headers(g, g->h.req);
		evhttp_send_reply_start(g->h.req, 200, "OK");
		g->started = 1;
	}
	buf = evbuffer_new();
	evbuffer_add_reference(buf, r->buf, r->n, free_ref, NULL);
	g->sent += r->n;
	g->next_send++;
	g->sending = 1;
	free(r->cause);
	free(r);
	getter_read_ahead(g);
	evhttp_send_reply_chunk_with_cb(g->h.req, buf, getter_sent, g);
	evbuffer_free(buf);
}

void
files_get(struct node *n, struct evhttp_request *req, const char *key, int head)
{
	struct db_file f;
	struct getter *g;
	char *cause = NULL, v[17];
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	int rc;

	memset(&f, 0, sizeof f);
	rc = db_file_get(n->db, key, 0, &f, &cause);
	if (rc == 1) {
		db_file_clear(&f);
		api_error(req, 404, "not found", "no file with key \"%s\"", key);
		return;
	}
	if (rc == -1)
		goto fail;
	g = xcalloc(1, sizeof *g);
	g->n = n;
	g->key = xstrdup(key);
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
	db_file_clear(&f);
	if (head) {
		getter_headers(g, req);
		evhttp_send_reply(req, 200, "OK", NULL);
		getter_free(g);
		return;
	}
	held_set(&g->h, req);
	evhttp_connection_set_closecb(g->h.evcon, getter_closed, g);
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
			rc = repl_fetch_each(n, miss, nmiss, getter_chunk_fetched, g);
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
}

/* ---- list ------------------------------------------------------------------------ */

static int
list_cb(void *arg, const struct db_file *f)
{
	void **a = arg;
	json_array_append_new(a[1], api_file_json(a[0], f));
	return 0;
}

void
files_list(struct node *n, struct evhttp_request *req, int include_deleted)
{
	json_t *arr = json_array();
	void *a[2] = { n, arr };
	char *cause = NULL;

	if (db_files_list(n->db, include_deleted, list_cb, a, &cause) == -1) {
		json_decref(arr);
		api_error(req, 500, "database error", "%s", cause);
		free(cause);
		return;
	}
	api_json(req, 200, json_pack("{s:o}", "files", arr));
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
	struct pool_ops w = { .thread_init = tctx_init, .thread_fini = tctx_fini, .arg = n };
	struct pool_ops c = { .thread_init = tctx_init, .thread_fini = tctx_fini,
		.run_batch = commit_batch, .arg = n };
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
	    (n->gc = pool_new(n->base, "p2p-gc", 1, 0, &g, cause)) == NULL)
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
}
