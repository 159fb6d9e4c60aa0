/* test_db.c: db/ (open and migrations, files and tombstones, chunks, peers, shares,
 * meta, and readers running beside a writer). */
#include "db/db.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/store.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CS 4 /* chunk size of the test manifests: chunks are only hashes here */

/* Each test works in its own directory under base, which main() removes at the end
 * (a failed test's child exits before its teardown). */
static char base[] = "/tmp/p2p-test-db.XXXXXX";
static char tmpdir[64];
static char dbpath[600];
static struct db *D;

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
setup(void)
{
	char *cause = NULL;

	snprintf(tmpdir, sizeof tmpdir, "%s/t.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(dbpath, sizeof dbpath, "%s/p2p.db", tmpdir);
	ck_assert_msg(db_open(&D, dbpath, 0, &cause) == 0, "db_open: %s", cause);
}

static void
teardown(void)
{
	db_close(D);
	D = NULL;
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- helpers ------------------------------------------------------------------------ */

static void
hash_of(uint8_t h[32], unsigned seed)
{
	memset(h, 0xa5, 32);
	h[0] = (uint8_t)(seed >> 24);
	h[1] = (uint8_t)(seed >> 16);
	h[2] = (uint8_t)(seed >> 8);
	h[3] = (uint8_t)seed;
}

/* A manifest of n full CS-byte chunks named by seeds. */
static void
mk_manifest(struct manifest *m, const unsigned *seeds, size_t n)
{
	uint8_t h[32];

	manifest_init(m, CS);
	for (size_t i = 0; i < n; i++) {
		hash_of(h, seeds[i]);
		manifest_add(m, h);
	}
	m->size = (uint64_t)n * CS;
	memset(m->file_hash, 0x11, sizeof m->file_hash);
	if (n > 0)
		m->file_hash[0] = (uint8_t)seeds[0];
}

static void
mk_file(struct db_file *f, const char *key, uint64_t version, uint8_t origin)
{
	memset(f, 0, sizeof *f);
	f->key = (char *)key;
	f->version = version;
	memset(f->origin, origin, sizeof f->origin);
	f->created_ms = 1700000000000;
	memset(f->manifest_hash, 0x22, sizeof f->manifest_hash);
	memcpy(f->manifest_hash, &version, sizeof version);
}

/* Record version (key, version, origin) made of the chunks seeds[0..n); returns its id. */
static int64_t
put_o(const char *key, uint64_t version, uint8_t origin, const unsigned *seeds, size_t n)
{
	struct db_file f;
	struct manifest m;
	char *cause = NULL;
	int rc;

	mk_file(&f, key, version, origin);
	mk_manifest(&m, seeds, n);
	manifest_hash(&m, f.manifest_hash); /* db_file_manifest checks it */
	rc = db_file_put(D, &f, &m, &cause);
	manifest_free(&m);
	ck_assert_msg(rc == 0, "db_file_put %s: %s", key, cause);
	ck_assert_int_gt(f.id, 0);
	return f.id;
}

static int64_t
put(const char *key, uint64_t version, const unsigned *seeds, size_t n)
{
	return put_o(key, version, 1, seeds, n);
}

static int
del(const char *key, uint64_t version)
{
	uint8_t origin[NODE_ID_LEN];
	char *cause = NULL;
	int rc;

	memset(origin, 1, sizeof origin);
	rc = db_file_delete(D, key, version, origin, 1700000000001, &cause);
	ck_assert_msg(rc != -1, "db_file_delete %s: %s", key, cause);
	return rc;
}

static int
get(struct db *db, const char *key, int include_deleted, struct db_file *f)
{
	char *cause = NULL;
	int rc = db_file_get(db, key, include_deleted, f, &cause);

	ck_assert_msg(rc != -1, "db_file_get %s: %s", key, cause);
	return rc;
}

struct list {
	size_t n, stop_after;
	char keys[16][64];
	uint64_t versions[16];
	uint8_t origins[16];
	int deleted[16];
	char last[64];
	int sorted;
};

static int
list_cb(void *arg, const struct db_file *f)
{
	struct list *l = arg;

	if (l->n > 0 && strcmp(l->last, f->key) >= 0)
		l->sorted = 0;
	snprintf(l->last, sizeof l->last, "%s", f->key);
	if (l->n < nitems(l->keys)) {
		snprintf(l->keys[l->n], sizeof l->keys[0], "%s", f->key);
		l->versions[l->n] = f->version;
		l->origins[l->n] = f->origin[0];
		l->deleted[l->n] = f->deleted;
	}
	l->n++;
	return l->stop_after != 0 && l->n == l->stop_after;
}

static size_t
list(struct db *db, int include_deleted, struct list *l)
{
	char *cause = NULL;

	memset(l, 0, sizeof *l);
	l->sorted = 1;
	ck_assert_msg(db_files_list(db, include_deleted, list_cb, l, &cause) == 0,
	    "db_files_list: %s", cause);
	ck_assert(l->sorted);
	return l->n;
}

static size_t
unreferenced(uint8_t (*out)[32], size_t limit)
{
	char *cause = NULL;
	size_t n;

	ck_assert_msg(db_chunks_unreferenced(D, out, limit, &n, &cause) == 0,
	    "db_chunks_unreferenced: %s", cause);
	return n;
}

struct chunks {
	size_t n;
	uint64_t bytes, refs;
};

static int
chunks_cb(void *arg, const uint8_t h[32], uint64_t size, uint64_t refs)
{
	struct chunks *c = arg;

	c->n++;
	c->bytes += size;
	c->refs += refs;
	return 0;
}

static struct chunks
chunks_each(void)
{
	struct chunks c = { 0 };
	char *cause = NULL;

	ck_assert_msg(db_chunks_each(D, chunks_cb, &c, &cause) == 0, "db_chunks_each: %s",
	    cause);
	return c;
}

static struct db_stats
stats(struct db *db)
{
	struct db_stats st;
	char *cause = NULL;

	ck_assert_msg(db_stats(db, &st, &cause) == 0, "db_stats: %s", cause);
	return st;
}

/* One-off query through a separate raw SQLite connection. */
static long long
raw_int(const char *sql)
{
	sqlite3 *sq;
	sqlite3_stmt *s;
	long long v;

	ck_assert_int_eq(sqlite3_open_v2(dbpath, &sq, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(sq, sql, -1, &s, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(sq);
	return v;
}

/* ---- open and migrations ------------------------------------------------------------ */

START_TEST(test_open_creates)
{
	struct stat sb;
	sqlite3 *sq;
	sqlite3_stmt *s;
	char wal[700];

	ck_assert_int_eq(stat(dbpath, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0600);
	ck_assert_int_ge(db_schema_version(D), 1);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), db_schema_version(D));

	/* A write makes the WAL file: private too. */
	ck_assert_int_eq(db_meta_set(D, "node_id", "abc", NULL), 0);
	snprintf(wal, sizeof wal, "%s-wal", dbpath);
	ck_assert_int_eq(stat(wal, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0600);

	ck_assert_int_eq(sqlite3_open_v2(dbpath, &sq, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(sq, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	sqlite3_close(sq);
}
END_TEST

START_TEST(test_reopen)
{
	struct db *d2;
	char *cause = NULL, *v = NULL;
	int version = db_schema_version(D);

	ck_assert_int_eq(db_meta_set(D, "k", "v1", NULL), 0);
	/* A second writer beside the first, then a reopen after closing both. */
	ck_assert_msg(db_open(&d2, dbpath, 0, &cause) == 0, "db_open: %s", cause);
	ck_assert_int_eq(db_schema_version(d2), version);
	db_close(d2);
	db_close(D);
	D = NULL;
	ck_assert_msg(db_open(&D, dbpath, 0, &cause) == 0, "reopen: %s", cause);
	ck_assert_int_eq(db_schema_version(D), version);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), version);
	ck_assert_int_eq(db_meta_get(D, "k", &v, NULL), 0);
	ck_assert_str_eq(v, "v1");
	free(v);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sqlite_master WHERE name = 'files'"), 1);
}
END_TEST

START_TEST(test_rdonly_missing)
{
	char path[700], side[720];
	struct db *r = NULL;
	struct stat sb;
	char *cause = NULL;

	snprintf(path, sizeof path, "%s/none.db", tmpdir);
	ck_assert_int_eq(db_open(&r, path, DB_RDONLY, &cause), -1);
	ck_assert_ptr_null(r);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, "no database") != NULL, "cause: %s", cause);
	free(cause);
	ck_assert_int_eq(stat(path, &sb), -1);
	ck_assert_int_eq(errno, ENOENT);
	snprintf(side, sizeof side, "%s-wal", path);
	ck_assert_int_eq(stat(side, &sb), -1);
	snprintf(side, sizeof side, "%s-shm", path);
	ck_assert_int_eq(stat(side, &sb), -1);

	/* No directory either. */
	snprintf(path, sizeof path, "%s/nodir/p2p.db", tmpdir);
	cause = NULL;
	ck_assert_int_eq(db_open(&r, path, DB_RDONLY, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
}
END_TEST

START_TEST(test_rdonly_old_schema)
{
	char path[700];
	struct db *r = NULL;
	sqlite3 *sq;
	char *cause = NULL;

	snprintf(path, sizeof path, "%s/old.db", tmpdir);
	ck_assert_int_eq(sqlite3_open(path, &sq), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(sq, "CREATE TABLE x (a)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(sq);
	ck_assert_int_eq(db_open(&r, path, DB_RDONLY, &cause), -1);
	ck_assert_msg(strstr(cause, "schema") != NULL, "cause: %s", cause);
	free(cause);

	/* A newer schema than this program knows is refused by writers too. */
	ck_assert_int_eq(sqlite3_open(path, &sq), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(sq, "PRAGMA user_version = 9999", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(sq);
	cause = NULL;
	ck_assert_int_eq(db_open(&r, path, 0, &cause), -1);
	ck_assert_msg(strstr(cause, "newer") != NULL, "cause: %s", cause);
	free(cause);
}
END_TEST

START_TEST(test_rdonly_is_read_only)
{
	struct db *r;
	struct list l;
	char *cause = NULL;
	static const unsigned c[] = { 1 };

	put("a", 1, c, 1);
	/* Last writer gone: the -wal and -shm files are removed; a reader still opens. */
	db_close(D);
	D = NULL;
	ck_assert_msg(db_open(&r, dbpath, DB_RDONLY, &cause) == 0, "rdonly: %s", cause);
	ck_assert_int_eq(list(r, 0, &l), 1);
	ck_assert_int_eq(db_meta_set(r, "k", "v", &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	db_close(r);
}
END_TEST

/* ---- files -------------------------------------------------------------------------- */

START_TEST(test_put_get)
{
	static const unsigned c[] = { 10, 11, 12 };
	struct db_file f;
	struct manifest m, want;
	struct db_stats st;
	struct chunks ch;
	uint8_t h[32];
	char *cause = NULL;
	int64_t id;

	id = put("dir/a.txt", 0x1234560001, c, 3);
	ck_assert_int_eq(get(D, "dir/a.txt", 0, &f), 0);
	ck_assert_int_eq(f.id, id);
	ck_assert_str_eq(f.key, "dir/a.txt");
	ck_assert_uint_eq(f.version, 0x1234560001);
	ck_assert_int_eq(f.origin[0], 1);
	ck_assert_int_eq(f.origin[31], 1);
	ck_assert_int_eq(f.deleted, 0);
	ck_assert_uint_eq(f.size, 3 * CS);
	ck_assert_uint_eq(f.chunk_size, CS);
	ck_assert_uint_eq(f.nchunks, 3);
	ck_assert_uint_eq(f.chunks_present, 3);
	ck_assert_int_eq(f.created_ms, 1700000000000);
	mk_manifest(&want, c, 3);
	ck_assert_mem_eq(f.file_hash, want.file_hash, 32);
	manifest_hash(&want, h);
	ck_assert_mem_eq(f.manifest_hash, h, 32);
	db_file_clear(&f);
	ck_assert_ptr_null(f.key);

	ck_assert_msg(db_file_manifest(D, id, &m, &cause) == 0, "manifest: %s", cause);
	ck_assert_uint_eq(m.size, want.size);
	ck_assert_uint_eq(m.chunk_size, CS);
	ck_assert_uint_eq(m.nchunks, 3);
	ck_assert_mem_eq(m.file_hash, want.file_hash, 32);
	ck_assert_mem_eq(m.chunks, want.chunks, 3 * 32);
	manifest_free(&m);
	manifest_free(&want);
	ck_assert_int_eq(db_file_manifest(D, id + 100, &m, NULL), 1);
	manifest_free(&m);

	for (unsigned i = 0; i < 3; i++) {
		hash_of(h, c[i]);
		ck_assert_int_eq(db_chunk_have(D, h, NULL), 1);
	}
	hash_of(h, 99);
	ck_assert_int_eq(db_chunk_have(D, h, NULL), 0);
	ch = chunks_each();
	ck_assert_uint_eq(ch.n, 3);
	ck_assert_uint_eq(ch.bytes, 3 * CS);
	ck_assert_uint_eq(ch.refs, 3);
	st = stats(D);
	ck_assert_uint_eq(st.files, 1);
	ck_assert_uint_eq(st.tombstones, 0);
	ck_assert_uint_eq(st.bytes, 3 * CS);
	ck_assert_uint_eq(st.chunks, 3);
	ck_assert_uint_eq(st.chunk_bytes, 3 * CS);

	/* A chunk known lost is not present, and a new version holding it brings it back. */
	hash_of(h, 11);
	ck_assert_int_eq(db_chunk_set_local(D, h, 0, NULL), 0);
	ck_assert_int_eq(db_chunk_have(D, h, NULL), 0);
	ck_assert_int_eq(get(D, "dir/a.txt", 0, &f), 0);
	ck_assert_uint_eq(f.chunks_present, 2);
	db_file_clear(&f);
	ck_assert_uint_eq(stats(D).chunks, 2);
	put("other", 5, c, 3);
	ck_assert_int_eq(db_chunk_have(D, h, NULL), 1);

	/* A zero-byte file has no chunk. */
	put("empty", 1, NULL, 0);
	ck_assert_int_eq(get(D, "empty", 0, &f), 0);
	ck_assert_uint_eq(f.size, 0);
	ck_assert_uint_eq(f.nchunks, 0);
	ck_assert_msg(db_file_manifest(D, f.id, &m, &cause) == 0, "manifest: %s", cause);
	ck_assert_uint_eq(m.nchunks, 0);
	manifest_free(&m);
	db_file_clear(&f);
	db_file_clear(NULL);
}
END_TEST

START_TEST(test_put_idempotent)
{
	static const unsigned c[] = { 1, 2 };
	struct db_file f;
	struct manifest m;
	struct list l;
	char *cause = NULL;
	int64_t id;

	id = put("k", 7, c, 2);
	ck_assert_int_eq(put("k", 7, c, 2), id);
	ck_assert_int_eq(list(D, 1, &l), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM files"), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM file_chunks"), 2);

	/* The same (key, version, origin) with other content is refused. */
	mk_file(&f, "k", 7, 1);
	f.manifest_hash[0] ^= 1;
	mk_manifest(&m, c, 2);
	ck_assert_int_eq(db_file_put(D, &f, &m, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	manifest_free(&m);
}
END_TEST

START_TEST(test_put_bad_rolls_back)
{
	static const unsigned c[] = { 1, 2 }, d[] = { 3 };
	struct db_file f;
	struct manifest m;
	struct list l;
	char *cause = NULL;

	/* Sizes that do not fit the chunk list. */
	mk_file(&f, "bad", 1, 1);
	mk_manifest(&m, c, 2);
	m.size = CS; /* 2 chunks cannot hold 4 bytes */
	ck_assert_int_eq(db_file_put(D, &f, &m, &cause), -1);
	free(cause);
	manifest_free(&m);
	ck_assert_int_eq(list(D, 1, &l), 0);

	/* A failing put inside a transaction leaves the transaction's other work. */
	ck_assert_int_eq(db_begin(D, NULL), 0);
	put("good", 1, d, 1);
	mk_file(&f, "good", 1, 1);
	f.manifest_hash[0] ^= 1;
	mk_manifest(&m, c, 2);
	cause = NULL;
	ck_assert_int_eq(db_file_put(D, &f, &m, &cause), -1);
	free(cause);
	manifest_free(&m);
	ck_assert_int_eq(db_commit(D, NULL), 0);
	ck_assert_int_eq(list(D, 1, &l), 1);
	ck_assert_str_eq(l.keys[0], "good");
	ck_assert_int_eq(raw_int("SELECT count(*) FROM chunks"), 1);

	/* Rolled back: nothing of it stays. */
	ck_assert_int_eq(db_begin(D, NULL), 0);
	put("gone", 1, c, 2);
	db_rollback(D);
	ck_assert_int_eq(list(D, 1, &l), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM chunks"), 1);
	db_rollback(D); /* no transaction: harmless */
}
END_TEST

START_TEST(test_newer_replaces)
{
	static const unsigned v1[] = { 1, 2 }, v2[] = { 2, 3 };
	uint8_t out[8][32], h[32];
	struct db_file f;
	struct manifest m;
	struct list l;
	int64_t old;

	old = put("k", 100, v1, 2);
	ck_assert_uint_eq(unreferenced(out, 8), 0);
	put("k", 200, v2, 2);
	ck_assert_int_eq(get(D, "k", 0, &f), 0);
	ck_assert_uint_eq(f.version, 200);
	db_file_clear(&f);
	ck_assert_int_eq(list(D, 1, &l), 1);
	ck_assert_int_eq(db_file_manifest(D, old, &m, NULL), 1); /* the row is gone */
	manifest_free(&m);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM file_chunks"), 2);

	ck_assert_uint_eq(unreferenced(out, 8), 1);
	hash_of(h, 1);
	ck_assert_mem_eq(out[0], h, 32);
	ck_assert_uint_eq(unreferenced(out, 0), 0);
	ck_assert_uint_eq(stats(D).chunks, 3);
}
END_TEST

START_TEST(test_shared_content)
{
	static const unsigned c[] = { 5, 6 };
	uint8_t out[8][32];
	struct chunks ch;

	put("a", 1, c, 2);
	put("b", 2, c, 2);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM chunks"), 2);
	ch = chunks_each();
	ck_assert_uint_eq(ch.n, 2);
	ck_assert_uint_eq(ch.refs, 4); /* each chunk in two files */
	ck_assert_uint_eq(stats(D).bytes, 4 * CS);
	ck_assert_uint_eq(stats(D).chunk_bytes, 2 * CS);

	ck_assert_int_eq(del("a", 10), 0);
	ck_assert_uint_eq(unreferenced(out, 8), 0);
	ck_assert_uint_eq(chunks_each().refs, 2);
	ck_assert_int_eq(del("b", 11), 0);
	ck_assert_uint_eq(unreferenced(out, 8), 2);
	ck_assert_uint_eq(unreferenced(out, 1), 1);
	ck_assert_uint_eq(chunks_each().refs, 0);
}
END_TEST

START_TEST(test_delete_tombstone)
{
	static const unsigned c[] = { 1 };
	struct db_file f;
	struct db_stats st;
	struct list l;

	put("k", 1, c, 1);
	put("other", 1, c, 1);
	ck_assert_int_eq(del("k", 2), 0);
	ck_assert_int_eq(get(D, "k", 0, &f), 1);
	ck_assert_ptr_null(f.key);
	ck_assert_int_eq(get(D, "k", 1, &f), 1);
	ck_assert_int_eq(f.deleted, 1);
	ck_assert_uint_eq(f.version, 2);
	ck_assert_uint_eq(f.size, 0);
	ck_assert_uint_eq(f.nchunks, 0);
	ck_assert_str_eq(f.key, "k");
	db_file_clear(&f);

	ck_assert_int_eq(list(D, 0, &l), 1);
	ck_assert_str_eq(l.keys[0], "other");
	ck_assert_int_eq(list(D, 1, &l), 2);
	ck_assert_str_eq(l.keys[0], "k");
	ck_assert_int_eq(l.deleted[0], 1);
	ck_assert_int_eq(l.deleted[1], 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM files WHERE key = 'k'"), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM files WHERE file_hash IS NULL"), 1);

	st = stats(D);
	ck_assert_uint_eq(st.files, 1);
	ck_assert_uint_eq(st.tombstones, 1);
	ck_assert_uint_eq(st.bytes, CS);

	/* Deleting again: nothing live. A new version revives the key. */
	ck_assert_int_eq(del("k", 3), 1);
	ck_assert_int_eq(raw_int("SELECT max(version) FROM files WHERE key = 'k'"), 2);
	put("k", 4, c, 1);
	ck_assert_int_eq(get(D, "k", 0, &f), 0);
	db_file_clear(&f);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM files WHERE key = 'k'"), 1);
}
END_TEST

struct entries {
	size_t n;
	char keys[8][16];
	uint64_t versions[8];
	int deleted[8];
};

static int
entries_cb(void *arg, const char *key, uint64_t version, const uint8_t origin[32],
    int deleted)
{
	struct entries *e = arg;

	(void)origin;
	ck_assert_uint_lt(e->n, nitems(e->keys));
	snprintf(e->keys[e->n], sizeof e->keys[0], "%s", key);
	e->versions[e->n] = version;
	e->deleted[e->n++] = deleted;
	return 0;
}

/* db_files_entries (the digest's input) gives exactly the rows db_files_list gives with
 * tombstones: current versions only, deleted ones flagged. */
START_TEST(test_entries_match_list)
{
	static const unsigned c[] = { 1 };
	struct entries e;
	struct list l;
	char *cause = NULL;

	put("a", 1, c, 1);
	put("a", 3, c, 1);
	put("b", 2, c, 1);
	ck_assert_int_eq(del("b", 5), 0);
	put("c", 1, c, 1);
	memset(&e, 0, sizeof e);
	ck_assert_msg(db_files_entries(D, entries_cb, &e, &cause) == 0, "%s", cause);
	ck_assert_uint_eq(list(D, 1, &l), 3);
	ck_assert_uint_eq(e.n, 3);
	for (size_t i = 0; i < l.n; i++) {
		size_t j;

		for (j = 0; j < e.n && strcmp(e.keys[j], l.keys[i]) != 0; j++)
			;
		ck_assert_msg(j < e.n, "%s not among the entries", l.keys[i]);
		ck_assert_uint_eq(e.versions[j], l.versions[i]);
		ck_assert_int_eq(e.deleted[j], l.deleted[i]);
	}
}
END_TEST

START_TEST(test_delete_unknown)
{
	struct list l;
	struct db_file f;

	ck_assert_int_eq(del("nope", 5), 1);
	ck_assert_int_eq(list(D, 1, &l), 0);
	ck_assert_int_eq(get(D, "nope", 1, &f), 1);
	ck_assert_ptr_null(f.key);
}
END_TEST

START_TEST(test_older_after_newer)
{
	static const unsigned a[] = { 1 }, b[] = { 2 }, c[] = { 3 };
	struct db_file f;
	struct manifest m;
	struct list l;
	int64_t older, newer;
	uint8_t out[4][32];

	newer = put("k", 500, a, 1);
	older = put("k", 300, b, 1); /* arrives late: recorded, not current */
	ck_assert_int_ne(older, newer);
	ck_assert_int_eq(get(D, "k", 0, &f), 0);
	ck_assert_uint_eq(f.version, 500);
	db_file_clear(&f);
	ck_assert_int_eq(list(D, 1, &l), 1);
	ck_assert_uint_eq(l.versions[0], 500);
	ck_assert_uint_eq(stats(D).files, 1);

	put("k", 700, c, 1);
	ck_assert_int_eq(db_file_manifest(D, older, &m, NULL), 1);
	manifest_free(&m);
	ck_assert_int_eq(db_file_manifest(D, newer, &m, NULL), 1);
	manifest_free(&m);
	ck_assert_uint_eq(unreferenced(out, 4), 2);

	/* A tombstone older than the live version does not delete it. */
	ck_assert_int_eq(del("k", 600), 0);
	ck_assert_int_eq(get(D, "k", 0, &f), 0);
	ck_assert_uint_eq(f.version, 700);
	db_file_clear(&f);

	/* Equal versions: the greater origin (as bytes) wins, whatever the order. */
	put_o("t", 10, 0x02, a, 1);
	put_o("t", 10, 0x01, b, 1);
	put_o("t", 10, 0x80, c, 1);
	put_o("t", 10, 0x7f, a, 1);
	ck_assert_int_eq(get(D, "t", 0, &f), 0);
	ck_assert_int_eq(f.origin[0], 0x80);
	db_file_clear(&f);
	ck_assert_int_eq(list(D, 0, &l), 2);
	ck_assert_str_eq(l.keys[1], "t");
	ck_assert_int_eq(l.origins[1], 0x80);
	ck_assert_uint_eq(l.versions[0], 700);
}
END_TEST

START_TEST(test_put_tombstone)
{
	static const unsigned c[] = { 1 };
	struct db_file f;
	char *cause = NULL;

	/* A replicated delete of a key never seen here is kept... */
	mk_file(&f, "k", 50, 9);
	f.deleted = 1;
	ck_assert_msg(db_file_put(D, &f, NULL, &cause) == 0, "put tombstone: %s", cause);
	ck_assert_int_eq(get(D, "k", 1, &f), 1);
	ck_assert_int_eq(f.deleted, 1);
	db_file_clear(&f);
	/* ...so that an older version arriving later stays deleted. */
	put("k", 40, c, 1);
	ck_assert_int_eq(get(D, "k", 0, &f), 1);
	ck_assert_uint_eq(stats(D).tombstones, 1);
	ck_assert_uint_eq(stats(D).files, 0);
}
END_TEST

START_TEST(test_list_order)
{
	static const unsigned c[] = { 1 };
	static const char *keys[] = { "b", "\xc3\xa4", "a", "c/d", "A", "a b", "../x" };
	static const char *want[] = { "../x", "A", "a", "a b", "b", "c/d", "\xc3\xa4" };
	struct list l;
	char *cause = NULL;

	for (size_t i = 0; i < nitems(keys); i++)
		put(keys[i], 1 + i, c, 1);
	ck_assert_int_eq(list(D, 0, &l), nitems(want));
	for (size_t i = 0; i < nitems(want); i++)
		ck_assert_str_eq(l.keys[i], want[i]);

	/* The callback stops the walk. */
	memset(&l, 0, sizeof l);
	l.stop_after = 2;
	l.sorted = 1;
	ck_assert_int_eq(db_files_list(D, 0, list_cb, &l, &cause), 0);
	ck_assert_uint_eq(l.n, 2);
	/* The statement was reset: a new walk starts from the top. */
	ck_assert_int_eq(list(D, 0, &l), nitems(want));
}
END_TEST

#define MANY 10000

START_TEST(test_list_many)
{
	struct list l;
	char key[32];
	unsigned c[1];

	ck_assert_int_eq(db_begin(D, NULL), 0);
	for (unsigned i = 0; i < MANY; i++) {
		snprintf(key, sizeof key, "file-%05u", i);
		c[0] = i;
		put(key, 1000 + i, c, 1);
		if (i % 100 == 0) /* a late older version */
			put(key, 10, c, 1);
		if (i % 100 == 1)
			ck_assert_int_eq(del(key, 5000 + i), 0);
	}
	ck_assert_int_eq(db_commit(D, NULL), 0);
	ck_assert_uint_eq(list(D, 0, &l), MANY - MANY / 100);
	ck_assert_str_eq(l.keys[0], "file-00000");
	ck_assert_uint_eq(l.versions[0], 1000);
	ck_assert_uint_eq(list(D, 1, &l), MANY);
	ck_assert_uint_eq(stats(D).files, MANY - MANY / 100);
	ck_assert_uint_eq(stats(D).tombstones, MANY / 100);
}
END_TEST

/* ---- readers beside a writer ---------------------------------------------------------- */

START_TEST(test_reader_while_writing)
{
	static const unsigned c[] = { 1 }, d[] = { 2 };
	struct db *r;
	struct db_file f;
	struct list l;
	char *cause = NULL;

	put("committed", 1, c, 1);
	/* The writer holds the write lock with an uncommitted version. */
	ck_assert_int_eq(db_begin(D, NULL), 0);
	put("pending", 2, d, 1);
	ck_assert_int_eq(del("committed", 3), 0);

	ck_assert_msg(db_open(&r, dbpath, DB_RDONLY, &cause) == 0, "rdonly open: %s", cause);
	ck_assert_int_eq(list(r, 0, &l), 1);
	ck_assert_str_eq(l.keys[0], "committed");
	ck_assert_int_eq(get(r, "committed", 0, &f), 0);
	db_file_clear(&f);
	ck_assert_int_eq(get(r, "pending", 0, &f), 1);
	ck_assert_uint_eq(stats(r).files, 1);

	ck_assert_int_eq(db_commit(D, NULL), 0);
	ck_assert_int_eq(list(r, 0, &l), 1);
	ck_assert_str_eq(l.keys[0], "pending");
	db_close(r);
}
END_TEST

/* The same with the writer in another process (the daemon) and the reader here (the
 * CLI). The child writes and holds its transaction until told to commit. */
START_TEST(test_reader_other_process)
{
	static const unsigned c[] = { 1 };
	int up[2], down[2];
	struct db *r;
	struct list l;
	char *cause = NULL, ch;
	pid_t pid;
	int status;

	put("committed", 1, c, 1);
	db_close(D);
	D = NULL;
	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(down), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct db *w;
		struct db_file f;
		struct manifest m;

		close(up[0]);
		close(down[1]);
		if (db_open(&w, dbpath, 0, NULL) == -1 || db_begin(w, NULL) == -1)
			_exit(1);
		for (unsigned i = 0; i < 1000; i++) {
			char key[32];
			unsigned seed = 100 + i;
			snprintf(key, sizeof key, "pending-%u", i);
			mk_file(&f, key, 2, 1);
			mk_manifest(&m, &seed, 1);
			if (db_file_put(w, &f, &m, NULL) == -1)
				_exit(1);
			manifest_free(&m);
		}
		if (write(up[1], "w", 1) != 1 || read(down[0], &ch, 1) != 1)
			_exit(1);
		if (db_commit(w, NULL) == -1)
			_exit(1);
		db_close(w);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	ck_assert_int_eq(read(up[0], &ch, 1), 1);

	ck_assert_msg(db_open(&r, dbpath, DB_RDONLY, &cause) == 0, "rdonly open: %s", cause);
	ck_assert_int_eq(list(r, 0, &l), 1);
	ck_assert_uint_eq(stats(r).files, 1);
	/* Another writer's open (the CLI's store) waits for nothing either. */
	ck_assert_msg(db_open(&D, dbpath, 0, &cause) == 0, "rdwr open: %s", cause);
	ck_assert_int_eq(list(D, 0, &l), 1);

	ck_assert_int_eq(write(down[1], "c", 1), 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(list(r, 0, &l), 1001);
	db_close(r);
	close(up[0]);
	close(down[1]);
}
END_TEST

/* ---- chunks ------------------------------------------------------------------------- */

START_TEST(test_forget)
{
	static const unsigned c[] = { 7, 8 };
	uint8_t h[32], out[4][32];
	char *cause = NULL;

	put("k", 1, c, 2);
	hash_of(h, 7);
	ck_assert_int_eq(db_chunk_forget(D, h, &cause), 0);
	ck_assert_int_eq(db_chunk_have(D, h, NULL), 1);
	ck_assert_int_eq(del("k", 2), 0);
	ck_assert_uint_eq(unreferenced(out, 4), 2);
	ck_assert_int_eq(db_chunk_forget(D, h, &cause), 1);
	ck_assert_int_eq(db_chunk_have(D, h, NULL), 0);
	ck_assert_int_eq(db_chunk_forget(D, h, &cause), 0);
	ck_assert_uint_eq(unreferenced(out, 4), 1);
	/* Unknown hashes: nothing to do. */
	hash_of(h, 12345);
	ck_assert_int_eq(db_chunk_forget(D, h, &cause), 0);
	ck_assert_int_eq(db_chunk_set_local(D, h, 1, &cause), 0);
	ck_assert_int_eq(db_chunk_have(D, h, NULL), 0);
}
END_TEST

/* ---- inline chunks ------------------------------------------------------------------ */

/* One integer from sql, through a connection of its own (what another process sees). */
static long long
query_int(const char *sql)
{
	sqlite3 *q;
	sqlite3_stmt *st;
	long long v = -1;

	ck_assert_int_eq(sqlite3_open_v2(dbpath, &q, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(q, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(q);
	return v;
}

static void
inline_put(unsigned seed, uint8_t fill, size_t n, int replace)
{
	uint8_t h[32], buf[600];
	char *cause = NULL;

	ck_assert_uint_le(n, sizeof buf);
	hash_of(h, seed);
	memset(buf, fill, n);
	ck_assert_msg(db_chunk_put_inline(D, h, buf, n, replace, &cause) == 0,
	    "db_chunk_put_inline: %s", cause);
}

/* 0 and the chunk's first byte and length, or what db_chunk_read_inline returned. */
static int
inline_read(unsigned seed, size_t max, uint8_t *first, size_t *n)
{
	uint8_t h[32], buf[600];
	char *cause = NULL;
	int rc;

	ck_assert_uint_le(max, sizeof buf);
	hash_of(h, seed);
	rc = db_chunk_read_inline(D, h, buf, max, n, &cause);
	if (rc == 0) {
		for (size_t i = 1; i < *n; i++)
			ck_assert_uint_eq(buf[i], buf[0]);
		*first = *n > 0 ? buf[0] : 0;
	}
	free(cause);
	return rc;
}

START_TEST(test_inline)
{
	static const unsigned c[] = { 21 };
	uint8_t h[32], first = 0, out[4][32];
	char *cause = NULL;
	size_t n = 0;

	/* stored with its bytes, and held */
	inline_put(21, 0x41, 500, 0);
	hash_of(h, 21);
	ck_assert_int_eq(db_chunk_have(D, h, NULL), 1);
	ck_assert_int_eq(inline_read(21, 600, &first, &n), 0);
	ck_assert_uint_eq(n, 500);
	ck_assert_uint_eq(first, 0x41);
	ck_assert_int_eq(query_int("SELECT size FROM chunks WHERE data_id IS NOT NULL"), 500);
	/* held already: the bytes stay; replace swaps them and drops the old row */
	inline_put(21, 0x42, 500, 0);
	ck_assert_int_eq(inline_read(21, 600, &first, &n), 0);
	ck_assert_uint_eq(first, 0x41);
	inline_put(21, 0x43, 300, 1);
	ck_assert_int_eq(inline_read(21, 600, &first, &n), 0);
	ck_assert_uint_eq(first, 0x43);
	ck_assert_uint_eq(n, 300);
	ck_assert_int_eq(query_int("SELECT count(*) FROM chunk_data"), 1);
	/* longer than the caller's buffer: damaged, not a short read */
	ck_assert_int_eq(inline_read(21, 299, &first, &n), 2);
	/* a chunk held as a file, and one not known, are not inline */
	hash_of(h, 22);
	ck_assert_int_eq(db_chunk_put(D, h, 4096, &cause), 0);
	ck_assert_int_eq(inline_read(22, 600, &first, &n), 1);
	ck_assert_int_eq(inline_read(23, 600, &first, &n), 1);
	/* known but no longer held: its bytes go with it */
	hash_of(h, 21);
	ck_assert_int_eq(db_chunk_set_local(D, h, 0, &cause), 0);
	ck_assert_int_eq(db_chunk_have(D, h, NULL), 0);
	ck_assert_int_eq(inline_read(21, 600, &first, &n), 1);
	ck_assert_int_eq(query_int("SELECT count(*) FROM chunk_data"), 0);
	/* held again (a fetched copy), referenced by a version, then collected */
	inline_put(21, 0x44, 200, 1);
	ck_assert_int_eq(inline_read(21, 600, &first, &n), 0);
	ck_assert_uint_eq(first, 0x44);
	put("k", 1, c, 1);
	ck_assert_int_eq(db_chunk_forget(D, h, &cause), 0); /* referenced: kept */
	ck_assert_int_eq(query_int("SELECT count(*) FROM chunk_data"), 1);
	ck_assert_int_eq(del("k", 2), 0);
	ck_assert_uint_eq(unreferenced(out, 4), 2);
	ck_assert_int_eq(db_chunk_forget(D, h, &cause), 1);
	ck_assert_int_eq(query_int("SELECT count(*) FROM chunk_data"), 0);
	ck_assert_int_eq(inline_read(21, 600, &first, &n), 1);
}
END_TEST

/* The writer notes the WAL's size instead of checkpointing; another connection copies
 * the pages into the database. */
START_TEST(test_wal_checkpoint)
{
	static const unsigned c[] = { 31, 32, 33 };
	struct db *E = NULL;
	char *cause = NULL, key[16];
	int log = -1, done = -1, before;

	db_wal_watch(D);
	ck_assert_int_eq(db_wal_pages(D), 0);
	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof key, "w%d", i);
		put(key, 1, c, 3);
	}
	before = db_wal_pages(D);
	ck_assert_int_gt(before, 0);
	ck_assert_msg(db_open(&E, dbpath, 0, &cause) == 0, "db_open: %s", cause);
	ck_assert_msg(db_checkpoint(E, &log, &done, &cause) == 0, "checkpoint: %s", cause);
	ck_assert_int_eq(log, before);
	ck_assert_int_eq(done, log);
	/* the checkpointer syncs the database file itself (node/files.c, ckpt_idle) */
	ck_assert_msg(db_sync(E, &cause) == 0, "db_sync: %s", cause);
	db_close(E);
	/* the next write starts the log over */
	put("w-next", 1, c, 3);
	ck_assert_int_lt(db_wal_pages(D), before);
}
END_TEST

/* ---- peers and shares ----------------------------------------------------------------- */

static void
mk_peer(struct db_peer *p, uint8_t id, int64_t first, int64_t last)
{
	memset(p, 0, sizeof *p);
	memset(p->id, id, sizeof p->id);
	snprintf(p->addr, sizeof p->addr, "192.0.2.%u:7000", id);
	snprintf(p->transport, sizeof p->transport, "tcp");
	snprintf(p->status, sizeof p->status, "disconnected");
	p->first_seen_ms = first;
	p->last_seen_ms = last;
	p->rtt_us = -1;
}

struct peers {
	size_t n;
	uint8_t first[4];
};

static int
peers_cb(void *arg, const struct db_peer *p)
{
	struct peers *ps = arg;

	if (ps->n < nitems(ps->first))
		ps->first[ps->n] = p->id[0];
	ps->n++;
	return 0;
}

START_TEST(test_peers)
{
	struct db_peer p, g;
	struct peers ps = { 0 };
	uint64_t n;
	char *cause = NULL;

	mk_peer(&p, 1, 100, 200);
	ck_assert_msg(db_peer_upsert(D, &p, &cause) == 0, "upsert: %s", cause);
	mk_peer(&p, 1, 500, 300);
	snprintf(p.status, sizeof p.status, "connected");
	snprintf(p.addr, sizeof p.addr, "bt:AA:BB:CC:DD:EE:FF/3");
	snprintf(p.transport, sizeof p.transport, "rfcomm");
	p.last_connect_ms = 290;
	p.failures = 2;
	p.rtt_us = 1500;
	ck_assert_int_eq(db_peer_upsert(D, &p, NULL), 0);
	ck_assert_int_eq(db_peer_get(D, p.id, &g, NULL), 0);
	ck_assert_int_eq(g.first_seen_ms, 100);
	ck_assert_int_eq(g.last_seen_ms, 300);
	ck_assert_int_eq(g.last_connect_ms, 290);
	ck_assert_int_eq(g.failures, 2);
	ck_assert_int_eq(g.rtt_us, 1500);
	ck_assert_str_eq(g.status, "connected");
	ck_assert_str_eq(g.transport, "rfcomm");
	ck_assert_str_eq(g.addr, "bt:AA:BB:CC:DD:EE:FF/3");

	/* A full fixed-size field without a NUL is stored bounded. */
	mk_peer(&p, 2, 100, 1000);
	memset(p.status, 'x', sizeof p.status);
	ck_assert_int_eq(db_peer_upsert(D, &p, NULL), 0);
	ck_assert_int_eq(db_peer_get(D, p.id, &g, NULL), 0);
	ck_assert_uint_eq(strlen(g.status), sizeof g.status - 1);

	ck_assert_int_eq(db_peers_list(D, peers_cb, &ps, NULL), 0);
	ck_assert_uint_eq(ps.n, 2);
	ck_assert_int_eq(ps.first[0], 2); /* most recently seen first */
	ck_assert_int_eq(ps.first[1], 1);
	ck_assert_uint_eq(stats(D).peers, 2);

	ck_assert_int_eq(db_peers_cleanup(D, 500, &n, NULL), 0);
	ck_assert_uint_eq(n, 1);
	memset(g.id, 1, sizeof g.id);
	ck_assert_int_eq(db_peer_get(D, g.id, &g, NULL), 1);
	ck_assert_int_eq(db_peers_cleanup(D, 500, &n, NULL), 0);
	ck_assert_uint_eq(n, 0);
	memset(&ps, 0, sizeof ps);
	ck_assert_int_eq(db_peers_list(D, peers_cb, &ps, NULL), 0);
	ck_assert_uint_eq(ps.n, 1);
}
END_TEST

struct shares {
	size_t n;
	uint8_t first[4];
};

static int
shares_cb(void *arg, const uint8_t peer[NODE_ID_LEN])
{
	struct shares *s = arg;

	if (s->n < nitems(s->first))
		s->first[s->n] = peer[0];
	s->n++;
	return 0;
}

static struct shares
shares_of(const uint8_t h[32])
{
	struct shares s = { 0 };
	char *cause = NULL;

	ck_assert_msg(db_shares_of_chunk(D, h, shares_cb, &s, &cause) == 0,
	    "shares_of_chunk: %s", cause);
	return s;
}

START_TEST(test_shares)
{
	struct db_peer a, b;
	uint8_t h[32], h2[32], unknown[NODE_ID_LEN];
	struct shares s;
	uint64_t n;
	char *cause = NULL;

	mk_peer(&a, 0xa0, 1, 100);
	mk_peer(&b, 0x0b, 1, 1000);
	ck_assert_int_eq(db_peer_upsert(D, &a, NULL), 0);
	ck_assert_int_eq(db_peer_upsert(D, &b, NULL), 0);
	hash_of(h, 1);
	hash_of(h2, 2);
	ck_assert_msg(db_share_set(D, a.id, h, 10, &cause) == 0, "share set: %s", cause);
	ck_assert_int_eq(db_share_set(D, b.id, h, 11, NULL), 0);
	ck_assert_int_eq(db_share_set(D, a.id, h, 12, NULL), 0); /* again: no-op */
	ck_assert_int_eq(db_share_set(D, a.id, h2, 12, NULL), 0);
	s = shares_of(h);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_int_eq(s.first[0], 0x0b);
	ck_assert_int_eq(s.first[1], 0xa0);
	ck_assert_int_eq(raw_int("SELECT since_ms FROM shares WHERE hash = x'00000001"
	    "a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5' AND peer = "
	    "x'a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0'"), 10);

	ck_assert_int_eq(db_share_drop(D, a.id, h, NULL), 0);
	ck_assert_int_eq(db_share_drop(D, a.id, h, NULL), 0);
	s = shares_of(h);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_int_eq(s.first[0], 0x0b);

	/* Forgetting a peer forgets its shares. */
	ck_assert_int_eq(db_peers_cleanup(D, 500, &n, NULL), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(shares_of(h2).n, 0);
	ck_assert_uint_eq(shares_of(h).n, 1);

	/* Shares are for known peers. */
	memset(unknown, 0x77, sizeof unknown);
	ck_assert_int_eq(db_share_set(D, unknown, h, 1, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
}
END_TEST

/* db_files_list_copies and db_files_holders: copies of each file's least-held chunk,
 * and the per-chunk holder rows the shares listing is built from. */
static int
copies_cb(void *arg, const struct db_file *f)
{
	char *out = arg;

	ck_assert(f->has_copies);
	snprintf(out + strlen(out), 256 - strlen(out), "%s=%llu%s ", f->key,
	    (unsigned long long)f->min_copies, f->deleted ? "d" : "");
	return 0;
}

static int
holder_cb(void *arg, const struct db_holder *h)
{
	char *out = arg;
	char peer[3] = "-";

	if (h->peer != NULL)
		snprintf(peer, sizeof peer, "%02x", h->peer[0]);
	snprintf(out + strlen(out), 512 - strlen(out), "%s:%llu:%lld:%d:%s ", h->key,
	    (unsigned long long)h->nchunks, (long long)h->idx, h->local, peer);
	return 0;
}

static void raw_exec(const char *sql);

START_TEST(test_holders)
{
	static const unsigned old[] = { 9 }, b[] = { 1, 2 }, a[] = { 2, 3, 2 }, d[] = { 4 };
	struct db_peer pa, pb;
	uint8_t h[32];
	char out[512] = "", *cause = NULL;

	put("b", 1, old, 1);
	put("b", 2, b, 2);      /* replaces version 1: only the current version counts */
	put("a", 1, a, 3);      /* chunk 2 twice */
	put("e", 1, NULL, 0);   /* no chunks */
	put("d", 1, d, 1);
	del("d", 2);
	mk_peer(&pa, 0xa0, 1, 100);
	mk_peer(&pb, 0x0b, 1, 100);
	ck_assert_int_eq(db_peer_upsert(D, &pa, NULL), 0);
	ck_assert_int_eq(db_peer_upsert(D, &pb, NULL), 0);
	hash_of(h, 1);
	ck_assert_int_eq(db_share_set(D, pa.id, h, 1, NULL), 0);
	hash_of(h, 2);
	ck_assert_int_eq(db_share_set(D, pa.id, h, 1, NULL), 0);
	ck_assert_int_eq(db_share_set(D, pb.id, h, 1, NULL), 0);
	/* chunk 3 known, not held here */
	raw_exec("UPDATE chunks SET local = 0 WHERE hash = x'00000003"
	    "a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5'");

	/* chunk copies: 1 -> here + a0 = 2; 2 -> here + a0 + 0b = 3; 3 -> 0 */
	ck_assert_msg(db_files_list_copies(D, 0, copies_cb, out, &cause) == 0, "%s", cause);
	ck_assert_str_eq(out, "a=0 b=2 e=0 ");
	out[0] = '\0';
	ck_assert_int_eq(db_files_list_copies(D, 1, copies_cb, out, &cause), 0);
	ck_assert_str_eq(out, "a=0 b=2 d=0d e=0 ");

	out[0] = '\0';
	ck_assert_msg(db_files_holders(D, holder_cb, out, &cause) == 0, "%s", cause);
	ck_assert_str_eq(out, "a:3:0:1:0b a:3:0:1:a0 a:3:1:0:- a:3:2:1:0b a:3:2:1:a0 "
	    "b:2:0:1:a0 b:2:1:1:0b b:2:1:1:a0 e:0:-1:0:- ");
}
END_TEST

/* ---- meta --------------------------------------------------------------------------- */

START_TEST(test_meta)
{
	char *v = (char *)"x", *cause = NULL;

	ck_assert_int_eq(db_meta_get(D, "node_id", &v, &cause), 1);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(db_meta_set(D, "node_id", "abcd", &cause), 0);
	ck_assert_int_eq(db_meta_get(D, "node_id", &v, &cause), 0);
	ck_assert_str_eq(v, "abcd");
	free(v);
	ck_assert_int_eq(db_meta_set(D, "node_id", "", &cause), 0);
	ck_assert_int_eq(db_meta_get(D, "node_id", &v, &cause), 0);
	ck_assert_str_eq(v, "");
	free(v);
	ck_assert_int_eq(db_meta_set(D, "hlc", "42", &cause), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM meta"), 2);
}
END_TEST

/* ---- damage ------------------------------------------------------------------------- */

/* One-off statement through a separate raw read-write connection (foreign keys off): it
 * changes bytes behind the module's back, like a bad disk sector would. */
static void
raw_exec(const char *sql)
{
	sqlite3 *sq;

	ck_assert_int_eq(sqlite3_open_v2(dbpath, &sq, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(sq, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql,
	    sqlite3_errmsg(sq));
	sqlite3_close(sq);
}

/* The same, with trigger (its name) dropped for the statement, in one transaction:
 * the bytes change and nothing the schema does on such a change happens. */
static void
raw_exec_untriggered(const char *trigger, const char *sql)
{
	sqlite3 *sq;
	sqlite3_stmt *s;
	char *create, *all;

	ck_assert_int_eq(sqlite3_open_v2(dbpath, &sq, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(sq, "SELECT sql FROM sqlite_schema WHERE"
	    " type = 'trigger' AND name = ?1", -1, &s, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_bind_text(s, 1, trigger, -1, SQLITE_STATIC), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	create = xstrdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	xasprintf(&all, "BEGIN; DROP TRIGGER %s; %s; %s; COMMIT", trigger, sql, create);
	ck_assert_msg(sqlite3_exec(sq, all, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", all,
	    sqlite3_errmsg(sq));
	free(all);
	free(create);
	sqlite3_close(sq);
}

/* A value changed inside a row (SQLite keeps no checksums, so nothing else notices):
 * db_file_manifest refuses the row instead of handing out a wrong size or chunk list. */
START_TEST(test_manifest_damaged)
{
	static const unsigned c[] = { 10, 11, 12 };
	struct manifest m;
	char *cause = NULL;
	int64_t a, b, d;

	a = put("size", 1, c, 3);
	b = put("list", 1, c, 3);
	d = put("good", 1, c, 2);
	raw_exec("UPDATE files SET size = size - 1 WHERE key = 'size'");
	raw_exec_untriggered("file_chunks_rehash", "UPDATE file_chunks SET hash ="
	    " x'000000aa00000000000000000000000000000000000000000000000000000000'"
	    " WHERE idx = 1 AND file_id = (SELECT id FROM files WHERE key = 'list')");
	ck_assert_int_eq(db_file_manifest(D, a, &m, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "damaged"));
	ck_assert_uint_eq(m.nchunks, 0);
	manifest_free(&m);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(db_file_manifest(D, b, &m, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "damaged"));
	manifest_free(&m);
	free(cause);
	cause = NULL;
	ck_assert_msg(db_file_manifest(D, d, &m, &cause) == 0, "manifest: %s", cause);
	ck_assert_uint_eq(m.nchunks, 2);
	manifest_free(&m);
}
END_TEST

/* A page of garbage in the middle of the file: db_check finds it, and db_open with
 * DB_CHECK refuses the file with a cause that names it. */
START_TEST(test_check_damaged_page)
{
	struct db *d2;
	struct stat sb;
	char *cause = NULL, *problem = NULL, page[4096];
	unsigned seeds[1];
	int fd;
	off_t pages;

	ck_assert_msg(db_check(D, 0, &problem, &cause) == 0, "db_check: %s", cause);
	ck_assert_ptr_null(problem);
	ck_assert_int_eq(db_check(D, 1, &problem, &cause), 0);
	ck_assert_int_eq(db_begin(D, NULL), 0);
	for (unsigned i = 0; i < 400; i++) {
		char key[32];

		snprintf(key, sizeof key, "file-%u", i);
		seeds[0] = 1000 + i;
		put(key, 1, seeds, 1);
	}
	ck_assert_int_eq(db_commit(D, NULL), 0);
	db_close(D);
	D = NULL; /* the last connection checkpoints the WAL into the file */
	ck_assert_int_eq(stat(dbpath, &sb), 0);
	pages = sb.st_size / (off_t)sizeof page;
	ck_assert_int_gt(pages, 8);
	memset(page, 0xa5, sizeof page);
	ck_assert_int_ge(fd = open(dbpath, O_WRONLY), 0);
	ck_assert_int_eq(pwrite(fd, page, sizeof page, pages / 2 * (off_t)sizeof page),
	    (ssize_t)sizeof page);
	close(fd);

	ck_assert_int_eq(db_open(&d2, dbpath, DB_CHECK, &cause), -1);
	ck_assert_ptr_null(d2);
	ck_assert_ptr_nonnull(strstr(cause, dbpath));
	ck_assert_ptr_nonnull(strstr(cause, "is damaged"));
	ck_assert_ptr_null(strchr(cause, '\n'));
	free(cause);
	cause = NULL;
	ck_assert_int_eq(db_open(&d2, dbpath, DB_RDONLY | DB_CHECK, &cause), -1);
	free(cause);
	cause = NULL;
	/* without DB_CHECK it opens (the damage is met later); db_check still finds it */
	ck_assert_msg(db_open(&D, dbpath, DB_RDONLY, &cause) == 0, "db_open: %s", cause);
	ck_assert_int_eq(db_check(D, 1, &problem, &cause), 1);
	ck_assert_ptr_nonnull(problem);
	ck_assert_ptr_nonnull(strstr(problem, "integrity_check"));
	free(problem);
}
END_TEST

/* ---- reference counts (schema v6) ---------------------------------------------------- */

static long long
refs_of(unsigned seed)
{
	uint8_t h[32];
	char hex[65], sql[160];

	hash_of(h, seed);
	hex_encode(h, sizeof h, hex);
	snprintf(sql, sizeof sql, "SELECT coalesce((SELECT refs FROM chunks WHERE"
	    " hash = x'%s'), -1)", hex);
	return raw_int(sql);
}

static void
refs_check(uint64_t want_counts, uint64_t want_dangling)
{
	uint64_t counts = 99, dangling = 99;
	char *cause = NULL;

	ck_assert_msg(db_refs_check(D, &counts, &dangling, &cause) == 0, "db_refs_check: %s",
	    cause);
	ck_assert_uint_eq(counts, want_counts);
	ck_assert_uint_eq(dangling, want_dangling);
}

/* Every way a chunk-list entry comes and goes keeps chunks.refs equal to the number of
 * entries naming the chunk; garbage collection goes by it; the schema refuses an entry
 * without a chunk row and the deletion of a chunk row still named; db_refs_check finds
 * a count changed behind the triggers' back. */
START_TEST(test_refs)
{
	static const unsigned twice[] = { 30, 31, 30 }, other[] = { 31, 32 }, last[] = { 33 };
	uint8_t h[32], out[8][32];
	char *cause = NULL, sql[200], hex[65];
	sqlite3 *sq;

	put("a", 1, twice, 3);
	ck_assert_int_eq(refs_of(30), 2); /* named twice by one list */
	ck_assert_int_eq(refs_of(31), 1);
	put("b", 2, other, 2);
	ck_assert_int_eq(refs_of(31), 2);
	ck_assert_int_eq(refs_of(32), 1);
	ck_assert_uint_eq(chunks_each().refs, 5);
	refs_check(0, 0);

	/* a newer version of "a" replaces the old one (its list goes: the cascade) */
	put("a", 3, last, 1);
	ck_assert_int_eq(refs_of(30), 0);
	ck_assert_int_eq(refs_of(31), 1);
	ck_assert_int_eq(refs_of(33), 1);
	ck_assert_uint_eq(unreferenced(out, 8), 1); /* 30 */
	hash_of(h, 30);
	ck_assert_mem_eq(out[0], h, 32);

	/* a referenced chunk is not forgotten; an unreferenced one is */
	hash_of(h, 31);
	ck_assert_int_eq(db_chunk_forget(D, h, &cause), 0);
	ck_assert_int_eq(refs_of(31), 1);
	hash_of(h, 30);
	ck_assert_int_eq(db_chunk_forget(D, h, &cause), 1);
	ck_assert_int_eq(refs_of(30), -1);

	/* a tombstone drops the list */
	ck_assert_int_eq(del("b", 4), 0);
	ck_assert_int_eq(refs_of(31), 0);
	ck_assert_int_eq(refs_of(32), 0);
	ck_assert_uint_eq(unreferenced(out, 8), 2);
	refs_check(0, 0);

	/* what the foreign key refused, the triggers refuse: a list entry naming no
	 * chunk row, and deleting a chunk row that a list names */
	ck_assert_int_eq(sqlite3_open_v2(dbpath, &sq, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	hash_of(h, 999);
	hex_encode(h, sizeof h, hex);
	snprintf(sql, sizeof sql, "INSERT INTO file_chunks (file_id, idx, hash) VALUES"
	    " ((SELECT id FROM files WHERE key = 'a'), 5, x'%s')", hex);
	ck_assert_int_eq(sqlite3_exec(sq, sql, NULL, NULL, NULL), SQLITE_CONSTRAINT);
	ck_assert_ptr_nonnull(strstr(sqlite3_errmsg(sq), "no row in chunks"));
	hash_of(h, 33);
	hex_encode(h, sizeof h, hex);
	snprintf(sql, sizeof sql, "DELETE FROM chunks WHERE hash = x'%s'", hex);
	ck_assert_int_eq(sqlite3_exec(sq, sql, NULL, NULL, NULL), SQLITE_CONSTRAINT);
	ck_assert_ptr_nonnull(strstr(sqlite3_errmsg(sq), "still referenced"));
	/* a count can go wrong only behind the schema's back (a damaged page): found */
	snprintf(sql, sizeof sql, "UPDATE chunks SET refs = 0 WHERE hash = x'%s'", hex);
	ck_assert_int_eq(sqlite3_exec(sq, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(sq);
	refs_check(1, 0);
	ck_assert_int_eq(refs_of(33), 0);
	raw_exec_untriggered("chunks_referenced", "DELETE FROM chunks WHERE refs = 0");
	refs_check(0, 1);
}
END_TEST

/* A database of schema v5 (chunk lists indexed by hash, no counts) is brought to v6
 * with the counts right, lists and chunks kept, and the index gone. */
START_TEST(test_migrate_v6)
{
	static const unsigned twice[] = { 40, 41, 40 }, other[] = { 41 }, gone[] = { 42 };
	char *cause = NULL;
	sqlite3 *sq;

	put("a", 1, twice, 3);
	put("b", 1, other, 1);
	put("c", 1, gone, 1);
	ck_assert_int_eq(del("c", 2), 0); /* chunk 42: held, named by no list */
	db_close(D);
	D = NULL;
	/* back to v5 as it was: the chunk lists with their foreign key to chunks and
	 * their index by hash, no counts, no triggers */
	ck_assert_int_eq(sqlite3_open_v2(dbpath, &sq, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(sq,
	    "BEGIN;"
	    "DROP TRIGGER file_chunks_ref; DROP TRIGGER file_chunks_unref;"
	    "DROP TRIGGER file_chunks_rehash; DROP TRIGGER chunks_referenced;"
	    "CREATE TABLE fc5 (file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,"
	    " idx INTEGER NOT NULL CHECK (idx >= 0), hash BLOB NOT NULL REFERENCES chunks (hash),"
	    " PRIMARY KEY (file_id, idx)) WITHOUT ROWID;"
	    "INSERT INTO fc5 SELECT file_id, idx, hash FROM file_chunks;"
	    "DROP TABLE file_chunks; ALTER TABLE fc5 RENAME TO file_chunks;"
	    "CREATE INDEX file_chunks_hash ON file_chunks (hash);"
	    "ALTER TABLE chunks DROP COLUMN refs;"
	    "PRAGMA user_version = 5; COMMIT;", NULL, NULL, NULL) == SQLITE_OK, "to v5: %s",
	    sqlite3_errmsg(sq));
	sqlite3_close(sq);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM pragma_table_info('chunks')"
	    " WHERE name = 'refs'"), 0);

	ck_assert_msg(db_open(&D, dbpath, 0, &cause) == 0, "db_open: %s", cause);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 6);
	ck_assert_int_eq(refs_of(40), 2);
	ck_assert_int_eq(refs_of(41), 2);
	ck_assert_int_eq(refs_of(42), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM file_chunks"), 4);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sqlite_schema WHERE name ="
	    " 'file_chunks_hash'"), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM pragma_foreign_key_list('file_chunks')"
	    " WHERE \"table\" = 'chunks'"), 0);
	refs_check(0, 0);
	/* and the triggers are there: a new version of "a" drops its list's counts */
	put("a", 3, other, 1);
	ck_assert_int_eq(refs_of(40), 0);
	ck_assert_int_eq(refs_of(41), 2);
	refs_check(0, 0);
}
END_TEST

/* ---- the WAL buffer (db/walbuf.c) ---------------------------------------------------- */

/* A transaction's WAL frames reach the file system in a few large writes, not two per
 * page, and what a commit wrote is there for another connection (default VFS, no
 * buffer of its own) the moment the commit returns, and after the writer closes. */
START_TEST(test_walbuf)
{
	struct db_walbuf_stats st0, st1;
	unsigned seeds[1];
	char *cause = NULL, *problem = NULL;

	ck_assert_int_eq(db_begin(D, NULL), 0);
	for (unsigned i = 0; i < 300; i++) {
		char key[32];

		snprintf(key, sizeof key, "w-%u", i);
		seeds[0] = 5000 + i;
		put(key, 1, seeds, 1);
	}
	ck_assert_msg(db_commit(D, &cause) == 0, "commit: %s", cause);
	ck_assert_int_eq(db_walbuf_stats(D, &st0), 0);
	/* two writes per frame from SQLite (header, page); dozens of pages here */
	ck_assert_uint_ge(st0.writes, 40);
	ck_assert_uint_le(st0.flushes * 10, st0.writes);
	ck_assert_int_eq(query_int("SELECT count(*) FROM files"), 300);

	/* one small transaction: its frames are one write */
	put("one-more", 1, seeds, 1);
	ck_assert_int_eq(db_walbuf_stats(D, &st1), 0);
	ck_assert_uint_ge(st1.writes - st0.writes, 4);
	ck_assert_uint_le(st1.flushes - st0.flushes, 2);
	ck_assert_int_eq(query_int("SELECT count(*) FROM files"), 301);

	db_close(D);
	D = NULL;
	ck_assert_int_eq(query_int("SELECT count(*) FROM files"), 301);
	ck_assert_msg(db_open(&D, dbpath, 0, &cause) == 0, "db_open: %s", cause);
	ck_assert_msg(db_check(D, 1, &problem, &cause) == 0, "db_check: %s", cause);
	ck_assert_ptr_null(problem);
	ck_assert_int_eq(query_int("SELECT count(*) FROM file_chunks"), 301);
}
END_TEST

/* ---- suite -------------------------------------------------------------------------- */

static TCase *
tcase(const char *name, const TTest *t)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t);
	return tc;
}

static Suite *
db_suite(void)
{
	Suite *s = suite_create("db");

	suite_add_tcase(s, tcase("open_creates", test_open_creates));
	suite_add_tcase(s, tcase("reopen", test_reopen));
	suite_add_tcase(s, tcase("rdonly_missing", test_rdonly_missing));
	suite_add_tcase(s, tcase("rdonly_old_schema", test_rdonly_old_schema));
	suite_add_tcase(s, tcase("rdonly_is_read_only", test_rdonly_is_read_only));
	suite_add_tcase(s, tcase("put_get", test_put_get));
	suite_add_tcase(s, tcase("put_idempotent", test_put_idempotent));
	suite_add_tcase(s, tcase("put_bad_rolls_back", test_put_bad_rolls_back));
	suite_add_tcase(s, tcase("newer_replaces", test_newer_replaces));
	suite_add_tcase(s, tcase("shared_content", test_shared_content));
	suite_add_tcase(s, tcase("delete_tombstone", test_delete_tombstone));
	suite_add_tcase(s, tcase("delete_unknown", test_delete_unknown));
	suite_add_tcase(s, tcase("entries_match_list", test_entries_match_list));
	suite_add_tcase(s, tcase("older_after_newer", test_older_after_newer));
	suite_add_tcase(s, tcase("put_tombstone", test_put_tombstone));
	suite_add_tcase(s, tcase("list_order", test_list_order));
	suite_add_tcase(s, tcase("list_many", test_list_many));
	suite_add_tcase(s, tcase("reader_while_writing", test_reader_while_writing));
	suite_add_tcase(s, tcase("reader_other_process", test_reader_other_process));
	suite_add_tcase(s, tcase("forget", test_forget));
	suite_add_tcase(s, tcase("inline", test_inline));
	suite_add_tcase(s, tcase("wal_checkpoint", test_wal_checkpoint));
	suite_add_tcase(s, tcase("peers", test_peers));
	suite_add_tcase(s, tcase("shares", test_shares));
	suite_add_tcase(s, tcase("holders", test_holders));
	suite_add_tcase(s, tcase("refs", test_refs));
	suite_add_tcase(s, tcase("migrate_v6", test_migrate_v6));
	suite_add_tcase(s, tcase("walbuf", test_walbuf));
	suite_add_tcase(s, tcase("meta", test_meta));
	suite_add_tcase(s, tcase("manifest_damaged", test_manifest_damaged));
	suite_add_tcase(s, tcase("check_damaged_page", test_check_damaged_page));
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(db_suite());
	int failed;

	log_init("test_db", LOG_WARN);
	if (mkdtemp(base) == NULL) {
		perror(base);
		return EXIT_FAILURE;
	}

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
