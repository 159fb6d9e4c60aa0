/* shares.c: `p2p shares`: per file, which nodes hold its chunks and how many copies each
 * chunk has against the replication target (GET /v1/shares; needs the daemon, which
 * knows which peers are live). */
#include "cmd/client.h"
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmd_shares_exec(int argc, char **argv);

const struct cmd_entry cmd_shares_entry = {
	.name = "shares",
	.alias = NULL,
	.usage = "[--json] [--db PATH]",
	.summary = "show where each file's chunks are and how many copies they have",
	.help =
	    "For every file: its chunks, the fewest copies any of its chunks has (this\n"
	    "node, if it holds the chunk, plus the peers known to hold it: they acknowledged\n"
	    "a replica, served it, or announced it), the target (--replicas, at most the\n"
	    "live nodes), and the nodes holding its chunks with how many each.\n"
	    "\n"
	    "Options:\n"
	    "  --json      the JSON object of GET /v1/shares\n"
	    "  --db PATH   the node's database\n"
	    "\n"
	    "Exit status: 0 ok; 1 no daemon or an error; 2 usage error.\n",
	.exec = cmd_shares_exec,
};

static void
print_table(json_t *files)
{
	size_t i, j, kw = 3;
	json_t *f, *nd;

	json_array_foreach(files, i, f) {
		const char *k = json_string_value(json_object_get(f, "key"));
		size_t n = k != NULL ? strlen(k) : 1;

		if (n > kw)
			kw = n;
	}
	if (kw > 40)
		kw = 40;
	printf("%-*s  %8s  %6s  %6s  %s\n", (int)kw, "KEY", "CHUNKS", "COPIES", "TARGET",
	    "NODES (chunks held)");
	json_array_foreach(files, i, f) {
		const char *k = json_string_value(json_object_get(f, "key"));
		json_int_t c = json_integer_value(json_object_get(f, "copies"));
		json_int_t t = json_integer_value(json_object_get(f, "target"));
		json_int_t nc = json_integer_value(json_object_get(f, "chunks"));

		printf("%-*.*s  %8lld  %6lld  %6lld %s", (int)kw, (int)kw, k ? k : "?",
		    (long long)nc, (long long)c, (long long)t, c < t && nc > 0 ? "!" : " ");
		json_array_foreach(json_object_get(f, "nodes"), j, nd) {
			const char *id = json_string_value(json_object_get(nd, "node"));

			printf(" %.8s%s:%lld", id ? id : "?",
			    json_is_true(json_object_get(nd, "self")) ? "(self)" : "",
			    (long long)json_integer_value(json_object_get(nd, "chunks")));
		}
		putchar('\n');
	}
}

static int
cmd_shares_exec(int argc, char **argv)
{
	static const struct option opts[] = { CMD_OPT_JSON, CMD_OPT_DB, CMD_OPT_END };
	const struct cmd_entry *e = &cmd_shares_entry;
	struct cmd_common co;
	json_t *o = NULL;
	char *db = NULL;
	int ch, rc = EXIT_FAIL;

	if ((ch = cmd_parse_common_only(e, argc, argv, opts, &co)) != -1)
		return ch;
	if ((db = cmd_db_resolve(co.db)) == NULL)
		goto out;
	if (client_call_json(db, 0, "GET", "/v1/shares", "files", JSON_ARRAY, &o) != 0)
		goto out;
	if (co.json) {
		json_dumpf(o, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	} else {
		print_table(json_object_get(o, "files"));
	}
	rc = EXIT_OK;
out:
	json_decref(o);
	free(db);
	return rc;
}
