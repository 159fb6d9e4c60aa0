/* invite.c: `p2p invite`: a join ticket for this node's network (GET /v1/invite: the
 * daemon holds the network key, which may be readable only by its user). */
#include "cmd/client.h"
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmd_invite_exec(int argc, char **argv);

const struct cmd_entry cmd_invite_entry = {
	.name = "invite",
	.alias = NULL,
	.usage = "[--json] [--db PATH]",
	.summary = "print a ticket that lets another node join this network",
	.help =
	    "Ask the running node for a join ticket: one line \"p2p1:...\" holding the\n"
	    "network key and this node's dialable addresses. On the new node:\n"
	    "  p2p serve --join TICKET\n"
	    "The ticket contains the network key: whoever has it can join. Send it over a\n"
	    "channel you trust and do not leave it in shell history or logs.\n"
	    "\n"
	    "Options:\n"
	    "  --json      {\"ticket\": \"p2p1:...\", \"addresses\": [...]}\n"
	    "  --db PATH   the node's database (its folder holds the daemon's api.sock)\n"
	    "\n"
	    "Exit status: 0 ok; 1 no daemon or the daemon failed; 2 usage error.\n",
	.exec = cmd_invite_exec,
};

static int
cmd_invite_exec(int argc, char **argv)
{
	static const struct option opts[] = { CMD_OPT_JSON, CMD_OPT_DB, CMD_OPT_END };
	const struct cmd_entry *e = &cmd_invite_entry;
	struct cmd_common co;
	json_t *o = NULL;
	char *db = NULL;
	int ch, rc = EXIT_FAIL;

	if ((ch = cmd_parse_common_only(e, argc, argv, opts, &co)) != -1)
		return ch;
	if ((db = cmd_db_resolve(co.db)) == NULL)
		goto out;
	if (client_call_json(db, 0, "GET", "/v1/invite", "ticket", JSON_STRING, &o) != 0)
		goto out;
	if (co.json) {
		json_dumpf(o, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	} else {
		printf("%s\n", json_string_value(json_object_get(o, "ticket")));
		if (json_array_size(json_object_get(o, "addresses")) == 0)
			cmd_err("warning: the ticket has no address (the node listens on none): "
			    "the joining node needs --bootstrap ADDR too");
	}
	rc = EXIT_OK;
out:
	json_decref(o);
	free(db);
	return rc;
}
