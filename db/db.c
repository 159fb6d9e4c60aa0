/* db.c: opening a connection, the schema and its migrations, the statement table,
 * transactions and the meta table.
 *
 * Concurrency: the daemon and the CLI open the same file. WAL mode lets readers run
 * while one writer writes, so a DB_RDONLY connection never waits on a writer; writers
 * take the write lock up front (BEGIN IMMEDIATE) and wait up to busy_timeout for it. */
#include "db/db_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

#define DB_BUSY_TIMEOUT_MS 10000

/* ---- schema ----------------------------------------------------------------------- */

/* Migration i takes PRAGMA user_version from i to i + 1, in one transaction. Never edit
 * a released entry: append a new one. */
static const char *const migrations[] = {
	/* v1: files, chunks, peers, shares, meta. */
	/* One row per known version of a key. A version is identified by (key, version,
	 * origin): version is the writer's hybrid logical clock (ms << 16 | counter, kept
	 * below 2^63 so that SQLite's signed integers order it), origin the writer's node
	 * id; ties on version are broken by comparing origin as a blob (memcmp). The
	 * greatest (version, origin) of a key is its current version. A delete is a
	 * tombstone row (deleted = 1, no chunks, NULL hashes) so that it replicates and
	 * wins over older versions arriving later. Recording a version removes the older
	 * versions of its key. */
	"CREATE TABLE files (\n"
	"  id            INTEGER PRIMARY KEY,\n"
	"  key           TEXT NOT NULL,\n"
	"  version       INTEGER NOT NULL CHECK (version >= 0),\n"
	"  origin        BLOB NOT NULL CHECK (length(origin) = 32),\n"
	"  deleted       INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),\n"
	"  size          INTEGER NOT NULL DEFAULT 0,      -- bytes\n"
	"  chunk_size    INTEGER NOT NULL DEFAULT 0,      -- bytes; 0 for tombstones\n"
	"  nchunks       INTEGER NOT NULL DEFAULT 0,\n"
	"  file_hash     BLOB CHECK (file_hash IS NULL OR length(file_hash) = 32),\n"
	"  manifest_hash BLOB CHECK (manifest_hash IS NULL OR length(manifest_hash) = 32),\n"
	"  created_ms    INTEGER NOT NULL DEFAULT 0,      -- wall clock of the writer\n"
	"  UNIQUE (key, version, origin)\n"
	");\n"
	/* The UNIQUE index above, (key, version, origin), is the index for both "current
	 * version of key" (key = ? ORDER BY version DESC, origin DESC LIMIT 1) and for
	 * listing in key order with a "no newer row" probe per row.
	 * Changes since a clock value (gossip, anti-entropy): */
	"CREATE INDEX files_version ON files (version);\n"
	/* One row per chunk this node knows of, by SHA-256. local = 1: the chunk file is
	 * on disk and durable (rows are committed only after the store's sync). local = 0:
	 * known but not held (lost, or to be fetched from peers). verified_ms: when the
	 * file was last re-hashed (scrub), NULL never. */
	"CREATE TABLE chunks (\n"
	"  hash        BLOB PRIMARY KEY CHECK (length(hash) = 32),\n"
	"  size        INTEGER NOT NULL,\n"
	"  local       INTEGER NOT NULL DEFAULT 1 CHECK (local IN (0, 1)),\n"
	"  verified_ms INTEGER\n"
	") WITHOUT ROWID;\n"
	/* The ordered chunk list of each file version. A chunk row cannot be deleted while
	 * referenced (foreign key); deleting a version deletes its list. */
	"CREATE TABLE file_chunks (\n"
	"  file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,\n"
	"  idx     INTEGER NOT NULL CHECK (idx >= 0),\n"
	"  hash    BLOB NOT NULL REFERENCES chunks (hash),\n"
	"  PRIMARY KEY (file_id, idx)\n"
	") WITHOUT ROWID;\n"
	/* Who references a chunk: garbage collection, reference counts, and the foreign
	 * key check when a chunk row is deleted. */
	"CREATE INDEX file_chunks_hash ON file_chunks (hash);\n"
	/* Peers this node has heard of, by node id. status: connected, disconnected,
	 * failed, left. failures: consecutive failed connects. rtt_us: -1 unknown. */
	"CREATE TABLE peers (\n"
	"  id              BLOB PRIMARY KEY CHECK (length(id) = 32),\n"
	"  addr            TEXT NOT NULL,\n"
	"  transport       TEXT NOT NULL,\n"
	"  status          TEXT NOT NULL,\n"
	"  first_seen_ms   INTEGER NOT NULL,\n"
	"  last_seen_ms    INTEGER NOT NULL,\n"
	"  last_connect_ms INTEGER NOT NULL DEFAULT 0,\n"
	"  failures        INTEGER NOT NULL DEFAULT 0,\n"
	"  rtt_us          INTEGER NOT NULL DEFAULT -1\n"
	") WITHOUT ROWID;\n"
	/* Stale-peer sweep. */
	"CREATE INDEX peers_last_seen ON peers (last_seen_ms);\n"
	/* Replication: which peer holds which chunk, since when. Forgetting a peer forgets
	 * what it holds. The chunk need not be held (or known) locally. */
	"CREATE TABLE shares (\n"
	"  peer     BLOB NOT NULL REFERENCES peers (id) ON DELETE CASCADE,\n"
	"  hash     BLOB NOT NULL CHECK (length(hash) = 32),\n"
	"  since_ms INTEGER NOT NULL,\n"
	"  PRIMARY KEY (peer, hash)\n"
	") WITHOUT ROWID;\n"
	/* Which peers hold a chunk (replica count, fetch sources). */
	"CREATE INDEX shares_hash ON shares (hash);\n"
	/* This node's settings: node id, HLC high-water mark, ... */
	"CREATE TABLE meta (\n"
	"  k TEXT PRIMARY KEY,\n"
	"  v TEXT NOT NULL\n"
	") WITHOUT ROWID;\n",
	/* v2: replication. Each version or tombstone carries the version it replaced on its
	 * writer (prev_version, prev_origin; 0 and NULL: none), so that a receiver can tell
	 * a concurrent write (kept as a conflict copy) from one that overwrote what it had
	 * seen. */
	"ALTER TABLE files ADD COLUMN prev_version INTEGER NOT NULL DEFAULT 0;\n"
	"ALTER TABLE files ADD COLUMN prev_origin BLOB"
	" CHECK (prev_origin IS NULL OR length(prev_origin) = 32);\n",
	/* v3: the chunks known but not held, so that the repair scan finds the versions
	 * missing chunks without counting the chunks of every version (on a node holding
	 * everything, the index is empty but for replicas in flight). */
	"CREATE INDEX chunks_not_held ON chunks (hash) WHERE local = 0;\n",
	/* v4: small chunks kept in the database instead of a file each (the chunk store's
	 * inline limit decides which). A file per 4 KiB chunk cost an inode, two directory
	 * entries and a writeback of its own, and their syncfs, on every node a small file
	 * reaches; its bytes here go into the write-ahead log of the transaction that
	 * records it, sequentially. chunks.data_id: the chunk_data row with the bytes of an
	 * inline chunk held here (local = 1); NULL for a chunk kept as a file, or not held.
	 * chunk_data rows are appended (rowid order), so writing one touches the last leaf
	 * and the bytes' own overflow page, not a random leaf of a hash-keyed tree. A
	 * chunk_data row lives exactly as long as the chunks row that points at it: */
	"CREATE TABLE chunk_data (\n"
	"  id   INTEGER PRIMARY KEY,\n"
	"  data BLOB NOT NULL\n"
	");\n"
	"ALTER TABLE chunks ADD COLUMN data_id INTEGER;\n"
	"CREATE TRIGGER chunk_data_forget AFTER DELETE ON chunks\n"
	"  WHEN old.data_id IS NOT NULL\n"
	"  BEGIN DELETE FROM chunk_data WHERE id = old.data_id; END;\n"
	"CREATE TRIGGER chunk_data_replace AFTER UPDATE OF data_id ON chunks\n"
	"  WHEN old.data_id IS NOT NULL AND old.data_id IS NOT new.data_id\n"
	"  BEGIN DELETE FROM chunk_data WHERE id = old.data_id; END;\n",
	/* v5: shares keyed by (hash, peer), with no second index. Every query reads shares
	 * by chunk hash; only forgetting a peer went by peer (the foreign key's cascade).
	 * Each share row cost two random leaves (the table by peer, shares_hash by hash),
	 * and a 4 KiB store on 3 nodes writes 6 rows (acknowledgements at the writer, the
	 * writer and HAVEs at the others): under load they were half of the database's
	 * page writes. Forgetting peers (db_peers_cleanup) now deletes their shares first,
	 * in the same transaction: one pass over the table for the whole cleanup. */
	"CREATE TABLE shares_v5 (\n"
	"  hash     BLOB NOT NULL CHECK (length(hash) = 32),\n"
	"  peer     BLOB NOT NULL CHECK (length(peer) = 32),\n"
	"  since_ms INTEGER NOT NULL,\n"
	"  PRIMARY KEY (hash, peer)\n"
	") WITHOUT ROWID;\n"
	"INSERT INTO shares_v5 (hash, peer, since_ms) SELECT hash, peer, since_ms FROM shares;\n"
	"DROP TABLE shares;\n"
	"ALTER TABLE shares_v5 RENAME TO shares;\n",
	/* v6: each chunk row counts the chunk lists that name it (refs: file_chunks rows),
	 * instead of an index of file_chunks by hash. That index took every version's new
	 * row on a random leaf page (one of about six pages a stored version wrote to the
	 * log, copied again by the checkpoint), and it served only the questions a count
	 * answers: is this chunk referenced (garbage collection, and the foreign key's check
	 * on deleting a chunk row), and how often. The count lives on the chunk's own row,
	 * a page the store writes anyway. Triggers keep it, whatever adds or removes a
	 * list entry (a version recorded, replaced, deleted, a tombstone expired: the
	 * cascade from files fires them too); an entry naming a chunk without a row is
	 * refused, as the foreign key refused it, and so is deleting a chunk row still
	 * named. The foreign key on file_chunks.hash goes with the index (without it, each
	 * chunk row deleted would scan file_chunks): the table is rebuilt without it.
	 * `p2p verify` recounts. */
	"ALTER TABLE chunks ADD COLUMN refs INTEGER NOT NULL DEFAULT 0 CHECK (refs >= 0);\n"
	"UPDATE chunks SET refs = (SELECT count(*) FROM file_chunks fc"
	" WHERE fc.hash = chunks.hash);\n"
	"CREATE TABLE file_chunks_v6 (\n"
	"  file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,\n"
	"  idx     INTEGER NOT NULL CHECK (idx >= 0),\n"
	"  hash    BLOB NOT NULL CHECK (length(hash) = 32),\n"
	"  PRIMARY KEY (file_id, idx)\n"
	") WITHOUT ROWID;\n"
	"INSERT INTO file_chunks_v6 (file_id, idx, hash)"
	" SELECT file_id, idx, hash FROM file_chunks;\n"
	"DROP TABLE file_chunks;\n" /* and its index */
	"ALTER TABLE file_chunks_v6 RENAME TO file_chunks;\n"
	"CREATE TRIGGER file_chunks_ref AFTER INSERT ON file_chunks BEGIN\n"
	"  UPDATE chunks SET refs = refs + 1 WHERE hash = new.hash;\n"
	"  SELECT RAISE(ABORT, 'file_chunks: the chunk has no row in chunks')"
	" WHERE changes() = 0;\n"
	"END;\n"
	"CREATE TRIGGER file_chunks_unref AFTER DELETE ON file_chunks BEGIN\n"
	"  UPDATE chunks SET refs = refs - 1 WHERE hash = old.hash;\n"
	"END;\n"
	"CREATE TRIGGER file_chunks_rehash AFTER UPDATE OF hash ON file_chunks BEGIN\n"
	"  UPDATE chunks SET refs = refs - 1 WHERE hash = old.hash;\n"
	"  UPDATE chunks SET refs = refs + 1 WHERE hash = new.hash;\n"
	"  SELECT RAISE(ABORT, 'file_chunks: the chunk has no row in chunks')"
	" WHERE changes() = 0;\n"
	"END;\n"
	"CREATE TRIGGER chunks_referenced BEFORE DELETE ON chunks WHEN old.refs > 0 BEGIN\n"
	"  SELECT RAISE(ABORT, 'chunks: the chunk is still referenced');\n"
	"END;\n",
};
#define DB_SCHEMA_LATEST ((int)nitems(migrations))

