/* chunks.c: which chunks this node holds, references to them, and statistics. */
#include "db/db_int.h"

#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

int
db_chunk_have(struct db *db, const uint8_t h[32], char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_CHUNK_HAVE);
	int rc, ret = -1;

	if (sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC) != SQLITE_OK) {
		db_fail(db, cause, "chunk have");
		goto out;
	}
	if ((rc = db_step(db, s, "chunk have", cause)) == -1)
		goto out;
	ret = rc == SQLITE_ROW;
out:
	db_reset(s);
	return ret;
}

int
db_chunks_unreferenced(struct db *db, uint8_t (*out)[32], size_t limit, size_t *n,
    char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_CHUNKS_UNREF);
	int rc, ret = -1;

	*n = 0;
	if (limit == 0)
		return 0;
	if (limit > INT64_MAX)
		limit = INT64_MAX;
	if (sqlite3_bind_int64(s, 1, (sqlite3_int64)limit) != SQLITE_OK) {
		db_fail(db, cause, "unreferenced chunks");
		goto out;
	}
	while ((rc = db_step(db, s, "unreferenced chunks", cause)) == SQLITE_ROW) {
		if (db_col_blob(db, s, 0, out[*n], 32, cause) == -1)
			goto out;
		if (++*n == limit)
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
db_chunk_forget(struct db *db, const uint8_t h[32], char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_CHUNK_FORGET);
	int ret = -1;

	if (sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC) != SQLITE_OK) {
		db_fail(db, cause, "chunk forget");
		goto out;
	}
	if (db_step(db, s, "chunk forget", cause) == -1)
		goto out;
	ret = sqlite3_changes(db->sq) > 0;
out:
	db_reset(s);
	return ret;
}

int
db_chunks_each(struct db *db,
    int (*cb)(void *arg, const uint8_t h[32], uint64_t size, uint64_t refs), void *arg,
    char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_CHUNKS_EACH);
	uint8_t h[32];
	int rc, ret = -1;

	while ((rc = db_step(db, s, "chunks", cause)) == SQLITE_ROW) {
		if (db_col_blob(db, s, 0, h, sizeof h, cause) == -1)
			goto out;
		if (cb(arg, h, (uint64_t)sqlite3_column_int64(s, 1),
		    (uint64_t)sqlite3_column_int64(s, 2)) != 0)
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
db_refs_check(struct db *db, uint64_t *bad_counts, uint64_t *dangling, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_REFS_CHECK);
	int rc;

	rc = db_step(db, s, "reference counts", cause);
	if (rc == SQLITE_ROW) {
		*bad_counts = (uint64_t)sqlite3_column_int64(s, 0);
		*dangling = (uint64_t)sqlite3_column_int64(s, 1);
	} else if (rc != -1)
		rc = set_cause(cause, "reference counts: no result");
	db_reset(s);
	return rc == -1 ? -1 : 0;
}

int
db_chunk_set_local(struct db *db, const uint8_t h[32], int local, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_CHUNK_SET_LOCAL);
	int ret = -1;

	if (sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(s, 2, local ? 1 : 0) != SQLITE_OK) {
		db_fail(db, cause, "chunk set local");
		goto out;
	}
	if (db_step(db, s, "chunk set local", cause) == -1)
		goto out;
	ret = 0;
out:
	db_reset(s);
	return ret;
}

int
db_stats(struct db *db, struct db_stats *st, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_STATS);
	int rc, ret = -1;

	memset(st, 0, sizeof *st);
	if ((rc = db_step(db, s, "stats", cause)) == -1)
		goto out;
	if (rc != SQLITE_ROW) {
		set_cause(cause, "stats: no result");
		goto out;
	}
	st->files = (uint64_t)sqlite3_column_int64(s, 0);
	st->tombstones = (uint64_t)sqlite3_column_int64(s, 1);
	st->bytes = (uint64_t)sqlite3_column_int64(s, 2);
	st->chunks = (uint64_t)sqlite3_column_int64(s, 3);
	st->chunk_bytes = (uint64_t)sqlite3_column_int64(s, 4);
	st->peers = (uint64_t)sqlite3_column_int64(s, 5);
	ret = 0;
out:
	db_reset(s);
	return ret;
}

int
db_chunk_put(struct db *db, const uint8_t h[32], uint64_t size, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_CHUNK_UPSERT);
	int ret = -1;

	if (size > INT64_MAX ||
	    sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, (sqlite3_int64)size) != SQLITE_OK) {
		db_fail(db, cause, "chunk put");
		goto out;
	}
	if (db_step(db, s, "chunk put", cause) == -1)
		goto out;
	ret = 0;
out:
	db_reset(s);
	return ret;
}

int
db_chunks_forget_remote(struct db *db, uint64_t *n, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_CHUNKS_FORGET_REMOTE);
	int ret = -1;

	*n = 0;
	if (db_step(db, s, "forget remote chunks", cause) == -1)
		goto out;
	*n = (uint64_t)sqlite3_changes(db->sq);
	ret = 0;
