/* files.c: `p2p files list`: from the daemon (GET /v1/files) when one answers, else
 * straight from the database, opened read-only. */
#include "cmd/client.h"
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "db/db.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmd_files_exec(int argc, char **argv);

const struct cmd_entry cmd_files_entry = {
	.name = "files",
	.alias = NULL,
	.usage = "list [--json] [--deleted] [--db PATH]",
	.summary = "list the stored files",
	.help =
	    "List the current version of every file, in key order, as a table: key, size in\n"
	    "bytes, chunks, version, the start of the content's SHA-256, and creation time.\n"
	    "Works with or without a running daemon: when none answers, the database is read\n"
	    "directly (read-only; nothing is created or changed).\n"
	    "\n"
	    "Options:\n"
	    "  --json      a JSON array of file objects (as in GET /v1/files)\n"
	    "  --deleted   include tombstones (deleted keys)\n"
	    "  --db PATH   the node's database\n"
	    "\n"
	    "Exit status: 0 ok; 1 no node data or a read error; 2 usage error.\n",
	.exec = cmd_files_exec,
};

static json_t *
file_json(const struct db_file *f)
{
	char ver[17], sha[HASH_HEX], man[HASH_HEX], origin[2 * NODE_ID_LEN + 1];
	json_t *o;

	snprintf(ver, sizeof ver, "%016llx", (unsigned long long)f->version);
	hex_encode(f->file_hash, HASH_LEN, sha);
	hex_encode(f->manifest_hash, HASH_LEN, man);
	hex_encode(f->origin, NODE_ID_LEN, origin);
	o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:I, s:s, s:I}",
	    "key", f->key, "version", ver, "size", (json_int_t)f->size,
	    "chunk_size", (json_int_t)f->chunk_size, "chunks", (json_int_t)f->nchunks,
	    "sha256", sha, "manifest", man, "created", (json_int_t)f->created_ms,
	    "origin", origin, "chunks_present", (json_int_t)f->chunks_present);
	if (o == NULL)
		fatalx("json_pack");
	if (f->deleted)
		json_object_set_new(o, "deleted", json_true());
	return o;
}

static int
list_cb(void *arg, const struct db_file *f)
{
	json_array_append_new(arg, file_json(f));
	return 0;
}

/* 0 ok (*out set), CLIENT_NODAEMON, -1 error (printed). */
static int
list_daemon(const char *db, int deleted, json_t **out)
{
	json_t *o;
	int rc;

	*out = NULL;
	rc = client_call_json(db, CLIENT_QUIET_NODAEMON, "GET",
	    deleted ? "/v1/files?deleted=1" : "/v1/files", "files", JSON_ARRAY, &o);
	if (rc != 0)
		return rc;
	*out = json_incref(json_object_get(o, "files"));
	json_decref(o);
	return 0;
}

static int
list_direct(const char *dbpath, int deleted, json_t **out)
{
	struct db *db = NULL;
	char *cause = NULL;
	json_t *arr;

	*out = NULL;
	if (cmd_check_data(dbpath) != 0)
		return -1;
	if (db_open(&db, dbpath, DB_RDONLY, &cause) == -1) {
		cmd_err("%s", cause ? cause : "cannot open the database"); /* names the file */
		free(cause);
		return -1;
	}
	arr = json_array();
	if (db_files_list(db, deleted, list_cb, arr, &cause) == -1) {
		cmd_err("%s: %s", dbpath, cause ? cause : "cannot list files");
		free(cause);
		json_decref(arr);
		db_close(db);
		return -1;
	}
	db_close(db);
	*out = arr;
	return 0;
}

/* Columns a key takes: its code points (keys are valid UTF-8). */
static size_t
text_width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static void
print_key(const char *k, size_t width)
{
	size_t w = text_width(k);

	fputs(k, stdout);
	for (; w < width; w++)
		putchar(' ');
}

