/* repl.c: replication and retrieval on the daemon's loop (see repl.h and
 * docs/ARCHITECTURE.md "Replication").
 *
 *   metadata   FILE pushed to every peer after each local commit; DIGEST (256 buckets)
 *              compared with one peer every anti-entropy period and with each peer on
 *              connect; the entries of differing buckets are sent as FILE. Remote
 *              versions are applied on the committer (conflict resolution, HLC advance).
 *   push       the writer sends each chunk (CHUNK_PUT, a window per version) to the
 *              placement holders; they verify, write (worker; a chunk kept inline is
 *              verified on the loop), make it durable (committer, batched sync, or
 *              in the transaction) and only then CHUNK_ACK. A store is answered
 *              once min copies hold every chunk.
 *   fetch      a "want" per chunk asks one holder at a time (CHUNK_GET, a window per
 *              peer); CHUNK_DATA is verified and stored like a pushed chunk; a bad or
 *              missing answer moves the want to the next holder.
 *   repair     every REPL_REPAIR_TICK_MS, each node computes placement over the live
 *              nodes (connected, or gone for less than --repair-after) and fetches the
 *              chunks it should hold and lacks. A holder gone longer drops out of the
 *              ranking, so the next node in line takes its copies.
 * Nothing here blocks: reads, hashing and writes run on the worker pool (but the hash
 * of an inline-sized pushed chunk: microseconds), durable database writes on the
 * committer. */
#include "node/repl.h"
#include "node/api.h"
#include "node/daemon.h"
#include "node/mfetch.h"
#include "node/net.h"
#include "node/work.h"
#include "db/db.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "p2p/frame.h"
#include "p2p/identity.h"
#include "p2p/msg.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/rand.h>

#define REPL_TICK_MS 1000
#define REPL_YOUNG_MS 30000          /* the writer is still pushing a version this young */
#define REPL_WANT_BUCKETS 4096
#define REPL_SCAN_MAX_WANTS 2048     /* background wants started per scan */
#define REPL_RX_MAX 1024             /* chunks being stored per peer, */
#define REPL_RX_MAX_BYTES (32u << 20) /* and their bytes (held in memory until written) */
#define REPL_SERVE_MAX 64            /* CHUNK_GETs being read per peer */
#define SV_COPY_MAX (64u << 10)      /* a chunk served up to this long is copied out */
#define REPL_AE_MAX_BYTES (4u << 20) /* FILE bytes sent per DIGEST answer */
#define REPL_AE_SETTLE_MS 2000       /* DIGEST values leave out versions this young */
#define REPL_HAVE_FLUSH_MS 1000
/* Shares learnt (acknowledgements, HAVEs, the writer of an applied version) are kept in
 * memory and written together (see "shares" below): this long after the first of them
 * if fewer than REPL_SHARES_SMALL came by then, else up to REPL_SHARES_WAIT_MS after it
 * or at REPL_SHARES_MAX rows; written REPL_SHARES_SLICE rows or so per committer batch. */
#define REPL_SHARES_FLUSH_MS 250
#define REPL_SHARES_SMALL 2048
#define REPL_SHARES_WAIT_MS 4000
#define REPL_SHARES_MAX 32768
#define REPL_SHARES_SLICE 512
#define REPL_WANT_LINK_LOSSES 3      /* lost links while asked before a source counts as tried */

struct rpeer {
	TAILQ_ENTRY(rpeer) entry;
	uint8_t id[NODE_ID_LEN];
	int up;
	int64_t seen_ms;        /* wall clock: last time it was connected */
	unsigned gets;          /* our CHUNK_GETs outstanding to it */
	uint64_t get_bytes;     /* and what they count in its window (repl_get_charge) */
	unsigned rx;            /* its CHUNK_PUTs being stored */
	size_t rx_bytes;        /* and their bytes */
	unsigned serving;       /* its CHUNK_GETs being read */
	int ae_busy;            /* an answer to its DIGEST is being prepared (ae_job) */
};

struct push;

struct rbuf {               /* a chunk read once, referenced by several sends */
	uint8_t *p;             /* msg_chunk_alloc(cap) */
	size_t cap;
	unsigned refs;
};

struct ptarget {
	uint8_t id[NODE_ID_LEN];
	int state;              /* 0 waiting for its ACK, 1 acked, 2 failed */
};

struct pop {                /* one chunk of a push in flight */
	TAILQ_ENTRY(pop) entry;
	struct job job;
	struct push *p;
	uint64_t idx;
	uint8_t hash[HASH_LEN];
	struct rbuf *buf;
	size_t len;
	int rc;
	int reading;
	uint8_t (*cand)[NODE_ID_LEN]; /* remote connected nodes, best ranked first */
	size_t ncand, next_cand;
	struct ptarget *t;
	size_t nt;
	unsigned pending, acked;
	int self_holder;        /* this node is among the chunk's R holders */
	unsigned remote_holders, holder_acks, r_eff;
};

struct placed {
	uint8_t id[NODE_ID_LEN];
	uint64_t chunks;
};

struct push {
	TAILQ_ENTRY(push) entry;
	struct repl *r;
	char *key;
	struct manifest m;
	uint64_t next, finished, satisfied, min_acked;
	unsigned need;          /* remote copies before the store is answered */
	unsigned inflight;
	int reading;            /* a read job runs (one at a time per push: disk order) */
	TAILQ_HEAD(, pop) ops;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	struct evbuffer *reply; /* the reply's text so far (api_file_json_head) */
	uint64_t started_ms;
	struct placed *placed;
	size_t nplaced;
	uint64_t failures;
	uint8_t *only;          /* the only chunk's bytes, from the upload (msg_chunk_alloc) */
	size_t only_len;
};

enum wstate { W_QUEUED, W_ASKED, W_STORING };

struct fetch {
	TAILQ_ENTRY(fetch) entry;
	void (*done)(void *arg, int ok, const char *why);
	void (*each)(void *arg, uint64_t idx, int ok, int sunk, const char *why);
	void *arg;
	int sink_fd;            /* repl_fetch_into: the get's file (ours, a dup), or -1 */
	uint64_t *offs;         /* and each chunk's offset in it */
	uint64_t remaining;
	int failed;
	char why[200];
};

struct want {
	struct want *hnext;
	TAILQ_ENTRY(want) q;
	uint8_t hash[HASH_LEN];
	enum wstate state;
	uint8_t src[NODE_ID_LEN];
	uint32_t len;           /* no longer than this (its file's chunk size; 0 unknown) */
	uint32_t charged;       /* what it counts in src's window while asked or storing */
	uint64_t asked_ms;
	uint64_t nosrc_ms;      /* monotonic: since when no node could be asked (0: not) */
	unsigned link_losses;   /* links lost while it was asked (not the holder's fault) */
	uint8_t (*tried)[NODE_ID_LEN];
	unsigned ntried;
	struct waiter {
		struct fetch *f;
		uint64_t idx;   /* index in the fetch's list */
	} *waiters;
	unsigned nwaiters;
	int background;
};

/* A peer holds a chunk (a row of shares). */
struct share_rec {
	uint8_t h[HASH_LEN];
	uint8_t peer[NODE_ID_LEN];
};

struct repl {
	struct node *n;
	TAILQ_HEAD(, rpeer) peers;
	unsigned npeers;
	struct event *tick;
	uint64_t last_ae_ms, last_scan_ms, last_have_ms;
	uint64_t digest[MSG_DIGEST_BUCKETS];
	uint32_t digest_count;
	struct db_digest *dg;   /* kept by the committer's writes (db_digest_attach) */
	int dg_attaching;       /* its attach and rebuild are queued on the committer */
	int scan_busy;          /* a repair scan runs (scan_job) */
	TAILQ_HEAD(, push) pushes;
	struct want *wtab[REPL_WANT_BUCKETS];
	TAILQ_HEAD(, want) queued;
	TAILQ_HEAD(, want) asked;
	unsigned nwants, nbg;
	int scan_more;              /* the last scan stopped at REPL_SCAN_MAX_WANTS */
	TAILQ_HEAD(, fetch) fetches;
	uint8_t (*have)[HASH_LEN];  /* chunks to announce (HAVE) */
	size_t nhave;
	struct share_set *sh;       /* shares being gathered (shares_add), or NULL */
	uint64_t sh_first_ms;       /* when its first row came (mono_ms) */
	TAILQ_HEAD(, share_set) share_sets; /* being written, a slice at a time */
	struct event *shares_ev;    /* one-shot: shares_timer */
	int stopping;
	uint64_t rng;
	struct mfetch *mfetch;      /* chunk lists longer than one FILE (mfetch.h) */
	struct repl_seen seen;      /* versions FILEs brought, per writer (on_file) */
};

static void want_pump(struct repl *r);
static void push_pump(struct push *p);
static void push_answer(struct push *p, const char *warning);

/* ---- small helpers ------------------------------------------------------------------ */

static uint32_t
rnd32(struct repl *r)
{
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return (uint32_t)((r->rng * 2685821657736338717ULL) >> 32);
}

static const char *
sid(const uint8_t id[NODE_ID_LEN], char buf[NODE_ID_SHORT_LEN + 1])
{
	node_id_short(id, buf);
	return buf;
}

static struct rpeer *
rp_find(struct repl *r, const uint8_t id[NODE_ID_LEN])
{
	struct rpeer *p;

	TAILQ_FOREACH(p, &r->peers, entry)
		if (memcmp(p->id, id, NODE_ID_LEN) == 0)
			return p;
	return NULL;
}

static struct rpeer *
rp_get(struct repl *r, const uint8_t id[NODE_ID_LEN])
{
	struct rpeer *p = rp_find(r, id);

	if (p != NULL)
		return p;
	if (r->npeers >= NET_KNOWN_MAX)
		return NULL;
	p = xcalloc(1, sizeof *p);
	memcpy(p->id, id, NODE_ID_LEN);
	TAILQ_INSERT_TAIL(&r->peers, p, entry);
	r->npeers++;
	return p;
}

/* A CHUNK_GET to p that counted charge bytes is over (answered and written, or not). */
static void
rp_get_done(struct rpeer *p, uint32_t charge)
{
	if (p->gets > 0)
		p->gets--;
	p->get_bytes -= p->get_bytes < charge ? p->get_bytes : charge;
}

static int
rp_live(const struct repl *r, const struct rpeer *p, int64_t now)
{
	return p->up || now - p->seen_ms < r->n->cfg->repair_after_s * 1000;
}

/* Self + live peers: the nodes placement ranks. out has room for npeers + 1. */
static size_t
live_nodes(struct repl *r, uint8_t (*out)[NODE_ID_LEN])
{
	struct rpeer *p;
	int64_t now = wall_ms();
	size_t k = 0;

	memcpy(out[k++], r->n->node_id, NODE_ID_LEN);
	TAILQ_FOREACH(p, &r->peers, entry)
		if (rp_live(r, p, now))
			memcpy(out[k++], p->id, NODE_ID_LEN);
	return k;
}

static size_t
up_peers(struct repl *r, uint8_t (*out)[NODE_ID_LEN])
{
	struct rpeer *p;
	size_t k = 0;

	TAILQ_FOREACH(p, &r->peers, entry)
		if (p->up)
			memcpy(out[k++], p->id, NODE_ID_LEN);
	return k;
}

static unsigned
nup(struct repl *r)
{
	struct rpeer *p;
	unsigned k = 0;

	TAILQ_FOREACH(p, &r->peers, entry)
		k += p->up != 0;
	return k;
}

/* R as configured; 0 (all) means every live node. */
static size_t
r_eff(struct repl *r, size_t nlive)
{
	size_t R = (size_t)r->n->cfg->replicas;

	return R == 0 || R > nlive ? nlive : R;
}

/* ---- messages out ------------------------------------------------------------------- */

static void
file_msg(struct msg *m, const struct db_file *f, const struct manifest *man)
{
	struct msg_file *mf = &m->u.file;

	memset(m, 0, sizeof *m);
	m->type = MSG_FILE;
	snprintf(mf->key, sizeof mf->key, "%s", f->key);
	mf->version = f->version;
	memcpy(mf->origin, f->origin, NODE_ID_LEN);
	mf->prev_version = f->prev_version;
	memcpy(mf->prev_origin, f->prev_origin, NODE_ID_LEN);
	mf->created_ms = (uint64_t)f->created_ms;
	if (f->deleted) {
		mf->flags = MSG_FILE_DELETED;
		return;
	}
	if (man->nchunks > MSG_FILE_MAX_CHUNKS) /* the rest is asked for (mfetch.c) */
		mf->flags = MSG_FILE_MORE;
	mf->size = man->size;
	mf->chunk_size = man->chunk_size;
	mf->nchunks = (uint32_t)man->nchunks;
	memcpy(mf->file_hash, man->file_hash, HASH_LEN);
	mf->chunks = man->chunks;
}

static int
send_file(struct repl *r, const uint8_t to[NODE_ID_LEN], const struct db_file *f,
    const struct manifest *man)
{
	struct msg m;

	if (!f->deleted && man->nchunks > MSG_MANIFEST_MAX_CHUNKS) {
		log_warnx("replication: \"%s\" has %" PRIu64 " chunks, more than a replicated "
		    "version may have (%u): not replicated", f->key, man->nchunks,
		    MSG_MANIFEST_MAX_CHUNKS);
		return -1;
	}
	file_msg(&m, f, man);
	return net_send_msg(r->n, to, &m);
}

static void
send_digest(struct repl *r, const uint8_t to[NODE_ID_LEN], uint8_t flags);

static void
send_ref(struct repl *r, const uint8_t to[NODE_ID_LEN], uint8_t type,
    const uint8_t h[HASH_LEN], uint8_t status)
{
	struct msg m;

	memset(&m, 0, sizeof m);
	m.type = type;
	memcpy(m.u.ref.hash, h, HASH_LEN);
	m.u.ref.status = status;
	net_send_msg(r->n, to, &m);
}

