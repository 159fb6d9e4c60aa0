/* common.h: helpers shared by the subcommands (not part of the table contract in cmd.h):
 * global flags, option parsing, the database path, messages and a progress line. */
#ifndef P2P_CMD_COMMON_H
#define P2P_CMD_COMMON_H

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd/cmd.h"

#ifndef P2P_VERSION
#define P2P_VERSION "unknown"
#endif

/* Flags given before the subcommand (`p2p --db X store ...`); main() fills them. A flag
 * given after the subcommand wins over these. */
struct cmd_globals {
	const char *db;  /* NULL when not given */
	int log_level;   /* -1 when not given */
	int quiet;
	int json;
};
extern struct cmd_globals cmd_globals;

/* Long-only option codes shared by the subcommands' option arrays. */
enum {
	OPT_DB = 0x100,
	OPT_JSON,
	OPT_LOG_LEVEL,
	OPT_DELETED,
	OPT_FIRST_PRIVATE = 0x200 /* subcommands number their own from here */
};

#define CMD_OPT_DB { "db", required_argument, NULL, OPT_DB }
#define CMD_OPT_JSON { "json", no_argument, NULL, OPT_JSON }
#define CMD_OPT_QUIET { "quiet", no_argument, NULL, 'q' }
#define CMD_OPT_END { NULL, 0, NULL, 0 }

/* `p2p --help`: the commands, global flags, environment and exit codes. */
void cmd_print_help(FILE *f);
/* A short usage (synopsis, command names, hint) for usage errors. */
void cmd_print_usage(FILE *f);
/* Find a table entry by name or alias; NULL if none. */
const struct cmd_entry *cmd_find(const char *name);

/* The flags most subcommands accept, seeded from cmd_globals. */
struct cmd_common {
	const char *db;
	int json;
	int quiet;
};
void cmd_common_init(struct cmd_common *c);
/* Handle OPT_DB, OPT_JSON and 'q' from getopt_long; 1 if ch was one of them. */
int cmd_common_opt(struct cmd_common *c, int ch, const char *arg);

/* Start a fresh getopt_long() scan (optind = 0, opterr = 0), so that cmd_run() can be
 * called again and again (`p2p shell`). Option strings must start with ':'. */
void cmd_getopt_begin(void);
/* After getopt_long() returned '?' or ':': print which option is wrong and the usage;
 * returns EXIT_USAGE. */
int cmd_bad_option(const struct cmd_entry *e, char **argv, int ch);
/* The whole command line of a command that takes only common options (opts) and no
 * argument: fills co; -1 to go on, else the exit status (a usage error, printed). */
int cmd_parse_common_only(const struct cmd_entry *e, int argc, char **argv,
    const struct option *opts, struct cmd_common *co);

/* "p2p: <message>" on stderr. */
void cmd_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The database path: flag (--db) if not NULL, else $P2P_DB, else
 * $XDG_DATA_HOME/p2p/p2p.db, else $HOME/.local/share/p2p/p2p.db (empty variables count
 * as unset; a relative XDG_DATA_HOME is ignored, as the XDG spec says). 0 ok with *out
 * allocated; -1 with *cause. */
int cmd_db_path(const char *flag, char **out, char **cause);
/* Resolve the path for a subcommand, printing the error; NULL on failure. */
char *cmd_db_resolve(const char *flag);
/* For commands that only read: the data directory and database must exist (nothing is
 * created). 0 ok; else prints "no p2p node data at DIR (start one with: ...)" and
 * returns EXIT_FAIL. */
int cmd_check_data(const char *db_path);

/* Key validation for key arguments: 0 ok; else prints "bad key ..." and returns
 * EXIT_USAGE. */
int cmd_check_key(const char *key);

/* SIGINT/SIGTERM set cmd_interrupted while a long transfer runs (so that the command
 * can clean up: abort the upload, remove its temp file); the previous handlers are put
 * back by cmd_signals_end(). */
extern volatile sig_atomic_t cmd_interrupted;
void cmd_signals_begin(void);
void cmd_signals_end(void);

/* Human-readable sizes: "12 B", "1.5 KiB", "3.2 GiB". */
char *cmd_fmt_bytes(uint64_t n, char *buf, size_t len);
/* "2026-11-21 00:34:26" in local time from ms since the epoch. */
char *cmd_fmt_time(int64_t ms, char *buf, size_t len);

/* A progress line on stderr (bytes, %, MB/s), redrawn at most 5 times a second. */
struct progress {
	int on;
	uint64_t total; /* 0: unknown */
	uint64_t start_ms, last_ms;
	int drawn;
};
/* on: stderr is a terminal and the user did not ask for --quiet. */
void progress_begin(struct progress *p, int on, uint64_t total);
void progress_update(struct progress *p, uint64_t done);
void progress_end(struct progress *p);
/* 1 if a progress line should be drawn (stderr is a TTY and not quiet). */
int progress_wanted(int quiet);

#endif
