/* db_int.h: what the db/ files share (the connection, its prepared statements and
 * small helpers). Not for use outside db/. */
#ifndef P2P_DB_INT_H
#define P2P_DB_INT_H

#include <sqlite3.h>

#include "db/db.h"

/* Every statement the module runs; the SQL is in db_sql[] (db.c). All are prepared
 * once when the connection is opened, then bound, stepped and reset. */
/* A connection that writes checkpoints the WAL itself once it holds this many pages (4 KiB
 * each: 32 MiB; SQLite's default is 1000), unless db_wal_watch() took that job from it:
 * the daemon's committer does, and leaves checkpoints to a thread of their own
 * (node/files.c). A page changed again before the checkpoint is written back once. */
#define DB_WAL_CHECKPOINT_PAGES 8192
/* A WAL file larger than this is cut back to it when the log restarts. */
#define DB_WAL_KEEP_BYTES 67108864
/* The VFS every connection is opened with (db/walbuf.c): the unix one, with a
 * transaction's WAL writes handed to the file system in one call at its commit. NULL
 * when it could not be registered (the default VFS is then used). Needs synchronous =
 * FULL on connections that write. */
#define DB_WALBUF_VFS "p2p-walbuf"
const char *db_walbuf_vfs(void);
#define DB_XSTR(x) DB_STR(x)
#define DB_STR(x) #x

enum db_stmt_id {
	/* db.c */
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_META_GET,
	ST_META_SET,
	/* files.c */
	ST_FILE_CURRENT,
	ST_FILE_VERSIONS,
	ST_FILE_INSERT,
	ST_FILE_DROP_OLDER,
	ST_FILE_ROW,
	ST_FILE_CHUNK_INSERT,
	ST_FILE_CHUNKS,
	ST_FILE_CHUNKS_RANGE,
	ST_FILES_LIST,
	ST_FILES_LIST_COPIES,
	ST_FILES_ENTRIES,
	ST_FILE_ENTRY,
	ST_FILES_INCOMPLETE,
	ST_CHUNKS_NOT_HELD,
	ST_TOMBSTONES_OLD,
	/* chunks.c */
	ST_CHUNK_UPSERT,
	ST_CHUNK_HAVE,
	ST_CHUNKS_UNREF,
	ST_CHUNK_FORGET,
	ST_CHUNKS_EACH,
	ST_REFS_CHECK,
	ST_CHUNK_SET_LOCAL,
	ST_DATA_INSERT,
	ST_CHUNK_PUT_INLINE,
	ST_CHUNK_DATA,
	ST_CHUNK_KNOW,
	ST_CHUNKS_FORGET_REMOTE,
	ST_TOMBSTONES_EXPIRE,
	ST_STATS,
	/* peers.c */
	ST_PEER_UPSERT,
	ST_PEER_GET,
	ST_PEERS_LIST,
	ST_PEERS_CLEANUP,
	ST_SHARES_CLEANUP,
	ST_SHARE_SET,
	ST_SHARE_DROP,
	ST_SHARES_OF_CHUNK,
	ST_FILES_HOLDERS,
	ST_PEER_EXISTS,
	ST__COUNT
};

struct db {
	sqlite3 *sq;
	char *path;
	int flags;
	int wal_pages; /* db_wal_watch: the WAL's pages after this connection's last commit */
	int version; /* PRAGMA user_version after open */
	sqlite3_stmt *st[ST__COUNT];
	struct db_digest *dg;    /* attached digest (files.c), or NULL */
	struct dg_note {         /* its changes by the open transaction */
		uint64_t hash;
		int64_t slot;
		uint8_t bucket;
		int8_t sign;     /* 1 entry in, -1 entry out */
	} *dg_notes;
	size_t dg_nnotes, dg_cap;
};

/* files.c: the attached digest takes (commit) or drops (rollback) the changes noted
 * in the transaction that ends. */
void db_digest_tx_end(struct db *db, int committed);
/* A key's current entry, for the attached digest (found 0: the key has no row). */
struct dg_entry {
	int found;
	uint64_t version;
	uint8_t origin[32];
	int deleted;
};
int db_dg_current(struct db *db, const char *key, struct dg_entry *e, char **cause);
/* Note in the open transaction that key's current entry went from *before to *after. */
void db_dg_note(struct db *db, const char *key, const struct dg_entry *before,
    const struct dg_entry *after);

/* The prepared statement for id (reset, no bindings). Callers db_reset() it when done. */
sqlite3_stmt *db_stmt(struct db *db, enum db_stmt_id id);
void db_reset(sqlite3_stmt *s);

/* Set *cause to "what: sqlite3_errmsg()"; returns -1. */
int db_fail(struct db *db, char **cause, const char *what);
/* sqlite3_step(): SQLITE_ROW or SQLITE_DONE, or -1 with *cause ("what: errmsg"). */
int db_step(struct db *db, sqlite3_stmt *s, const char *what, char **cause);

/* One atomic operation: BEGIN IMMEDIATE when no transaction is open (*own = 1), else a
 * SAVEPOINT inside the caller's transaction. db_op_end() commits/releases when ok, rolls
 * back to where db_op_begin() was otherwise, and returns -1 if committing fails. */
int db_op_begin(struct db *db, int *own, char **cause);
int db_op_end(struct db *db, int own, int ok, char **cause);

/* Copy a BLOB column of exactly len bytes into out (NULL column: zeros).
 * -1 with *cause if the stored length is different (a damaged row). */
int db_col_blob(struct db *db, sqlite3_stmt *s, int col, uint8_t *out, size_t len,
    char **cause);

#endif
