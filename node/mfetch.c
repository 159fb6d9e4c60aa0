/* mfetch.c: chunk lists too long for one FILE, fetched in MANIFEST_GET / MANIFEST_PART
 * rounds (mfetch.h). */
#include "node/mfetch.h"
#include "node/daemon.h"
#include "node/net.h"
#include "db/db.h"
#include "lib/log.h"
#include "lib/util.h"
#include "p2p/identity.h"
#include "p2p/msg.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct mfetch {
	struct node *n;
	void (*apply)(struct node *n, struct msg_file *mf);
	int busy;
	uint8_t from[NODE_ID_LEN]; /* the peer asked */
	struct msg_file mf;        /* mf.chunks: room for all mf.nchunks */
	uint32_t have;             /* hashes in mf.chunks */
	uint64_t last_ms;          /* mono: the FILE or the last part */
};

struct mfetch *
mfetch_new(struct node *n, void (*apply)(struct node *n, struct msg_file *mf))
{
	struct mfetch *m = xcalloc(1, sizeof *m);

	m->n = n;
	m->apply = apply;
	return m;
}

static void
drop(struct mfetch *m)
{
	free(m->mf.chunks);
	memset(&m->mf, 0, sizeof m->mf);
	m->busy = 0;
	m->have = 0;
}

void
mfetch_free(struct mfetch *m)
{
	if (m == NULL)
		return;
	drop(m);
	free(m);
}

int
mfetch_busy(const struct mfetch *m)
{
	return m != NULL && m->busy;
}

static void
ask(struct mfetch *m)
{
	struct msg q;

	memset(&q, 0, sizeof q);
	q.type = MSG_MANIFEST_GET;
	snprintf(q.u.mget.key, sizeof q.u.mget.key, "%s", m->mf.key);
	q.u.mget.version = m->mf.version;
	memcpy(q.u.mget.origin, m->mf.origin, NODE_ID_LEN);
	q.u.mget.start = m->have;
	m->last_ms = mono_ms();
	if (net_send_msg(m->n, m->from, &q) == -1) {
		log_info("replication: \"%s\": cannot ask for the rest of its chunk list (the "
		    "peer is gone); it comes back with anti-entropy", m->mf.key);
		drop(m);
	}
}

void
mfetch_on_file(struct mfetch *m, const uint8_t from[NODE_ID_LEN], struct msg_file *mf)
{
	char sid[NODE_ID_SHORT_LEN + 1];

	if (m->busy) {
		if (!(strcmp(m->mf.key, mf->key) == 0 && m->mf.version == mf->version &&
		    memcmp(m->mf.origin, mf->origin, NODE_ID_LEN) == 0))
			log_debug("replication: \"%s\": its chunk list waits (another one is "
			    "being fetched)", mf->key);
		return;
	}
	node_id_short(from, sid);
	log_info("replication: \"%s\": %" PRIu32 " chunks, more than one FILE carries: "
	    "fetching the rest of its chunk list from %s", mf->key, mf->nchunks, sid);
	m->busy = 1;
	memcpy(m->from, from, NODE_ID_LEN);
	m->mf = *mf;
	m->mf.chunks = xreallocarray(mf->chunks, mf->nchunks, MSG_HASH_LEN);
	mf->chunks = NULL; /* taken */
	m->have = MSG_FILE_MAX_CHUNKS;
	ask(m);
}

int
mfetch_on_part(struct mfetch *m, const uint8_t from[NODE_ID_LEN], const struct msg_mpart *p)
{
	struct msg_file mf;

	if (!m->busy || memcmp(from, m->from, NODE_ID_LEN) != 0 ||
	    p->version != m->mf.version || memcmp(p->origin, m->mf.origin, NODE_ID_LEN) != 0 ||
	    p->start != m->have)
		return 0; /* an answer to a list dropped since: stale */
	if (p->status != 0) {
		log_info("replication: \"%s\": the peer no longer has that version; its "
		    "chunk list is dropped", m->mf.key);
		drop(m);
		return 0;
	}
	if (p->n > m->mf.nchunks - m->have) {
		log_warnx("replication: \"%s\": MANIFEST_PART with %" PRIu32 " hashes, %" PRIu32
		    " were left", m->mf.key, p->n, m->mf.nchunks - m->have);
		drop(m);
		return -1;
	}
	memcpy(m->mf.chunks[m->have], p->v, (size_t)p->n * MSG_HASH_LEN);
	m->have += p->n;
	if (m->have < m->mf.nchunks) {
		ask(m);
		return 0;
	}
	mf = m->mf;
	mf.flags &= (uint8_t)~MSG_FILE_MORE;
	memset(&m->mf, 0, sizeof m->mf);
	m->busy = 0;
	m->have = 0;
	m->apply(m->n, &mf);
	free(mf.chunks);
	return 0;
}

void
mfetch_on_get(struct node *n, const uint8_t from[NODE_ID_LEN], const struct msg_mget *g)
{
	struct db_file f;
	struct msg a;
	char *cause = NULL;
	int rc;

	memset(&a, 0, sizeof a);
	a.type = MSG_MANIFEST_PART;
	a.u.mpart.version = g->version;
	memcpy(a.u.mpart.origin, g->origin, NODE_ID_LEN);
	a.u.mpart.start = g->start;
	a.u.mpart.status = MSG_CHUNK_MISSING;
	rc = db_file_get(n->db, g->key, 0, &f, &cause);
	if (rc == 0 && f.version == g->version &&
	    memcmp(f.origin, g->origin, NODE_ID_LEN) == 0 && g->start < f.nchunks) {
		uint32_t want = f.nchunks - g->start > MSG_FILE_MAX_CHUNKS ?
		    MSG_FILE_MAX_CHUNKS : (uint32_t)(f.nchunks - g->start);

		a.u.mpart.v = xcalloc(want, MSG_HASH_LEN);
		if (db_file_chunks_range(n->db, f.id, g->start, want, a.u.mpart.v,
		    &a.u.mpart.n, &cause) == -1 || a.u.mpart.n != want) {
			log_warnx("replication: \"%s\": chunk list from %" PRIu32 ": %s", g->key,
			    g->start, cause != NULL ? cause : "shorter than its file row says");
			a.u.mpart.n = 0;
		} else {
			a.u.mpart.status = 0;
		}
	} else if (rc == -1) {
		log_warnx("replication: MANIFEST_GET \"%s\": %s", g->key, cause);
	}
	free(cause);
	db_file_clear(&f);
	net_send_msg(n, from, &a);
	free(a.u.mpart.v);
}

void
mfetch_peer_down(struct mfetch *m, const uint8_t id[NODE_ID_LEN])
{
	if (m->busy && memcmp(m->from, id, NODE_ID_LEN) == 0) {
		log_info("replication: \"%s\": the peer sending its chunk list left; it comes "
		    "back with anti-entropy", m->mf.key);
		drop(m);
	}
}

void
mfetch_tick(struct mfetch *m)
{
	if (m->busy && mono_ms() - m->last_ms > MFETCH_TIMEOUT_MS) {
		log_warnx("replication: \"%s\": no part of its chunk list for %d s; dropped "
		    "(it comes back with anti-entropy)", m->mf.key, MFETCH_TIMEOUT_MS / 1000);
		drop(m);
	}
}