static void
rbuf_release(const void *data, size_t len, void *arg)
{
	struct rbuf *b = arg;

	(void)data;
	(void)len;
	if (--b->refs == 0) {
		msg_chunk_free(b->p, b->cap);
		free(b);
	}
}

/* CHUNK_PUT or CHUNK_DATA (status OK) with the data by reference. */
static int
send_chunk(struct repl *r, const uint8_t to[NODE_ID_LEN], uint8_t type,
    const uint8_t h[HASH_LEN], struct rbuf *b, size_t len)
{
	struct msg_chunk c;
	struct wr w;
	uint8_t hdr[FRAME_HDR_LEN + HASH_LEN + 1 + 4];
	int rc;

	memset(&c, 0, sizeof c);
	memcpy(c.hash, h, HASH_LEN);
	c.status = MSG_CHUNK_OK;
	c.len = (uint32_t)len;
	wr_init(&w, sizeof hdr);
	if (frame_write_hdr(&w, type, HASH_LEN + (type == MSG_CHUNK_DATA) + 4 + len) == -1 ||
	    msg_chunk_encode_head(&w, &c, type == MSG_CHUNK_DATA) == -1 || !wr_ok(&w)) {
		wr_free(&w);
		return -1;
	}
	b->refs++;
	rc = net_send_ref(r->n, to, w.p, w.len, b->p, len, rbuf_release, b);
	wr_free(&w);
	if (rc == -1) {
		b->refs--;
		return -1;
	}
	atomic_fetch_add(&r->n->m.repl_bytes_sent, len);
	return 0;
}

/* ---- shares (committer) --------------------------------------------------------------- */

/* Under load every stored version brings each node two or three share rows (the
 * acknowledgements at the writer, the writer and a HAVE at the others), each on a
 * random leaf of shares (keyed by chunk hash). Written one job each they were the
 * largest part of the committer's page writes; written every 250 ms in one sorted job
 * they still cost about a page each once the table outgrew a flush (a flush of ~3,000
 * rows touched ~3,000 leaves), and that job held the committer for 10 ms at 100,000
 * files and 50-100 ms at 300,000, four times a second: the store rate fell and the
 * latency tail grew with the database (measured, 3 nodes, 64 clients).
 *
 * So rows are gathered by the first byte of the chunk hash (256 buckets: each a
 * contiguous range of the table's key order) and written in slices of whole buckets,
 * REPL_SHARES_SLICE rows or so each, one slice per committer batch (the next slice is
 * queued when the last one is done): the committer never stops for long. Under light
 * load a gathering is written REPL_SHARES_FLUSH_MS after its first row; once a
 * gathering has REPL_SHARES_SMALL rows by then (load), it goes on gathering up to
 * REPL_SHARES_WAIT_MS or REPL_SHARES_MAX rows, so that rows of the same leaves share
 * its write (at 300,000 files, 30,000 rows touch about half as many leaves). Each
 * slice sorts its buckets first (neighbouring rows share leaves; duplicates, an
 * acknowledgement and then the same peer's HAVE, are adjacent and dropped).
 *
 * Shares are hints (fetch sources, replica counts): rows not yet written when the node
 * stops are written by repl_quiesce; a crash loses at most REPL_SHARES_WAIT_MS of
 * them, which anti-entropy, HAVEs and fetches learn again. */
struct share_bucket {
	struct share_rec *v;
	uint32_t n, cap;
};

struct share_set {
	TAILQ_ENTRY(share_set) entry;
	struct repl *r;
	struct share_bucket b[256];
	size_t n;               /* rows, all buckets */
	unsigned next;          /* first bucket not handed to a job yet */
	unsigned jobs;          /* slices queued or running */
};

struct shares_job {
	struct share_set *set;
	unsigned b0, b1;        /* its buckets: [b0, b1) */
};

static int
share_rec_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct share_rec));
}

static int
shares_fn(struct node *n, struct db *db, void *arg)
{
	struct shares_job *j = arg;
	char *cause = NULL;
	int64_t now = wall_ms();

	(void)n;
	for (unsigned k = j->b0; k < j->b1; k++) {
		struct share_bucket *b = &j->set->b[k];

		if (b->n == 0)
			continue; /* no array (qsort must not be given NULL) */
		qsort(b->v, b->n, sizeof *b->v, share_rec_cmp);
		for (uint32_t i = 0; i < b->n; i++) {
			if (i > 0 && memcmp(&b->v[i], &b->v[i - 1], sizeof *b->v) == 0)
				continue;
			if (db_share_set_known(db, b->v[i].peer, b->v[i].h, now, &cause) == -1) {
				log_warnx("shares: %s", cause);
				free(cause);
				return -1;
			}
		}
	}
	return 0;
}

static void
share_set_free(struct share_set *set)
{
	for (unsigned k = 0; k < 256; k++)
		free(set->b[k].v);
	free(set);
}

static void shares_done(struct node *n, void *arg, int rc);

/* Queue the next slice of set (all the rest when whole): buckets from set->next until
 * they hold REPL_SHARES_SLICE rows. */
static void
shares_slice(struct share_set *set, int whole)
{
	struct shares_job *j;
	size_t rows = 0;
	unsigned k = set->next;

	while (k < 256 && (whole || rows < REPL_SHARES_SLICE))
		rows += set->b[k++].n;
	j = xcalloc(1, sizeof *j);
	j->set = set;
	j->b0 = set->next;
	j->b1 = k;
	set->next = k;
	set->jobs++;
	files_commit_call(set->r->n, 0, shares_fn, shares_done, j);
}

/* Loop: a slice is written (or failed: shares are hints); queue the next one, unless
 * the node is stopping (repl_quiesce queued the rest already). */
static void
shares_done(struct node *n, void *arg, int rc)
{
	struct shares_job *j = arg;
	struct share_set *set = j->set;
	struct repl *r = set->r;

	(void)n;
	(void)rc;
	free(j);
	set->jobs--;
	if (set->next < 256 && !r->stopping) {
		shares_slice(set, 0);
		return;
	}
	if (set->jobs == 0 && set->next == 256) {
		TAILQ_REMOVE(&r->share_sets, set, entry);
		share_set_free(set);
	}
}

/* Write the gathering: its slices go to the committer one after another (all at once
 * when whole: the node is stopping). */
static void
shares_flush(struct repl *r, int whole)
{
	struct share_set *set = r->sh;

	if (r->shares_ev != NULL)
		evtimer_del(r->shares_ev);
	r->sh = NULL;
	if (set == NULL)
		return;
	TAILQ_INSERT_TAIL(&r->share_sets, set, entry);
	shares_slice(set, whole);
}

static void
shares_arm(struct repl *r, uint64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
		.tv_usec = (suseconds_t)(ms % 1000 * 1000) };

	if (r->shares_ev != NULL)
		evtimer_add(r->shares_ev, &tv);
}

static void
shares_timer(evutil_socket_t fd, short what, void *arg)
{
	struct repl *r = arg;
	uint64_t age;

	(void)fd;
	(void)what;
	if (r->sh == NULL)
		return;
	age = mono_ms() - r->sh_first_ms;
	if (r->sh->n < REPL_SHARES_SMALL || age + 1 >= REPL_SHARES_WAIT_MS) {
		shares_flush(r, 0);
		return;
	}
	shares_arm(r, REPL_SHARES_WAIT_MS - age < REPL_SHARES_FLUSH_MS ?
	    REPL_SHARES_WAIT_MS - age : REPL_SHARES_FLUSH_MS);
}

static void
shares_add(struct repl *r, const uint8_t peer[NODE_ID_LEN], const uint8_t (*h)[HASH_LEN],
    size_t n)
{
	if (r->stopping)
		return;
	for (size_t i = 0; i < n; i++) {
		struct share_bucket *b;

		if (r->sh == NULL) {
			r->sh = xcalloc(1, sizeof *r->sh);
			r->sh->r = r;
			r->sh_first_ms = mono_ms();
			shares_arm(r, REPL_SHARES_FLUSH_MS);
		}
		b = &r->sh->b[h[i][0]];
		if (b->n == b->cap) {
			b->cap = b->cap ? 2 * b->cap : 16;
			b->v = xreallocarray(b->v, b->cap, sizeof *b->v);
		}
		memcpy(b->v[b->n].h, h[i], HASH_LEN);
		memcpy(b->v[b->n].peer, peer, NODE_ID_LEN);
		b->n++;
		if (++r->sh->n == REPL_SHARES_MAX)
			shares_flush(r, 0);
	}
}

static void
have_queue(struct repl *r, const uint8_t h[HASH_LEN])
{
	if (r->nhave >= MSG_HAVE_MAX)
		return; /* announced by the next ones; shares are a hint */
	if (r->have == NULL)
		r->have = xcalloc(MSG_HAVE_MAX, HASH_LEN);
	memcpy(r->have[r->nhave++], h, HASH_LEN);
}

static void
have_flush(struct repl *r)
{
	uint8_t (*up)[NODE_ID_LEN];
	struct msg m;
	size_t k;

	if (r->nhave == 0)
		return;
	up = xcalloc(r->npeers + 1, NODE_ID_LEN);
	k = up_peers(r, up);
	memset(&m, 0, sizeof m);
	m.type = MSG_HAVE;
	m.u.have.n = (uint16_t)r->nhave;
	m.u.have.v = r->have;
	for (size_t i = 0; i < k; i++)
		net_send_msg(r->n, up[i], &m);
	r->nhave = 0;
	free(up);
}

/* ---- metadata in: FILE ---------------------------------------------------------------- */

struct rfile {
	struct repl *r;
	struct msg_file mf;
	int applied;            /* a row was written */
	int conflict;           /* a conflict copy was written */
	int live;               /* the new current version is live */
	int writer_holds;       /* record the writer's share of every chunk (apply_done) */
	char cname[KEY_MAX + 1];
};

static void
mf_to_file(const struct msg_file *mf, struct db_file *f, struct manifest *m)
{
	memset(f, 0, sizeof *f);
	f->key = (char *)mf->key;
	f->version = mf->version;
	memcpy(f->origin, mf->origin, NODE_ID_LEN);
	f->deleted = (mf->flags & MSG_FILE_DELETED) != 0;
	f->created_ms = (int64_t)mf->created_ms;
	f->prev_version = mf->prev_version;
	memcpy(f->prev_origin, mf->prev_origin, NODE_ID_LEN);
	manifest_init(m, mf->chunk_size);
	if (!f->deleted) {
		for (uint32_t i = 0; i < mf->nchunks; i++)
			manifest_add(m, mf->chunks[i]);
		m->size = mf->size;
		memcpy(m->file_hash, mf->file_hash, HASH_LEN);
		manifest_hash(m, f->manifest_hash);
	}
}

/* Record f unless its key already has that version or a newer one. 1 written. */
static int
put_if_newer(struct db *db, struct db_file *f, const struct manifest *m, char **cause)
{
	struct db_file cur;
	int rc;

	rc = db_file_get(db, f->key, 1, &cur, cause);
	if (rc == -1) {
		db_file_clear(&cur);
		return -1;
	}
	if (cur.key != NULL && repl_ver_cmp(f->version, f->origin, cur.version,
	    cur.origin) <= 0) {
		db_file_clear(&cur);
		return 0;
	}
	db_file_clear(&cur);
	if (db_file_put_remote(db, f, f->deleted ? NULL : m, cause) == -1)
		return -1;
	return 1;
}

/* Committer thread: resolve against the current version and record. */
static int
apply_fn(struct node *n, struct db *db, void *arg)
{
	struct rfile *rf = arg;
	struct db_file cur, f, cf;
	struct manifest m, cm;
	struct repl_ver cv, iv;
	enum repl_action act;
	char *cause = NULL;
	int rc, ret = -1, has;

	rf->applied = rf->conflict = rf->live = rf->writer_holds = 0;
	/* the clock moves past every version seen, so later local writes win */
	if (rf->mf.version > n->hlc)
		n->hlc = rf->mf.version;
	mf_to_file(&rf->mf, &f, &m);
	manifest_init(&cm, 0);
	rc = db_file_get(db, rf->mf.key, 1, &cur, &cause);
	if (rc == -1)
		goto out;
	has = cur.key != NULL;
	memset(&iv, 0, sizeof iv);
	iv.version = f.version;
	memcpy(iv.origin, f.origin, NODE_ID_LEN);
	iv.deleted = f.deleted;
	iv.prev_version = f.prev_version;
	memcpy(iv.prev_origin, f.prev_origin, NODE_ID_LEN);
	if (has) {
		memset(&cv, 0, sizeof cv);
		cv.version = cur.version;
		memcpy(cv.origin, cur.origin, NODE_ID_LEN);
		cv.deleted = cur.deleted;
		cv.prev_version = cur.prev_version;
		memcpy(cv.prev_origin, cur.prev_origin, NODE_ID_LEN);
	}
	act = repl_resolve(has ? &cv : NULL, &iv);
	/* an expired tombstone is not taken in (nor does it delete anything) */
	if (f.deleted && repl_version_ms(f.version) <
	    wall_ms() - n->cfg->tombstone_s * 1000 && act != REPL_SAME)
		act = REPL_IGNORE;
	switch (act) {
	case REPL_SAME:
	case REPL_IGNORE:
		break;
	case REPL_APPLY_KEEP_CUR:
		/* the current version lost to a concurrent one: keep it under its
		 * conflict name, same version and origin, on every node alike */
		if ((rc = db_file_manifest(db, cur.id, &cm, &cause)) == -1)
			goto out;
		if (rc == 0) {
			cf = cur;
			repl_conflict_name(cur.key, cur.version, cur.origin, rf->cname,
			    sizeof rf->cname);
			cf.key = rf->cname;
			cf.prev_version = 0;
			memset(cf.prev_origin, 0, NODE_ID_LEN);
			if ((rc = put_if_newer(db, &cf, &cm, &cause)) == -1)
				goto out;
			rf->conflict = rc;
		}
		/* FALLTHROUGH */
	case REPL_APPLY:
		if (db_file_put_remote(db, &f, f.deleted ? NULL : &m, &cause) == -1)
			goto out;
		if (has && !cur.deleted)
			n->commit_garbage = 1; /* its chunks may be unreferenced now */
		rf->applied = 1;
		rf->live = !f.deleted;
		/* the writer holds the chunks of what it wrote (shares: fetch sources) */
		rf->writer_holds = rf->live && memcmp(f.origin, n->node_id, NODE_ID_LEN) != 0;
		break;
	case REPL_KEEP_IN:
		repl_conflict_name(f.key, f.version, f.origin, rf->cname, sizeof rf->cname);
		f.key = rf->cname;
		f.prev_version = 0;
		memset(f.prev_origin, 0, NODE_ID_LEN);
		if ((rc = put_if_newer(db, &f, &m, &cause)) == -1)
			goto out;
		rf->applied = rf->conflict = rc;
		rf->live = rc;
		break;
	}
	ret = 0;
out:
	if (ret == -1) {
		char k[300];

		log_escape(rf->mf.key, strlen(rf->mf.key), k, sizeof k);
		log_warnx("replication: cannot record \"%s\": %s", k, cause ? cause : "?");
		free(cause);
	}
	db_file_clear(&cur);
	manifest_free(&m);
	manifest_free(&cm);
	return ret;
}

