/* files.c: file versions, tombstones and their chunk lists. */
#include "db/db_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"
#include "store/store.h"

void
db_file_clear(struct db_file *f)
{
	if (f == NULL)
		return;
	free(f->key);
	memset(f, 0, sizeof *f);
}

/* Fill f from a row of FILE_COLS (db.c). f->key points into the statement's row: valid
 * until the next step or reset. */
static int
file_from_row(struct db *db, sqlite3_stmt *s, struct db_file *f, char **cause)
{
	memset(f, 0, sizeof *f);
	f->id = sqlite3_column_int64(s, 0);
	f->key = (char *)sqlite3_column_text(s, 1);
	if (f->key == NULL)
		return db_fail(db, cause, "file key");
	f->version = (uint64_t)sqlite3_column_int64(s, 2);
	if (db_col_blob(db, s, 3, f->origin, sizeof f->origin, cause) == -1)
		return -1;
	f->deleted = sqlite3_column_int(s, 4) != 0;
	f->size = (uint64_t)sqlite3_column_int64(s, 5);
	f->chunk_size = (uint32_t)sqlite3_column_int64(s, 6);
	f->nchunks = (uint64_t)sqlite3_column_int64(s, 7);
	if (db_col_blob(db, s, 8, f->file_hash, sizeof f->file_hash, cause) == -1 ||
	    db_col_blob(db, s, 9, f->manifest_hash, sizeof f->manifest_hash, cause) == -1)
		return -1;
	f->created_ms = sqlite3_column_int64(s, 10);
	f->chunks_present = (uint64_t)sqlite3_column_int64(s, 11);
	f->prev_version = (uint64_t)sqlite3_column_int64(s, 12);
	if (db_col_blob(db, s, 13, f->prev_origin, sizeof f->prev_origin, cause) == -1)
		return -1;
	return 0;
}

int
db_file_get(struct db *db, const char *key, int include_deleted, struct db_file *f,
    char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_FILE_CURRENT);
	int rc, ret = -1;

	memset(f, 0, sizeof *f);
	if (sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC) != SQLITE_OK) {
		db_fail(db, cause, "file get");
		goto out;
	}
	if ((rc = db_step(db, s, "file get", cause)) == -1)
		goto out;
	if (rc == SQLITE_DONE) {
		ret = 1;
		goto out;
	}
	if (file_from_row(db, s, f, cause) == -1) {
		memset(f, 0, sizeof *f);
		goto out;
	}
	if (f->deleted && !include_deleted) {
		memset(f, 0, sizeof *f);
		ret = 1;
		goto out;
	}
	f->key = xstrdup(f->key);
	ret = f->deleted ? 1 : 0;
out:
	db_reset(s);
	return ret;
}

