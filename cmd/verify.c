/* verify.c: `p2p verify`: check the database (PRAGMA integrity_check, and each file's
 * metadata against its manifest hash), re-hash every locally held chunk (database
 * read-only, chunk files read directly) and name the files that have corrupt or missing
 * chunks or damaged metadata. */
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "db/db.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmd_verify_exec(int argc, char **argv);

const struct cmd_entry cmd_verify_entry = {
	.name = "verify",
	.alias = NULL,
	.usage = "[--json] [--db PATH]",
	.summary = "check every stored chunk against its hash",
	.help =
	    "Check the database file (SQLite integrity check) and each file's metadata\n"
	    "(size, hashes and chunk list against its manifest hash). Read every chunk this\n"
	    "node holds, re-hash it and compare with its name (its SHA-256) and its recorded\n"
	    "size. Then name each file that uses a corrupt or missing chunk. Works with or\n"
	    "without a running daemon; the database is opened read-only.\n"
	    "\n"
	    "Options:\n"
	    "  --json      print the result as a JSON object\n"
	    "  -q, --quiet no progress line\n"
	    "  --db PATH   the node's database\n"
	    "\n"
	    "Output ends with \"verify: N chunks checked, N corrupt, N missing\" (and the\n"
	    "database damage found, if any), then \"ok\" when nothing is wrong.\n"
	    "\n"
	    "Exit status: 0 all chunks good; 1 damage found, no node data or a read error;\n"
	    "2 usage error.\n",
	.exec = cmd_verify_exec,
};

enum { BAD_CORRUPT = 2, BAD_MISSING = 1, BAD_ERROR = -1 };

struct bad {
	uint8_t h[HASH_LEN];
	int state;
	char *cause;
};

struct file_ref {
	int64_t id;
	char *key;
};

struct verify {
	struct store *s;
	struct db *db;
	uint64_t checked, corrupt, missing, errors, bytes;
	struct bad *bad;
	size_t nbad;
	struct file_ref *files;
	size_t nfiles;
	struct progress prog;
	char *db_problem;          /* integrity_check's finding, NULL if none */
	json_t *bad_meta;          /* [{"key", "detail"}]: metadata damaged */
};

static void
add_bad(struct verify *v, const uint8_t h[HASH_LEN], int state, char *cause)
{
	struct bad *b;

	v->bad = xreallocarray(v->bad, v->nbad + 1, sizeof *v->bad);
	b = &v->bad[v->nbad++];
	memcpy(b->h, h, HASH_LEN);
	b->state = state;
	b->cause = cause;
}

/* A chunk kept inline in the database: re-hash its bytes. 0 good, 1 not inline, 2 corrupt,
 * -1 error; *fsize its length. */
static int
verify_inline(struct verify *v, const uint8_t h[HASH_LEN], uint64_t size, uint64_t *fsize,
    char **cause)
{
	uint8_t got[HASH_LEN];
	void *buf;
	size_t n;
	int r;

	if (size > STORE_INLINE_MAX_LIMIT)
		return 1;
	buf = xmalloc(STORE_INLINE_MAX_LIMIT);
	r = db_chunk_read_inline(v->db, h, buf, STORE_INLINE_MAX_LIMIT, &n, cause);
	if (r == 0) {
		*fsize = n;
		hash_buf(buf, n, got);
		if (memcmp(got, h, HASH_LEN) != 0) {
			xasprintf(cause, "inline bytes do not match the chunk's SHA-256");
			r = 2;
		}
	}
	free(buf);
	return r;
}

static int
chunk_cb(void *arg, const uint8_t h[32], uint64_t size, uint64_t refs)
{
	struct verify *v = arg;
	uint64_t fsize = 0;
	char *cause = NULL;
	int r;

	(void)refs;
	r = verify_inline(v, h, size, &fsize, &cause);
	if (r == 1) /* not inline: a file */
		r = store_verify_chunk(v->s, h, &fsize, &cause);
	if (r == 0 && fsize != size) {
		xasprintf(&cause, "size %llu, expected %llu", (unsigned long long)fsize,
		    (unsigned long long)size);
		r = BAD_CORRUPT;
	}
	v->checked++;
	v->bytes += size;
	if (r != 0)
		add_bad(v, h, r == 1 ? BAD_MISSING : r == 2 ? BAD_CORRUPT : BAD_ERROR, cause);
	else
		free(cause);
	progress_update(&v->prog, v->bytes);
	return 0;
}

static int
file_cb(void *arg, const struct db_file *f)
{
	struct verify *v = arg;

	v->files = xreallocarray(v->files, v->nfiles + 1, sizeof *v->files);
	v->files[v->nfiles].id = f->id;
	v->files[v->nfiles].key = xstrdup(f->key);
	v->nfiles++;
	return 0;
}

static int
bad_cmp(const void *a, const void *b)
{
	return memcmp(a, b, HASH_LEN); /* h is the first member of struct bad */
}

