/* cleanup.c: `p2p cleanup`: forget peers not seen for a while, through the daemon
 * (POST /v1/peers/cleanup) when one runs, else in the database directly. */
#include "cmd/client.h"
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "db/db.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static int cmd_cleanup_exec(int argc, char **argv);

const struct cmd_entry cmd_cleanup_entry = {
	.name = "cleanup",
	.alias = NULL,
	.usage = "[--older-than DURATION] [--db PATH]",
	.summary = "forget peers not seen for a while",
	.help =
	    "Remove from the peer table every peer (not connected right now) that was last\n"
	    "seen longer ago than DURATION, and print how many were removed. Peers that stale\n"
	    "are not passed on to other peers either. Works with the daemon running (through\n"
	    "its API) or stopped (the database is changed directly).\n"
	    "\n"
	    "Options:\n"
	    "  --older-than DURATION   90s, 15m, 24h (default), 7d\n"
	    "  --json                  print {\"removed\": N, \"older_than\": SECONDS}\n"
	    "  --db PATH               the node's database\n"
	    "\n"
	    "Exit status: 0 ok; 1 no node data or an error; 2 usage error.\n",
	.exec = cmd_cleanup_exec,
};

enum { CL_OLDER = OPT_FIRST_PRIVATE };

/* 0 ok, CLIENT_NODAEMON, -1 error (printed). */
static int
cleanup_daemon(const char *db, int64_t secs, uint64_t *removed)
{
	char path[96];
	json_t *o;
	int rc;

	snprintf(path, sizeof path, "/v1/peers/cleanup?older_than=%lld", (long long)secs);
	rc = client_call_json(db, CLIENT_QUIET_NODAEMON, "POST", path, "removed",
	    JSON_INTEGER, &o);
	if (rc != 0)
		return rc;
	*removed = (uint64_t)json_integer_value(json_object_get(o, "removed"));
	json_decref(o);
	return 0;
}

/* No daemon answers: take the data directory's lock (so that none starts meanwhile;
 * if one holds it, it is running but not answering) and change the database. */
static int
cleanup_direct(const char *dbpath, int64_t secs, uint64_t *removed)
{
	char *dir = path_dirname(dbpath), *lock = NULL, *cause = NULL;
	struct db *db = NULL;
	int fd = -1, rc = -1;

	if (cmd_check_data(dbpath) != 0)
		goto out;
	xasprintf(&lock, "%s/lock", dir);
	if ((fd = open(lock, O_RDWR | O_CLOEXEC)) != -1 && flock(fd, LOCK_EX | LOCK_NB) == -1) {
		cmd_err("a daemon holds %s but its API does not answer; try again when it does",
		    lock);
		goto out;
	}
	if (db_open(&db, dbpath, 0, &cause) == -1) {
		cmd_err("%s: %s", dbpath, cause ? cause : "cannot open");
		goto out;
	}
	if (db_peers_cleanup(db, wall_ms() - secs * 1000, removed, &cause) == -1) {
		cmd_err("%s: %s", dbpath, cause ? cause : "cleanup failed");
		goto out;
	}
	rc = 0;
out:
	db_close(db);
	if (fd != -1)
		close(fd);
	free(cause);
	free(lock);
	free(dir);
	return rc;
}

static int
cmd_cleanup_exec(int argc, char **argv)
{
	static const struct option opts[] = {
		CMD_OPT_JSON, CMD_OPT_DB, CMD_OPT_QUIET,
		{ "older-than", required_argument, NULL, CL_OLDER },
		CMD_OPT_END,
	};
	const struct cmd_entry *e = &cmd_cleanup_entry;
	struct cmd_common co;
	const char *errstr, *older = "24h";
	int64_t secs;
	uint64_t removed = 0;
	char *db = NULL;
	int ch, rc = EXIT_FAIL, r;

	cmd_common_init(&co);
	cmd_getopt_begin();
	while ((ch = getopt_long(argc, argv, ":q", opts, NULL)) != -1) {
		if (cmd_common_opt(&co, ch, optarg))
			continue;
		if (ch == CL_OLDER) {
			older = optarg;
			continue;
		}
		return cmd_bad_option(e, argv, ch);
	}
	if (optind < argc)
		return cmd_usage(e, "unexpected argument '%s'", argv[optind]);
	if (parse_duration(older, &secs, &errstr) == -1 || secs > 100LL * 365 * 86400)
		return cmd_usage(e, "--older-than '%s' is %s (e.g. 90s, 15m, 24h, 7d)", older,
		    errstr ? errstr : "too large");
	if ((db = cmd_db_resolve(co.db)) == NULL)
		goto out;
	r = cleanup_daemon(db, secs, &removed);
	if (r == CLIENT_NODAEMON) {
		log_debug("no daemon for %s: changing the database directly", db);
		r = cleanup_direct(db, secs, &removed);
	}
	if (r != 0)
		goto out;
	if (co.json)
		printf("{\"removed\": %llu, \"older_than\": %lld}\n", (unsigned long long)removed,
		    (long long)secs);
	else if (!co.quiet)
		printf("removed %llu peer%s not seen for %s\n", (unsigned long long)removed,
		    removed == 1 ? "" : "s", older);
	rc = EXIT_OK;
out:
	free(db);
	return rc;
}
