/* peers.c: `p2p peers`: the peer table, from the daemon (GET /v1/peers) when one
 * answers, else straight from the database, opened read-only. */
#include "cmd/client.h"
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "db/db.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmd_peers_exec(int argc, char **argv);

const struct cmd_entry cmd_peers_entry = {
	.name = "peers",
	.alias = NULL,
	.usage = "[--json] [--db PATH]",
	.summary = "list the peers this node knows",
	.help =
	    "List the peers this node has completed a handshake with: short node ID,\n"
	    "address, transport, status (connected, disconnected, failed, left), when it was\n"
	    "last seen, and the round-trip time of the last PING. Works with or without a\n"
	    "running daemon: when none answers, the database is read directly (read-only).\n"
	    "\n"
	    "Options:\n"
	    "  --json      a JSON array of peer objects (as in GET /v1/peers)\n"
	    "  --db PATH   the node's database\n"
	    "\n"
	    "Exit status: 0 ok; 1 no node data or a read error; 2 usage error.\n",
	.exec = cmd_peers_exec,
};

static json_t *
peer_json(const struct db_peer *p)
{
	char hex[2 * NODE_ID_LEN + 1];
	json_t *o;

	hex_encode(p->id, NODE_ID_LEN, hex);
	o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "id", hex, "addr", p->addr,
	    "transport", p->transport, "status", p->status,
	    "first_seen", (json_int_t)p->first_seen_ms, "last_seen", (json_int_t)p->last_seen_ms,
	    "last_connect", (json_int_t)p->last_connect_ms, "failures", (json_int_t)p->failures,
	    "rtt_us", (json_int_t)p->rtt_us);
	if (o == NULL)
		fatalx("json_pack");
	return o;
}

static int
list_cb(void *arg, const struct db_peer *p)
{
	json_array_append_new(arg, peer_json(p));
	return 0;
}

/* 0 ok (*out set), CLIENT_NODAEMON, -1 error (printed). */
static int
peers_daemon(const char *db, json_t **out)
{
	json_t *o;
	int rc;

	*out = NULL;
	rc = client_call_json(db, CLIENT_QUIET_NODAEMON, "GET", "/v1/peers", "peers",
	    JSON_ARRAY, &o);
	if (rc != 0)
		return rc;
	*out = json_incref(json_object_get(o, "peers"));
	json_decref(o);
	return 0;
}

static int
peers_direct(const char *dbpath, json_t **out)
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
	if (db_peers_list(db, list_cb, arr, &cause) == -1) {
		cmd_err("%s: %s", dbpath, cause ? cause : "cannot list peers");
		free(cause);
		json_decref(arr);
		db_close(db);
		return -1;
	}
	db_close(db);
	*out = arr;
	return 0;
}

static char *
fmt_ago(int64_t ms, char *buf, size_t len)
{
	int64_t s;

	if (ms <= 0) {
		snprintf(buf, len, "never");
		return buf;
	}
	s = (wall_ms() - ms) / 1000;
	if (s < 0)
		s = 0;
	if (s < 2)
		snprintf(buf, len, "now");
	else if (s < 120)
		snprintf(buf, len, "%llds ago", (long long)s);
	else if (s < 7200)
		snprintf(buf, len, "%lldm ago", (long long)(s / 60));
	else if (s < 2 * 86400)
		snprintf(buf, len, "%lldh ago", (long long)(s / 3600));
	else
		snprintf(buf, len, "%lldd ago", (long long)(s / 86400));
	return buf;
}

static void
print_table(json_t *peers)
{
	size_t i, aw = 7;
	json_t *p;

	json_array_foreach(peers, i, p) {
		const char *a = json_string_value(json_object_get(p, "addr"));
		size_t n = a != NULL ? strlen(a) : 1;

		if (n > aw)
			aw = n;
	}
	if (aw > 48)
		aw = 48;
	printf("%-8s  %-*s  %-9s  %-12s  %-10s  %s\n", "ID", (int)aw, "ADDRESS", "TRANSPORT",
	    "STATUS", "LAST SEEN", "RTT");
	json_array_foreach(peers, i, p) {
		const char *id = json_string_value(json_object_get(p, "id"));
		const char *a = json_string_value(json_object_get(p, "addr"));
		const char *tr = json_string_value(json_object_get(p, "transport"));
		const char *st = json_string_value(json_object_get(p, "status"));
		json_int_t rtt = json_integer_value(json_object_get(p, "rtt_us"));
		char ago[32], rtts[32];

		fmt_ago(json_integer_value(json_object_get(p, "last_seen")), ago, sizeof ago);
		if (rtt < 0)
			snprintf(rtts, sizeof rtts, "-");
		else if (rtt < 10000)
			snprintf(rtts, sizeof rtts, "%.2f ms", (double)rtt / 1000.0);
		else
			snprintf(rtts, sizeof rtts, "%lld ms", (long long)(rtt / 1000));
		printf("%-8.8s  %-*s  %-9s  %-12s  %-10s  %s\n", id ? id : "?", (int)aw,
		    a && *a ? a : "-", tr ? tr : "-", st ? st : "-", ago, rtts);
	}
}

static int
cmd_peers_exec(int argc, char **argv)
{
	static const struct option opts[] = { CMD_OPT_JSON, CMD_OPT_DB, CMD_OPT_END };
	const struct cmd_entry *e = &cmd_peers_entry;
	struct cmd_common co;
	json_t *peers = NULL;
	char *db = NULL;
	int ch, rc = EXIT_FAIL, r;

	if ((ch = cmd_parse_common_only(e, argc, argv, opts, &co)) != -1)
		return ch;
	if ((db = cmd_db_resolve(co.db)) == NULL)
		goto out;
	r = peers_daemon(db, &peers);
	if (r == CLIENT_NODAEMON) {
		log_debug("no daemon for %s: reading the database directly", db);
		r = peers_direct(db, &peers);
	}
	if (r != 0)
		goto out;
	if (co.json) {
		json_dumpf(peers, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	} else {
		print_table(peers);
	}
	rc = EXIT_OK;
out:
	json_decref(peers);
	free(db);
	return rc;
}