static void
apply_done(struct node *n, void *arg, int rc)
{
	struct rfile *rf = arg;
	struct repl *r = n->repl;

	if (rc == 0 && rf->applied && r != NULL) {
		if (rf->writer_holds)
			shares_add(r, rf->mf.origin, (const uint8_t (*)[HASH_LEN])rf->mf.chunks,
			    rf->mf.nchunks);
		atomic_fetch_add(&n->m.repl_files_applied, 1);
		atomic_store(&n->m.repl_lag_ms, (uint64_t)(wall_ms() -
		    repl_version_ms(rf->mf.version) > 0 ? wall_ms() -
		    repl_version_ms(rf->mf.version) : 0));
		if (rf->conflict) {
			char k[300];

			atomic_fetch_add(&n->m.repl_conflicts, 1);
			log_escape(rf->cname, strlen(rf->cname), k, sizeof k);
			log_info("replication: concurrent versions: the losing one is kept as "
			    "\"%s\"", k);
		}
	}
	free(rf->mf.chunks);
	free(rf);
}

/* Record a whole FILE (its chunk list complete) on the committer; takes mf->chunks. */
static void
file_apply(struct node *n, struct msg_file *mf)
{
	struct rfile *rf = xcalloc(1, sizeof *rf);

	rf->r = n->repl;
	rf->mf = *mf;
	mf->chunks = NULL; /* taken */
	mf->nchunks = 0;
	files_commit_call(n, 0, apply_fn, apply_done, rf);
}

static int
on_file(struct repl *r, const uint8_t from[NODE_ID_LEN], struct msg_file *mf)
{
	uint8_t origin[NODE_ID_LEN];
	uint64_t version;
	char *cause = NULL;
	int rc, deleted;

	/* Already current here: nothing to do (the common case of anti-entropy). A
	 * version newer than all its writer's versions seen so far (a push, in the
	 * writer's commit order) cannot be: no read. The committer checks anyway. */
	if (memcmp(mf->origin, r->n->node_id, NODE_ID_LEN) != 0 &&
	    repl_seen_new(&r->seen, mf->origin, mf->version))
		rc = 0;
	else
		rc = db_file_entry(r->n->db, mf->key, &version, origin, &deleted, &cause);
	if (rc == -1) {
		log_warnx("replication: %s", cause);
		free(cause);
	} else if (rc == 1 && version == mf->version &&
	    memcmp(origin, mf->origin, NODE_ID_LEN) == 0)
		return 0;
	if (mf->flags & MSG_FILE_MORE) { /* the rest of its chunk list first */
		mfetch_on_file(r->mfetch, from, mf);
		return 0;
	}
	file_apply(r->n, mf);
	return 0;
}

/* ---- anti-entropy: DIGEST ------------------------------------------------------------ */

/* Committer: from now on its transactions keep the digest up to date; computed over
 * every row once, here, where no write can slip between the two. */
static int
digest_attach_fn(struct node *n, struct db *db, void *arg)
{
	struct db_digest *dg = arg;
	char *cause = NULL;

	(void)n;
	db_digest_attach(db, dg);
	if (db_digest_rebuild(dg, db, &cause) == -1) {
		log_warnx("replication: digest: %s", cause);
		free(cause);
		return -1;
	}
	return 0;
}

static void
digest_attach_done(struct node *n, void *arg, int rc)
{
	(void)arg;
	(void)rc;
	if (n->repl != NULL)
		n->repl->dg_attaching = 0;
}

static void
digest_attach(struct repl *r)
{
	r->dg_attaching = 1;
	files_commit_call(r->n, 0, digest_attach_fn, digest_attach_done, r->dg);
}

/* The cutoff of the settled digest at now_ms: versions from before it (by their
 * writer's clock), on the one-second grid, REPL_AE_SETTLE_MS back. */
static int64_t
settle_cutoff(int64_t now_ms)
{
	return (now_ms - REPL_AE_SETTLE_MS) / 1000 * 1000;
}

/* The digest we send into r->digest: over the rows older than the settle cutoff, so
 * that versions still travelling (sent to every peer at commit) do not make buckets
 * differ under a steady stream of writes; a version missed shows within seconds. A
 * copy of what the committer keeps, O(256). -1 until it was computed once (start-up;
 * retried after a failure). */
static int
digest_get(struct repl *r)
{
	int64_t now = wall_ms();

	if (db_digest_read_before(r->dg, now, settle_cutoff(now), r->digest,
	    &r->digest_count) == 0 || db_digest_read(r->dg, r->digest,
	    &r->digest_count) == 0)
		return 0;
	if (!r->dg_attaching && !r->stopping)
		digest_attach(r);
	return -1;
}

static void
send_digest(struct repl *r, const uint8_t to[NODE_ID_LEN], uint8_t flags)
{
	struct msg m;

	if (digest_get(r) == -1)
		return;
	memset(&m, 0, sizeof m);
	m.type = MSG_DIGEST;
	m.u.digest.flags = flags;
	m.u.digest.count = r->digest_count;
	memcpy(m.u.digest.bucket, r->digest, sizeof r->digest);
	net_send_msg(r->n, to, &m);
}

/*
 * The buckets of d that differ from ours. The sender's values are over its rows older
 * than its settle cutoff (or over all rows: another version of this program); ours
 * are compared over all rows and over the rows older than our cutoff and the one
 * before (a second boundary may fall between its sending and now): a bucket equal to
 * any of them is the same. Clocks apart by more than a second make the settled values
 * disagree while writes arrive: then this is the comparison of all rows, as before.
 */
static int
digest_diff(struct repl *r, const struct msg_digest *d, uint8_t diff[MSG_DIGEST_BUCKETS],
    size_t *ndiff)
{
	uint64_t all[MSG_DIGEST_BUCKETS], s0[MSG_DIGEST_BUCKETS], s1[MSG_DIGEST_BUCKETS];
	int64_t now = wall_ms(), c = settle_cutoff(now);
	uint32_t n;
	int h0, h1;

	if (db_digest_read(r->dg, all, &n) == -1) {
		digest_get(r); /* (re)starts the computation */
		return -1;
	}
	h0 = db_digest_read_before(r->dg, now, c, s0, &n) == 0;
	h1 = db_digest_read_before(r->dg, now, c - 1000, s1, &n) == 0;
	*ndiff = 0;
	for (size_t i = 0; i < MSG_DIGEST_BUCKETS; i++) {
		uint64_t v = d->bucket[i];

		diff[i] = v != all[i] && !(h0 && v == s0[i]) && !(h1 && v == s1[i]);
		*ndiff += diff[i];
	}
	return 0;
}

struct ae_item {
	struct db_file f;       /* f.key owned */
	struct manifest m;
};

struct ae_job {
	struct job job;
	struct repl *r;
	uint8_t to[NODE_ID_LEN];
	uint8_t diff[MSG_DIGEST_BUCKETS];
	size_t ndiff;
	uint8_t flags;          /* of the DIGEST answered */
	uint32_t rnd;           /* random starting point (the loop's generator) */
	struct ae_item *v;
	size_t n, cap;
};

static int
ae_cb(void *arg, const struct db_file *f)
{
	struct ae_job *a = arg;

	if (!a->diff[repl_bucket(f->key)])
		return 0;
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 64;
		a->v = xreallocarray(a->v, a->cap, sizeof *a->v);
	}
	a->v[a->n].f = *f;
	a->v[a->n].f.key = xstrdup(f->key);
	manifest_init(&a->v[a->n].m, 0);
	a->n++;
	return 0;
}

/* gc thread: every row of the differing buckets, then, from a random starting point,
 * the manifests of those that fit in one answer; the others are dropped */
static void
ae_run(struct job *j, void *ctx)
{
	struct ae_job *a = (struct ae_job *)j;
	struct tctx *t = ctx;
	struct ae_item *keep = NULL;
	size_t nkeep = 0, start;
	uint64_t bytes = 0;
	char *cause = NULL;

	if (db_files_list(t->db, 1, ae_cb, a, &cause) == -1) {
		log_warnx("replication: anti-entropy: %s", cause);
		free(cause);
		cause = NULL;
	}
	if (a->n > 0)
		keep = xcalloc(a->n, sizeof *keep);
	start = a->n > 0 ? a->rnd % a->n : 0;
	for (size_t k = 0; k < a->n; k++) {
		struct ae_item *it = &a->v[(start + k) % a->n];

		if (bytes < REPL_AE_MAX_BYTES && (it->f.deleted ||
		    db_file_manifest(t->db, it->f.id, &it->m, &cause) == 0)) {
			bytes += 150 + strlen(it->f.key) + it->m.nchunks * HASH_LEN;
			keep[nkeep++] = *it;
			continue;
		}
		free(cause);
		cause = NULL;
		free(it->f.key);
		manifest_free(&it->m);
	}
	free(a->v);
	a->v = keep;
	a->n = a->cap = nkeep;
}

static void
ae_done(struct job *j)
{
	struct ae_job *a = (struct ae_job *)j;
	struct repl *r = a->r;
	struct rpeer *rp = rp_find(r, a->to);
	size_t sent = 0;

	if (rp != NULL)
		rp->ae_busy = 0;
	for (size_t k = 0; k < a->n; k++) {
		if (!r->stopping && rp != NULL && rp->up &&
		    send_file(r, a->to, &a->v[k].f, &a->v[k].m) == 0)
			sent++;
		free(a->v[k].f.key);
		manifest_free(&a->v[k].m);
	}
	free(a->v);
	atomic_fetch_add(&r->n->m.repl_ae_files_sent, sent);
	if (sent > 0) {
		char s[NODE_ID_SHORT_LEN + 1];
		log_debug("anti-entropy with %s: %zu buckets differ, sent %zu entries",
		    sid(a->to, s), a->ndiff, sent);
	}
	if (!r->stopping && rp != NULL && rp->up && (a->flags & MSG_DIGEST_REPLY))
		send_digest(r, a->to, 0);
	free(a);
}

static void
on_digest(struct repl *r, const uint8_t from[NODE_ID_LEN], const struct msg_digest *d)
{
	struct rpeer *rp = rp_find(r, from);
	struct ae_job *a;

	if (rp == NULL)
		return;
	a = xcalloc(1, sizeof *a);
	if (digest_diff(r, d, a->diff, &a->ndiff) == -1 || a->ndiff == 0 || rp->ae_busy) {
		free(a);
		return;
	}
	a->r = r;
	memcpy(a->to, from, NODE_ID_LEN);
	a->flags = d->flags;
	a->rnd = rnd32(r);
	a->job.run = ae_run;
	a->job.done = ae_done;
	rp->ae_busy = 1;
	pool_submit(r->n->gc, &a->job);
}

/* ---- eviction: copies this node keeps but is not a holder of ----------------------- */

struct evict_job {
	struct job job;
	struct repl *r;
	uint8_t hash[HASH_LEN];
	int rc;
};

static int
evict_forget(void *arg, const uint8_t h[HASH_LEN])
{
	struct tctx *t = arg;
	char *cause = NULL;

	if (db_chunk_set_local(t->db, h, 0, &cause) == -1) {
		log_warnx("replication: evict: %s", cause);
		free(cause);
		return -1;
	}
	return 1;
}

/* gc thread: under the pin lock, the row says "not held" (committed) before the file
 * goes; a pinned chunk (a get streaming it) stays. */
static void
evict_run(struct job *j, void *ctx)
{
	struct evict_job *e = (struct evict_job *)j;

	e->rc = store_gc_chunk(e->r->n->store, e->hash, evict_forget, ctx);
}

static void
evict_done(struct job *j)
{
	free(j);
}

static void
evict(struct repl *r, const uint8_t h[HASH_LEN])
{
	struct evict_job *e = xcalloc(1, sizeof *e);

	e->r = r;
	memcpy(e->hash, h, HASH_LEN);
	e->job.run = evict_run;
	e->job.done = evict_done;
	pool_submit(r->n->gc, &e->job);
}

/* ---- push (the writer sends a new version's chunks to its holders) ---------------- */

static void
placed_add(struct push *p, const uint8_t id[NODE_ID_LEN])
{
	for (size_t i = 0; i < p->nplaced; i++)
		if (memcmp(p->placed[i].id, id, NODE_ID_LEN) == 0) {
			p->placed[i].chunks++;
			return;
		}
	p->placed = xreallocarray(p->placed, p->nplaced + 1, sizeof *p->placed);
	memcpy(p->placed[p->nplaced].id, id, NODE_ID_LEN);
	p->placed[p->nplaced++].chunks = 1;
}

