/* cmd.c: the subcommand table and dispatch (tmux cmd_table[] style). */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

extern const struct cmd_entry cmd_serve_entry;
extern const struct cmd_entry cmd_store_entry;
extern const struct cmd_entry cmd_get_entry;
extern const struct cmd_entry cmd_delete_entry;
extern const struct cmd_entry cmd_files_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_verify_entry;
extern const struct cmd_entry cmd_peers_entry;
extern const struct cmd_entry cmd_cleanup_entry;
extern const struct cmd_entry cmd_invite_entry;
extern const struct cmd_entry cmd_shares_entry;
extern const struct cmd_entry cmd_shell_entry;
extern const struct cmd_entry cmd_version_entry;

const struct cmd_entry *const cmd_table[] = {
	&cmd_serve_entry,
	&cmd_store_entry,
	&cmd_get_entry,
	&cmd_delete_entry,
	&cmd_files_entry,
	&cmd_status_entry,
	&cmd_verify_entry,
	&cmd_peers_entry,
	&cmd_invite_entry,
	&cmd_shares_entry,
	&cmd_cleanup_entry,
	&cmd_shell_entry,
	&cmd_version_entry,
	NULL,
};

const struct cmd_entry *
cmd_find(const char *name)
{
	for (size_t i = 0; cmd_table[i] != NULL; i++) {
		const struct cmd_entry *e = cmd_table[i];

		if (strcmp(e->name, name) == 0 || (e->alias != NULL && strcmp(e->alias, name) == 0))
			return e;
	}
	return NULL;
}

void
cmd_print_help(FILE *f)
{
	fputs("usage: p2p [--db PATH] [--log-level LEVEL] [-q] [--json] COMMAND [ARGS...]\n"
	      "\n"
	      "A peer-to-peer file storage node. `p2p serve` runs the node; the other commands\n"
	      "talk to it through <datadir>/api.sock.\n"
	      "\n"
	      "Commands:\n", f);
	for (size_t i = 0; cmd_table[i] != NULL; i++) {
		const struct cmd_entry *e = cmd_table[i];
		char name[32];

		if (e->alias != NULL)
			snprintf(name, sizeof name, "%s, %s", e->name, e->alias);
		else
			snprintf(name, sizeof name, "%s", e->name);
		fprintf(f, "  %-14s %s\n", name, e->summary);
	}
	fputs("\n"
	      "Global flags (before COMMAND; the same flag after COMMAND wins):\n"
	      "  --db PATH          the node's database; its folder is the data directory\n"
	      "  --log-level LEVEL  error, warn, info or debug\n"
	      "  -q, --quiet        no progress line and no summary line (errors still print)\n"
	      "  --json             machine-readable output, where the command has it\n"
	      "  -h, --help         this help; `p2p COMMAND --help` explains one command\n"
	      "  --version          print the version\n"
	      "\n"
	      "Database path: --db, else $P2P_DB, else $XDG_DATA_HOME/p2p/p2p.db, else\n"
	      "~/.local/share/p2p/p2p.db. P2P_LOG_LEVEL sets the log level when --log-level is\n"
	      "not given.\n"
	      "\n"
	      "Exit codes:\n"
	      "  0  success\n"
	      "  1  failure: not found, no daemon running, verify found damage, I/O error, ...\n"
	      "  2  usage: unknown command or option, bad argument, bad key\n", f);
}

void
cmd_print_usage(FILE *f)
{
	fputs("usage: p2p [--db PATH] [--log-level LEVEL] [-q] [--json] COMMAND [ARGS...]\n"
	      "commands:", f);
	for (size_t i = 0; cmd_table[i] != NULL; i++)
		fprintf(f, " %s", cmd_table[i]->name);
	fputs("\n(see `p2p --help`)\n", f);
}

static void
print_entry_help(const struct cmd_entry *e, FILE *f)
{
	fprintf(f, "usage: p2p %s %s\n", e->name, e->usage);
	if (e->alias != NULL)
		fprintf(f, "   or: p2p %s %s\n", e->alias, e->usage);
	fprintf(f, "\n%s\n", e->summary);
	if (e->help != NULL && *e->help != '\0')
		fprintf(f, "\n%s", e->help);
	fflush(f);
}

int
cmd_usage(const struct cmd_entry *e, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	if (fmt != NULL) {
		fprintf(stderr, "p2p %s: ", e->name);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fprintf(stderr, "usage: p2p %s %s\n", e->name, e->usage);
	fprintf(stderr, "(see `p2p %s --help`)\n", e->name);
	return EXIT_USAGE;
}

/* `p2p help [COMMAND]` */
static int
run_help(int argc, char **argv)
{
	const struct cmd_entry *e;

	if (argc < 2) {
		cmd_print_help(stdout);
		return EXIT_OK;
	}
	if (argc > 2 || (e = cmd_find(argv[1])) == NULL) {
		fprintf(stderr, "p2p help: unknown command '%s'\n", argv[1]);
		cmd_print_usage(stderr);
		return EXIT_USAGE;
	}
	print_entry_help(e, stdout);
	return EXIT_OK;
}

int
cmd_run(int argc, char **argv)
{
	const struct cmd_entry *e;

	if (argc < 1 || argv[0] == NULL) {
		cmd_print_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0 ||
	    strcmp(argv[0], "-h") == 0)
		return run_help(argc, argv);
	if ((e = cmd_find(argv[0])) == NULL) {
		fflush(stdout);
		fprintf(stderr, "p2p: unknown command '%s'\n", argv[0]);
		cmd_print_usage(stderr);
		return EXIT_USAGE;
	}
	/* `--help` anywhere before a `--` shows the command's help. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			print_entry_help(e, stdout);
			return EXIT_OK;
		}
	}
	return e->exec(argc, argv);
}