static void
print_table(json_t *files, int deleted)
{
	size_t i, kw = 3;
	json_t *f;

	json_array_foreach(files, i, f) {
		const char *k = json_string_value(json_object_get(f, "key"));
		size_t n = k != NULL ? text_width(k) : 0;

		if (n > kw)
			kw = n;
	}
	if (kw > 48)
		kw = 48; /* longer keys push their row's columns right */
	printf("%-*s %14s %7s %9s %7s  %-16s  %-12s  %s\n", (int)kw, "KEY", "SIZE", "CHUNKS",
	    "HERE", "COPIES", "VERSION", "SHA256",
	    deleted ? "CREATED              STATE" : "CREATED");
	json_array_foreach(files, i, f) {
		const char *k = json_string_value(json_object_get(f, "key"));
		const char *ver = json_string_value(json_object_get(f, "version"));
		const char *sha = json_string_value(json_object_get(f, "sha256"));
		int dead = json_is_true(json_object_get(f, "deleted"));
		char created[32], shap[13] = "-";

		if (sha != NULL && !dead)
			snprintf(shap, sizeof shap, "%.12s", sha);
		cmd_fmt_time(json_integer_value(json_object_get(f, "created")), created,
		    sizeof created);
		print_key(k ? k : "?", kw);
		if (dead) {
			printf(" %14s %7s %9s %7s", "-", "-", "-", "-");
		} else {
			/* replication state: chunks held here; copies of the least
			 * replicated chunk / target (known only to a running daemon) */
			json_t *rep = json_object_get(f, "replicas");
			char here[24], copies[24] = "-";

			snprintf(here, sizeof here, "%lld/%lld",
			    (long long)json_integer_value(json_object_get(f, "chunks_present")),
			    (long long)json_integer_value(json_object_get(f, "chunks")));
			if (json_is_object(rep))
				snprintf(copies, sizeof copies, "%lld/%lld",
				    (long long)json_integer_value(json_object_get(rep, "have")),
				    (long long)json_integer_value(json_object_get(rep, "target")));
			printf(" %14lld %7lld %9s %7s",
			    (long long)json_integer_value(json_object_get(f, "size")),
			    (long long)json_integer_value(json_object_get(f, "chunks")), here,
			    copies);
		}
		if (deleted)
			printf("  %-16s  %-12s  %-19s  %s\n", ver ? ver : "-", shap, created,
			    dead ? "deleted" : "live");
		else
			printf("  %-16s  %-12s  %s\n", ver ? ver : "-", shap, created);
	}
}

static int
cmd_files_exec(int argc, char **argv)
{
	static const struct option opts[] = {
		CMD_OPT_JSON, CMD_OPT_DB, { "deleted", no_argument, NULL, OPT_DELETED },
		CMD_OPT_END,
	};
	const struct cmd_entry *e = &cmd_files_entry;
	struct cmd_common co;
	json_t *files = NULL;
	char *db = NULL;
	int ch, deleted = 0, rc = EXIT_FAIL, r;

	cmd_common_init(&co);
	cmd_getopt_begin();
	while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (cmd_common_opt(&co, ch, optarg))
			continue;
		if (ch == OPT_DELETED) {
			deleted = 1;
			continue;
		}
		return cmd_bad_option(e, argv, ch);
	}
	if (argc - optind < 1)
		return cmd_usage(e, "expected a subcommand: list");
	if (strcmp(argv[optind], "list") != 0)
		return cmd_usage(e, "unknown subcommand '%s' (expected: list)", argv[optind]);
	if (argc - optind > 1)
		return cmd_usage(e, "unexpected argument '%s'", argv[optind + 1]);

	if ((db = cmd_db_resolve(co.db)) == NULL)
		goto out;
	r = list_daemon(db, deleted, &files);
	if (r == CLIENT_NODAEMON) {
		log_debug("no daemon for %s: reading the database directly", db);
		r = list_direct(db, deleted, &files);
	}
	if (r != 0)
		goto out;
	if (co.json) {
		json_dumpf(files, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	} else {
		print_table(files, deleted);
	}
	rc = EXIT_OK;
out:
	json_decref(files);
	free(db);
	return rc;
}