static void
push_free(struct push *p)
{
	struct repl *r = p->r;

	TAILQ_REMOVE(&r->pushes, p, entry);
	if (p->evcon != NULL)
		evhttp_connection_set_closecb(p->evcon, NULL, NULL);
	if (p->req != NULL)
		push_answer(p, "the daemon is stopping");
	if (p->reply != NULL)
		evbuffer_free(p->reply);
	manifest_free(&p->m);
	if (p->only != NULL)
		msg_chunk_free(p->only, p->only_len);
	free(p->placed);
	free(p->key);
	free(p);
}

static void
push_req_closed(struct evhttp_connection *evcon, void *arg)
{
	struct push *p = arg;

	(void)evcon;
	p->req = NULL;
	p->evcon = NULL;
}

static void
push_answer(struct push *p, const char *warning)
{
	struct evhttp_request *req = p->req;
	struct evbuffer *b = p->reply;
	char hex[2 * NODE_ID_LEN + 1];

	p->reply = NULL;
	if (p->evcon != NULL)
		evhttp_connection_set_closecb(p->evcon, NULL, NULL);
	p->req = NULL;
	p->evcon = NULL;
	if (req == NULL) {
		if (b != NULL)
			evbuffer_free(b);
		return;
	}
	if (b == NULL) /* repl_local_commit takes both or neither */
		fatalx("%s: a request without its reply", __func__);
	api_file_json_tail(b, 0,
	    1 + (p->satisfied == p->m.nchunks ? p->need : p->min_acked), p->need + 1);
	evbuffer_add(b, ",\"placed\":[", 11);
	for (size_t i = 0; i < p->nplaced; i++) {
		hex_encode(p->placed[i].id, NODE_ID_LEN, hex);
		evbuffer_add_printf(b, "%s{\"node\":\"%s\",\"chunks\":%" PRIu64 "}",
		    i > 0 ? "," : "", hex, p->placed[i].chunks);
	}
	evbuffer_add(b, "]", 1);
	api_file_json_end(b, warning);
	api_json_text(req, 201, b);
	evbuffer_free(b);
}

static void
pop_send(struct pop *op, struct ptarget *t)
{
	struct repl *r = op->p->r;

	if (send_chunk(r, t->id, MSG_CHUNK_PUT, op->hash, op->buf, op->len) == -1) {
		t->state = 2;
		return;
	}
	t->state = 0;
	op->pending++;
	atomic_fetch_add(&r->n->m.repl_chunks_pushed, 1);
}

/* Take the next candidate (remote, connected, not a target yet) as a new target. */
static int
pop_add_target(struct pop *op)
{
	struct rpeer *rp;

	if (op->buf == NULL)
		return -1; /* the bytes are gone: the repair scan of the holder fetches it */
	while (op->next_cand < op->ncand) {
		uint8_t *id = op->cand[op->next_cand++];

		if ((rp = rp_find(op->p->r, id)) == NULL || !rp->up)
			continue;
		op->t = xreallocarray(op->t, op->nt + 1, sizeof *op->t);
		memcpy(op->t[op->nt].id, id, NODE_ID_LEN);
		op->t[op->nt].state = 2;
		pop_send(op, &op->t[op->nt]);
		op->nt++;
		if (op->t[op->nt - 1].state == 0)
			return 0;
	}
	return -1;
}

static void
pop_finish(struct pop *op)
{
	struct push *p = op->p;

	TAILQ_REMOVE(&p->ops, op, entry);
	p->inflight--;
	p->finished++;
	if (p->finished == 1 || op->acked < p->min_acked)
		p->min_acked = op->acked;
	if (p->need == 0)
		p->satisfied++;
	/* the writer is not a holder and every holder has it now: drop our copy */
	if (!op->self_holder && op->r_eff > 0 && op->holder_acks >= op->r_eff &&
	    !p->r->stopping)
		evict(p->r, op->hash);
	if (op->buf != NULL)
		rbuf_release(NULL, 0, op->buf);
	free(op->cand);
	free(op->t);
	free(op);
	push_pump(p);
}

/* The chunk was read: choose its targets and send it. 1 if the op is over already
 * (nothing to send to; pop_finish ran and may have freed the push). */
static int
pop_start(struct pop *op)
{
	struct push *p = op->p;
	struct repl *r = p->r;
	uint8_t (*live)[NODE_ID_LEN];
	size_t nlive, *idx, k, R, i, rank;
	unsigned remote_holders = 0;
	int eph = r->n->cfg->ephemeral;

	live = xcalloc(r->npeers + 1, NODE_ID_LEN);
	idx = xcalloc(r->npeers + 1, sizeof *idx);
	nlive = live_nodes(r, live);
	k = repl_place(op->hash, (const uint8_t (*)[32])live, nlive, 0, idx);
	/* an ephemeral node (a short-lived client) is never a holder: rank without it */
	R = r_eff(r, eph ? nlive - 1 : nlive);
	op->cand = xcalloc(k, NODE_ID_LEN);
	/* holders first (ranked), then the others: NACKs and missing holders move down */
	for (i = 0, rank = 0; i < k; i++) {
		struct rpeer *rp;

		if (idx[i] == 0) {
			if (!eph && rank++ < R)
				op->self_holder = 1;
			continue; /* self */
		}
		rp = rp_find(r, live[idx[i]]);
		if (rp == NULL || !rp->up) {
			rank++;
			continue;
		}
		memcpy(op->cand[op->ncand++], live[idx[i]], NODE_ID_LEN);
		if (rank++ < R)
			remote_holders++;
	}
	op->remote_holders = remote_holders;
	op->r_eff = (unsigned)R;
	free(live);
	free(idx);
	/* every connected holder, and more if min copies need more */
	while (op->next_cand < op->ncand &&
	    (op->next_cand < remote_holders || op->pending < p->need))
		if (pop_add_target(op) == -1)
			break;
	/* the evbuffers hold references until the bytes left; ours goes now, so memory is
	 * bounded by what is queued, not by what awaits acknowledgement */
	rbuf_release(NULL, 0, op->buf);
	op->buf = NULL;
	if (op->pending == 0) {
		pop_finish(op);
		return 1;
	}
	return 0;
}

static void
pop_read_run(struct job *j, void *ctx)
{
	struct pop *op = (struct pop *)((char *)j - offsetof(struct pop, job));
	struct store *s = op->p->r->n->store;
	struct tctx *t = ctx;
	char *cause = NULL;
	uint64_t size;
	size_t off = 0, n;
	int fd;

	if (op->len <= store_inline_max(s)) {
		/* kept inline here (or, written before the limit changed, as a file) */
		op->buf->cap = op->len;
		op->buf->p = msg_chunk_alloc(op->len);
		op->rc = chunk_read(op->p->r->n, t->db, op->hash, op->buf->p, op->len, &n,
		    &cause);
		free(cause);
		if (op->rc == 0 && n != op->len)
			op->rc = 2;
		return;
	}
	op->rc = store_open_chunk(s, op->hash, &fd, &size, &cause);
	free(cause);
	if (op->rc != 0)
		return;
	if (size != op->len) {
		close(fd);
		op->rc = 2;
		return;
	}
	op->buf->cap = op->len;
	op->buf->p = msg_chunk_alloc(op->len);
	while (off < op->len) {
		ssize_t k = pread(fd, op->buf->p + off, op->len - off, (off_t)off);
		if (k <= 0) {
			if (k == -1 && errno == EINTR)
				continue;
			op->rc = -1;
			break;
		}
		off += (size_t)k;
	}
	close(fd);
}

static void
pop_read_done(struct job *j)
{
	struct pop *op = (struct pop *)((char *)j - offsetof(struct pop, job));
	struct push *p = op->p;

	p->reading = 0;
	op->reading = 0;
	if (op->rc != 0 || p->r->stopping) {
		char hex[HASH_HEX];

		if (!p->r->stopping) {
			hex_encode(op->hash, HASH_LEN, hex);
			log_warnx("replication: chunk %s of \"%s\" cannot be read here (%s): not "
			    "pushed", hex, p->key, op->rc == 1 ? "missing" : op->rc == 2 ?
			    "wrong size" : "read error");
		}
		pop_finish(op);
		return;
	}
	if (pop_start(op) == 0)
		push_pump(p);
}

/* Some connected peer has REPL_OUT_SOFT queued: read no further ahead. */
static int
outq_full(struct repl *r)
{
	struct rpeer *rp;

	TAILQ_FOREACH(rp, &r->peers, entry)
		if (rp->up && net_peer_outq(r->n, rp->id) >= REPL_OUT_SOFT)
			return 1;
	return 0;
}

/* Would one more chunk of len bytes, sent to any connected peer, go beyond what that
 * peer takes from us unwritten (REPL_RX_MAX_BYTES, REPL_RX_MAX)? What it has not
 * acknowledged (every push) bounds what it has not written; a chunk being read counts
 * for every peer. Measured before: with 64 chunks of a push unacknowledged, holders
 * whose workers lagged (a busy machine) refused replicas beyond 32 MiB, and a 1 GiB
 * store then waited for repair scans: 4 s became 12-40 s, with 4 to 86 "failed". */
static int
peers_budget_full(struct repl *r, size_t len)
{
	struct rpeer *rp;
	struct push *p;
	struct pop *op;
	size_t reading = len, nreading = 1;

	TAILQ_FOREACH(p, &r->pushes, entry)
		TAILQ_FOREACH(op, &p->ops, entry)
			if (op->reading) {
				reading += op->len;
				nreading++;
			}
	TAILQ_FOREACH(rp, &r->peers, entry) {
		size_t bytes = reading, n = nreading;

		if (!rp->up)
			continue;
		TAILQ_FOREACH(p, &r->pushes, entry)
			TAILQ_FOREACH(op, &p->ops, entry)
				for (size_t i = 0; !op->reading && i < op->nt; i++)
					if (op->t[i].state == 0 &&
					    memcmp(op->t[i].id, rp->id, NODE_ID_LEN) == 0) {
						bytes += op->len;
						n++;
					}
		if (bytes > REPL_RX_MAX_BYTES || n > REPL_RX_MAX)
			return 1;
	}
	return 0;
}

static void
push_pump(struct push *p)
{
	struct repl *r = p->r;

	if (p->req != NULL && (p->satisfied == p->m.nchunks ||
	    (p->finished == p->m.nchunks && p->inflight == 0))) {
		push_answer(p, p->satisfied == p->m.nchunks ? NULL :
		    "fewer copies than --min-copies: some replicas failed");
	}
	if (!r->stopping && !p->reading && p->next < p->m.nchunks &&
	    p->inflight < REPL_PUSH_WINDOW && !outq_full(r) &&
	    !peers_budget_full(r, manifest_chunk_len(&p->m, p->next))) {
		struct pop *op = xcalloc(1, sizeof *op);

		op->p = p;
		op->idx = p->next++;
		memcpy(op->hash, p->m.chunks[op->idx], HASH_LEN);
		op->len = manifest_chunk_len(&p->m, op->idx);
		op->buf = xcalloc(1, sizeof *op->buf);
		op->buf->refs = 1;
		op->reading = 1;
		TAILQ_INSERT_TAIL(&p->ops, op, entry);
		p->inflight++;
		p->reading = 1;
		op->job.run = pop_read_run;
		op->job.done = pop_read_done;
		if (p->only != NULL && op->idx == 0 && op->len == p->only_len) {
			/* the bytes are here: no read (pop_read_done may free p) */
			op->buf->cap = op->len;
			op->buf->p = p->only;
			p->only = NULL;
			op->rc = 0;
			pop_read_done(&op->job);
			return;
		}
		pool_submit(r->n->workers, &op->job);
		return;
	}
	if (p->finished == p->m.nchunks && p->inflight == 0 && p->req == NULL)
		push_free(p);
}

/* A CHUNK_ACK: its op and target. */
static void
on_ack(struct repl *r, const uint8_t from[NODE_ID_LEN], const struct msg_chunk_ref *a)
{
	struct push *p;
	struct pop *op;
	char s[NODE_ID_SHORT_LEN + 1], hex[HASH_HEX];

	TAILQ_FOREACH(p, &r->pushes, entry) {
		TAILQ_FOREACH(op, &p->ops, entry) {
			if (op->reading || memcmp(op->hash, a->hash, HASH_LEN) != 0)
				continue;
			for (size_t i = 0; i < op->nt; i++) {
				struct ptarget *t = &op->t[i];

				if (t->state != 0 || memcmp(t->id, from, NODE_ID_LEN) != 0)
					continue;
				op->pending--;
				if (a->status == MSG_CHUNK_OK) {
					t->state = 1;
					if (++op->acked == p->need)
						p->satisfied++; /* min copies of this chunk */
					if (i < op->remote_holders)
						op->holder_acks++;
					placed_add(p, from);
					shares_add(r, from, (const uint8_t (*)[HASH_LEN])op->hash, 1);
				} else {
					t->state = 2;
					p->failures++;
					atomic_fetch_add(&r->n->m.repl_push_failures, 1);
					hex_encode(op->hash, HASH_LEN, hex);
					log_warnx("replication: peer %s refused chunk %.16s of \"%s\" "
					    "(%s): replica failed", sid(from, s), hex, p->key,
					    a->status == MSG_CHUNK_NOSPACE ? "no space left" :
					    a->status == MSG_CHUNK_BADHASH ? "hash mismatch" :
					    "error");
					if (op->acked + op->pending < p->need ||
					    op->acked + op->pending < op->nt)
						pop_add_target(op);
				}
				if (op->pending == 0)
					pop_finish(op); /* pumps (and may free p) */
				else
					push_pump(p);
				/* the peer's budget (peers_budget_full) is shared by every
				 * push: one waiting for it may go on now */
				repl_peer_drained(r->n, from);
				return;
			}
		}
	}
}