static const char *
state_name(int state)
{
	return state == BAD_CORRUPT ? "corrupt" : state == BAD_MISSING ? "missing" : "error";
}

/* A chunk missing now may have been collected by a running daemon after we listed it:
 * only count it if the database still says we hold it. */
static void
recheck_missing(struct verify *v)
{
	size_t i, j = 0;

	for (i = 0; i < v->nbad; i++) {
		struct bad *b = &v->bad[i];

		if (b->state == BAD_MISSING && db_chunk_have(v->db, b->h, NULL) == 0) {
			free(b->cause);
			v->checked--;
			continue;
		}
		v->bad[j++] = *b;
	}
	v->nbad = j;
	for (i = 0; i < v->nbad; i++) {
		if (v->bad[i].state == BAD_CORRUPT)
			v->corrupt++;
		else if (v->bad[i].state == BAD_MISSING)
			v->missing++;
		else
			v->errors++;
	}
}

/* Per file: how many of its chunks are corrupt / missing. Files without damage get no
 * entry. Returns a JSON array of {"key", "corrupt", "missing"}. */
static json_t *
damaged_files(struct verify *v)
{
	json_t *out = json_array();

	if (v->nbad == 0)
		return out;
	qsort(v->bad, v->nbad, sizeof *v->bad, bad_cmp);
	for (size_t i = 0; i < v->nfiles; i++) {
		struct manifest m;
		uint64_t corrupt = 0, missing = 0;
		char *c = NULL;

		memset(&m, 0, sizeof m);
		if (db_file_manifest(v->db, v->files[i].id, &m, &c) != 0) {
			/* damaged (reported by check_metadata) or replaced meanwhile */
			free(c);
			manifest_free(&m);
			continue;
		}
		for (uint64_t k = 0; k < m.nchunks; k++) {
			struct bad *b = bsearch(m.chunks[k], v->bad, v->nbad, sizeof *v->bad,
			    bad_cmp);

			if (b != NULL && b->state == BAD_CORRUPT)
				corrupt++;
			else if (b != NULL && b->state == BAD_MISSING)
				missing++;
		}
		manifest_free(&m);
		if (corrupt + missing > 0)
			json_array_append_new(out, json_pack("{s:s, s:I, s:I}", "key",
			    v->files[i].key, "corrupt", (json_int_t)corrupt, "missing",
			    (json_int_t)missing));
	}
	return out;
}

/* The database file: SQLite's integrity check and the chunks' reference counts, then
 * every current file's metadata against its manifest hash (SQLite keeps no checksums: a
 * flipped byte inside a value is found only this way). -1 if the files cannot be listed
 * at all. */
static int
check_metadata(struct verify *v, char **cause)
{
	char *c = NULL;

	v->bad_meta = json_array();
	if (db_check(v->db, 1, &v->db_problem, &c) == -1) {
		/* could not run (not damage): say so, go on with the chunks */
		xasprintf(&v->db_problem, "integrity check failed to run: %s", c);
		free(c);
		c = NULL;
	}
	/* the chunks' reference counts (garbage collection trusts them) against a recount */
	if (v->db_problem == NULL) {
		uint64_t counts = 0, dangling = 0;

		if (db_refs_check(v->db, &counts, &dangling, &c) == -1) {
			xasprintf(&v->db_problem, "reference count check failed to run: %s", c);
			free(c);
			c = NULL;
		} else if (counts > 0 || dangling > 0)
			xasprintf(&v->db_problem, "reference counts: %llu chunks counted wrong, "
			    "%llu chunk-list entries name no chunk", (unsigned long long)counts,
			    (unsigned long long)dangling);
	}
	if (db_files_list(v->db, 0, file_cb, v, cause) == -1)
		return -1;
	for (size_t i = 0; i < v->nfiles; i++) {
		struct manifest m;

		memset(&m, 0, sizeof m);
		if (db_file_manifest(v->db, v->files[i].id, &m, &c) == -1)
			json_array_append_new(v->bad_meta, json_pack("{s:s, s:s}", "key",
			    v->files[i].key, "detail", c ? c : "?"));
		free(c);
		c = NULL;
		manifest_free(&m);
	}
	return 0;
}