out:
	db_reset(s);
	return ret;
}

/* With a digest attached, the keys losing a tombstone are noted before and after (the
 * rows are older than the retention: few, found by the files_version index). */
struct expire_key {
	char *key;
	struct dg_entry before;
};

int
db_tombstones_expire(struct db *db, uint64_t cutoff, uint64_t *n, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_TOMBSTONES_EXPIRE), *k = NULL;
	struct expire_key *v = NULL;
	size_t nv = 0, cap = 0;
	int own, rc, ok = 0;

	*n = 0;
	if (cutoff > INT64_MAX)
		cutoff = INT64_MAX;
	if (db_op_begin(db, &own, cause) == -1)
		return -1;
	if (db->dg != NULL) {
		k = db_stmt(db, ST_TOMBSTONES_OLD);
		if (sqlite3_bind_int64(k, 1, (sqlite3_int64)cutoff) != SQLITE_OK) {
			db_fail(db, cause, "expire tombstones");
			goto out;
		}
		while ((rc = db_step(db, k, "expire tombstones", cause)) == SQLITE_ROW) {
			const char *key = (const char *)sqlite3_column_text(k, 0);

			if (key == NULL) {
				db_fail(db, cause, "tombstone key");
				goto out;
			}
			if (nv == cap) {
				cap = cap ? 2 * cap : 16;
				v = xreallocarray(v, cap, sizeof *v);
			}
			v[nv++].key = xstrdup(key);
		}
		db_reset(k);
		if (rc == -1)
			goto out;
		for (size_t i = 0; i < nv; i++)
			if (db_dg_current(db, v[i].key, &v[i].before, cause) == -1)
				goto out;
	}
	if (sqlite3_bind_int64(s, 1, (sqlite3_int64)cutoff) != SQLITE_OK) {
		db_fail(db, cause, "expire tombstones");
		goto out;
	}
	if (db_step(db, s, "expire tombstones", cause) == -1)
		goto out;
	*n = (uint64_t)sqlite3_changes(db->sq);
	for (size_t i = 0; i < nv; i++) {
		struct dg_entry after;

		if (db_dg_current(db, v[i].key, &after, cause) == -1)
			goto out;
		db_dg_note(db, v[i].key, &v[i].before, &after);
	}
	ok = 1;
out:
	db_reset(s);
	if (k != NULL)
		db_reset(k);
	for (size_t i = 0; i < nv; i++)
		free(v[i].key);
	free(v);
	if (db_op_end(db, own, ok, cause) == -1)
		return -1;
	return ok ? 0 : -1;
}

int
db_chunk_put_inline(struct db *db, const uint8_t h[32], const void *p, size_t n,
    int replace, char **cause)
{
	sqlite3_stmt *s;
	sqlite3_int64 id;
	int rc, ret = -1;

	if (n > INT32_MAX)
		return set_cause(cause, "chunk put inline: %zu bytes", n);
	if (!replace) {
		if ((rc = db_chunk_have(db, h, cause)) == -1)
			return -1;
		if (rc == 1)
			return 0; /* held already, inline or as a file */
	}
	s = db_stmt(db, ST_DATA_INSERT);
	if (sqlite3_bind_blob(s, 1, n > 0 ? p : "", (int)n, SQLITE_STATIC) != SQLITE_OK) {
		db_fail(db, cause, "chunk data insert");
		db_reset(s);
		return -1;
	}
	rc = db_step(db, s, "chunk data insert", cause);
	db_reset(s);
	if (rc == -1)
		return -1;
	id = sqlite3_last_insert_rowid(db->sq);
	s = db_stmt(db, ST_CHUNK_PUT_INLINE);
	if (sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, (sqlite3_int64)n) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, id) != SQLITE_OK) {
		db_fail(db, cause, "chunk put inline");
		goto out;
	}
	if (db_step(db, s, "chunk put inline", cause) == -1)
		goto out;
	ret = 0;
out:
	db_reset(s);
	return ret;
}

int
db_chunk_read_inline(struct db *db, const uint8_t h[32], void *buf, size_t max,
    size_t *n, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_CHUNK_DATA);
	const void *p;
	size_t len;
	int rc, ret = -1;

	*n = 0;
	if (sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC) != SQLITE_OK) {
		db_fail(db, cause, "chunk read inline");
		goto out;
	}
	if ((rc = db_step(db, s, "chunk read inline", cause)) == -1)
		goto out;
	if (rc != SQLITE_ROW) {
		ret = 1;
		goto out;
	}
	p = sqlite3_column_blob(s, 0);
	len = (size_t)sqlite3_column_bytes(s, 0);
	if (p == NULL && len > 0) {
		db_fail(db, cause, "chunk read inline");
		goto out;
	}
	if (len > max) {
		set_cause(cause, "inline chunk of %zu bytes, at most %zu expected", len, max);
		ret = 2;
		goto out;
	}
	if (len > 0)
		memcpy(buf, p, len);
	*n = len;
	ret = 0;
out:
	db_reset(s);
	return ret;
}
