/* peers.c: known peers and which chunks they hold (shares). */
#include "db/db_int.h"

#include <string.h>

#include "lib/util.h"

/* Copy a TEXT column into a fixed buffer, NUL-terminated (truncated if it is longer,
 * which a row written through db_peer_upsert() never is). */
static void
col_str(sqlite3_stmt *s, int col, char *buf, size_t len)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	size_t n;

	if (t == NULL) {
		buf[0] = '\0';
		return;
	}
	n = (size_t)sqlite3_column_bytes(s, col);
	if (n >= len)
		n = len - 1;
	memcpy(buf, t, n);
	buf[n] = '\0';
}

/* Fill p from a row of PEER_COLS (db.c). */
static int
peer_from_row(struct db *db, sqlite3_stmt *s, struct db_peer *p, char **cause)
{
	memset(p, 0, sizeof *p);
	if (db_col_blob(db, s, 0, p->id, sizeof p->id, cause) == -1)
		return -1;
	col_str(s, 1, p->addr, sizeof p->addr);
	col_str(s, 2, p->transport, sizeof p->transport);
	col_str(s, 3, p->status, sizeof p->status);
	p->first_seen_ms = sqlite3_column_int64(s, 4);
	p->last_seen_ms = sqlite3_column_int64(s, 5);
	p->last_connect_ms = sqlite3_column_int64(s, 6);
	p->failures = sqlite3_column_int64(s, 7);
	p->rtt_us = sqlite3_column_int64(s, 8);
	return 0;
}

/* The fixed-size strings of struct db_peer need not be NUL-terminated when full. */
static int
bind_str(sqlite3_stmt *s, int i, const char *buf, size_t len)
{
	return sqlite3_bind_text(s, i, buf, (int)strnlen(buf, len), SQLITE_STATIC);
}

/* A new peer gets a row; a known one keeps its first_seen_ms and takes everything
 * else from p. */
int
db_peer_upsert(struct db *db, const struct db_peer *p, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_PEER_UPSERT);
	int ret = -1;

	if (sqlite3_bind_blob(s, 1, p->id, sizeof p->id, SQLITE_STATIC) != SQLITE_OK ||
	    bind_str(s, 2, p->addr, sizeof p->addr) != SQLITE_OK ||
	    bind_str(s, 3, p->transport, sizeof p->transport) != SQLITE_OK ||
	    bind_str(s, 4, p->status, sizeof p->status) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 5, p->first_seen_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 6, p->last_seen_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 7, p->last_connect_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 8, p->failures) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 9, p->rtt_us) != SQLITE_OK) {
		db_fail(db, cause, "peer upsert");
		goto out;
	}
	if (db_step(db, s, "peer upsert", cause) == -1)
		goto out;
	ret = 0;
out:
	db_reset(s);
	return ret;
}

int
db_peer_get(struct db *db, const uint8_t id[NODE_ID_LEN], struct db_peer *p,
    char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_PEER_GET);
	int rc, ret = -1;

	if (sqlite3_bind_blob(s, 1, id, NODE_ID_LEN, SQLITE_STATIC) != SQLITE_OK) {
		db_fail(db, cause, "peer get");
		goto out;
	}
	if ((rc = db_step(db, s, "peer get", cause)) == -1)
		goto out;
	if (rc == SQLITE_DONE) {
		ret = 1;
		goto out;
	}
	if (peer_from_row(db, s, p, cause) == -1)
		goto out;
	ret = 0;
out:
	db_reset(s);
	return ret;
}

/* Most recently seen first. */
int
db_peers_list(struct db *db, int (*cb)(void *arg, const struct db_peer *p), void *arg,
    char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_PEERS_LIST);
	struct db_peer p;
	int rc, ret = -1;

	while ((rc = db_step(db, s, "peers list", cause)) == SQLITE_ROW) {
		if (peer_from_row(db, s, &p, cause) == -1)
			goto out;
		if (cb(arg, &p) != 0)
			break;
	}
	if (rc == -1)
		goto out;
	ret = 0;
out:
	db_reset(s);
	return ret;
}

/* One statement of the cleanup, bound to the cutoff; *n its changes. */
static int
cleanup_step(struct db *db, enum db_stmt_id id, int64_t cutoff_ms, uint64_t *n,
    char **cause)
{
	sqlite3_stmt *s = db_stmt(db, id);
	int ret = -1;

	if (sqlite3_bind_int64(s, 1, cutoff_ms) != SQLITE_OK) {
		db_fail(db, cause, "peers cleanup");
		goto out;
	}
	if (db_step(db, s, "peers cleanup", cause) == -1)
		goto out;
	*n = (uint64_t)sqlite3_changes(db->sq);
	ret = 0;
out:
	db_reset(s);
	return ret;
}

/* Their shares go with them, first and in the same transaction (shares has no index by
 * peer: one pass for all the peers removed). */
