/* shell.c: `p2p shell [--db PATH]`, an interactive prompt that runs subcommands.
 *
 * Each line is split into words (double or single quotes group words; inside double
 * quotes \" and \\ are escapes) and run with cmd_run(), which never exits: an error in
 * one command prints its message and the shell goes on. With libedit (HAVE_LIBEDIT) the
 * prompt has line editing and a history file (<datadir>/.p2p_history when the data
 * directory is known, else ~/.p2p_history); without it, or when stdin is not a terminal,
 * lines are read with fgets and no prompt is printed. */
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "lib/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#define SHELL_LINE_MAX 8192
#define SHELL_ARGV_MAX 256
#define SHELL_HISTORY_MAX 1000
#define SHELL_PROMPT "p2p> "

static int cmd_shell_exec(int argc, char **argv);

const struct cmd_entry cmd_shell_entry = {
	.name = "shell",
	.alias = NULL,
	.usage = "[--db PATH] [--json] [-q]",
	.summary = "interactive prompt: run subcommands one per line",
	.help =
	    "Read commands one per line and run each as `p2p COMMAND ...` would, without\n"
	    "starting a new process. Errors do not end the shell; a non-zero exit code is\n"
	    "printed as \"(exit N)\". Words may be quoted with \"...\" or '...'.\n"
	    "\n"
	    "Options:\n"
	    "  --db PATH   database of the node to talk to (its folder is the data directory);\n"
	    "              every command run from the shell uses it, as with `p2p --db PATH`\n"
	    "  --json      every command prints JSON where it can\n"
	    "  -q          every command is quiet (no progress or summary lines)\n"
	    "\n"
	    "Shell words:\n"
	    "  help        list the commands (help COMMAND: its options)\n"
	    "  quit, exit  leave the shell (so does end of input, Ctrl-D)\n"
	    "\n"
	    "History is kept in <datadir>/.p2p_history when the data directory is known,\n"
	    "else in ~/.p2p_history (only when built with libedit).\n"
	    "\n"
	    "Example:\n"
	    "  $ p2p shell --db /var/lib/p2p-storage/a/p2p.db\n"
	    "  p2p> store notes.txt ./notes.txt\n"
	    "  p2p> files list\n"
	    "  p2p> quit\n",
	.exec = cmd_shell_exec,
};

/* Split line into words in place. Returns the word count, or -1 with *err set. */
static int
shell_split(char *line, char **argv, int max, const char **err)
{
	char *r = line, *w = line;
	int argc = 0;

	*err = NULL;
	for (;;) {
		while (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n')
			r++;
		if (*r == '\0')
			break;
		if (argc == max - 1) {
			*err = "too many words";
			return -1;
		}
		argv[argc++] = w;
		while (*r != '\0' && *r != ' ' && *r != '\t' && *r != '\r' && *r != '\n') {
			if (*r == '"') {
				r++;
				while (*r != '"') {
					if (*r == '\0') {
						*err = "unterminated \"";
						return -1;
					}
					if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
						r++;
					*w++ = *r++;
				}
				r++;
			} else if (*r == '\'') {
				r++;
				while (*r != '\'') {
					if (*r == '\0') {
						*err = "unterminated '";
						return -1;
					}
					*w++ = *r++;
				}
				r++;
			} else
				*w++ = *r++;
		}
		/* r now points at a separator or the end; w <= r, so this never
		 * clobbers unread input except the separator itself. */
		if (*r != '\0')
			r++;
		*w++ = '\0';
	}
	argv[argc] = NULL;
	return argc;
}

static void
shell_help(void)
{
	printf("commands (each as `p2p COMMAND --help` explains):\n");
	for (size_t i = 0; cmd_table[i] != NULL; i++) {
		const struct cmd_entry *e = cmd_table[i];
		if (strcmp(e->name, "shell") == 0)
			continue;
		printf("  %-10s %s\n", e->name, e->summary != NULL ? e->summary : "");
	}
	printf("  %-10s %s\n", "quit", "leave the shell (also: exit, Ctrl-D)");
}

/* Run one line. Returns 1 when the shell should end, else 0. */
static int
shell_line(char *line)
{
	char *argv[SHELL_ARGV_MAX];
	const char *err;
	int argc, rc;

	argc = shell_split(line, argv, SHELL_ARGV_MAX, &err);
	if (argc < 0) {
		fprintf(stderr, "p2p shell: %s\n", err);
		return 0;
	}
	if (argc == 0 || argv[0][0] == '#')
		return 0;
	if (strcmp(argv[0], "quit") == 0 || strcmp(argv[0], "exit") == 0)
		return 1;
	if ((strcmp(argv[0], "help") == 0 || strcmp(argv[0], "?") == 0) && argc == 1) {
		shell_help();
		return 0;
	}
	/* The seed's verbs, for people used to it. */
	if (strcmp(argv[0], "set") == 0) {
		fprintf(stderr, "use: store <key> <file>\n");
		return 0;
	}
	if (strcmp(argv[0], "list") == 0) {
		fprintf(stderr, "use: files list\n");
		return 0;
	}
	if (strcmp(argv[0], "shell") == 0) {
		fprintf(stderr, "p2p shell: already in a shell\n");
		return 0;
	}
	cmd_getopt_begin();
	rc = cmd_run(argc, argv);
	fflush(stdout);
	if (rc != 0)
		fprintf(stderr, "(exit %d)\n", rc);
	return 0;
}

/* Plain loop: no prompt unless interactive; lines longer than SHELL_LINE_MAX are
 * refused whole. */
static void
shell_loop_plain(int interactive)
{
	char buf[SHELL_LINE_MAX];
	size_t len;

	for (;;) {
		if (interactive) {
			fputs(SHELL_PROMPT, stdout);
			fflush(stdout);
		}
		if (fgets(buf, sizeof buf, stdin) == NULL) {
			if (interactive)
				putchar('\n');
			return;
		}
		len = strlen(buf);
		if (len == sizeof buf - 1 && buf[len - 1] != '\n' && !feof(stdin)) {
			int c;
			while ((c = getchar()) != EOF && c != '\n')
				;
			fprintf(stderr, "p2p shell: line too long (max %d bytes)\n",
			    SHELL_LINE_MAX - 2);
			continue;
		}
		if (shell_line(buf))
			return;
	}
}

#ifdef HAVE_LIBEDIT
/* <datadir>/.p2p_history when the node's data directory exists, else ~/.p2p_history,
 * else NULL. Caller frees. */
static char *
shell_history_path(void)
{
	const char *home;
	char *db = NULL, *dir, *path, *cause = NULL;
	struct stat st;

	if (cmd_db_path(cmd_globals.db, &db, &cause) == 0) {
		dir = path_dirname(db);
		free(db);
		if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(dir, W_OK) == 0) {
			xasprintf(&path, "%s/.p2p_history", dir);
			free(dir);
			return path;
		}
		free(dir);
	}
	free(cause);
	home = getenv("HOME");
	if (home == NULL || *home == '\0')
		return NULL;
	xasprintf(&path, "%s/.p2p_history", home);
	return path;
}

