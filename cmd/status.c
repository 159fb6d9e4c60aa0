/* status.c: `p2p status` (alias `info`): a summary of GET /v1/status. */
#include "cmd/client.h"
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmd_status_exec(int argc, char **argv);

const struct cmd_entry cmd_status_entry = {
	.name = "status",
	.alias = "info",
	.usage = "[--json] [--db PATH]",
	.summary = "show the running node's identity, storage and peers",
	.help =
	    "Ask the running node for its status: node id, version, data directory, uptime,\n"
	    "files and bytes stored, chunks held, peers, uploads in progress, listening\n"
	    "addresses and API socket.\n"
	    "\n"
	    "Options:\n"
	    "  --json      print the daemon's JSON object (GET /v1/status) as is\n"
	    "  --db PATH   the node's database (its folder holds the daemon's api.sock)\n"
	    "\n"
	    "Exit status: 0 ok; 1 no daemon or the daemon failed; 2 usage error.\n",
	.exec = cmd_status_exec,
};

static uint64_t
jnum(json_t *o, const char *k)
{
	json_int_t v = json_integer_value(json_object_get(o, k));

	return v > 0 ? (uint64_t)v : 0;
}

static void
row(const char *name, const char *val)
{
	if (val != NULL)
		printf("%-11s %s\n", name, val);
}

static char *
fmt_uptime(uint64_t s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, "%llud %lluh %llum", (unsigned long long)(s / 86400),
		    (unsigned long long)(s % 86400 / 3600), (unsigned long long)(s % 3600 / 60));
	else if (s >= 3600)
		snprintf(buf, len, "%lluh %llum %llus", (unsigned long long)(s / 3600),
		    (unsigned long long)(s % 3600 / 60), (unsigned long long)(s % 60));
	else if (s >= 60)
		snprintf(buf, len, "%llum %llus", (unsigned long long)(s / 60),
		    (unsigned long long)(s % 60));
	else
		snprintf(buf, len, "%llus", (unsigned long long)s);
	return buf;
}

static void
print_status(json_t *o)
{
	json_t *peers = json_object_get(o, "peers"), *listen = json_object_get(o, "listen"), *v;
	char b1[32], b2[32], line[256];
	size_t i;

	row("node", json_string_value(json_object_get(o, "node_id")));
	row("version", json_string_value(json_object_get(o, "version")));
	row("data dir", json_string_value(json_object_get(o, "data_dir")));
	if (json_object_get(o, "pid") != NULL) {
		snprintf(line, sizeof line, "%llu", (unsigned long long)jnum(o, "pid"));
		row("pid", line);
	}
	if (json_object_get(o, "uptime_s") != NULL)
		row("uptime", fmt_uptime(jnum(o, "uptime_s"), b1, sizeof b1));
	snprintf(line, sizeof line, "%llu (%s), %llu deleted", (unsigned long long)jnum(o, "files"),
	    cmd_fmt_bytes(jnum(o, "bytes"), b1, sizeof b1), (unsigned long long)jnum(o, "tombstones"));
	row("files", line);
	snprintf(line, sizeof line, "%llu (%s on disk)", (unsigned long long)jnum(o, "chunks"),
	    cmd_fmt_bytes(jnum(o, "chunk_bytes"), b2, sizeof b2));
	row("chunks", line);
	if (json_object_get(o, "chunk_size") != NULL)
		row("chunk size", cmd_fmt_bytes(jnum(o, "chunk_size"), b1, sizeof b1));
	if (json_is_object(peers)) {
		snprintf(line, sizeof line, "%llu connected, %llu known",
		    (unsigned long long)jnum(peers, "connected"),
		    (unsigned long long)jnum(peers, "known"));
		row("peers", line);
	}
	if (json_object_get(o, "uploads") != NULL) {
		snprintf(line, sizeof line, "%llu in progress", (unsigned long long)jnum(o, "uploads"));
		row("uploads", line);
	}
	if (json_is_array(listen)) {
		if (json_array_size(listen) == 0)
			row("listen", "-");
		json_array_foreach(listen, i, v) {
			if (json_is_string(v))
				row(i == 0 ? "listen" : "", json_string_value(v));
		}
	}
	row("api", json_string_value(json_object_get(o, "api")));
}

static int
cmd_status_exec(int argc, char **argv)
{
	static const struct option opts[] = { CMD_OPT_JSON, CMD_OPT_DB, CMD_OPT_END };
	const struct cmd_entry *e = &cmd_status_entry;
	struct cmd_common co;
	json_t *o = NULL;
	char *db = NULL;
	int ch, rc = EXIT_FAIL;

	if ((ch = cmd_parse_common_only(e, argc, argv, opts, &co)) != -1)
		return ch;
	if ((db = cmd_db_resolve(co.db)) == NULL)
		goto out;
	if (client_call_json(db, 0, "GET", "/v1/status", NULL, JSON_OBJECT, &o) != 0)
		goto out;
	if (co.json) {
		json_dumpf(o, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	} else {
		print_status(o);
	}
	rc = EXIT_OK;
out:
	json_decref(o);
	free(db);
	return rc;
}