int
db_file_manifest(struct db *db, int64_t file_id, struct manifest *m, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_FILE_ROW), *c = NULL;
	uint8_t h[HASH_LEN], want[HASH_LEN];
	uint64_t nchunks, n = 0;
	int rc, ret = -1;

	manifest_init(m, 0);
	if (sqlite3_bind_int64(s, 1, file_id) != SQLITE_OK) {
		db_fail(db, cause, "file manifest");
		goto out;
	}
	if ((rc = db_step(db, s, "file manifest", cause)) == -1)
		goto out;
	if (rc == SQLITE_DONE) {
		ret = 1;
		goto out;
	}
	manifest_init(m, (uint32_t)sqlite3_column_int64(s, 1));
	m->size = (uint64_t)sqlite3_column_int64(s, 0);
	nchunks = (uint64_t)sqlite3_column_int64(s, 2);
	if (nchunks > MANIFEST_MAX_CHUNKS) {
		set_cause(cause, "%s: damaged file row %lld: %llu chunks", db->path,
		    (long long)file_id, (unsigned long long)nchunks);
		goto out;
	}
	if (db_col_blob(db, s, 3, m->file_hash, sizeof m->file_hash, cause) == -1)
		goto out;

	c = db_stmt(db, ST_FILE_CHUNKS);
	if (sqlite3_bind_int64(c, 1, file_id) != SQLITE_OK) {
		db_fail(db, cause, "file chunks");
		goto out;
	}
	while ((rc = db_step(db, c, "file chunks", cause)) == SQLITE_ROW) {
		if ((uint64_t)sqlite3_column_int64(c, 0) != n || n >= nchunks) {
			set_cause(cause, "%s: damaged chunk list of file %lld at index %llu",
			    db->path, (long long)file_id, (unsigned long long)n);
			goto out;
		}
		if (db_col_blob(db, c, 1, h, sizeof h, cause) == -1)
			goto out;
		manifest_add(m, h);
		n++;
	}
	if (rc == -1)
		goto out;
	if (n != nchunks || m->nchunks != nchunks) {
		set_cause(cause, "%s: file %lld lists %llu chunks, expected %llu", db->path,
		    (long long)file_id, (unsigned long long)n, (unsigned long long)nchunks);
		goto out;
	}
	/* SQLite keeps no checksums: a flipped byte in the size, the hashes or the chunk
	 * list would otherwise be served (or replicated) as good */
	if (sqlite3_column_type(s, 4) != SQLITE_NULL) {
		if (db_col_blob(db, s, 4, want, sizeof want, cause) == -1)
			goto out;
		manifest_hash(m, h);
		if (memcmp(h, want, sizeof h) != 0) {
			set_cause(cause, "%s: damaged metadata: file row %lld and its chunk list "
			    "do not match their manifest hash", db->path, (long long)file_id);
			goto out;
		}
	}
	ret = 0;
out:
	db_reset(s);
	if (c != NULL)
		db_reset(c);
	if (ret != 0) {
		manifest_free(m);
		manifest_init(m, 0);
	}
	return ret;
}

/* Sizes must describe nchunks chunks of chunk_size bytes, the last one shorter or equal
 * and not empty: the chunk rows get their sizes from it. */
static int
manifest_check(const struct manifest *m, char **cause)
{
	uint64_t full;

	if (m->nchunks > MANIFEST_MAX_CHUNKS)
		return set_cause(cause, "manifest: too many chunks (%llu)",
		    (unsigned long long)m->nchunks);
	if (m->nchunks == 0) {
		if (m->size != 0)
			return set_cause(cause, "manifest: %llu bytes in no chunk",
			    (unsigned long long)m->size);
		return 0;
	}
	if (m->chunks == NULL || m->chunk_size == 0)
		return set_cause(cause, "manifest: no chunk list or chunk size");
	full = m->nchunks * m->chunk_size; /* <= 2^24 * 2^32: no overflow */
	if (m->size > full || m->size <= full - m->chunk_size)
		return set_cause(cause, "manifest: %llu bytes do not fit %llu chunks of %u",
		    (unsigned long long)m->size, (unsigned long long)m->nchunks, m->chunk_size);
	return 0;
}

static uint64_t
chunk_len(const struct manifest *m, uint64_t i)
{
	if (i + 1 < m->nchunks)
		return m->chunk_size;
	return m->size - (m->nchunks - 1) * (uint64_t)m->chunk_size;
}

/* (version, origin) of a against b: <0, 0, >0. Ties on version go by origin (memcmp),
 * as SQLite orders the blobs. */
static int
ver_cmp(uint64_t va, const uint8_t *oa, uint64_t vb, const uint8_t *ob)
{
	if (va != vb)
		return va < vb ? -1 : 1;
	return memcmp(oa, ob, NODE_ID_LEN);
}

/* What recording (version, origin) of key meets, in one read of the key's rows (usually
 * none or one): *cur its current version (cur->found 0: none); whether that exact
 * version is there (returns 1, with *id, *deleted and mh, its manifest hash, zeros if
 * NULL); *older whether some version of the key is older. 0 not there, -1 error.
 * (Four statements did this: the current version before and after, a lookup of the
 * exact row, and a delete of older versions run whether or not there were any.) */
