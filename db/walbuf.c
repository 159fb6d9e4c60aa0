/*
 * walbuf.c: a SQLite VFS shim ("p2p-walbuf") that gathers a transaction's writes to the
 * write-ahead log into one buffer and hands them to the file system at the commit's
 * sync, in writes of up to 124 KiB (30 frames) each.
 *
 * Why: SQLite writes each WAL frame as two pwrite(2) calls (its 24-byte header, then the
 * page), and a frame is 4,120 bytes, so the page's bytes straddle two page-cache pages:
 * three trips through the file system's write path per page of the transaction. Under
 * many small stores that was a tenth of all the CPU time of a 3-node network (perf,
 * `scripts/bench_load.sh`): about 10 pwrite calls per stored version on each node.
 * Gathered, a batch of a dozen versions is two calls.
 *
 * Every other file (the database, its shared memory) goes straight through, and so does
 * everything but writing on the WAL. On the WAL, what is written and not yet handed on
 * is handed on first by whatever could observe it: a read, the size, a truncation, a
 * sync, a file control, closing. Readers in other connections or processes only ever
 * read frames of committed transactions, and a commit becomes visible (the WAL index is
 * updated) only after the commit's xSync, which writes the buffer out first: that
 * takes synchronous = FULL (the WAL synced at every commit), which db_open sets on
 * every connection that writes. A crash loses only frames of a transaction that never
 * reached its sync, which SQLite's recovery ignores anyway (their checksums fail or
 * they have no commit frame).
 *
 * A write that does not follow the buffer (SQLite rewrites a frame in place when a
 * transaction changes a page twice) lands in the buffer if it falls inside it, and
 * otherwise hands the buffer on and starts a new one. A write bigger than the buffer
 * goes straight through. If handing on fails the bytes are dropped and the error goes
 * to SQLite with the call that failed: the transaction fails, as it would have had the
 * write itself failed.
 */
#include "db/db_int.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define WALBUF_CAP (1u << 20)
/* The unix VFS writes at most 0x1ffff bytes per call (it masks the length: SQLite's own
 * writes are a page or a frame), so the buffer goes out in slices of this size. */
#define WALBUF_WRITE_MAX (124u << 10)

struct wb_file {
	sqlite3_file base;
	sqlite3_file *real;       /* the underlying VFS's file, right after this struct */
	unsigned char *buf;       /* WAL only: allocated at the first write */
	size_t len;
	sqlite3_int64 off;        /* file offset of buf[0] */
	struct db_walbuf_stats st;
};

static sqlite3_vfs *wb_orig;
static sqlite3_vfs wb_vfs;

/* ---- the WAL: buffered writes ------------------------------------------------------ */

static int
wb_flush(struct wb_file *w)
{
	size_t done = 0;
	int rc = SQLITE_OK;

	while (done < w->len && rc == SQLITE_OK) {
		size_t n = w->len - done;

		if (n > WALBUF_WRITE_MAX)
			n = WALBUF_WRITE_MAX;
		rc = w->real->pMethods->xWrite(w->real, w->buf + done, (int)n,
		    w->off + (sqlite3_int64)done);
		w->st.flushes++;
		done += n;
	}
	w->len = 0;
	return rc;
}

static int
wb_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	struct wb_file *w = (struct wb_file *)f;
	int rc;

	w->st.writes++;
	if (n <= 0)
		return w->real->pMethods->xWrite(w->real, p, n, off);
	/* inside what is buffered (a frame rewritten in place) */
	if (w->len > 0 && off >= w->off && off + n <= w->off + (sqlite3_int64)w->len) {
		memcpy(w->buf + (off - w->off), p, (size_t)n);
		return SQLITE_OK;
	}
	/* right after it, and it fits */
	if (w->len > 0 && off == w->off + (sqlite3_int64)w->len &&
	    w->len + (size_t)n <= WALBUF_CAP) {
		memcpy(w->buf + w->len, p, (size_t)n);
		w->len += (size_t)n;
		return SQLITE_OK;
	}
	if ((rc = wb_flush(w)) != SQLITE_OK)
		return rc;
	if (w->buf == NULL)
		w->buf = malloc(WALBUF_CAP);
	if (w->buf == NULL || (size_t)n > WALBUF_WRITE_MAX) {
		w->st.flushes++;
		return w->real->pMethods->xWrite(w->real, p, n, off);
	}
	memcpy(w->buf, p, (size_t)n);
	w->len = (size_t)n;
	w->off = off;
	return SQLITE_OK;
}

