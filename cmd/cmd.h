/* cmd.h: the subcommand table (one file per subcommand, tmux cmd-*.c style). */
#ifndef P2P_CMD_H
#define P2P_CMD_H

#include <stdio.h>

/* Exit codes (documented in README and `p2p --help`). */
#define EXIT_OK 0
#define EXIT_FAIL 1  /* failure: not found, daemon unreachable, verify found damage, ... */
#define EXIT_USAGE 2 /* unknown command or flag, bad argument */

struct cmd_entry {
	const char *name;      /* "store", "files" */
	const char *alias;     /* "info" for status; NULL */
	const char *usage;     /* "<key> <file|-> [--quiet]" */
	const char *summary;   /* one line for `p2p --help` */
	const char *help;      /* full text for `p2p CMD --help` (options, examples) */
	int (*exec)(int argc, char **argv); /* argv[0] = the command name; returns an exit code */
};

extern const struct cmd_entry *const cmd_table[];

/* Run one subcommand (argv[0] = its name) and return its exit code; never exits.
 * Used by main() and by `p2p shell`. */
int cmd_run(int argc, char **argv);
/* Print "usage: p2p NAME USAGE" and a hint to stderr; returns EXIT_USAGE. */
int cmd_usage(const struct cmd_entry *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