static int
file_versions(struct db *db, const char *key, uint64_t version, const uint8_t *origin,
    struct dg_entry *cur, int64_t *id, int *deleted, uint8_t mh[HASH_LEN], int *older,
    char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_FILE_VERSIONS);
	uint8_t o[NODE_ID_LEN];
	uint64_t v;
	int rc, c, ret = -1;

	memset(cur, 0, sizeof *cur);
	*older = 0;
	if (sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC) != SQLITE_OK) {
		db_fail(db, cause, "file versions");
		goto out;
	}
	ret = 0;
	while ((rc = db_step(db, s, "file versions", cause)) == SQLITE_ROW) {
		v = (uint64_t)sqlite3_column_int64(s, 1);
		if (db_col_blob(db, s, 2, o, sizeof o, cause) == -1) {
			ret = -1;
			goto out;
		}
		if (!cur->found) {
			cur->found = 1;
			cur->version = v;
			memcpy(cur->origin, o, sizeof o);
			cur->deleted = sqlite3_column_int(s, 3) != 0;
		}
		if ((c = ver_cmp(v, o, version, origin)) < 0) {
			*older = 1; /* newest first: the rest are older still */
			break;
		}
		if (c == 0) {
			*id = sqlite3_column_int64(s, 0);
			*deleted = sqlite3_column_int(s, 3) != 0;
			if (db_col_blob(db, s, 4, mh, HASH_LEN, cause) == -1) {
				ret = -1;
				goto out;
			}
			ret = 1;
		}
	}
	if (rc == -1)
		ret = -1;
out:
	db_reset(s);
	return ret;
}

/* The current entry once (version, origin, deleted) is recorded and the older versions
 * are gone: the newer of the two. */
static void
entry_after(struct dg_entry *after, const struct dg_entry *cur, uint64_t version,
    const uint8_t *origin, int deleted)
{
	if (cur->found && ver_cmp(cur->version, cur->origin, version, origin) > 0) {
		*after = *cur;
		return;
	}
	after->found = 1;
	after->version = version;
	memcpy(after->origin, origin, sizeof after->origin);
	after->deleted = deleted;
}

static int
file_insert(struct db *db, const struct db_file *f, int64_t *id, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_FILE_INSERT);
	int ret = -1, rc;

	if (f->deleted)
		rc = sqlite3_bind_null(s, 8) != SQLITE_OK ||
		    sqlite3_bind_null(s, 9) != SQLITE_OK;
	else
		rc = sqlite3_bind_blob(s, 8, f->file_hash, HASH_LEN, SQLITE_STATIC) !=
		    SQLITE_OK ||
		    sqlite3_bind_blob(s, 9, f->manifest_hash, HASH_LEN, SQLITE_STATIC) !=
		    SQLITE_OK;
	if (rc ||
	    sqlite3_bind_text(s, 1, f->key, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, (sqlite3_int64)f->version) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 3, f->origin, NODE_ID_LEN, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(s, 4, f->deleted ? 1 : 0) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 5, (sqlite3_int64)f->size) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 6, f->chunk_size) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 7, (sqlite3_int64)f->nchunks) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 10, f->created_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 11, (sqlite3_int64)f->prev_version) != SQLITE_OK ||
	    (f->prev_version == 0 ? sqlite3_bind_null(s, 12) :
	    sqlite3_bind_blob(s, 12, f->prev_origin, NODE_ID_LEN, SQLITE_STATIC)) != SQLITE_OK) {
		db_fail(db, cause, "file insert");
		goto out;
	}
	if (db_step(db, s, "file insert", cause) == -1)
		goto out;
	*id = sqlite3_last_insert_rowid(db->sq);
	ret = 0;
out:
	db_reset(s);
	return ret;
}

/* Remove the versions of key older than (version, origin); their chunk lists go with
 * them (ON DELETE CASCADE). */
