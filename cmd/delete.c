/* delete.c: `p2p delete <key>`: DELETE /v1/files/{key}. */
#include "cmd/client.h"
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmd_delete_exec(int argc, char **argv);

const struct cmd_entry cmd_delete_entry = {
	.name = "delete",
	.alias = NULL,
	.usage = "<key> [--quiet] [--json] [--db PATH]",
	.summary = "delete a file by key",
	.help =
	    "Delete the current version of KEY on the running node. The deletion is recorded\n"
	    "as a tombstone (see `p2p files list --deleted`); the chunks no other file uses\n"
	    "are freed later by the garbage collector.\n"
	    "\n"
	    "Options:\n"
	    "  -q, --quiet   print nothing on success\n"
	    "  --json        print the daemon's JSON reply\n"
	    "  --db PATH     the node's database (its folder holds the daemon's api.sock)\n"
	    "\n"
	    "Exit status: 0 deleted; 1 not found or no daemon; 2 usage error or bad key.\n"
	    "\n"
	    "Example:\n"
	    "  p2p delete notes.txt\n",
	.exec = cmd_delete_exec,
};

static int
cmd_delete_exec(int argc, char **argv)
{
	static const struct option opts[] = {
		CMD_OPT_QUIET, CMD_OPT_JSON, CMD_OPT_DB, CMD_OPT_END,
	};
	const struct cmd_entry *e = &cmd_delete_entry;
	struct cmd_common co;
	struct client *c = NULL;
	struct client_req q = { .method = "DELETE" };
	struct client_reply r;
	char *db = NULL, *ekey = NULL, *path = NULL;
	const char *key;
	int ch, rc;

	memset(&r, 0, sizeof r);
	cmd_common_init(&co);
	cmd_getopt_begin();
	while ((ch = getopt_long(argc, argv, ":q", opts, NULL)) != -1) {
		if (cmd_common_opt(&co, ch, optarg))
			continue;
		return cmd_bad_option(e, argv, ch);
	}
	if (argc - optind < 1)
		return cmd_usage(e, "expected a key");
	if (argc - optind > 1)
		return cmd_usage(e, "unexpected argument '%s'", argv[optind + 1]);
	key = argv[optind];
	if ((rc = cmd_check_key(key)) != 0)
		return rc;
	rc = EXIT_FAIL;
	if ((db = cmd_db_resolve(co.db)) == NULL)
		goto out;
	if (client_open(&c, db, 0) != 0)
		goto out;
	ekey = client_escape(c, key);
	xasprintf(&path, "/v1/files/%s", ekey);
	q.path = path;
	if (client_do(c, &q, &r) != 0)
		goto out;
	if (r.status == 404) {
		cmd_err("not found: %s", key);
		goto out;
	}
	if (r.status < 200 || r.status >= 300) {
		client_print_error(&r);
		goto out;
	}
	if (co.json && r.json != NULL) {
		json_dumpf(r.json, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	} else if (!co.quiet) {
		printf("deleted %s\n", key);
	}
	rc = EXIT_OK;
out:
	client_reply_free(&r);
	client_free(c);
	free(path);
	free(ekey);
	free(db);
	return rc;
}