/* ---- process-wide set-up ---------------------------------------------------------- */

/* Before the first connection: no memory statistics. They cost a global mutex taken
 * on every allocation SQLite makes (2-3 % of the committer's time under load), and
 * nothing reads them. */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void
sqlite_setup(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* ---- statements --------------------------------------------------------------------- */

/* A files row is the current version of its key when no row of the same key has a
 * greater (version, origin). Probes the UNIQUE (key, version, origin) index. */
#define FILE_IS_CURRENT \
	"NOT EXISTS (SELECT 1 FROM files g WHERE g.key = f.key AND" \
	" (g.version > f.version OR (g.version = f.version AND g.origin > f.origin)))"
/* Column order read by file_from_row() in files.c. */
#define FILE_COLS \
	"f.id, f.key, f.version, f.origin, f.deleted, f.size, f.chunk_size, f.nchunks," \
	" f.file_hash, f.manifest_hash, f.created_ms," \
	" (SELECT count(*) FROM file_chunks fc JOIN chunks c ON c.hash = fc.hash" \
	" WHERE fc.file_id = f.id AND c.local = 1), f.prev_version, f.prev_origin"
/* Column order read by peer_from_row() in peers.c. */
#define PEER_COLS \
	"id, addr, transport, status, first_seen_ms, last_seen_ms, last_connect_ms," \
	" failures, rtt_us"

static const char *const db_sql[ST__COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT db_op",
	[ST_RELEASE] = "RELEASE db_op",
	[ST_ROLLBACK_TO] = "ROLLBACK TO db_op",
	[ST_META_GET] = "SELECT v FROM meta WHERE k = ?1",
	[ST_META_SET] = "INSERT INTO meta (k, v) VALUES (?1, ?2)"
	    " ON CONFLICT (k) DO UPDATE SET v = excluded.v",

	[ST_FILE_CURRENT] = "SELECT " FILE_COLS " FROM files f WHERE f.key = ?1"
	    " ORDER BY f.version DESC, f.origin DESC LIMIT 1",
	/* every version of a key, newest first (by the UNIQUE index, read backwards) */
	[ST_FILE_VERSIONS] = "SELECT id, version, origin, deleted, manifest_hash FROM files"
	    " WHERE key = ?1 ORDER BY version DESC, origin DESC",
	[ST_FILE_INSERT] = "INSERT INTO files (key, version, origin, deleted, size,"
	    " chunk_size, nchunks, file_hash, manifest_hash, created_ms, prev_version,"
	    " prev_origin) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[ST_FILE_DROP_OLDER] = "DELETE FROM files WHERE key = ?1"
	    " AND (version < ?2 OR (version = ?2 AND origin < ?3))",
	[ST_FILE_ROW] = "SELECT size, chunk_size, nchunks, file_hash, manifest_hash FROM files"
	    " WHERE id = ?1",
	[ST_FILE_CHUNK_INSERT] = "INSERT INTO file_chunks (file_id, idx, hash)"
	    " VALUES (?1, ?2, ?3)",
	[ST_FILE_CHUNKS] = "SELECT idx, hash FROM file_chunks WHERE file_id = ?1"
	    " ORDER BY idx",
	[ST_FILE_CHUNKS_RANGE] = "SELECT idx, hash FROM file_chunks WHERE file_id = ?1"
	    " AND idx >= ?2 ORDER BY idx LIMIT ?3",
	[ST_FILES_LIST] = "SELECT " FILE_COLS " FROM files f"
	    " WHERE (?1 OR f.deleted = 0) AND " FILE_IS_CURRENT " ORDER BY f.key",
	/* + copies of the least-held chunk: held here (local) + peers that hold it
	 * (shares); NULL for a file without chunks */
	[ST_FILES_LIST_COPIES] = "SELECT " FILE_COLS ", (SELECT min(c.local +"
	    " (SELECT count(*) FROM shares s WHERE s.hash = fc.hash))"
	    " FROM file_chunks fc JOIN chunks c ON c.hash = fc.hash WHERE fc.file_id = f.id)"
	    " FROM files f WHERE (?1 OR f.deleted = 0) AND " FILE_IS_CURRENT " ORDER BY f.key",
	[ST_FILES_ENTRIES] = "SELECT f.key, f.version, f.origin, f.deleted FROM files f"
	    " WHERE " FILE_IS_CURRENT,
	/* one pass over the chunk lists (no index by hash: see v6); run only when
	 * ST_CHUNKS_NOT_HELD says some chunk is missing */
	[ST_FILES_INCOMPLETE] = "SELECT " FILE_COLS " FROM files f WHERE f.id IN"
	    " (SELECT fc.file_id FROM file_chunks fc WHERE fc.hash IN"
	    " (SELECT c.hash FROM chunks c WHERE c.local = 0))"
	    " AND f.deleted = 0 AND " FILE_IS_CURRENT,
	[ST_CHUNKS_NOT_HELD] = "SELECT 1 FROM chunks WHERE local = 0 LIMIT 1",
	[ST_FILE_ENTRY] = "SELECT version, origin, deleted FROM files WHERE key = ?1"
	    " ORDER BY version DESC, origin DESC LIMIT 1",
	/* by the files_version index: only the rows older than the cutoff */
	[ST_TOMBSTONES_OLD] = "SELECT DISTINCT key FROM files WHERE deleted = 1 AND version < ?1",

	[ST_CHUNK_UPSERT] = "INSERT INTO chunks (hash, size, local) VALUES (?1, ?2, 1)"
	    " ON CONFLICT (hash) DO UPDATE SET local = 1 WHERE local = 0",
	[ST_CHUNK_HAVE] = "SELECT 1 FROM chunks WHERE hash = ?1 AND local = 1",
	[ST_CHUNKS_UNREF] = "SELECT hash FROM chunks WHERE local = 1 AND refs = 0"
	    " ORDER BY hash LIMIT ?1",
	[ST_CHUNK_FORGET] = "DELETE FROM chunks WHERE hash = ?1 AND refs = 0",
	[ST_CHUNKS_EACH] = "SELECT hash, size, refs FROM chunks WHERE local = 1 ORDER BY hash",
	/* the counts kept by the triggers against a recount (verify): chunks whose count
	 * is wrong, and list entries naming a chunk without a row */
	[ST_REFS_CHECK] = "SELECT (SELECT count(*) FROM chunks c LEFT JOIN"
	    " (SELECT hash, count(*) AS n FROM file_chunks GROUP BY hash) r ON r.hash = c.hash"
	    " WHERE c.refs IS NOT coalesce(r.n, 0)),"
	    " (SELECT count(*) FROM file_chunks fc WHERE NOT EXISTS"
	    " (SELECT 1 FROM chunks c WHERE c.hash = fc.hash))",
	/* a chunk no longer held here loses its inline bytes with it (the trigger) */
	[ST_CHUNK_SET_LOCAL] = "UPDATE chunks SET local = ?2,"
	    " data_id = CASE WHEN ?2 = 0 THEN NULL ELSE data_id END WHERE hash = ?1",
	[ST_DATA_INSERT] = "INSERT INTO chunk_data (data) VALUES (?1)",
	/* an inline chunk: recorded as held with its bytes, or its bytes replaced (a fresh
	 * copy of one found bad); the previous chunk_data row goes (the trigger) */
	[ST_CHUNK_PUT_INLINE] = "INSERT INTO chunks (hash, size, local, data_id)"
	    " VALUES (?1, ?2, 1, ?3) ON CONFLICT (hash) DO UPDATE SET local = 1,"
	    " size = excluded.size, data_id = excluded.data_id",
	[ST_CHUNK_DATA] = "SELECT d.data FROM chunks c JOIN chunk_data d ON d.id = c.data_id"
	    " WHERE c.hash = ?1 AND c.local = 1",
	[ST_CHUNK_KNOW] = "INSERT INTO chunks (hash, size, local) VALUES (?1, ?2, 0)"
	    " ON CONFLICT (hash) DO NOTHING",
	[ST_CHUNKS_FORGET_REMOTE] = "DELETE FROM chunks WHERE local = 0 AND refs = 0",
	[ST_TOMBSTONES_EXPIRE] = "DELETE FROM files WHERE deleted = 1 AND version < ?1",
	[ST_STATS] = "SELECT coalesce(sum(f.deleted = 0), 0), coalesce(sum(f.deleted = 1), 0),"
	    " coalesce(sum(CASE WHEN f.deleted = 0 THEN f.size END), 0),"
	    " (SELECT count(*) FROM chunks WHERE local = 1),"
	    " (SELECT coalesce(sum(size), 0) FROM chunks WHERE local = 1),"
	    " (SELECT count(*) FROM peers)"
	    " FROM files f WHERE " FILE_IS_CURRENT,

	[ST_PEER_UPSERT] = "INSERT INTO peers (" PEER_COLS ")"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO UPDATE SET"
	    " addr = excluded.addr, transport = excluded.transport, status = excluded.status,"
	    " last_seen_ms = excluded.last_seen_ms, last_connect_ms = excluded.last_connect_ms,"
	    " failures = excluded.failures, rtt_us = excluded.rtt_us",
	[ST_PEER_GET] = "SELECT " PEER_COLS " FROM peers WHERE id = ?1",
	[ST_PEERS_LIST] = "SELECT " PEER_COLS " FROM peers ORDER BY last_seen_ms DESC, id",
	[ST_PEERS_CLEANUP] = "DELETE FROM peers WHERE last_seen_ms < ?1",
	[ST_SHARES_CLEANUP] = "DELETE FROM shares WHERE peer IN"
	    " (SELECT id FROM peers WHERE last_seen_ms < ?1)",
	[ST_SHARE_SET] = "INSERT INTO shares (peer, hash, since_ms) VALUES (?1, ?2, ?3)"
	    " ON CONFLICT (hash, peer) DO NOTHING",
	[ST_SHARE_DROP] = "DELETE FROM shares WHERE peer = ?1 AND hash = ?2",
	[ST_SHARES_OF_CHUNK] = "SELECT peer FROM shares WHERE hash = ?1 ORDER BY peer",
	[ST_FILES_HOLDERS] = "SELECT f.id, f.key, f.nchunks, fc.idx, c.local, s.peer"
	    " FROM files f LEFT JOIN file_chunks fc ON fc.file_id = f.id"
	    " LEFT JOIN chunks c ON c.hash = fc.hash LEFT JOIN shares s ON s.hash = fc.hash"
	    " WHERE f.deleted = 0 AND " FILE_IS_CURRENT " ORDER BY f.key, fc.idx, s.peer",
	[ST_PEER_EXISTS] = "SELECT 1 FROM peers WHERE id = ?1",
};

/* ---- helpers shared by db/ ------------------------------------------------------------ */

int
db_fail(struct db *db, char **cause, const char *what)
{
	return set_cause(cause, "%s: %s", what, sqlite3_errmsg(db->sq));
}

sqlite3_stmt *
db_stmt(struct db *db, enum db_stmt_id id)
{
	return db->st[id];
}

void
db_reset(sqlite3_stmt *s)
{
	/* The step's error, if any, was reported when it happened. */
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

int
db_step(struct db *db, sqlite3_stmt *s, const char *what, char **cause)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	return db_fail(db, cause, what);
}

int
db_col_blob(struct db *db, sqlite3_stmt *s, int col, uint8_t *out, size_t len,
    char **cause)
{
	const void *p;
	int n;

	if (sqlite3_column_type(s, col) == SQLITE_NULL) {
		memset(out, 0, len);
		return 0;
	}
	p = sqlite3_column_blob(s, col);
	n = sqlite3_column_bytes(s, col);
	if (n < 0 || (size_t)n != len || p == NULL)
		return set_cause(cause, "%s: damaged row: column %s has %d bytes, not %zu",
		    db->path, sqlite3_column_name(s, col), n, len);
	memcpy(out, p, len);
	return 0;
}

/* Run a statement that returns no rows (transaction control). */
static int
db_exec_stmt(struct db *db, enum db_stmt_id id, const char *what, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, id);
	int rc = db_step(db, s, what, cause);

	db_reset(s);
	return rc == -1 ? -1 : 0;
}