static int
file_drop_older(struct db *db, const char *key, uint64_t version, const uint8_t *origin,
    char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_FILE_DROP_OLDER);
	int ret = -1;

	if (sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, (sqlite3_int64)version) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 3, origin, NODE_ID_LEN, SQLITE_STATIC) != SQLITE_OK) {
		db_fail(db, cause, "drop older versions");
		goto out;
	}
	if (db_step(db, s, "drop older versions", cause) == -1)
		goto out;
	ret = 0;
out:
	db_reset(s);
	return ret;
}

/* Insert the chunk rows (held locally now) and the file's ordered chunk list. */
static int
file_chunks_insert(struct db *db, int64_t id, const struct manifest *m, int local,
    char **cause)
{
	sqlite3_stmt *cs = db_stmt(db, local ? ST_CHUNK_UPSERT : ST_CHUNK_KNOW);
	sqlite3_stmt *fs = db_stmt(db, ST_FILE_CHUNK_INSERT);

	for (uint64_t i = 0; i < m->nchunks; i++) {
		if (sqlite3_bind_blob(cs, 1, m->chunks[i], HASH_LEN, SQLITE_STATIC) !=
		    SQLITE_OK ||
		    sqlite3_bind_int64(cs, 2, (sqlite3_int64)chunk_len(m, i)) != SQLITE_OK) {
			db_fail(db, cause, "chunk insert");
			goto fail;
		}
		if (db_step(db, cs, "chunk insert", cause) == -1)
			goto fail;
		db_reset(cs);
		if (sqlite3_bind_int64(fs, 1, id) != SQLITE_OK ||
		    sqlite3_bind_int64(fs, 2, (sqlite3_int64)i) != SQLITE_OK ||
		    sqlite3_bind_blob(fs, 3, m->chunks[i], HASH_LEN, SQLITE_STATIC) !=
		    SQLITE_OK) {
			db_fail(db, cause, "file chunk insert");
			goto fail;
		}
		if (db_step(db, fs, "file chunk insert", cause) == -1)
			goto fail;
		db_reset(fs);
	}
	return 0;
fail:
	db_reset(cs);
	db_reset(fs);
	return -1;
}

/*
 * The manifest is the truth about the version's content: the row's size, chunk_size,
 * nchunks and file_hash are taken from m and copied into f. A tombstone (f->deleted)
 * may be recorded this way too (m NULL or without chunks), which is how a replicated
 * delete is kept even when this node never had the key. Recording a version that is
 * already there is a no-op (f->id gets the existing row); the same (key, version,
 * origin) with different content is refused. Atomic on its own or inside the caller's
 * transaction.
 */
static int file_put(struct db *db, struct db_file *f, const struct manifest *m, int local,
    char **cause);

int
db_file_put(struct db *db, struct db_file *f, const struct manifest *m, char **cause)
{
	return file_put(db, f, m, 1, cause);
}

int
db_file_put_remote(struct db *db, struct db_file *f, const struct manifest *m,
    char **cause)
{
	return file_put(db, f, m, 0, cause);
}