static int
wb_close(sqlite3_file *f)
{
	struct wb_file *w = (struct wb_file *)f;
	int rc = wb_flush(w), rc2;

	free(w->buf);
	w->buf = NULL;
	rc2 = w->real->pMethods->xClose(w->real);
	return rc != SQLITE_OK ? rc : rc2;
}

static int
wb_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	struct wb_file *w = (struct wb_file *)f;
	int rc;

	if ((rc = wb_flush(w)) != SQLITE_OK)
		return rc;
	return w->real->pMethods->xRead(w->real, p, n, off);
}

static int
wb_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct wb_file *w = (struct wb_file *)f;
	int rc;

	if ((rc = wb_flush(w)) != SQLITE_OK)
		return rc;
	return w->real->pMethods->xTruncate(w->real, size);
}

static int
wb_sync(sqlite3_file *f, int flags)
{
	struct wb_file *w = (struct wb_file *)f;
	int rc;

	if ((rc = wb_flush(w)) != SQLITE_OK)
		return rc;
	return w->real->pMethods->xSync(w->real, flags);
}

static int
wb_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	struct wb_file *w = (struct wb_file *)f;
	int rc;

	if ((rc = wb_flush(w)) != SQLITE_OK)
		return rc;
	return w->real->pMethods->xFileSize(w->real, size);
}

static int
wb_file_control(sqlite3_file *f, int op, void *arg)
{
	struct wb_file *w = (struct wb_file *)f;
	int rc;

	if ((rc = wb_flush(w)) != SQLITE_OK)
		return rc;
	return w->real->pMethods->xFileControl(w->real, op, arg);
}

/* ---- everything else goes straight through ------------------------------------------ */

#define REAL(f) (((struct wb_file *)(f))->real)

static int
pt_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}

static int
pt_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}

static int
pt_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}

static int
pt_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int
pt_sync(sqlite3_file *f, int flags)
{
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int
pt_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int
pt_lock(sqlite3_file *f, int lock)
{
	return REAL(f)->pMethods->xLock(REAL(f), lock);
}

static int
pt_unlock(sqlite3_file *f, int lock)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), lock);
}

static int
pt_check_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int
pt_file_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int
pt_sector_size(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int
pt_device_chars(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int
pt_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int
pt_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void
pt_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int
pt_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int
pt_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}

static int
pt_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

/* Methods the unix VFS gives every file it opens (version 3: shared memory, mmap). The
 * WAL's differ in what it buffers. */
static const sqlite3_io_methods pt_methods = {
	3, pt_close, pt_read, pt_write, pt_truncate, pt_sync, pt_file_size, pt_lock,
	pt_unlock, pt_check_reserved, pt_file_control, pt_sector_size, pt_device_chars,
	pt_shm_map, pt_shm_lock, pt_shm_barrier, pt_shm_unmap, pt_fetch, pt_unfetch,
};
static const sqlite3_io_methods wal_methods = {
	3, wb_close, wb_read, wb_write, wb_truncate, wb_sync, wb_file_size, pt_lock,
	pt_unlock, pt_check_reserved, wb_file_control, pt_sector_size, pt_device_chars,
	pt_shm_map, pt_shm_lock, pt_shm_barrier, pt_shm_unmap, pt_fetch, pt_unfetch,
};

/* ---- the VFS ------------------------------------------------------------------------ */

static int
wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct wb_file *w = (struct wb_file *)f;
	int rc;

	(void)vfs;
	memset(w, 0, sizeof *w);
	w->real = (sqlite3_file *)(w + 1);
	rc = wb_orig->xOpen(wb_orig, name, w->real, flags, out_flags);
	if (rc != SQLITE_OK || w->real->pMethods == NULL) {
		/* nothing to close: SQLite will not call xClose on a file without methods */
		if (w->real->pMethods != NULL)
			w->real->pMethods->xClose(w->real);
		w->base.pMethods = NULL;
		return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
	}
	w->base.pMethods = (flags & SQLITE_OPEN_WAL) ? &wal_methods : &pt_methods;
	return SQLITE_OK;
}