int
repl_local_commit(struct node *n, const struct db_file *f, const struct manifest *m,
    const void *only, size_t only_len, struct evhttp_request *req, struct evbuffer *reply,
    const char **warning)
{
	struct repl *r = n->repl;
	uint8_t (*up)[NODE_ID_LEN];
	size_t k, i;
	struct push *p;
	unsigned want, nu;

	if (r == NULL || r->stopping)
		return 0;
	/* the metadata goes to every connected peer now */
	up = xcalloc(r->npeers + 1, NODE_ID_LEN);
	k = up_peers(r, up);
	for (i = 0; i < k; i++)
		send_file(r, up[i], f, m);
	free(up);
	nu = (unsigned)k;
	if (f->deleted || m == NULL || m->nchunks == 0 || nu == 0) {
		if (warning != NULL && !f->deleted && nu == 0 && n->cfg->min_copies > 1)
			*warning = "no peer is connected: stored on this node only (1 copy)";
		return 0;
	}
	if (m->nchunks > MSG_MANIFEST_MAX_CHUNKS || m->chunk_size > MSG_CHUNK_MAX)
		return 0; /* not replicable (documented limits); logged by send_file */
	p = xcalloc(1, sizeof *p);
	p->r = r;
	p->key = xstrdup(f->key);
	manifest_init(&p->m, m->chunk_size);
	for (uint64_t c = 0; c < m->nchunks; c++)
		manifest_add(&p->m, m->chunks[c]);
	p->m.size = m->size;
	memcpy(p->m.file_hash, m->file_hash, HASH_LEN);
	TAILQ_INIT(&p->ops);
	p->started_ms = mono_ms();
	if (only != NULL && m->nchunks == 1 && only_len == manifest_chunk_len(m, 0) &&
	    only_len > 0) {
		/* a one-chunk version whose bytes its upload still has (a small file): pushed
		 * from a copy of them, not read back from the database on a worker */
		p->only = msg_chunk_alloc(only_len);
		memcpy(p->only, only, only_len);
		p->only_len = only_len;
	}
	want = (unsigned)(n->cfg->min_copies > 0 ? n->cfg->min_copies : 1);
	{
		size_t R = n->cfg->replicas == 0 ? nu + 1 : (size_t)n->cfg->replicas;
		if (want > R)
			want = (unsigned)R;
	}
	if (want > nu + 1)
		want = nu + 1;
	p->need = want - 1;
	if (n->cfg->ephemeral) {
		/* a client node leaves right after: wait for every holder's copy */
		size_t R = n->cfg->replicas == 0 ? nu : (size_t)n->cfg->replicas;
		p->need = (unsigned)(R < nu ? R : nu);
	}
	TAILQ_INSERT_TAIL(&r->pushes, p, entry);
	if (p->need > 0 && req != NULL) {
		p->req = req;
		p->reply = reply;
		p->evcon = evhttp_request_get_connection(req);
		if (p->evcon != NULL)
			evhttp_connection_set_closecb(p->evcon, push_req_closed, p);
		push_pump(p);
		return 1;
	}
	push_pump(p);
	return 0;
}

/* ---- receiving and storing a chunk (CHUNK_PUT, CHUNK_DATA) ------------------------- */

struct want;

struct rx {
	struct job job;
	struct repl *r;
	uint8_t from[NODE_ID_LEN];
	uint8_t hash[HASH_LEN];
	uint8_t *data;
	size_t len;
	int fetched;            /* CHUNK_DATA for a want (else CHUNK_PUT) */
	uint32_t charged;       /* fetched: what it counts in its peer's fetch window */
	struct rx_sink {        /* fetched: files of gets waiting for it (repl_fetch_into) */
		struct fetch *f;
		uint64_t idx;
		int fd;         /* a dup of f->sink_fd, closed by rx_run */
		off_t off;
		int err;        /* errno of a failed write; 0 written */
	} *sinks;
	unsigned nsinks;
	int bytes_released;     /* rx_release_bytes ran */
	int pinned;
	int inl;                /* kept inline: data stays until the commit records it */
	uint8_t status;
};

static void want_stored(struct repl *r, const struct rx *x, int ok);

/* A verified fetched chunk into the files of the gets waiting for it: the get then
 * neither reads nor hashes it again (that was a third of a get's CPU on a node that
 * held none of the file). */
static void
rx_sink(struct rx *x)
{
	for (unsigned i = 0; i < x->nsinks; i++) {
		struct rx_sink *k = &x->sinks[i];

		k->err = fd_pwrite_out(k->fd, x->data, x->len, k->off);
		close(k->fd);
		k->fd = -1;
	}
}

/* The bytes against their hash; if they match, the chunk is pinned (0), else the
 * status says so (-1). */
static int
rx_verify(struct rx *x)
{
	uint8_t h[HASH_LEN];

	hash_buf(x->data, x->len, h);
	if (memcmp(h, x->hash, HASH_LEN) != 0) {
		x->status = MSG_CHUNK_BADHASH;
		return -1;
	}
	store_pin(x->r->n->store, x->hash);
	x->pinned = 1;
	return 0;
}

static void
rx_run(struct job *j, void *ctx)
{
	struct rx *x = (struct rx *)j;
	struct tctx *t = ctx;
	struct store *s = x->r->n->store;
	char *cause = NULL;
	int rc;

	if (rx_verify(x) == -1)
		return;
	/* a replica we hold already is not written again; a fetched chunk always is
	 * (it was fetched because the copy here is missing or bad) */
	rc = x->fetched ? 0 : db_chunk_have(t->db, x->hash, &cause);
	free(cause);
	cause = NULL;
	if (rc == 1) {
		x->status = MSG_CHUNK_OK; /* held already; the commit below is a no-op */
		return;
	}
	if (x->len <= store_inline_max(s)) {
		x->inl = 1; /* its bytes go into the database with its row (rx_commit_fn) */
	} else if (store_write_chunk(s, x->hash, x->data, x->len, &cause) == -1) {
		x->status = errno == ENOSPC || errno == EDQUOT ? MSG_CHUNK_NOSPACE :
		    MSG_CHUNK_FAILED;
		log_warnx("replication: storing a chunk: %s", cause);
		free(cause);
		return;
	}
	x->status = MSG_CHUNK_OK;
	rx_sink(x);
}

/* rx_run for a pushed chunk kept inline, on the loop: only its hash is checked. */
static void
rx_check_inline(struct rx *x)
{
	if (rx_verify(x) == 0) {
		x->inl = 1;
		x->status = MSG_CHUNK_OK;
	}
}

static void
rx_free(struct rx *x)
{
	for (unsigned i = 0; i < x->nsinks; i++)
		if (x->sinks[i].fd != -1)
			close(x->sinks[i].fd);
	free(x->sinks);
	msg_chunk_free(x->data, x->len);
	free(x);
}

/* A pushed chunk's bytes no longer count against its peer's REPL_RX_MAX_BYTES (once
 * written as a file: waiting for the commit holds no data; an inline chunk's bytes, kept
 * for its commit, count until then). */
static void
rx_release_bytes(struct repl *r, struct rx *x)
{
	struct rpeer *rp;

	if (x->fetched || x->bytes_released)
		return;
	x->bytes_released = 1;
	if ((rp = rp_find(r, x->from)) != NULL)
		rp->rx_bytes -= rp->rx_bytes < x->len ? rp->rx_bytes : x->len;
}

static void
rx_finish(struct rx *x)
{
	struct repl *r = x->r;
	struct rpeer *rp;

	if (x->pinned)
		store_unpin(r->n->store, x->hash);
	if (!r->stopping) {
		if ((rp = rp_find(r, x->from)) != NULL && !x->fetched && rp->rx > 0)
			rp->rx--;
		rx_release_bytes(r, x);
		if (x->status == MSG_CHUNK_OK)
			have_queue(r, x->hash);
		if (x->fetched)
			want_stored(r, x, x->status == MSG_CHUNK_OK);
		else {
			send_ref(r, x->from, MSG_CHUNK_ACK, x->hash, x->status);
			if (x->status == MSG_CHUNK_OK)
				atomic_fetch_add(&r->n->m.repl_chunks_received, 1);
		}
	}
	rx_free(x);
}

static int
rx_commit_fn(struct node *n, struct db *db, void *arg)
{
	struct rx *x = arg;
	char *cause = NULL;

	(void)n;
	/* a fetched chunk replaces the bytes of a copy found bad */
	if ((x->inl ? db_chunk_put_inline(db, x->hash, x->data, x->len, x->fetched, &cause) :
	    db_chunk_put(db, x->hash, x->len, &cause)) == -1 ||
	    (x->fetched && db_share_set_known(db, x->from, x->hash, wall_ms(), &cause) == -1)) {
		log_warnx("replication: %s", cause);
		free(cause);
		return -1;
	}
	return 0;
}

static void
rx_committed(struct node *n, void *arg, int rc)
{
	struct rx *x = arg;

	(void)n;
	x->status = rc == 0 ? MSG_CHUNK_OK : rc == -2 ? MSG_CHUNK_NOSPACE : MSG_CHUNK_FAILED;
	rx_finish(x);
}

static void
rx_done(struct job *j)
{
	struct rx *x = (struct rx *)j;

	struct repl *r = x->r;
	struct rpeer *rp;
	int fetched = x->fetched;

	if (!x->inl || x->status != MSG_CHUNK_OK || r->stopping) {
		msg_chunk_free(x->data, x->len);
		x->data = NULL;
	}
	/* inline bytes still count against their peer until committed (rx_finish) */
	if (!r->stopping && x->data == NULL)
		rx_release_bytes(r, x);
	/* a fetched chunk's bytes are gone from memory: its peer may be asked for more */
	if (fetched && !r->stopping && (rp = rp_find(r, x->from)) != NULL)
		rp_get_done(rp, x->charged);
	if (x->status != MSG_CHUNK_OK || r->stopping) {
		rx_finish(x);
	} else {
		/* durable (batched syncfs, or in the transaction when inline) and recorded
		 * before it is acknowledged */
		files_commit_call(r->n, !x->inl, rx_commit_fn, rx_committed, x);
	}
	if (fetched && !r->stopping)
		want_pump(r);
}

static void
rx_start(struct repl *r, const uint8_t from[NODE_ID_LEN], struct msg_chunk *c, int fetched,
    const struct want *w)
{
	struct rx *x = xcalloc(1, sizeof *x);

	for (unsigned i = 0; w != NULL && i < w->nwaiters; i++) {
		struct fetch *f = w->waiters[i].f;
		uint64_t k = w->waiters[i].idx;
		int fd;

		if (f->sink_fd == -1 || f->each == NULL)
			continue;
		if ((fd = fcntl(f->sink_fd, F_DUPFD_CLOEXEC, 0)) == -1)
			continue; /* the get reads it back from the store instead */
		x->sinks = xreallocarray(x->sinks, x->nsinks + 1, sizeof *x->sinks);
		x->sinks[x->nsinks++] = (struct rx_sink){ .f = f, .idx = k, .fd = fd,
		    .off = (off_t)f->offs[k] };
	}

	x->r = r;
	memcpy(x->from, from, NODE_ID_LEN);
	memcpy(x->hash, c->hash, HASH_LEN);
	x->data = c->data;
	x->len = c->len;
	c->data = NULL; /* taken */
	c->len = 0;
	x->fetched = fetched;
	x->charged = w != NULL ? w->charged : 0;
	x->job.run = rx_run;
	x->job.done = rx_done;
	atomic_fetch_add(&r->n->m.repl_bytes_received, x->len);
	if (!fetched && x->nsinks == 0 && x->len <= store_inline_max(r->n->store)) {
		/* A pushed chunk to keep inline is checked here, on the loop (a SHA-256 of at
		 * most --inline-max bytes: microseconds), and goes straight to the committer.
		 * No worker round trip; and it mostly joins the transaction that records its
		 * FILE, which came just before it, so the chunk's row is written once, not
		 * known (FILE) then held (chunk) in two transactions. Whether it is held
		 * already is asked in that transaction (db_chunk_put_inline). */
		rx_check_inline(x);
		rx_done(&x->job);
		return;
	}
	pool_submit(r->n->workers, &x->job);
}

static void
on_put(struct repl *r, const uint8_t from[NODE_ID_LEN], struct msg_chunk *c)
{
	struct rpeer *rp = rp_find(r, from);

	/* The limit bounds memory (a peer's chunks held here until written): by bytes, so
	 * many concurrent small replicas (64 clients storing 4 KiB files) are not refused
	 * as failed at 32 in flight, as they were when it counted chunks only. */
	if (rp == NULL || rp->rx >= REPL_RX_MAX ||
	    rp->rx_bytes + c->len > REPL_RX_MAX_BYTES) {
		send_ref(r, from, MSG_CHUNK_ACK, c->hash, MSG_CHUNK_FAILED);
		return;
	}
	rp->rx++;
	rp->rx_bytes += c->len;
	rx_start(r, from, c, 0, NULL);
}

/* ---- serving CHUNK_GET ------------------------------------------------------------- */

struct sv {
	struct job job;
	struct repl *r;
	uint8_t from[NODE_ID_LEN];
	uint8_t hash[HASH_LEN];
	struct rbuf *buf;
	size_t n;
	int rc;
};

static int
unheld_fn(struct node *n, struct db *db, void *arg)
{
	char *cause = NULL;

	(void)n;
	if (db_chunk_set_local(db, arg, 0, &cause) == -1) {
		log_warnx("replication: %s", cause);
		free(cause);
		return -1;
	}
	return 0;
}

static void
unheld_done(struct node *n, void *arg, int rc)
{
	(void)n;
	(void)rc;
	free(arg);
}

static void
sv_run(struct job *j, void *ctx)
{
	struct sv *v = (struct sv *)j;
	char *cause = NULL;

	v->buf->cap = MSG_CHUNK_MAX;
	v->buf->p = msg_chunk_alloc(MSG_CHUNK_MAX);
	v->rc = chunk_read(v->r->n, ((struct tctx *)ctx)->db, v->hash, v->buf->p,
	    MSG_CHUNK_MAX, &v->n, &cause);
	free(cause);
	/* A small chunk goes out in a buffer of its size: up to REPL_GET_WINDOW_MAX of them
	 * wait to be sent per peer, and 1 MiB buffers beyond the few kept for reuse were
	 * an mmap and munmap each (5% of the serving node's time with 4 KiB chunks). */
	if (v->rc == 0 && v->n <= SV_COPY_MAX) {
		uint8_t *p = msg_chunk_alloc(v->n);

		memcpy(p, v->buf->p, v->n);
		msg_chunk_free(v->buf->p, v->buf->cap);
		v->buf->p = p;
		v->buf->cap = v->n;
	}
}