static int
file_put(struct db *db, struct db_file *f, const struct manifest *m, int local,
    char **cause)
{
	struct dg_entry before, after;
	uint8_t mh[HASH_LEN];
	int64_t id;
	int own, deleted, found, older, ok = 0;

	if (f->key == NULL)
		return set_cause(cause, "file put: no key");
	if (f->version > INT64_MAX)
		return set_cause(cause, "file put: version %llx out of range",
		    (unsigned long long)f->version);
	if (f->deleted) {
		if (m != NULL && m->nchunks != 0)
			return set_cause(cause, "file put: a tombstone has no chunks");
		f->deleted = 1;
		f->size = f->nchunks = f->chunk_size = 0;
		memset(f->file_hash, 0, sizeof f->file_hash);
		memset(f->manifest_hash, 0, sizeof f->manifest_hash);
	} else {
		if (m == NULL)
			return set_cause(cause, "file put: no manifest");
		if (manifest_check(m, cause) == -1)
			return -1;
		f->size = m->size;
		f->chunk_size = m->chunk_size;
		f->nchunks = m->nchunks;
		memcpy(f->file_hash, m->file_hash, sizeof f->file_hash);
	}

	if (db_op_begin(db, &own, cause) == -1)
		return -1;
	found = file_versions(db, f->key, f->version, f->origin, &before, &id, &deleted, mh,
	    &older, cause);
	if (found == -1)
		goto out;
	if (found) {
		if (deleted != f->deleted || (!deleted &&
		    memcmp(mh, f->manifest_hash, sizeof mh) != 0)) {
			set_cause(cause, "file put: version %016llx of that key from that "
			    "origin is already recorded with other content",
			    (unsigned long long)f->version);
			goto out;
		}
		f->id = id;
		ok = 1;
		goto out;
	}
	if (file_insert(db, f, &id, cause) == -1)
		goto out;
	if (!f->deleted && file_chunks_insert(db, id, m, local, cause) == -1)
		goto out;
	if (older && file_drop_older(db, f->key, f->version, f->origin, cause) == -1)
		goto out;
	if (db->dg != NULL) {
		entry_after(&after, &before, f->version, f->origin, f->deleted);
		db_dg_note(db, f->key, &before, &after);
	}
	f->id = id;
	ok = 1;
out:
	if (db_op_end(db, own, ok, cause) == -1)
		return -1;
	return ok ? 0 : -1;
}

/*
 * When the tombstone is older than the current live version (a late replicated
 * delete), it is recorded and drops what is older than itself, and the live version
 * stays current.
 */
int
db_file_delete(struct db *db, const char *key, uint64_t version,
    const uint8_t origin[NODE_ID_LEN], int64_t now_ms, char **cause)
{
	struct db_file t;
	struct dg_entry before, after;
	uint8_t mh[HASH_LEN];
	int64_t id;
	int own, deleted, found, older, ok = 0, ret = -1;

	if (version > INT64_MAX)
		return set_cause(cause, "file delete: version %llx out of range",
		    (unsigned long long)version);
	if (db_op_begin(db, &own, cause) == -1)
		return -1;
	found = file_versions(db, key, version, origin, &before, &id, &deleted, mh, &older,
	    cause);
	if (found == -1)
		goto out;
	if (!before.found || before.deleted) {
		ret = 1; /* nothing live to delete */
		ok = 1;
		goto out;
	}
	if (found) {
		if (!deleted) {
			set_cause(cause, "file delete: version %016llx of that key from that "
			    "origin is a live version", (unsigned long long)version);
			goto out;
		}
		ret = 0; /* this tombstone is already recorded */
		ok = 1;
		goto out;
	}

	memset(&t, 0, sizeof t);
	t.key = (char *)key;
	t.version = version;
	memcpy(t.origin, origin, NODE_ID_LEN);
	t.deleted = 1;
	t.created_ms = now_ms;
	if (file_insert(db, &t, &id, cause) == -1 ||
	    (older && file_drop_older(db, key, version, origin, cause) == -1))
		goto out;
	if (db->dg != NULL) {
		entry_after(&after, &before, version, origin, 1);
		db_dg_note(db, key, &before, &after);
	}
	ret = 0;
	ok = 1;
out:
	if (db_op_end(db, own, ok, cause) == -1)
		return -1;
	return ok ? ret : -1;
}

int
db_file_chunks_range(struct db *db, int64_t file_id, uint64_t start, uint32_t max,
    uint8_t (*out)[32], uint32_t *n, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_FILE_CHUNKS_RANGE);
	int rc, ret = -1;

	*n = 0;
	if (sqlite3_bind_int64(s, 1, file_id) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, (sqlite3_int64)start) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, max) != SQLITE_OK) {
		db_fail(db, cause, "file chunks range");
		goto out;
	}
	while ((rc = db_step(db, s, "file chunks range", cause)) == SQLITE_ROW) {
		if ((uint64_t)sqlite3_column_int64(s, 0) != start + *n || *n >= max) {
			set_cause(cause, "%s: damaged chunk list of file %lld at index %llu",
			    db->path, (long long)file_id, (unsigned long long)(start + *n));
			goto out;
		}
		if (db_col_blob(db, s, 1, out[*n], 32, cause) == -1)
			goto out;
		(*n)++;
	}
	if (rc == -1)
		goto out;
	ret = 0;