int
db_op_begin(struct db *db, int *own, char **cause)
{
	*own = sqlite3_get_autocommit(db->sq);
	if (*own) {
		db_digest_tx_end(db, 0);
		return db_exec_stmt(db, ST_BEGIN, "begin", cause);
	}
	return db_exec_stmt(db, ST_SAVEPOINT, "savepoint", cause);
}

int
db_op_end(struct db *db, int own, int ok, char **cause)
{
	if (ok) {
		if (own) {
			if (db_exec_stmt(db, ST_COMMIT, "commit", cause) == -1) {
				db_rollback(db);
				return -1;
			}
			db_digest_tx_end(db, 1);
			return 0;
		}
		return db_exec_stmt(db, ST_RELEASE, "release savepoint", cause);
	}
	if (own) {
		db_rollback(db);
		return 0;
	}
	/* An I/O or full-disk error may already have rolled back the whole
	 * transaction; then there is no savepoint left and the caller's commit
	 * fails, which is what it should do. */
	if (!sqlite3_get_autocommit(db->sq)) {
		db_exec_stmt(db, ST_ROLLBACK_TO, "rollback to savepoint", NULL);
		db_exec_stmt(db, ST_RELEASE, "release savepoint", NULL);
	}
	return 0;
}

/* ---- open, migrate, close ------------------------------------------------------------- */

