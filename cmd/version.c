/* version.c: `p2p version`. */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include <stdio.h>

static int cmd_version_exec(int argc, char **argv);

const struct cmd_entry cmd_version_entry = {
	.name = "version",
	.alias = NULL,
	.usage = "[--json]",
	.summary = "print the version",
	.help =
	    "Print this program's version (also `p2p --version`).\n"
	    "\n"
	    "Options:\n"
	    "  --json   print {\"version\": \"...\"}\n",
	.exec = cmd_version_exec,
};

static int
cmd_version_exec(int argc, char **argv)
{
	static const struct option opts[] = { CMD_OPT_JSON, CMD_OPT_END };
	struct cmd_common co;
	int ch;

	cmd_common_init(&co);
	cmd_getopt_begin();
	while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (cmd_common_opt(&co, ch, optarg))
			continue;
		return cmd_bad_option(&cmd_version_entry, argv, ch);
	}
	if (optind < argc)
		return cmd_usage(&cmd_version_entry, "unexpected argument '%s'", argv[optind]);
	if (co.json)
		printf("{\"version\": \"%s\"}\n", P2P_VERSION);
	else
		printf("p2p %s\n", P2P_VERSION);
	return EXIT_OK;
}