static int
wb_delete(sqlite3_vfs *vfs, const char *name, int dirsync)
{
	(void)vfs;
	return wb_orig->xDelete(wb_orig, name, dirsync);
}

static int
wb_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	return wb_orig->xAccess(wb_orig, name, flags, out);
}

static int
wb_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	return wb_orig->xFullPathname(wb_orig, name, n, out);
}

static void *
wb_dlopen(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs;
	return wb_orig->xDlOpen(wb_orig, name);
}

static void
wb_dlerror(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	wb_orig->xDlError(wb_orig, n, out);
}

static void (*wb_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	(void)vfs;
	return wb_orig->xDlSym(wb_orig, h, sym);
}

static void
wb_dlclose(sqlite3_vfs *vfs, void *h)
{
	(void)vfs;
	wb_orig->xDlClose(wb_orig, h);
}

static int
wb_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return wb_orig->xRandomness(wb_orig, n, out);
}

static int
wb_sleep(sqlite3_vfs *vfs, int us)
{
	(void)vfs;
	return wb_orig->xSleep(wb_orig, us);
}

static int
wb_current_time(sqlite3_vfs *vfs, double *out)
{
	(void)vfs;
	return wb_orig->xCurrentTime(wb_orig, out);
}

static int
wb_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return wb_orig->xGetLastError(wb_orig, n, out);
}

static int
wb_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	(void)vfs;
	return wb_orig->xCurrentTimeInt64(wb_orig, out);
}

static pthread_once_t wb_once = PTHREAD_ONCE_INIT;
static const char *wb_name;

static void
wb_register(void)
{
	sqlite3_vfs *orig = sqlite3_vfs_find(NULL);

	/* a default VFS older than version 2 (no xCurrentTimeInt64) is not one this build
	 * of SQLite has: leave the connections on it */
	if (orig == NULL || orig->iVersion < 2 || orig->xCurrentTimeInt64 == NULL)
		return;
	wb_orig = orig;
	wb_vfs.iVersion = 2;
	wb_vfs.szOsFile = (int)sizeof(struct wb_file) + orig->szOsFile;
	wb_vfs.mxPathname = orig->mxPathname;
	wb_vfs.zName = DB_WALBUF_VFS;
	wb_vfs.xOpen = wb_open;
	wb_vfs.xDelete = wb_delete;
	wb_vfs.xAccess = wb_access;
	wb_vfs.xFullPathname = wb_full_pathname;
	wb_vfs.xDlOpen = wb_dlopen;
	wb_vfs.xDlError = wb_dlerror;
	wb_vfs.xDlSym = wb_dlsym;
	wb_vfs.xDlClose = wb_dlclose;
	wb_vfs.xRandomness = wb_randomness;
	wb_vfs.xSleep = wb_sleep;
	wb_vfs.xCurrentTime = wb_current_time;
	wb_vfs.xGetLastError = wb_last_error;
	wb_vfs.xCurrentTimeInt64 = wb_current_time64;
	if (sqlite3_vfs_register(&wb_vfs, 0) == SQLITE_OK)
		wb_name = DB_WALBUF_VFS;
}

const char *
db_walbuf_vfs(void)
{
	pthread_once(&wb_once, wb_register);
	return wb_name;
}

int
db_walbuf_stats(struct db *db, struct db_walbuf_stats *st)
{
	sqlite3_file *f = NULL;

	memset(st, 0, sizeof *st);
	if (sqlite3_file_control(db->sq, "main", SQLITE_FCNTL_JOURNAL_POINTER, &f) !=
	    SQLITE_OK || f == NULL || f->pMethods != &wal_methods)
		return -1;
	*st = ((struct wb_file *)f)->st;
	return 0;
}