/* A one-row, one-column query run once (PRAGMAs). *out gets the integer value; text
 * (if not NULL) a copy of its text form. */
static int
query_one(struct db *db, const char *sql, long long *out, char **text, char **cause)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *t;
	int rc, ret = -1;

	if (sqlite3_prepare_v2(db->sq, sql, -1, &s, NULL) != SQLITE_OK) {
		db_fail(db, cause, sql);
		goto out;
	}
	if ((rc = db_step(db, s, sql, cause)) == -1)
		goto out;
	if (rc != SQLITE_ROW) {
		set_cause(cause, "%s: no result", sql);
		goto out;
	}
	if (out != NULL)
		*out = sqlite3_column_int64(s, 0);
	if (text != NULL) {
		t = sqlite3_column_text(s, 0);
		*text = xstrdup(t != NULL ? (const char *)t : "");
	}
	ret = 0;
out:
	sqlite3_finalize(s);
	return ret;
}

static int
exec_sql(struct db *db, const char *sql, const char *what, char **cause)
{
	if (sqlite3_exec(db->sq, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, cause, what);
	return 0;
}

static int
user_version(struct db *db, int *v, char **cause)
{
	long long n;

	if (query_one(db, "PRAGMA user_version", &n, NULL, cause) == -1)
		return -1;
	if (n < 0 || n > DB_SCHEMA_LATEST)
		return set_cause(cause, "%s: database schema v%lld is newer than this program "
		    "supports (v%d): upgrade p2p", db->path, n, DB_SCHEMA_LATEST);
	*v = (int)n;
	return 0;
}

/* Bring the schema to the latest version, one transaction per migration. Another
 * process may be migrating the same file: the version is read again under the write
 * lock and only a migration that is still needed runs. */
static int
db_migrate(struct db *db, char **cause)
{
	char sql[64];
	int v;

	for (;;) {
		if (user_version(db, &v, cause) == -1)
			return -1;
		if (v == DB_SCHEMA_LATEST)
			break;
		if (exec_sql(db, "BEGIN IMMEDIATE", "begin migration", cause) == -1)
			return -1;
		if (user_version(db, &v, cause) == -1)
			goto fail;
		if (v == DB_SCHEMA_LATEST) {
			if (exec_sql(db, "COMMIT", "commit", cause) == -1)
				goto fail;
			break;
		}
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
		if (exec_sql(db, migrations[v], "migration", cause) == -1 ||
		    exec_sql(db, sql, "set user_version", cause) == -1 ||
		    exec_sql(db, "COMMIT", "commit migration", cause) == -1)
			goto fail;
		log_info("%s: database schema v%d -> v%d", db->path, v, v + 1);
	}
	db->version = v;
	return 0;
fail:
	if (!sqlite3_get_autocommit(db->sq))
		sqlite3_exec(db->sq, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* An error that means the file itself is damaged (not busy, not I/O, not a bug). */
static int
is_damage(int rc)
{
	return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

int
db_check(struct db *db, int full, char **problem, char **cause)
{
	sqlite3_stmt *s = NULL;
	const char *sql = full ? "PRAGMA integrity_check(20)" : "PRAGMA quick_check(20)";
	const unsigned char *t;
	char *first = NULL, *p;
	int rc, n = 0, ret = -1;

	*problem = NULL;
	if ((rc = sqlite3_prepare_v2(db->sq, sql, -1, &s, NULL)) == SQLITE_OK)
		rc = sqlite3_step(s);
	for (; rc == SQLITE_ROW; rc = sqlite3_step(s)) {
		t = sqlite3_column_text(s, 0);
		if (t == NULL || strcmp((const char *)t, "ok") == 0)
			continue;
		if (first == NULL)
			first = xstrdup((const char *)t);
		n++;
	}
	if (rc != SQLITE_DONE) {
		if (!is_damage(sqlite3_extended_errcode(db->sq))) {
			db_fail(db, cause, sql);
			goto out;
		}
		if (first == NULL)
			first = xstrdup(sqlite3_errmsg(db->sq));
		n++;
	}
	ret = 0;
	if (n > 0) {
		/* SQLite's messages can span lines ("*** in database main ***\n...") */
		for (p = first; *p != '\0'; p++)
			if (*p == '\n' || *p == '\r' || *p == '\t')
				*p = ' ';
		p = first;
		if (strncmp(p, "*** in database main ***", 24) == 0)
			for (p += 24; *p == ' '; p++)
				;
		xasprintf(problem, "%s: %s%s", full ? "integrity_check" : "quick_check", p,
		    n > 1 ? " (and more)" : "");
		ret = 1;
	}
out:
	sqlite3_finalize(s);
	free(first);
	return ret;
}

/* The one-line cause for a damaged file: what it is and what to do. */
static void
damaged_cause(char **cause, const char *path, const char *problem)
{
	set_cause(cause, "%s is damaged (%s): not using it; restore it from a backup, or "
	    "move its data directory aside and start a new node that rejoins the network "
	    "(files replicated on peers come back)", path, problem);
}

/* Create the file with mode 0600 ourselves: SQLite would create it 0644 & ~umask, and
 * its -wal and -shm files copy the database file's mode. */
static int
create_private(const char *path, char **cause)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1) {
		if (errno == EEXIST)
			return 0;
		return set_cause(cause, "%s: %s", path, strerror(errno));
	}
	if (fchmod(fd, 0600) == -1) {
		set_cause(cause, "%s: chmod: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
db_open(struct db **out, const char *path, int flags, char **cause)
{
	struct db *db;
	struct stat sb;
	char *mode = NULL;
	int oflags, rc, v;

	*out = NULL;
	db = xcalloc(1, sizeof *db);
	db->path = xstrdup(path);
	db->flags = flags;

	if (flags & DB_RDONLY) {
		/* Never create anything: the caller reports "no node data here". */
		if (stat(path, &sb) == -1) {
			int saved = errno;
			if (saved == ENOENT)
				set_cause(cause, "%s: no database (no such file)", path);
			else
				set_cause(cause, "%s: %s", path, strerror(saved));
			db_close(db);
			errno = saved;
			return -1;
		}
		oflags = SQLITE_OPEN_READONLY;
	} else {
		if (create_private(path, cause) == -1)
			goto fail;
		oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	}
	/* One thread per connection: no SQLite mutexes. */
	oflags |= SQLITE_OPEN_NOMUTEX;
	pthread_once(&sqlite_once, sqlite_setup);
	rc = sqlite3_open_v2(path, &db->sq, oflags, db_walbuf_vfs());
	if (rc != SQLITE_OK) {
		set_cause(cause, "%s: %s", path,
		    db->sq != NULL ? sqlite3_errmsg(db->sq) : sqlite3_errstr(rc));
		goto fail;
	}
	if (sqlite3_busy_timeout(db->sq, DB_BUSY_TIMEOUT_MS) != SQLITE_OK) {
		db_fail(db, cause, path);
		goto fail;
	}
	/* Before anything writes to it (migrations, WAL): a damaged file is left as it is. */
	if (flags & DB_CHECK) {
		char *problem = NULL;

		if ((rc = db_check(db, 0, &problem, cause)) == -1)
			goto fail;
		if (rc == 1) {
			damaged_cause(cause, path, problem);
			free(problem);
			goto fail;
		}
	}

	if (flags & DB_RDONLY) {
		/* The journal mode is a property of the file, set by writers. */
		if (exec_sql(db, "PRAGMA query_only = ON", path, cause) == -1)
			goto fail;
		if (user_version(db, &v, cause) == -1)
			goto fail;
		if (v != DB_SCHEMA_LATEST) {
			set_cause(cause, "%s: database schema is v%d, this program needs v%d: "
			    "start the node (p2p serve) once to upgrade it", path, v,
			    DB_SCHEMA_LATEST);
			goto fail;
		}
		db->version = v;
	} else {
		if (query_one(db, "PRAGMA journal_mode = WAL", NULL, &mode, cause) == -1)
			goto fail;
		if (strcmp(mode, "wal") != 0) {
			set_cause(cause, "%s: cannot use WAL journal mode (got %s)", path, mode);
			goto fail;
		}
		if (exec_sql(db, "PRAGMA synchronous = FULL", path, cause) == -1 ||
		    exec_sql(db, "PRAGMA wal_autocheckpoint = " DB_XSTR(DB_WAL_CHECKPOINT_PAGES),
		    path, cause) == -1 ||
		    exec_sql(db, "PRAGMA journal_size_limit = " DB_XSTR(DB_WAL_KEEP_BYTES),
		    path, cause) == -1 ||
		    exec_sql(db, "PRAGMA foreign_keys = ON", path, cause) == -1)
			goto fail;
		if (db_migrate(db, cause) == -1)
			goto fail;
	}

	for (size_t i = 0; i < nitems(db_sql); i++) {
		if (db_sql[i] == NULL)
			fatalx("%s: statement %zu has no SQL", __func__, i);
		if (sqlite3_prepare_v3(db->sq, db_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		    &db->st[i], NULL) != SQLITE_OK) {
			set_cause(cause, "%s: prepare \"%s\": %s", path, db_sql[i],
			    sqlite3_errmsg(db->sq));
			goto fail;
		}
	}
	free(mode);
	*out = db;
	return 0;
fail:
	/* damage met on the way (a header that is not SQLite's): say so, naming the file */
	if (cause != NULL && *cause != NULL && db->sq != NULL &&
	    is_damage(sqlite3_extended_errcode(db->sq)) &&
	    strstr(*cause, " is damaged (") == NULL) {
		char *c = *cause;

		*cause = NULL;
		damaged_cause(cause, path, c);
		free(c);
	}
	free(mode);
	db_close(db);
	return -1;
}

static int
wal_hook(void *arg, sqlite3 *sq, const char *name, int pages)
{
	struct db *db = arg;

	(void)sq;
	(void)name;
	db->wal_pages = pages;
	return SQLITE_OK;
}

int
db_is_full(struct db *db)
{
	return sqlite3_errcode(db->sq) == SQLITE_FULL;
}

void
db_wal_watch(struct db *db)
{
	/* replaces the automatic checkpoint, itself a WAL hook */
	sqlite3_wal_hook(db->sq, wal_hook, db);
}

int
db_wal_pages(const struct db *db)
{
	return db->wal_pages;
}

int
db_checkpoint(struct db *db, int *log, int *done, char **cause)
{
	int rc = sqlite3_wal_checkpoint_v2(db->sq, NULL, SQLITE_CHECKPOINT_PASSIVE, log, done);

	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		return db_fail(db, cause, "checkpoint");
	return 0;
}

int
db_sync(struct db *db, char **cause)
{
	sqlite3_file *f = NULL;
	int rc;

	if (sqlite3_file_control(db->sq, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK ||
	    f == NULL || f->pMethods == NULL)
		return set_cause(cause, "%s: sync: no database file", db->path);
	if ((rc = f->pMethods->xSync(f, SQLITE_SYNC_NORMAL)) != SQLITE_OK)
		return set_cause(cause, "%s: sync: %s", db->path, sqlite3_errstr(rc));
	return 0;
}

void
db_close(struct db *db)
{
	if (db == NULL)
		return;
	for (size_t i = 0; i < nitems(db->st); i++)
		sqlite3_finalize(db->st[i]);
	if (db->sq != NULL && sqlite3_close(db->sq) != SQLITE_OK)
		log_warnx("%s: close: %s", db->path, sqlite3_errmsg(db->sq));
	free(db->dg_notes);
	free(db->path);
	free(db);
}

int
db_schema_version(struct db *db)
{
	return db->version;
}

/* ---- transactions ------------------------------------------------------------------- */

int
db_begin(struct db *db, char **cause)
{
	db_digest_tx_end(db, 0);
	return db_exec_stmt(db, ST_BEGIN, "begin", cause);
}

int
db_commit(struct db *db, char **cause)
{
	if (db_exec_stmt(db, ST_COMMIT, "commit", cause) == -1)
		return -1;
	db_digest_tx_end(db, 1);
	return 0;
}

void
db_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->sq))
		db_exec_stmt(db, ST_ROLLBACK, "rollback", NULL);
	db_digest_tx_end(db, 0);
}

/* ---- meta --------------------------------------------------------------------------- */

int
db_meta_get(struct db *db, const char *k, char **v, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_META_GET);
	const unsigned char *t;
	int rc, ret = -1;

	*v = NULL;
	if (sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC) != SQLITE_OK) {
		db_fail(db, cause, "meta get");
		goto out;
	}
	if ((rc = db_step(db, s, "meta get", cause)) == -1)
		goto out;
	if (rc == SQLITE_DONE) {
		ret = 1;
		goto out;
	}
	t = sqlite3_column_text(s, 0);
	if (t == NULL && sqlite3_errcode(db->sq) == SQLITE_NOMEM)
		fatalx("%s: out of memory", __func__);
	*v = xstrdup(t != NULL ? (const char *)t : "");
	ret = 0;
out:
	db_reset(s);
	return ret;
}

int
db_meta_set(struct db *db, const char *k, const char *v, char **cause)
{
	sqlite3_stmt *s = db_stmt(db, ST_META_SET);
	int ret = -1;

	if (sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, v, -1, SQLITE_STATIC) != SQLITE_OK) {
		db_fail(db, cause, "meta set");
		goto out;
	}
	if (db_step(db, s, "meta set", cause) == -1)
		goto out;
	ret = 0;
out:
	db_reset(s);
	return ret;
}