static void
sv_done(struct job *j)
{
	struct sv *v = (struct sv *)j;
	struct repl *r = v->r;
	struct rpeer *rp;
	struct msg m;

	if (!r->stopping) {
		if ((rp = rp_find(r, v->from)) != NULL && rp->serving > 0)
			rp->serving--;
		if (v->rc == 0) {
			send_chunk(r, v->from, MSG_CHUNK_DATA, v->hash, v->buf, v->n);
		} else {
			memset(&m, 0, sizeof m);
			m.type = MSG_CHUNK_DATA;
			memcpy(m.u.chunk.hash, v->hash, HASH_LEN);
			m.u.chunk.status = v->rc == 2 ? MSG_CHUNK_CORRUPT : MSG_CHUNK_MISSING;
			net_send_msg(r->n, v->from, &m);
			if (v->rc == 2) {
				char hex[HASH_HEX];
				uint8_t *h = xmalloc(HASH_LEN);

				/* not held any more: the repair scan fetches it back */
				hex_encode(v->hash, HASH_LEN, hex);
				log_warnx("replication: chunk %s is corrupt on this node: "
				    "fetching it again from a holder", hex);
				atomic_fetch_add(&r->n->m.chunk_verify_failures, 1);
				memcpy(h, v->hash, HASH_LEN);
				files_commit_call(r->n, 0, unheld_fn, unheld_done, h);
				r->last_scan_ms = 0;
			}
		}
	}
	rbuf_release(NULL, 0, v->buf);
	free(v);
}

static void
on_get(struct repl *r, const uint8_t from[NODE_ID_LEN], const struct msg_chunk_ref *g)
{
	struct rpeer *rp = rp_find(r, from);
	struct sv *v;
	struct msg m;

	if (rp == NULL || rp->serving >= REPL_SERVE_MAX) {
		memset(&m, 0, sizeof m);
		m.type = MSG_CHUNK_DATA;
		memcpy(m.u.chunk.hash, g->hash, HASH_LEN);
		m.u.chunk.status = MSG_CHUNK_MISSING;
		net_send_msg(r->n, from, &m);
		return;
	}
	rp->serving++;
	v = xcalloc(1, sizeof *v);
	v->r = r;
	memcpy(v->from, from, NODE_ID_LEN);
	memcpy(v->hash, g->hash, HASH_LEN);
	v->buf = xcalloc(1, sizeof *v->buf);
	v->buf->refs = 1;
	v->job.run = sv_run;
	v->job.done = sv_done;
	pool_submit(r->n->workers, &v->job);
}

/* ---- wants and fetches ---------------------------------------------------------------- */

static unsigned
wbucket(const uint8_t h[HASH_LEN])
{
	return ((unsigned)h[0] << 8 | h[1]) % REPL_WANT_BUCKETS;
}

static struct want *
want_find(struct repl *r, const uint8_t h[HASH_LEN])
{
	struct want *w;

	for (w = r->wtab[wbucket(h)]; w != NULL; w = w->hnext)
		if (memcmp(w->hash, h, HASH_LEN) == 0)
			return w;
	return NULL;
}

/* A version says the chunk is len bytes long (0: unknown). The same hash is the same
 * bytes: the smallest bound known holds. */
static void
want_bound(struct want *w, uint32_t len)
{
	if (len != 0 && (w->len == 0 || len < w->len))
		w->len = len;
}

static struct want *
want_get(struct repl *r, const uint8_t h[HASH_LEN], int background)
{
	struct want *w = want_find(r, h);
	unsigned b;

	if (w != NULL)
		return w;
	w = xcalloc(1, sizeof *w);
	memcpy(w->hash, h, HASH_LEN);
	w->state = W_QUEUED;
	w->background = background;
	b = wbucket(h);
	w->hnext = r->wtab[b];
	r->wtab[b] = w;
	TAILQ_INSERT_TAIL(&r->queued, w, q);
	r->nwants++;
	if (background)
		r->nbg++;
	return w;
}

static void
fetch_free(struct fetch *f)
{
	if (f->sink_fd != -1)
		close(f->sink_fd);
	free(f->offs);
	free(f);
}

static void
fetch_finish(struct repl *r, struct fetch *f)
{
	TAILQ_REMOVE(&r->fetches, f, entry);
	if (f->done != NULL)
		f->done(f->arg, !f->failed, f->failed ? f->why : NULL);
	fetch_free(f);
}

/* The want is over: take it out, then tell its fetches. */
static void
want_end(struct repl *r, struct want *w, int ok, const char *why, const struct rx *x)
{
	struct want **pp = &r->wtab[wbucket(w->hash)];
	struct waiter *waiters = w->waiters;
	unsigned nw = w->nwaiters;

	while (*pp != w)
		pp = &(*pp)->hnext;
	*pp = w->hnext;
	if (w->state == W_QUEUED)
		TAILQ_REMOVE(&r->queued, w, q);
	else if (w->state == W_ASKED)
		TAILQ_REMOVE(&r->asked, w, q);
	r->nwants--;
	if (w->background)
		r->nbg--;
	if (ok) {
		atomic_fetch_add(&r->n->m.repl_chunks_fetched, 1);
		if (w->background)
			atomic_fetch_add(&r->n->m.repl_repairs, 1);
	} else {
		char hex[HASH_HEX];

		hex_encode(w->hash, HASH_LEN, hex);
		atomic_fetch_add(&r->n->m.repl_fetch_failures, 1);
		log_info("replication: chunk %.16s cannot be fetched: %s", hex, why);
	}
	free(w->tried);
	free(w);
	for (unsigned i = 0; i < nw; i++) {
		struct fetch *f = waiters[i].f;

		if (!ok && !f->failed) {
			f->failed = 1;
			snprintf(f->why, sizeof f->why, "%s", why);
		}
		if (f->each != NULL) {
			int sunk = 0;

			/* written into the get's file by the worker that stored it? */
			for (unsigned k = 0; ok && x != NULL && k < x->nsinks; k++)
				if (x->sinks[k].f == f && x->sinks[k].idx == waiters[i].idx)
					sunk = x->sinks[k].err == 0 ? 1 : -x->sinks[k].err;
			f->each(f->arg, waiters[i].idx, ok, sunk, why);
		}
		if (--f->remaining == 0)
			fetch_finish(r, f);
	}
	free(waiters);
}

static void
want_tried(struct want *w, const uint8_t id[NODE_ID_LEN])
{
	w->tried = xreallocarray(w->tried, w->ntried + 1, NODE_ID_LEN);
	memcpy(w->tried[w->ntried++], id, NODE_ID_LEN);
}

static int
want_was_tried(const struct want *w, const uint8_t id[NODE_ID_LEN])
{
	for (unsigned i = 0; i < w->ntried; i++)
		if (memcmp(w->tried[i], id, NODE_ID_LEN) == 0)
			return 1;
	return 0;
}

/* Back to the queue after a failed source. */
static void
want_requeue(struct repl *r, struct want *w)
{
	if (w->state == W_ASKED)
		TAILQ_REMOVE(&r->asked, w, q);
	w->state = W_QUEUED;
	TAILQ_INSERT_TAIL(&r->queued, w, q);
}

/* No connected node can be asked for w. Links come and go (a duplicate link being
 * replaced, a peer restarting, a lossy cable): wait REPL_NO_HOLDER_WAIT_MS, re-tried
 * on every tick and peer-up, before failing it. */
static void
want_no_source(struct repl *r, struct want *w)
{
	uint64_t now = mono_ms();

	if (w->nosrc_ms == 0)
		w->nosrc_ms = now;
	else if (now - w->nosrc_ms >= REPL_NO_HOLDER_WAIT_MS)
		want_end(r, w, 0, "no connected node has it", NULL);
}

/* Choose a source for each queued want: among the untried connected peers ranked for
 * the chunk, the holders (top R) first, the least busy of them; others only when
 * every holder was tried. */
static void
want_pump(struct repl *r)
{
	struct want *w, *next;
	uint8_t (*up)[NODE_ID_LEN], (*live)[NODE_ID_LEN];
	size_t nu, *idx, k, R;

	if (r->stopping || TAILQ_EMPTY(&r->queued))
		return;
	up = xcalloc(r->npeers + 1, NODE_ID_LEN);
	live = xcalloc(r->npeers + 1, NODE_ID_LEN);
	idx = xcalloc(r->npeers + 1, sizeof *idx);
	nu = up_peers(r, up);
	R = r_eff(r, live_nodes(r, live));
	for (w = TAILQ_FIRST(&r->queued); w != NULL; w = next) {
		struct rpeer *best = NULL, *rp;
		int untried = 0, room = 0;
		uint32_t charge = repl_get_charge(w->len);

		next = TAILQ_NEXT(w, q);
		/* every peer's window is full: nothing more can be asked now (and ranking
		 * every queued chunk would cost a hash per peer each time) */
		TAILQ_FOREACH(rp, &r->peers, entry)
			if (rp->up && repl_get_room(rp->gets, rp->get_bytes, charge))
				room = 1;
		if (!room && nu == 0) {
			want_no_source(r, w); /* no link at all (maybe for a moment) */
			continue;
		}
		if (!room)
			break;
		k = repl_place(w->hash, (const uint8_t (*)[32])up, nu, 0, idx);
		for (int pass = 0; pass < 2 && best == NULL; pass++) {
			for (size_t i = 0; i < k; i++) {
				int holder = i < R;

				if ((pass == 0) != holder || want_was_tried(w, up[idx[i]]))
					continue;
				rp = rp_find(r, up[idx[i]]);
				if (rp == NULL)
					continue;
				untried++;
				if (!repl_get_room(rp->gets, rp->get_bytes, charge))
					continue;
				if (best == NULL || rp->get_bytes < best->get_bytes)
					best = rp;
			}
			if (pass == 0 && untried > 0)
				break; /* holders are busy: wait for them */
		}
		if (best == NULL) {
			if (untried == 0)
				want_no_source(r, w);
			continue;
		}
		w->nosrc_ms = 0;
		TAILQ_REMOVE(&r->queued, w, q);
		w->state = W_ASKED;
		TAILQ_INSERT_TAIL(&r->asked, w, q);
		memcpy(w->src, best->id, NODE_ID_LEN);
		w->asked_ms = mono_ms();
		w->charged = charge;
		best->gets++;
		best->get_bytes += charge;
		send_ref(r, best->id, MSG_CHUNK_GET, w->hash, 0);
	}
	free(up);
	free(live);
	free(idx);
}

static void
on_data(struct repl *r, const uint8_t from[NODE_ID_LEN], struct msg_chunk *c)
{
	struct want *w = want_find(r, c->hash);
	struct rpeer *rp = rp_find(r, from);
	char s[NODE_ID_SHORT_LEN + 1], hex[HASH_HEX];

	if (w == NULL || w->state != W_ASKED || memcmp(w->src, from, NODE_ID_LEN) != 0)
		return; /* late or unasked: dropped (msg_clear frees the data) */
	if (c->status != MSG_CHUNK_OK) {
		if (rp != NULL)
			rp_get_done(rp, w->charged);
		if (c->status == MSG_CHUNK_CORRUPT) {
			hex_encode(c->hash, HASH_LEN, hex);
			log_warnx("replication: peer %s reports chunk %.16s corrupt: asking "
			    "another holder", sid(from, s), hex);
			atomic_fetch_add(&r->n->m.repl_bad_chunks, 1);
		}
		want_tried(w, from);
		want_requeue(r, w);
		want_pump(r);
		return;
	}
	/* the peer's window slot stays taken until the bytes are written (rx_done): the
	 * window bounds what waits here for a worker, not only what is on the wire. Longer
	 * than expected (a wrong chunk size in a manifest): it counts as long as it is. */
	if (rp != NULL && c->len > w->charged) {
		rp->get_bytes += c->len - w->charged;
		w->charged = c->len;
	}
	TAILQ_REMOVE(&r->asked, w, q);
	w->state = W_STORING;
	rx_start(r, from, c, 1, w);
}

/* A fetched chunk was verified and stored (ok), or not. */
static void
want_stored(struct repl *r, const struct rx *x, int ok)
{
	const uint8_t *h = x->hash, *from = x->from;
	uint8_t status = x->status;
	struct want *w = want_find(r, h);
	char s[NODE_ID_SHORT_LEN + 1], hex[HASH_HEX];

	if (w == NULL || w->state != W_STORING)
		return;
	if (ok) {
		want_end(r, w, 1, NULL, x);
		want_pump(r);
		return;
	}
	if (status == MSG_CHUNK_BADHASH) {
		hex_encode(h, HASH_LEN, hex);
		log_warnx("replication: peer %s sent chunk %.16s with other bytes (hash "
		    "mismatch): asking another holder", sid(from, s), hex);
		atomic_fetch_add(&r->n->m.chunk_verify_failures, 1);
		atomic_fetch_add(&r->n->m.repl_bad_chunks, 1);
		want_tried(w, from);
		w->state = W_QUEUED;
		TAILQ_INSERT_TAIL(&r->queued, w, q);
		want_pump(r);
		return;
	}
	w->state = W_QUEUED; /* so that want_end does not unlink it from a list */
	TAILQ_INSERT_TAIL(&r->queued, w, q);
	want_end(r, w, 0, status == MSG_CHUNK_NOSPACE ? "no space left on this node" :
	    "cannot store it on this node", NULL);
}

static int fetch_start(struct node *n, const uint8_t (*hashes)[32], uint64_t count,
    uint32_t chunk_len, void (*done)(void *arg, int ok, const char *why),
    void (*each)(void *arg, uint64_t idx, int ok, int sunk, const char *why), void *arg,
    int fd, const uint64_t *offs);