int
db_peers_cleanup(struct db *db, int64_t cutoff_ms, uint64_t *n, char **cause)
{
	uint64_t nshares = 0;
	int own, ok;

	*n = 0;
	if (db_op_begin(db, &own, cause) == -1)
		return -1;
	ok = cleanup_step(db, ST_SHARES_CLEANUP, cutoff_ms, &nshares, cause) == 0 &&
	    cleanup_step(db, ST_PEERS_CLEANUP, cutoff_ms, n, cause) == 0;
	if (db_op_end(db, own, ok, ok ? cause : NULL) == -1 || !ok) {
		*n = 0;
		return -1;
	}
	return 0;
}

/* 1 if the peer is in the peers table, 0 if not, -1 error. */
static int
peer_known(struct db *db, const uint8_t peer[NODE_ID_LEN], char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_PEER_EXISTS);
	int rc;

	if (sqlite3_bind_blob(s, 1, peer, NODE_ID_LEN, SQLITE_STATIC) != SQLITE_OK) {
		db_reset(s);
		return db_fail(db, cause, "peer exists");
	}
	rc = db_step(db, s, "peer exists", cause);
	db_reset(s);
	return rc == -1 ? -1 : rc == SQLITE_ROW;
}

static int share_insert(struct db *db, const uint8_t peer[NODE_ID_LEN],
    const uint8_t h[32], int64_t now_ms, char **cause);

/* The peer must be known (db_peer_upsert) first: shares has no foreign key (its
 * cleanup goes with the peers', db_peers_cleanup), so this checks. Setting a share again
 * keeps its since_ms. */
int
db_share_set(struct db *db, const uint8_t peer[NODE_ID_LEN], const uint8_t h[32],
    int64_t now_ms, char **cause)
{
	int rc = peer_known(db, peer, cause);

	if (rc == -1)
		return -1;
	if (rc == 0)
		return set_cause(cause, "share set: unknown peer");
	return share_insert(db, peer, h, now_ms, cause);
}

static int
share_insert(struct db *db, const uint8_t peer[NODE_ID_LEN], const uint8_t h[32],
    int64_t now_ms, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_SHARE_SET);
	int ret = -1;

	if (sqlite3_bind_blob(s, 1, peer, NODE_ID_LEN, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 2, h, 32, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, now_ms) != SQLITE_OK) {
		db_fail(db, cause, "share set");
		goto out;
	}
	if (db_step(db, s, "share set", cause) == -1)
		goto out;
	ret = 0;
out:
	db_reset(s);
	return ret;
}

int
db_share_drop(struct db *db, const uint8_t peer[NODE_ID_LEN], const uint8_t h[32],
    char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_SHARE_DROP);
	int ret = -1;

	if (sqlite3_bind_blob(s, 1, peer, NODE_ID_LEN, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 2, h, 32, SQLITE_STATIC) != SQLITE_OK) {
		db_fail(db, cause, "share drop");
		goto out;
	}
	if (db_step(db, s, "share drop", cause) == -1)
		goto out;
	ret = 0;
out:
	db_reset(s);
	return ret;
}

int
db_shares_of_chunk(struct db *db, const uint8_t h[32],
    int (*cb)(void *arg, const uint8_t peer[NODE_ID_LEN]), void *arg, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_SHARES_OF_CHUNK);
	uint8_t peer[NODE_ID_LEN];
	int rc, ret = -1;

	if (sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC) != SQLITE_OK) {
		db_fail(db, cause, "shares of chunk");
		goto out;
	}
	while ((rc = db_step(db, s, "shares of chunk", cause)) == SQLITE_ROW) {
		if (db_col_blob(db, s, 0, peer, sizeof peer, cause) == -1)
			goto out;
		if (cb(arg, peer) != 0)
			break;
	}
	if (rc == -1)
		goto out;
	ret = 0;
out:
	db_reset(s);
	return ret;
}

int
db_files_holders(struct db *db, int (*cb)(void *arg, const struct db_holder *h), void *arg,
    char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_FILES_HOLDERS);
	uint8_t peer[NODE_ID_LEN];
	struct db_holder h;
	int rc, ret = -1;

	while ((rc = db_step(db, s, "files holders", cause)) == SQLITE_ROW) {
		memset(&h, 0, sizeof h);
		h.file_id = sqlite3_column_int64(s, 0);
		if ((h.key = (const char *)sqlite3_column_text(s, 1)) == NULL) {
			db_fail(db, cause, "file key");
			goto out;
		}
		h.nchunks = (uint64_t)sqlite3_column_int64(s, 2);
		h.idx = sqlite3_column_type(s, 3) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 3);
		h.local = sqlite3_column_int(s, 4) == 1;
		if (sqlite3_column_type(s, 5) != SQLITE_NULL) {
			if (db_col_blob(db, s, 5, peer, sizeof peer, cause) == -1)
				goto out;
			h.peer = peer;
		}
		if (cb(arg, &h) != 0)
			break;
	}
	if (rc == -1)
		goto out;
	ret = 0;
out:
	db_reset(s);
	return ret;
}

int
db_share_set_known(struct db *db, const uint8_t peer[NODE_ID_LEN], const uint8_t h[32],
    int64_t now_ms, char **cause)
{
	int rc = peer_known(db, peer, cause);

	if (rc == -1)
		return -1;
	if (rc == 0)
		return 1;
	return share_insert(db, peer, h, now_ms, cause);
}