static int
cmd_verify_exec(int argc, char **argv)
{
	static const struct option opts[] = {
		CMD_OPT_JSON, CMD_OPT_QUIET, CMD_OPT_DB, CMD_OPT_END,
	};
	const struct cmd_entry *e = &cmd_verify_entry;
	struct cmd_common co;
	struct verify v;
	struct db_stats st;
	json_t *damaged = NULL, *res, *chunks, *f;
	char *dbpath = NULL, *datadir = NULL, *cause = NULL, hex[HASH_HEX];
	int ch, rc = EXIT_FAIL, ok;
	size_t i;

	memset(&v, 0, sizeof v);
	cmd_common_init(&co);
	cmd_getopt_begin();
	while ((ch = getopt_long(argc, argv, ":q", opts, NULL)) != -1) {
		if (cmd_common_opt(&co, ch, optarg))
			continue;
		return cmd_bad_option(e, argv, ch);
	}
	if (optind < argc)
		return cmd_usage(e, "unexpected argument '%s'", argv[optind]);
	if ((dbpath = cmd_db_resolve(co.db)) == NULL)
		goto out;
	if (cmd_check_data(dbpath) != 0)
		goto out;
	datadir = path_dirname(dbpath);
	if (db_open(&v.db, dbpath, DB_RDONLY, &cause) == -1) {
		cmd_err("%s", cause ? cause : "cannot open the database"); /* names the file */
		goto out;
	}
	/* Read-only: a daemon may be writing chunks/tmp right now. */
	if (store_open_flags(&v.s, datadir, STORE_RDONLY, &cause) == -1) {
		cmd_err("%s: %s", datadir, cause ? cause : "cannot open the chunk store");
		goto out;
	}
	if (check_metadata(&v, &cause) == -1 && v.db_problem == NULL) {
		cmd_err("%s: %s", dbpath, cause ? cause : "cannot list files");
		goto out;
	}
	free(cause);
	cause = NULL;
	memset(&st, 0, sizeof st);
	if (db_stats(v.db, &st, NULL) == -1)
		st.chunk_bytes = 0;
	progress_begin(&v.prog, progress_wanted(co.quiet || co.json), st.chunk_bytes);
	if (db_chunks_each(v.db, chunk_cb, &v, &cause) == -1) {
		progress_end(&v.prog);
		if (v.db_problem != NULL)
			cmd_err("%s is damaged (%s)", dbpath, v.db_problem);
		cmd_err("%s: %s", dbpath, cause ? cause : "cannot list chunks");
		goto out;
	}
	progress_end(&v.prog);
	recheck_missing(&v);
	damaged = damaged_files(&v);
	ok = v.nbad == 0 && v.db_problem == NULL && json_array_size(v.bad_meta) == 0;

	if (co.json) {
		chunks = json_array();
		for (i = 0; i < v.nbad; i++) {
			hex_encode(v.bad[i].h, HASH_LEN, hex);
			f = json_pack("{s:s, s:s}", "hash", hex, "state", state_name(v.bad[i].state));
			if (v.bad[i].cause != NULL)
				json_object_set_new(f, "detail", json_string(v.bad[i].cause));
			json_array_append_new(chunks, f);
		}
		res = json_pack("{s:I, s:I, s:I, s:I, s:b, s:o, s:O, s:s?, s:O}",
		    "checked", (json_int_t)v.checked, "corrupt", (json_int_t)v.corrupt,
		    "missing", (json_int_t)v.missing, "errors", (json_int_t)v.errors,
		    "ok", ok, "bad_chunks", chunks, "files", damaged,
		    "database_damage", v.db_problem, "damaged_metadata", v.bad_meta);
		json_dumpf(res, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(res);
	} else {
		for (i = 0; i < v.nbad; i++) {
			hex_encode(v.bad[i].h, HASH_LEN, hex);
			printf("%s chunk %s%s%s\n", state_name(v.bad[i].state), hex,
			    v.bad[i].cause ? ": " : "", v.bad[i].cause ? v.bad[i].cause : "");
		}
		json_array_foreach(damaged, i, f) {
			printf("damaged %s: %lld corrupt, %lld missing chunks\n",
			    json_string_value(json_object_get(f, "key")),
			    (long long)json_integer_value(json_object_get(f, "corrupt")),
			    (long long)json_integer_value(json_object_get(f, "missing")));
		}
		json_array_foreach(v.bad_meta, i, f) {
			printf("damaged metadata %s: %s\n",
			    json_string_value(json_object_get(f, "key")),
			    json_string_value(json_object_get(f, "detail")));
		}
		if (v.db_problem != NULL)
			printf("damaged database %s: %s\n", dbpath, v.db_problem);
		printf("verify: %llu chunks checked, %llu corrupt, %llu missing",
		    (unsigned long long)v.checked, (unsigned long long)v.corrupt,
		    (unsigned long long)v.missing);
		if (v.errors > 0)
			printf(", %llu unreadable", (unsigned long long)v.errors);
		if (json_array_size(v.bad_meta) > 0)
			printf(", %zu files with damaged metadata", json_array_size(v.bad_meta));
		if (v.db_problem != NULL)
			printf(", database damaged");
		putchar('\n');
		if (ok)
			puts("ok");
	}
	rc = ok ? EXIT_OK : EXIT_FAIL;
out:
	json_decref(damaged);
	json_decref(v.bad_meta);
	free(v.db_problem);
	for (i = 0; i < v.nbad; i++)
		free(v.bad[i].cause);
	free(v.bad);
	for (i = 0; i < v.nfiles; i++)
		free(v.files[i].key);
	free(v.files);
	store_close(v.s);
	db_close(v.db);
	free(cause);
	free(datadir);
	free(dbpath);
	return rc;
}