out:
	db_reset(s);
	return ret;
}

int
db_files_entries(struct db *db, int (*cb)(void *arg, const char *key, uint64_t version,
    const uint8_t origin[32], int deleted), void *arg, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_FILES_ENTRIES);
	uint8_t origin[32];
	const char *key;
	int rc, ret = -1;

	while ((rc = db_step(db, s, "files entries", cause)) == SQLITE_ROW) {
		if ((key = (const char *)sqlite3_column_text(s, 0)) == NULL) {
			db_fail(db, cause, "file key");
			goto out;
		}
		if (db_col_blob(db, s, 2, origin, sizeof origin, cause) == -1)
			goto out;
		if (cb(arg, key, (uint64_t)sqlite3_column_int64(s, 1), origin,
		    sqlite3_column_int(s, 3) != 0) != 0)
			break;
	}
	if (rc == -1)
		goto out;
	ret = 0;
out:
	db_reset(s);
	return ret;
}

/* Step a bound statement of FILE_COLS rows (+ the copies column for
 * ST_FILES_LIST_COPIES) into cb; resets it. */
static int
files_rows(struct db *db, int st, sqlite3_stmt *s, const char *what,
    int (*cb)(void *arg, const struct db_file *f), void *arg, char **cause)
{
	struct db_file f;
	int rc, ret = -1;

	while ((rc = db_step(db, s, what, cause)) == SQLITE_ROW) {
		if (file_from_row(db, s, &f, cause) == -1)
			goto out;
		if (st == ST_FILES_LIST_COPIES) {
			f.has_copies = 1;
			f.min_copies = (uint64_t)sqlite3_column_int64(s, 14); /* NULL: 0 */
		}
		if (cb(arg, &f) != 0)
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
db_files_incomplete(struct db *db, int (*cb)(void *arg, const struct db_file *f),
    void *arg, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_CHUNKS_NOT_HELD);
	int rc;

	/* The listing reads every chunk list; most of the time no chunk is missing, and
	 * the chunks_not_held index says so at once. */
	rc = db_step(db, s, "chunks not held", cause);
	db_reset(s);
	if (rc != SQLITE_ROW)
		return rc == -1 ? -1 : 0;
	return files_rows(db, ST_FILES_INCOMPLETE, db_stmt(db, ST_FILES_INCOMPLETE),
	    "incomplete files", cb, arg, cause);
}

static int
files_list(struct db *db, int st, int include_deleted,
    int (*cb)(void *arg, const struct db_file *f), void *arg, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, st);

	if (sqlite3_bind_int(s, 1, include_deleted ? 1 : 0) != SQLITE_OK) {
		db_reset(s);
		return db_fail(db, cause, "files list");
	}
	return files_rows(db, st, s, "files list", cb, arg, cause);
}

int
db_files_list(struct db *db, int include_deleted,
    int (*cb)(void *arg, const struct db_file *f), void *arg, char **cause)
{
	return files_list(db, ST_FILES_LIST, include_deleted, cb, arg, cause);
}

int
db_files_list_copies(struct db *db, int include_deleted,
    int (*cb)(void *arg, const struct db_file *f), void *arg, char **cause)
{
	return files_list(db, ST_FILES_LIST_COPIES, include_deleted, cb, arg, cause);
}

/* ---- the incremental anti-entropy digest -------------------------------------------- */

/*
 * Besides the buckets over every current row, a ring of DG_RING one-second slots (by
 * the entry's version, i.e. its writer's clock) holds the XOR of the entries of each
 * slot near the present, so that the digest of the rows older than a recent cutoff
 * (db_digest_read_before) costs O(slots), not a query. The ring's newest slot is
 * DG_AHEAD slots ahead of this node's clock; a slot leaving the ring at the old end is
 * cleared (its entries count as old from then on). An entry dated further ahead than
 * the ring counts as old at once; should it be replaced once its slot is in the ring,
 * that slot is wrong until it leaves the ring (versions that far ahead come only from
 * a fast clock): the digest of all rows is always exact.
 */