int
repl_fetch(struct node *n, const uint8_t (*hashes)[32], uint64_t count,
    uint32_t chunk_len, void (*done)(void *arg, int ok, const char *why), void *arg)
{
	return fetch_start(n, hashes, count, chunk_len, done, NULL, arg, -1, NULL);
}

int
repl_fetch_each(struct node *n, const uint8_t (*hashes)[32], uint64_t count,
    uint32_t chunk_len,
    void (*each)(void *arg, uint64_t idx, int ok, int sunk, const char *why), void *arg,
    int fd, const uint64_t *offs)
{
	return fetch_start(n, hashes, count, chunk_len, NULL, each, arg, fd, offs);
}

static int
fetch_start(struct node *n, const uint8_t (*hashes)[32], uint64_t count,
    uint32_t chunk_len, void (*done)(void *arg, int ok, const char *why),
    void (*each)(void *arg, uint64_t idx, int ok, int sunk, const char *why), void *arg,
    int fd, const uint64_t *offs)
{
	struct repl *r = n->repl;
	struct fetch *f;

	/* no peer connected right now: the wants wait a little for one (want_no_source) */
	if (r == NULL || r->stopping || count == 0)
		return -1;
	f = xcalloc(1, sizeof *f);
	f->done = done;
	f->each = each;
	f->arg = arg;
	f->sink_fd = -1;
	if (fd != -1 && offs != NULL &&
	    (f->sink_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) != -1) {
		f->offs = xreallocarray(NULL, count, sizeof *f->offs);
		memcpy(f->offs, offs, count * sizeof *f->offs);
	}
	f->remaining = count;
	TAILQ_INSERT_TAIL(&r->fetches, f, entry);
	for (uint64_t i = 0; i < count; i++) {
		struct want *w = want_get(r, hashes[i], 0);

		if (w->background) {
			w->background = 0;
			r->nbg--;
		}
		want_bound(w, chunk_len);
		w->waiters = xreallocarray(w->waiters, w->nwaiters + 1, sizeof *w->waiters);
		w->waiters[w->nwaiters].f = f;
		w->waiters[w->nwaiters++].idx = i;
	}
	want_pump(r);
	return 0;
}

void
repl_fetch_cancel(struct node *n, void *arg)
{
	struct repl *r = n->repl;
	struct fetch *f;

	if (r == NULL)
		return;
	TAILQ_FOREACH(f, &r->fetches, entry)
		if (f->arg == arg) {
			f->done = NULL;
			f->each = NULL;
		}
}

/* ---- repair scan -------------------------------------------------------------------- */

/*
 * Every REPL_REPAIR_TICK_MS: the chunks this node should hold and lacks. Listing the
 * versions not wholly held and placing their chunks is O(files) (every version a node
 * is not a holder of), so it runs on the gc thread with its own connection, from a
 * snapshot of the live nodes taken on the loop; the loop only starts the wants it
 * found (at most REPL_SCAN_MAX_WANTS). One scan at a time.
 */
struct scan_file {
	int64_t id;
	uint64_t version;
	uint8_t origin[NODE_ID_LEN];
};

struct scan_job {
	struct job job;
	struct repl *r;
	int64_t now;            /* wall clock at the snapshot */
	size_t R;               /* replicas placed (r_eff) */
	uint8_t (*live)[NODE_ID_LEN]; /* self first, then live peers */
	size_t nlive;
	uint8_t (*up)[NODE_ID_LEN];   /* connected peers */
	size_t nup;
	struct scan_file *v;    /* versions with chunks not held here */
	size_t n, cap;
	uint8_t (*fetch)[HASH_LEN];   /* found: chunks to fetch */
	uint32_t *flen;               /* and their lengths (the fetch window counts bytes) */
	size_t nfetch;
};

static int
scan_cb(void *arg, const struct db_file *f)
{
	struct scan_job *a = arg;

	if (f->chunks_present >= f->nchunks)
		return 0;
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 64;
		a->v = xreallocarray(a->v, a->cap, sizeof *a->v);
	}
	a->v[a->n].id = f->id;
	a->v[a->n].version = f->version;
	memcpy(a->v[a->n].origin, f->origin, NODE_ID_LEN);
	a->n++;
	return 0;
}

static int
scan_is_up(const struct scan_job *a, const uint8_t id[NODE_ID_LEN])
{
	for (size_t i = 0; i < a->nup; i++)
		if (memcmp(a->up[i], id, NODE_ID_LEN) == 0)
			return 1;
	return 0;
}

/* gc thread */
static void
scan_run(struct job *j, void *ctx)
{
	struct scan_job *a = (struct scan_job *)j;
	struct tctx *t = ctx;
	size_t *idx = xcalloc(a->nlive, sizeof *idx);
	char *cause = NULL;
	int64_t age;

	if (db_files_incomplete(t->db, scan_cb, a, &cause) == -1) {
		log_warnx("replication: repair scan: %s", cause);
		free(cause);
		cause = NULL;
		a->n = 0;
	}
	a->fetch = xcalloc(REPL_SCAN_MAX_WANTS, HASH_LEN);
	a->flen = xcalloc(REPL_SCAN_MAX_WANTS, sizeof *a->flen);
	for (size_t i = 0; i < a->n && a->nfetch < REPL_SCAN_MAX_WANTS; i++) {
		struct manifest m;

		/* a young version whose writer is connected: it is pushing the chunks. The
		 * age is by the writer's clock: a version dated ahead of ours by more than
		 * the window (a writer's clock ahead, or a network clock carried ahead by
		 * one) is not young, or its repair would wait for the skew (t_fault_clock_skew) */
		age = a->now - repl_version_ms(a->v[i].version);
		if (age > -REPL_YOUNG_MS && age < REPL_YOUNG_MS && scan_is_up(a, a->v[i].origin))
			continue;
		if (db_file_manifest(t->db, a->v[i].id, &m, &cause) != 0) {
			free(cause);
			cause = NULL;
			continue;
		}
		for (uint64_t c = 0; c < m.nchunks && a->nfetch < REPL_SCAN_MAX_WANTS; c++) {
			size_t k = repl_place(m.chunks[c], (const uint8_t (*)[32])a->live,
			    a->nlive, a->R, idx), h;

			for (h = 0; h < k && idx[h] != 0; h++)
				;
			if (h == k) /* not a holder */
				continue;
			if (db_chunk_have(t->db, m.chunks[c], &cause) != 0) {
				free(cause);
				cause = NULL;
				continue;
			}
			a->flen[a->nfetch] = (uint32_t)manifest_chunk_len(&m, c);
			memcpy(a->fetch[a->nfetch++], m.chunks[c], HASH_LEN);
		}
		manifest_free(&m);
	}
	free(idx);
}

static void
scan_done(struct job *j)
{
	struct scan_job *a = (struct scan_job *)j;
	struct repl *r = a->r;
	size_t started = 0;

	r->scan_busy = 0;
	/* more to fetch than one scan starts: scan again as soon as half are in, not a
	 * whole period later (a file of small chunks has thousands) */
	r->scan_more = a->nfetch >= REPL_SCAN_MAX_WANTS;
	for (size_t i = 0; !r->stopping && i < a->nfetch; i++) {
		struct want *w;

		if (want_find(r, a->fetch[i]) != NULL)
			continue;
		w = want_get(r, a->fetch[i], 1);
		want_bound(w, a->flen[i]);
		started++;
	}
	if (started > 0) {
		log_info("replication: fetching %zu chunks this node should hold", started);
		want_pump(r);
	}
	free(a->live);
	free(a->up);
	free(a->v);
	free(a->fetch);
	free(a->flen);
	free(a);
}

static int
expire_fn(struct node *n, struct db *db, void *arg)
{
	uint64_t cutoff, k = 0;
	int64_t ms = wall_ms() - n->cfg->tombstone_s * 1000;
	char *cause = NULL;

	(void)arg;
	cutoff = ms > 0 ? (uint64_t)ms << 16 : 0;
	if (db_tombstones_expire(db, cutoff, &k, &cause) == -1) {
		log_warnx("replication: %s", cause);
		free(cause);
		return -1;
	}
	if (k > 0)
		log_info("replication: %" PRIu64 " tombstones older than the retention expired",
		    k);
	return 0;
}

static void
expire_done(struct node *n, void *arg, int rc)
{
	(void)n;
	(void)arg;
	(void)rc;
}

static void
scan(struct repl *r)
{
	struct scan_job *a;

	files_commit_call(r->n, 0, expire_fn, expire_done, NULL);
	if (nup(r) == 0 || r->nbg > REPL_SCAN_MAX_WANTS / 2 || r->n->cfg->ephemeral ||
	    r->scan_busy)
		return;
	a = xcalloc(1, sizeof *a);
	a->r = r;
	a->now = wall_ms();
	a->live = xcalloc(r->npeers + 1, NODE_ID_LEN);
	a->nlive = live_nodes(r, a->live);
	a->R = r_eff(r, a->nlive);
	a->up = xcalloc(r->npeers + 1, NODE_ID_LEN);
	a->nup = up_peers(r, a->up);
	a->job.run = scan_run;
	a->job.done = scan_done;
	r->scan_busy = 1;
	pool_submit(r->n->gc, &a->job);
}

/* ---- timer, peers, messages -------------------------------------------------------- */

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct repl *r = arg;
	uint64_t now = mono_ms();
	struct want *w, *next;
	struct push *p, *pn;

	(void)fd;
	(void)what;
	if (r->stopping)
		return;
	/* CHUNK_GETs unanswered too long: next source */
	for (w = TAILQ_FIRST(&r->asked); w != NULL; w = next) {
		next = TAILQ_NEXT(w, q);
		if (now - w->asked_ms > REPL_FETCH_TIMEOUT_MS) {
			struct rpeer *rp = rp_find(r, w->src);

			if (rp != NULL)
				rp_get_done(rp, w->charged);
			want_tried(w, w->src);
			want_requeue(r, w);
		}
	}
	want_pump(r);
	/* stores waiting too long for their min copies are answered with a warning */
	for (p = TAILQ_FIRST(&r->pushes); p != NULL; p = pn) {
		pn = TAILQ_NEXT(p, entry);
		if (p->req != NULL && now - p->started_ms > REPL_MIN_COPIES_WAIT_MS)
			push_answer(p, "fewer copies than --min-copies after waiting: the rest "
			    "replicates in the background");
	}
	if (now - r->last_have_ms >= REPL_HAVE_FLUSH_MS) {
		r->last_have_ms = now;
		have_flush(r);
	}
	mfetch_tick(r->mfetch);
	if (now - r->last_ae_ms >= (uint64_t)r->n->cfg->anti_entropy_ms) {
		uint8_t (*up)[NODE_ID_LEN] = xcalloc(r->npeers + 1, NODE_ID_LEN);
		size_t k = up_peers(r, up);

		r->last_ae_ms = now;
		if (k > 0)
			send_digest(r, up[rnd32(r) % k], MSG_DIGEST_REPLY);
		free(up);
	}
	if (now - r->last_scan_ms >= REPL_REPAIR_TICK_MS ||
	    (r->scan_more && r->nbg <= REPL_SCAN_MAX_WANTS / 2)) {
		r->last_scan_ms = now;
		scan(r);
	}
}

void
repl_peer_up(struct node *n, const uint8_t id[NODE_ID_LEN])
{
	struct repl *r = n->repl;
	struct rpeer *rp;

	if (r == NULL || r->stopping || (rp = rp_get(r, id)) == NULL)
		return;
	rp->up = 1;
	rp->seen_ms = wall_ms();
	rp->gets = rp->rx = rp->serving = 0;
	rp->get_bytes = rp->rx_bytes = 0;
	send_digest(r, id, MSG_DIGEST_REPLY);
	want_pump(r);
}

void
repl_peer_down(struct node *n, const uint8_t id[NODE_ID_LEN])
{
	struct repl *r = n->repl;
	struct rpeer *rp;
	struct want *w, *next;
	struct push *p, *pn;
	struct pop *op, *opn;

	if (r == NULL || (rp = rp_find(r, id)) == NULL || !rp->up)
		return;
	rp->up = 0;
	rp->seen_ms = wall_ms();
	rp->gets = 0;
	rp->get_bytes = 0;
	if (r->stopping)
		return;
	mfetch_peer_down(r->mfetch, id);
	for (w = TAILQ_FIRST(&r->asked); w != NULL; w = next) {
		next = TAILQ_NEXT(w, q);
		if (memcmp(w->src, id, NODE_ID_LEN) == 0) {
			/* A lost link says nothing about the holder (a duplicate link being
			 * replaced, a lossy cable): ask it again once it is back, unless its
			 * links keep dropping while it is asked. */
			if (++w->link_losses > REPL_WANT_LINK_LOSSES)
				want_tried(w, id);
			want_requeue(r, w);
		}
	}
	for (p = TAILQ_FIRST(&r->pushes); p != NULL; p = pn) {
		pn = TAILQ_NEXT(p, entry);
		for (op = TAILQ_FIRST(&p->ops); op != NULL; op = opn) {
			opn = TAILQ_NEXT(op, entry);
			for (size_t i = 0; i < op->nt; i++) {
				if (op->t[i].state != 0 || memcmp(op->t[i].id, id, NODE_ID_LEN) != 0)
					continue;
				op->t[i].state = 2;
				op->pending--;
				if (op->acked + op->pending < p->need)
					pop_add_target(op);
			}
			if (!op->reading && op->pending == 0)
				pop_finish(op); /* may free p once its last op is done */
		}
	}
	want_pump(r);
}

void
repl_peer_drained(struct node *n, const uint8_t id[NODE_ID_LEN])
{
	struct repl *r = n->repl;
	struct push *p, *pn;

	(void)id;
	if (r == NULL || r->stopping)
		return;
	for (p = TAILQ_FIRST(&r->pushes); p != NULL; p = pn) {
		pn = TAILQ_NEXT(p, entry);
		if (!p->reading && p->next < p->m.nchunks)
			push_pump(p);
	}
}