static void
shell_loop_edit(void)
{
	char *hist, *line;
	mode_t old;

	hist = shell_history_path();
	using_history();
	stifle_history(SHELL_HISTORY_MAX);
	if (hist != NULL)
		read_history(hist); /* missing on first use: fine */
	for (;;) {
		line = readline(SHELL_PROMPT);
		if (line == NULL) {
			putchar('\n');
			break;
		}
		if (line[0] != '\0' && line[0] != ' ')
			add_history(line);
		if (strlen(line) > SHELL_LINE_MAX - 2) {
			fprintf(stderr, "p2p shell: line too long (max %d bytes)\n",
			    SHELL_LINE_MAX - 2);
			free(line);
			continue;
		}
		if (shell_line(line)) {
			free(line);
			break;
		}
		free(line);
	}
	if (hist != NULL) {
		old = umask(077); /* commands may name keys: keep the history private */
		if (write_history(hist) != 0)
			fprintf(stderr, "p2p shell: cannot write history %s\n", hist);
		umask(old);
		free(hist);
	}
}
#endif

static int
cmd_shell_exec(int argc, char **argv)
{
	static const struct option opts[] = {
		CMD_OPT_DB,
		CMD_OPT_JSON,
		CMD_OPT_QUIET,
		CMD_OPT_END,
	};
	struct cmd_common c;
	int ch;

	cmd_common_init(&c);
	cmd_getopt_begin();
	while ((ch = getopt_long(argc, argv, "+:q", opts, NULL)) != -1) {
		if (!cmd_common_opt(&c, ch, optarg))
			return cmd_bad_option(&cmd_shell_entry, argv, ch);
	}
	if (optind != argc)
		return cmd_usage(&cmd_shell_entry, "unexpected argument '%s'", argv[optind]);
	if (c.db != NULL && *c.db == '\0')
		return cmd_usage(&cmd_shell_entry, "--db needs a path");

	/* The shell's flags become every command's defaults, as if given before the
	 * command (`p2p --db PATH store ...`); a flag on a command line still wins. */
	cmd_globals.db = c.db;
	cmd_globals.json = c.json;
	cmd_globals.quiet = c.quiet;

#ifdef HAVE_LIBEDIT
	if (isatty(STDIN_FILENO)) {
		shell_loop_edit();
		return EXIT_OK;
	}
#endif
	shell_loop_plain(isatty(STDIN_FILENO));
	return EXIT_OK;
}