#define DG_SLOT_MS 1000
#define DG_RING 32
#define DG_AHEAD 8

struct db_digest {
	pthread_mutex_t mtx;
	db_digest_hash_fn *hash;
	uint64_t bucket[256];
	int64_t count;
	uint64_t young[DG_RING][256];
	int64_t young_n[DG_RING];
	int64_t top;            /* newest slot of the ring */
	int valid;
};

struct db_digest *
db_digest_new(db_digest_hash_fn *hash)
{
	struct db_digest *dg = xcalloc(1, sizeof *dg);

	pthread_mutex_init(&dg->mtx, NULL);
	dg->hash = hash;
	dg->top = INT64_MIN;
	return dg;
}

void
db_digest_free(struct db_digest *dg)
{
	if (dg == NULL)
		return;
	pthread_mutex_destroy(&dg->mtx);
	free(dg);
}

void
db_digest_attach(struct db *db, struct db_digest *dg)
{
	db->dg = dg;
	db->dg_nnotes = 0;
}

static int64_t
dg_slot_ms(int64_t ms)
{
	return ms >= 0 ? ms / DG_SLOT_MS : -1 - (-1 - ms) / DG_SLOT_MS;
}

static int64_t
dg_slot(uint64_t version)
{
	return (int64_t)((version >> 16) / DG_SLOT_MS);
}

/* Move the ring to the clock (mutex held). */
static void
dg_advance(struct db_digest *dg, int64_t now_ms)
{
	int64_t want = dg_slot_ms(now_ms) + DG_AHEAD;

	if (dg->top == INT64_MIN || want - dg->top >= DG_RING) {
		memset(dg->young, 0, sizeof dg->young);
		memset(dg->young_n, 0, sizeof dg->young_n);
		dg->top = want;
		return;
	}
	while (dg->top < want) { /* a clock going back keeps the ring where it is */
		size_t i = (size_t)((++dg->top) % DG_RING);

		memset(dg->young[i], 0, sizeof dg->young[i]);
		dg->young_n[i] = 0;
	}
}

/* One entry in (sign 1) or out (-1) of the digest (mutex held). */
static void
dg_apply(struct db_digest *dg, int64_t slot, unsigned b, uint64_t h, int sign)
{
	dg->bucket[b] ^= h;
	dg->count += sign;
	if (slot <= dg->top && slot > dg->top - DG_RING) {
		dg->young[slot % DG_RING][b] ^= h;
		dg->young_n[slot % DG_RING] += sign;
	}
}

void
db_digest_tx_end(struct db *db, int committed)
{
	struct db_digest *dg = db->dg;

	if (dg == NULL)
		return;
	if (committed && db->dg_nnotes > 0) {
		pthread_mutex_lock(&dg->mtx);
		dg_advance(dg, wall_ms());
		for (size_t i = 0; i < db->dg_nnotes; i++) {
			struct dg_note *t = &db->dg_notes[i];

			dg_apply(dg, t->slot, t->bucket, t->hash, t->sign);
		}
		pthread_mutex_unlock(&dg->mtx);
	}
	db->dg_nnotes = 0;
}

int
db_dg_current(struct db *db, const char *key, struct dg_entry *e, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_FILE_ENTRY);
	int rc, ret = -1;

	memset(e, 0, sizeof *e);
	if (sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC) != SQLITE_OK) {
		db_fail(db, cause, "file entry");
		goto out;
	}
	if ((rc = db_step(db, s, "file entry", cause)) == -1)
		goto out;
	if (rc == SQLITE_ROW) {
		e->found = 1;
		e->version = (uint64_t)sqlite3_column_int64(s, 0);
		if (db_col_blob(db, s, 1, e->origin, sizeof e->origin, cause) == -1)
			goto out;
		e->deleted = sqlite3_column_int(s, 2) != 0;
	}
	ret = 0;