int
repl_on_msg(struct node *n, const uint8_t id[NODE_ID_LEN], struct msg *m)
{
	struct repl *r = n->repl;

	if (r == NULL || r->stopping)
		return 0;
	if (rp_find(r, id) == NULL || !rp_find(r, id)->up)
		repl_peer_up(n, id);
	switch (m->type) {
	case MSG_FILE:
		return on_file(r, id, &m->u.file);
	case MSG_DIGEST:
		on_digest(r, id, &m->u.digest);
		return 0;
	case MSG_CHUNK_PUT:
		on_put(r, id, &m->u.chunk);
		return 0;
	case MSG_CHUNK_ACK:
		on_ack(r, id, &m->u.ref);
		return 0;
	case MSG_CHUNK_GET:
		on_get(r, id, &m->u.ref);
		return 0;
	case MSG_CHUNK_DATA:
		on_data(r, id, &m->u.chunk);
		return 0;
	case MSG_HAVE:
		shares_add(r, id, (const uint8_t (*)[HASH_LEN])m->u.have.v, m->u.have.n);
		return 0;
	case MSG_MANIFEST_GET:
		mfetch_on_get(n, id, &m->u.mget);
		return 0;
	case MSG_MANIFEST_PART:
		return mfetch_on_part(r->mfetch, id, &m->u.mpart);
	}
	return -1;
}

/* ---- shares (GET /v1/shares) -------------------------------------------------------- */

struct node_count {
	uint8_t id[NODE_ID_LEN];
	uint64_t chunks;
};

struct share_acc {
	struct node_count *v;
	size_t n;
};

static void
acc_add(struct share_acc *a, const uint8_t id[NODE_ID_LEN])
{
	for (size_t i = 0; i < a->n; i++)
		if (memcmp(a->v[i].id, id, NODE_ID_LEN) == 0) {
			a->v[i].chunks++;
			return;
		}
	a->v = xreallocarray(a->v, a->n + 1, sizeof *a->v);
	memcpy(a->v[a->n].id, id, NODE_ID_LEN);
	a->v[a->n++].chunks = 1;
}

/* Copies of the least-held chunk of a file (this node if held + peers known to hold
 * it); 0 when its manifest cannot be read. */
static int
count_cb(void *arg, const uint8_t peer[NODE_ID_LEN])
{
	(void)peer;
	(*(uint64_t *)arg)++;
	return 0;
}

static uint64_t
file_min_copies(struct repl *r, const struct db_file *f)
{
	struct manifest m;
	char *cause = NULL;
	uint64_t minc = UINT64_MAX;

	if (db_file_manifest(r->n->db, f->id, &m, &cause) != 0) {
		free(cause);
		return 0;
	}
	for (uint64_t c = 0; c < m.nchunks; c++) {
		uint64_t copies = db_chunk_have(r->n->db, m.chunks[c], NULL) == 1;

		db_shares_of_chunk(r->n->db, m.chunks[c], count_cb, &copies, NULL);
		if (copies < minc)
			minc = copies;
	}
	manifest_free(&m);
	return minc == UINT64_MAX ? 0 : minc;
}

void
repl_file_copies(struct node *n, const struct db_file *f, uint64_t *have, uint64_t *target)
{
	struct repl *r = n->repl;
	size_t nlive = 1;

	if (r != NULL) {
		struct rpeer *p;
		int64_t now = wall_ms();

		TAILQ_FOREACH(p, &r->peers, entry)
			nlive += rp_live(r, p, now);
	}
	*target = n->cfg->replicas == 0 || (size_t)n->cfg->replicas > nlive ? nlive :
	    (size_t)n->cfg->replicas;
	if (r == NULL || f->deleted) {
		*have = f->chunks_present == f->nchunks;
		return;
	}
	if (f->has_copies) { /* the listing counted them (db_files_list_copies) */
		*have = f->min_copies;
		return;
	}
	*have = file_min_copies(r, f);
}

/* GET /v1/shares: one query for every file's chunks and their holders, written as text
 * (a manifest load and two queries per chunk, into a jansson tree, took 0.2 s for
 * 10,000 one-chunk files). */
struct shares_out {
	struct repl *r;
	struct evbuffer *b;
	size_t target;
	int64_t file_id;       /* the file being summed up; 0 none yet */
	int64_t idx;           /* its chunk being counted */
	char *key;
	uint64_t nchunks, minc, maxc;
	unsigned copies;       /* of the chunk idx */
	int nfiles;            /* written so far */
	struct share_acc a;    /* per node: chunks of the file it holds */
};

static void
shares_chunk_end(struct shares_out *o)
{
	if (o->idx < 0)
		return;
	if (o->copies < o->minc)
		o->minc = o->copies;
	if (o->copies > o->maxc)
		o->maxc = o->copies;
}

static void
shares_file_end(struct shares_out *o)
{
	char hex[2 * NODE_ID_LEN + 1];

	if (o->file_id == 0)
		return;
	shares_chunk_end(o);
	if (o->nchunks == 0 || o->minc == UINT64_MAX)
		o->minc = 0;
	evbuffer_add_printf(o->b, "%s{\"key\":", o->nfiles++ ? "," : "");
	api_json_str_add(o->b, o->key);
	evbuffer_add_printf(o->b, ",\"chunks\":%" PRIu64 ",\"copies\":%" PRIu64
	    ",\"max_copies\":%" PRIu64 ",\"target\":%zu,\"nodes\":[", o->nchunks, o->minc,
	    o->maxc, o->target);
	for (size_t i = 0; i < o->a.n; i++) {
		hex_encode(o->a.v[i].id, NODE_ID_LEN, hex);
		evbuffer_add_printf(o->b, "%s{\"node\":\"%s\",\"chunks\":%" PRIu64
		    ",\"self\":%s}", i ? "," : "", hex, (uint64_t)o->a.v[i].chunks,
		    memcmp(o->a.v[i].id, o->r->n->node_id, NODE_ID_LEN) == 0 ? "true" : "false");
	}
	evbuffer_add(o->b, "]}", 2);
	free(o->key);
	o->key = NULL;
	o->a.n = 0;
}

static int
shares_row(void *arg, const struct db_holder *h)
{
	struct shares_out *o = arg;

	if (h->file_id != o->file_id) {
		shares_file_end(o);
		o->file_id = h->file_id;
		o->key = xstrdup(h->key);
		o->nchunks = h->nchunks;
		o->minc = UINT64_MAX;
		o->maxc = 0;
		o->idx = -1;
	}
	if (h->idx < 0)
		return 0; /* no chunks */
	if (h->idx != o->idx) { /* a new chunk: held here counts once */
		shares_chunk_end(o);
		o->idx = h->idx;
		o->copies = 0;
		if (h->local) {
			acc_add(&o->a, o->r->n->node_id);
			o->copies++;
		}
	}
	if (h->peer != NULL) {
		acc_add(&o->a, h->peer);
		o->copies++;
	}
	return 0;
}

void
repl_api_shares(struct node *n, struct evhttp_request *req)
{
	struct repl *r = n->repl;
	struct shares_out o;
	char *cause = NULL;
	size_t nlive = 1;
	struct rpeer *p;
	int64_t now = wall_ms();

	TAILQ_FOREACH(p, &r->peers, entry)
		nlive += rp_live(r, p, now);
	memset(&o, 0, sizeof o);
	o.r = r;
	o.b = evbuffer_new();
	o.target = n->cfg->replicas == 0 || (size_t)n->cfg->replicas > nlive ? nlive :
	    (size_t)n->cfg->replicas;
	o.idx = -1;
	evbuffer_add(o.b, "{\"files\":[", 10);
	if (db_files_holders(n->db, shares_row, &o, &cause) == -1) {
		free(o.key);
		free(o.a.v);
		evbuffer_free(o.b);
		api_error(req, 500, "database error", "%s", cause);
		free(cause);
		return;
	}
	shares_file_end(&o);
	free(o.a.v);
	evbuffer_add_printf(o.b, "],\"live_nodes\":%zu,\"replicas\":%d}\n", nlive,
	    n->cfg->replicas);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "application/json");
	evhttp_send_reply(req, 200, "OK", o.b);
	evbuffer_free(o.b);
}

/* ---- life cycle ------------------------------------------------------------------------ */

static int
load_peer(void *arg, const struct db_peer *p)
{
	struct repl *r = arg;
	struct rpeer *rp;

	if (memcmp(p->id, r->n->node_id, NODE_ID_LEN) == 0)
		return 0;
	if ((rp = rp_get(r, p->id)) != NULL)
		rp->seen_ms = p->last_seen_ms;
	return 0;
}

int
repl_start(struct node *n, char **cause)
{
	struct repl *r = xcalloc(1, sizeof *r);
	struct timeval tv = { .tv_sec = REPL_TICK_MS / 1000,
	    .tv_usec = REPL_TICK_MS % 1000 * 1000 };
	char *c2 = NULL;

	/* Chunk buffers (1 MiB) are allocated and freed on several threads; glibc's
	 * dynamic mmap threshold would soon serve them from per-thread heaps that never
	 * shrink. A fixed threshold keeps them mmapped: RSS follows what is in flight. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	r->n = n;
	TAILQ_INIT(&r->peers);
	TAILQ_INIT(&r->pushes);
	TAILQ_INIT(&r->share_sets);
	TAILQ_INIT(&r->queued);
	TAILQ_INIT(&r->asked);
	TAILQ_INIT(&r->fetches);
	r->dg = db_digest_new(repl_digest_entry);
	{
		/* the clock recorded with the last commit has passed every version here */
		char *v = NULL;
		const char *errstr;
		uint64_t floor = UINT64_MAX; /* unknown: every FILE looked up */

		int rc = db_meta_get(n->db, "hlc", &v, NULL);

		if (rc == 0) {
			floor = (uint64_t)parse_num(v, 0, LLONG_MAX, &errstr);
			if (errstr != NULL)
				floor = UINT64_MAX;
		} else if (rc == 1)
			floor = 0; /* no commit ever: nothing recorded */
		free(v);
		repl_seen_init(&r->seen, floor);
	}
	if (RAND_bytes((unsigned char *)&r->rng, sizeof r->rng) != 1 || r->rng == 0)
		r->rng = 0x9e3779b97f4a7c15ULL;
	if (db_peers_list(n->db, load_peer, r, &c2) == -1) {
		set_cause(cause, "replication: %s", c2);
		free(c2);
		db_digest_free(r->dg);
		free(r);
		return -1;
	}
	r->last_scan_ms = mono_ms(); /* first scan after one period: peers connect first */
	r->last_ae_ms = mono_ms();
	r->last_have_ms = mono_ms();
	r->mfetch = mfetch_new(n, file_apply);
	r->tick = event_new(n->base, -1, EV_PERSIST, on_tick, r);
	event_add(r->tick, &tv);
	r->shares_ev = evtimer_new(n->base, shares_timer, r);
	n->repl = r;
	digest_attach(r); /* the committer's first job: before any write */
	{
		char reps[16];

		if (n->cfg->replicas == 0)
			snprintf(reps, sizeof reps, "every node");
		else
			snprintf(reps, sizeof reps, "%d", n->cfg->replicas);
		log_info("replication: replicas %s, min copies %d, repair after %" PRId64 " s, "
		    "tombstones kept %" PRId64 " s, anti-entropy every %d ms%s", reps,
		    n->cfg->min_copies, n->cfg->repair_after_s, n->cfg->tombstone_s,
		    (int)n->cfg->anti_entropy_ms, n->cfg->ephemeral ? ", ephemeral" : "");
	}
	return 0;
}

void
repl_quiesce(struct node *n)
{
	if (n->repl != NULL) {
		struct repl *r = n->repl;
		struct share_set *set;

		/* written before the committer stops: the gathering, and the slices not
		 * queued yet of those being written */
		shares_flush(r, 1);
		TAILQ_FOREACH(set, &r->share_sets, entry)
			if (set->next < 256)
				shares_slice(set, 1);
		r->stopping = 1;
	}
}

void
repl_stop(struct node *n)
{
	struct repl *r = n->repl;
	struct rpeer *p;
	struct push *ps;
	struct fetch *f;
	struct share_set *set;

	if (r == NULL)
		return;
	r->stopping = 1;
	if (r->tick != NULL)
		event_free(r->tick);
	if (r->shares_ev != NULL)
		event_free(r->shares_ev);
	if (r->sh != NULL)
		share_set_free(r->sh);
	while ((set = TAILQ_FIRST(&r->share_sets)) != NULL) {
		/* the pools are gone: nothing refers to it any more */
		TAILQ_REMOVE(&r->share_sets, set, entry);
		share_set_free(set);
	}
	mfetch_free(r->mfetch);
	r->mfetch = NULL;
	while ((ps = TAILQ_FIRST(&r->pushes)) != NULL) {
		struct pop *op;

		while ((op = TAILQ_FIRST(&ps->ops)) != NULL) {
			TAILQ_REMOVE(&ps->ops, op, entry);
			if (op->buf != NULL)
				rbuf_release(NULL, 0, op->buf);
			free(op->cand);
			free(op->t);
			free(op);
		}
		ps->inflight = 0;
		push_free(ps);
	}
	for (unsigned b = 0; b < REPL_WANT_BUCKETS; b++) {
		struct want *w, *wn;

		for (w = r->wtab[b]; w != NULL; w = wn) {
			wn = w->hnext;
			free(w->tried);
			free(w->waiters);
			free(w);
		}
	}
	while ((f = TAILQ_FIRST(&r->fetches)) != NULL) {
		TAILQ_REMOVE(&r->fetches, f, entry);
		fetch_free(f);
	}
	while ((p = TAILQ_FIRST(&r->peers)) != NULL) {
		TAILQ_REMOVE(&r->peers, p, entry);
		free(p);
	}
	free(r->have);
	db_digest_free(r->dg); /* the committer (its connection) is gone already */
	free(r);
	n->repl = NULL;
}