out:
	db_reset(s);
	return ret;
}

int
db_file_entry(struct db *db, const char *key, uint64_t *version, uint8_t origin[32],
    int *deleted, char **cause)
{
	struct dg_entry e;

	if (db_dg_current(db, key, &e, cause) == -1)
		return -1;
	*version = e.version;
	memcpy(origin, e.origin, sizeof e.origin);
	*deleted = e.deleted;
	return e.found;
}

static void
dg_note_one(struct db *db, const char *key, const struct dg_entry *e, int sign)
{
	struct dg_note *t;
	unsigned b;

	if (db->dg_nnotes == db->dg_cap) {
		db->dg_cap = db->dg_cap ? 2 * db->dg_cap : 64;
		db->dg_notes = xreallocarray(db->dg_notes, db->dg_cap, sizeof *db->dg_notes);
	}
	t = &db->dg_notes[db->dg_nnotes++];
	t->hash = db->dg->hash(key, e->version, e->origin, e->deleted, &b);
	t->bucket = (uint8_t)b;
	t->slot = dg_slot(e->version);
	t->sign = (int8_t)sign;
}

void
db_dg_note(struct db *db, const char *key, const struct dg_entry *before,
    const struct dg_entry *after)
{
	if (before->found && after->found && before->version == after->version &&
	    before->deleted == after->deleted &&
	    memcmp(before->origin, after->origin, sizeof before->origin) == 0)
		return;
	if (before->found)
		dg_note_one(db, key, before, -1);
	if (after->found)
		dg_note_one(db, key, after, 1);
}

static int
dg_rebuild_cb(void *arg, const char *key, uint64_t version, const uint8_t origin[32],
    int deleted)
{
	struct db_digest *dg = arg;
	unsigned b;
	uint64_t h = dg->hash(key, version, origin, deleted, &b);

	dg_apply(dg, dg_slot(version), b, h, 1);
	return 0;
}

int
db_digest_rebuild(struct db_digest *dg, struct db *db, char **cause)
{
	int rc;

	pthread_mutex_lock(&dg->mtx);
	memset(dg->bucket, 0, sizeof dg->bucket);
	dg->count = 0;
	dg->top = INT64_MIN;
	dg_advance(dg, wall_ms());
	rc = db_files_entries(db, dg_rebuild_cb, dg, cause);
	dg->valid = rc == 0;
	pthread_mutex_unlock(&dg->mtx);
	return rc;
}

static uint32_t
dg_count32(int64_t n)
{
	return n < 0 ? 0 : n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

int
db_digest_read(struct db_digest *dg, uint64_t bucket[256], uint32_t *count)
{
	int ret = -1;

	pthread_mutex_lock(&dg->mtx);
	if (dg->valid) {
		memcpy(bucket, dg->bucket, sizeof dg->bucket);
		*count = dg_count32(dg->count);
		ret = 0;
	}
	pthread_mutex_unlock(&dg->mtx);
	return ret;
}

int
db_digest_read_before(struct db_digest *dg, int64_t now_ms, int64_t cutoff_ms,
    uint64_t bucket[256], uint32_t *count)
{
	int64_t c = dg_slot_ms(cutoff_ms), n;
	int ret = -1;

	pthread_mutex_lock(&dg->mtx);
	if (!dg->valid)
		goto out;
	dg_advance(dg, now_ms);
	if (c <= dg->top - DG_RING || c > dg->top)
		goto out; /* the ring does not reach back (or ahead) to the cutoff */
	memcpy(bucket, dg->bucket, sizeof dg->bucket);
	n = dg->count;
	for (int64_t sl = c; sl <= dg->top; sl++) {
		const uint64_t *y = dg->young[sl % DG_RING];

		for (size_t i = 0; i < 256; i++)
			bucket[i] ^= y[i];
		n -= dg->young_n[sl % DG_RING];
	}
	*count = dg_count32(n);
	ret = 0;
out:
	pthread_mutex_unlock(&dg->mtx);
	return ret;
}
