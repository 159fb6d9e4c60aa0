/* test_cmd.c: cmd/ (the subcommand table, option parsing, dispatch, the database path)
 * through cmd_run(), without a daemon. */
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "cmd/serve.h"
#include "db/db.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/store.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARGS_MAX 32
#define CAPTURE_MAX 65536

static char tmpdir[] = "/tmp/p2p-test-cmd.XXXXXX";
static char out_path[512], err_path[512], nodb[512];
static char out_text[CAPTURE_MAX], err_text[CAPTURE_MAX];

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(out_path, sizeof out_path, "%s/stdout", tmpdir);
	snprintf(err_path, sizeof err_path, "%s/stderr", tmpdir);
	/* Never look at the real home: the default node is a missing one under tmpdir. */
	snprintf(nodb, sizeof nodb, "%s/nonode/p2p.db", tmpdir);
	setenv("P2P_DB", nodb, 1);
	unsetenv("XDG_DATA_HOME");
	cmd_globals.db = NULL;
	cmd_globals.log_level = -1;
	cmd_globals.quiet = 0;
	cmd_globals.json = 0;
}

static void
teardown(void)
{
	char cmd[600];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(tmpdir + strlen(tmpdir) - 6, "XXXXXX");
}

static void
slurp(const char *path, char *buf)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, CAPTURE_MAX - 1);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	close(fd);
}

/* Run cmd_run() on a NULL-terminated list of words with stdout and stderr captured into
 * out_text / err_text. */
static int
run_argv(const char *const *words)
{
	char *argv[ARGS_MAX + 1];
	int argc = 0, rc, so, se, fo, fe;

	while (words[argc] != NULL) {
		ck_assert_int_lt(argc, ARGS_MAX);
		argv[argc] = xstrdup(words[argc]); /* getopt permutes argv */
		argc++;
	}
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	so = dup(STDOUT_FILENO);
	se = dup(STDERR_FILENO);
	fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert(so >= 0 && se >= 0 && fo >= 0 && fe >= 0);
	dup2(fo, STDOUT_FILENO);
	dup2(fe, STDERR_FILENO);
	rc = cmd_run(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, STDOUT_FILENO);
	dup2(se, STDERR_FILENO);
	close(so);
	close(se);
	close(fo);
	close(fe);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	slurp(out_path, out_text);
	slurp(err_path, err_text);
	return rc;
}

#define RUN(...) run_argv((const char *const[]){ __VA_ARGS__, NULL })

static int
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* ---- dispatch ------------------------------------------------------------------------ */

START_TEST(test_unknown_command)
{
	ck_assert_int_eq(RUN("frobnicate"), EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(err_text, "unknown command 'frobnicate'"));
	ck_assert_ptr_nonnull(strstr(err_text, "usage:"));
	ck_assert_str_eq(out_text, "");
	ck_assert_int_eq(run_argv((const char *const[]){ NULL }), EXIT_USAGE);
}
END_TEST

START_TEST(test_help_every_entry)
{
	for (size_t i = 0; cmd_table[i] != NULL; i++) {
		const struct cmd_entry *e = cmd_table[i];

		ck_assert_ptr_nonnull(e->name);
		ck_assert_ptr_nonnull(e->usage);
		ck_assert_ptr_nonnull(e->summary);
		ck_assert_ptr_nonnull(e->exec);
		ck_assert_int_eq(RUN(e->name, "--help"), EXIT_OK);
		ck_assert_ptr_nonnull(strstr(out_text, "usage: p2p "));
		ck_assert_ptr_nonnull(strstr(out_text, e->name));
		ck_assert_str_eq(err_text, "");
		/* from any position, and -h too */
		ck_assert_int_eq(RUN(e->name, "some", "--bogus", "words", "--help"), EXIT_OK);
		ck_assert_int_eq(RUN(e->name, "-h"), EXIT_OK);
		if (e->alias != NULL)
			ck_assert_int_eq(RUN(e->alias, "--help"), EXIT_OK);
	}
}
END_TEST

START_TEST(test_help_command)
{
	ck_assert_int_eq(RUN("help"), EXIT_OK);
	for (size_t i = 0; cmd_table[i] != NULL; i++)
		ck_assert_ptr_nonnull(strstr(out_text, cmd_table[i]->name));
	ck_assert_ptr_nonnull(strstr(out_text, "Exit codes"));
	ck_assert_int_eq(RUN("help", "get"), EXIT_OK);
	ck_assert_ptr_nonnull(strstr(out_text, "usage: p2p get"));
	ck_assert_int_eq(RUN("help", "nope"), EXIT_USAGE);
	ck_assert_int_eq(RUN("info", "--help"), EXIT_OK);
	ck_assert_ptr_nonnull(strstr(out_text, "usage: p2p status"));
}
END_TEST

START_TEST(test_version)
{
	ck_assert_int_eq(RUN("version"), EXIT_OK);
	ck_assert_ptr_nonnull(strstr(out_text, "p2p " P2P_VERSION));
	ck_assert_int_eq(RUN("version", "--json"), EXIT_OK);
	ck_assert_ptr_nonnull(strstr(out_text, "\"version\""));
	ck_assert_int_eq(RUN("version", "extra"), EXIT_USAGE);
}
END_TEST

/* ---- options ------------------------------------------------------------------------- */

START_TEST(test_unknown_flag)
{
	static const char *const names[] = { "serve", "store", "get", "delete", "files",
		"status", "info", "verify", "version" };

	for (size_t i = 0; i < nitems(names); i++) {
		ck_assert_int_eq(RUN(names[i], "--no-such-flag"), EXIT_USAGE);
		ck_assert_ptr_nonnull(strstr(err_text, "unknown option --no-such-flag"));
		ck_assert_ptr_nonnull(strstr(err_text, "usage: p2p "));
		ck_assert_int_eq(RUN(names[i], "-Z"), EXIT_USAGE);
		ck_assert_ptr_nonnull(strstr(err_text, "unknown option -Z"));
	}
	/* parsing starts afresh each time (p2p shell runs many commands) */
	ck_assert_int_eq(RUN("store", "--bogus", "k", "f"), EXIT_USAGE);
	ck_assert_int_eq(RUN("store", "--bogus", "k", "f"), EXIT_USAGE);
	ck_assert_int_eq(RUN("version"), EXIT_OK);
}
END_TEST

START_TEST(test_bad_arity)
{
	ck_assert_int_eq(RUN("get", "--out"), EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(err_text, "needs a value"));
	ck_assert_int_eq(RUN("store"), EXIT_USAGE);
	ck_assert_int_eq(RUN("store", "onlykey"), EXIT_USAGE);
	ck_assert_int_eq(RUN("store", "k", "f", "extra"), EXIT_USAGE);
	ck_assert_int_eq(RUN("get"), EXIT_USAGE);
	ck_assert_int_eq(RUN("get", "a", "b"), EXIT_USAGE);
	ck_assert_int_eq(RUN("delete"), EXIT_USAGE);
	ck_assert_int_eq(RUN("files"), EXIT_USAGE);
	ck_assert_int_eq(RUN("files", "remove"), EXIT_USAGE);
	ck_assert_int_eq(RUN("files", "list", "extra"), EXIT_USAGE);
	ck_assert_int_eq(RUN("status", "extra"), EXIT_USAGE);
	ck_assert_int_eq(RUN("verify", "extra"), EXIT_USAGE);
	ck_assert_int_eq(RUN("serve", "extra"), EXIT_USAGE);
}
END_TEST

START_TEST(test_bad_key)
{
	char longkey[KEY_MAX + 2];

	memset(longkey, 'k', sizeof longkey - 1);
	longkey[sizeof longkey - 1] = '\0';
	ck_assert_int_eq(RUN("store", "", "/etc/hostname"), EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(err_text, "bad key"));
	ck_assert_int_eq(RUN("store", "a\x01" "b", "/etc/hostname"), EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(err_text, "control character"));
	ck_assert_int_eq(RUN("store", "bad\xff" "utf8", "/etc/hostname"), EXIT_USAGE);
	ck_assert_int_eq(RUN("store", longkey, "/etc/hostname"), EXIT_USAGE);
	ck_assert_int_eq(RUN("get", "tab\there"), EXIT_USAGE);
	ck_assert_int_eq(RUN("get", ""), EXIT_USAGE);
	ck_assert_int_eq(RUN("delete", "nl\nhere"), EXIT_USAGE);
	/* the key is checked before the file: a bad key wins over a missing file */
	ck_assert_int_eq(RUN("store", "", "/no/such/file"), EXIT_USAGE);
}
END_TEST

START_TEST(test_store_missing_file)
{
	char missing[600];

	snprintf(missing, sizeof missing, "%s/no-such-file", tmpdir);
	ck_assert_int_eq(RUN("store", "k", missing), EXIT_FAIL);
	ck_assert_ptr_nonnull(strstr(err_text, missing));
	ck_assert_ptr_nonnull(strstr(err_text, "No such file"));
	/* a directory is not a file */
	ck_assert_int_eq(RUN("store", "k", tmpdir), EXIT_FAIL);
	ck_assert_ptr_nonnull(strstr(err_text, "directory"));
}
END_TEST

START_TEST(test_get_out_missing_dir)
{
	char out[600];

	snprintf(out, sizeof out, "%s/no/such/dir/file", tmpdir);
	ck_assert_int_eq(RUN("get", "k", "--out", out), EXIT_FAIL);
	/* the error is about the directory, found before looking for a daemon */
	ck_assert_ptr_nonnull(strstr(err_text, "no/such/dir"));
	ck_assert_ptr_null(strstr(err_text, "daemon"));
	ck_assert(!exists(out));
	/* --out naming a directory */
	ck_assert_int_eq(RUN("get", "k", "-o", tmpdir), EXIT_FAIL);
	ck_assert_ptr_null(strstr(err_text, "daemon"));
}
END_TEST

/* ---- no node, no daemon ---------------------------------------------------------- */

START_TEST(test_no_daemon)
{
	char f[600], dir[600];
	FILE *fp;

	snprintf(f, sizeof f, "%s/file", tmpdir);
	snprintf(dir, sizeof dir, "%s/nonode", tmpdir);
	fp = fopen(f, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("hello\n", fp);
	fclose(fp);
	ck_assert_int_eq(RUN("store", "k", f), EXIT_FAIL);
	ck_assert_ptr_nonnull(strstr(err_text, "no p2p daemon is running for"));
	ck_assert_ptr_nonnull(strstr(err_text, "p2p serve --db"));
	ck_assert_int_eq(RUN("get", "k"), EXIT_FAIL);
	ck_assert_ptr_nonnull(strstr(err_text, "no p2p daemon is running"));
	ck_assert_int_eq(RUN("delete", "k"), EXIT_FAIL);
	ck_assert_int_eq(RUN("status"), EXIT_FAIL);
	ck_assert_int_eq(RUN("info", "--json"), EXIT_FAIL);
	/* read-only commands create nothing */
	ck_assert_int_eq(RUN("files", "list"), EXIT_FAIL);
	ck_assert_ptr_nonnull(strstr(err_text, "no p2p node data at"));
	ck_assert_int_eq(RUN("verify"), EXIT_FAIL);
	ck_assert_ptr_nonnull(strstr(err_text, "no p2p node data at"));
	ck_assert(!exists(dir));
}
END_TEST

START_TEST(test_direct_empty_db)
{
	char dir[600], dbpath[700];
	struct db *db = NULL;
	char *cause = NULL;

	snprintf(dir, sizeof dir, "%s/node", tmpdir);
	snprintf(dbpath, sizeof dbpath, "%s/p2p.db", dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_msg(db_open(&db, dbpath, 0, &cause) == 0, "db_open: %s", cause);
	db_close(db);
	ck_assert_int_eq(RUN("files", "list", "--db", dbpath), EXIT_OK);
	ck_assert_ptr_nonnull(strstr(out_text, "KEY"));
	ck_assert_int_eq(RUN("files", "--json", "list", "--db", dbpath), EXIT_OK);
	ck_assert_ptr_nonnull(strstr(out_text, "[]"));
	ck_assert_int_eq(RUN("verify", "--db", dbpath), EXIT_OK);
	ck_assert_ptr_nonnull(strstr(out_text, "verify: 0 chunks checked, 0 corrupt, 0 missing"));
	ck_assert_ptr_nonnull(strstr(out_text, "ok"));
}
END_TEST

/* ---- the database path ------------------------------------------------------------- */

START_TEST(test_db_path)
{
	char *p = NULL, *cause = NULL;

	setenv("HOME", "/home/h", 1);
	setenv("XDG_DATA_HOME", "/xdg", 1);
	setenv("P2P_DB", "/env/p2p.db", 1);
	ck_assert_int_eq(cmd_db_path("/flag/p2p.db", &p, &cause), 0);
	ck_assert_str_eq(p, "/flag/p2p.db");
	free(p);
	ck_assert_int_eq(cmd_db_path(NULL, &p, &cause), 0);
	ck_assert_str_eq(p, "/env/p2p.db");
	free(p);
	unsetenv("P2P_DB");
	ck_assert_int_eq(cmd_db_path(NULL, &p, &cause), 0);
	ck_assert_str_eq(p, "/xdg/p2p/p2p.db");
	free(p);
	setenv("P2P_DB", "", 1); /* empty = unset */
	ck_assert_int_eq(cmd_db_path(NULL, &p, &cause), 0);
	ck_assert_str_eq(p, "/xdg/p2p/p2p.db");
	free(p);
	setenv("XDG_DATA_HOME", "relative", 1); /* ignored, as the XDG spec says */
	ck_assert_int_eq(cmd_db_path(NULL, &p, &cause), 0);
	ck_assert_str_eq(p, "/home/h/.local/share/p2p/p2p.db");
	free(p);
	unsetenv("XDG_DATA_HOME");
	ck_assert_int_eq(cmd_db_path(NULL, &p, &cause), 0);
	ck_assert_str_eq(p, "/home/h/.local/share/p2p/p2p.db");
	free(p);
	ck_assert_int_eq(cmd_db_path("", &p, &cause), -1);
	free(cause);
}
END_TEST

START_TEST(test_db_flag_positions)
{
	char a[600], b[600];

	/* --db after the command wins over the global one, which wins over P2P_DB */
	snprintf(a, sizeof a, "%s/a/p2p.db", tmpdir);
	snprintf(b, sizeof b, "%s/b/p2p.db", tmpdir);
	cmd_globals.db = a;
	ck_assert_int_eq(RUN("files", "list"), EXIT_FAIL);
	ck_assert_ptr_nonnull(strstr(err_text, "/a (start one"));
	ck_assert_int_eq(RUN("files", "list", "--db", b), EXIT_FAIL);
	ck_assert_ptr_nonnull(strstr(err_text, "/b (start one"));
	cmd_globals.db = NULL;
	ck_assert_int_eq(RUN("verify"), EXIT_FAIL);
	ck_assert_ptr_nonnull(strstr(err_text, "/nonode (start one"));
}
END_TEST

/* ---- serve's argument checks (node_run is never reached) ----------------------------- */

START_TEST(test_serve_bad_values)
{
	char conf[600];
	FILE *fp;

	ck_assert_int_eq(RUN("serve", "--chunk-size", "1K"), EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(err_text, "4K..16M"));
	ck_assert_int_eq(RUN("serve", "--chunk-size", "32M"), EXIT_USAGE);
	ck_assert_int_eq(RUN("serve", "--chunk-size", "lots"), EXIT_USAGE);
	ck_assert_int_eq(RUN("serve", "--max-peers", "0"), EXIT_USAGE);
	ck_assert_int_eq(RUN("serve", "--log-level", "loud"), EXIT_USAGE);
	ck_assert_int_eq(RUN("serve", "--listen", "a:1", "--listen", "a:2", "--listen", "a:3",
	    "--listen", "a:4", "--listen", "a:5", "--listen", "a:6", "--listen", "a:7",
	    "--listen", "a:8", "--listen", "a:9"), EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(err_text, "too many listen"));

	snprintf(conf, sizeof conf, "%s/p2p.conf", tmpdir);
	fp = fopen(conf, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("chunk-size = 64K\nno-such-setting = 1\n", fp);
	fclose(fp);
	ck_assert_int_eq(RUN("serve", "--config", conf), EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(err_text, "no-such-setting"));
	fp = fopen(conf, "w");
	fputs("no-mdns = maybe\n", fp);
	fclose(fp);
	ck_assert_int_eq(RUN("serve", "--config", conf), EXIT_USAGE);
	ck_assert_int_eq(RUN("serve", "--config", "/no/such.conf"), EXIT_USAGE);
	/* nothing was created for the default node */
	ck_assert(!exists(nodb));
}
END_TEST

static int
serve_cfg(struct node_config *cfg, const char *const *words)
{
	char *argv[ARGS_MAX + 1];
	int argc = 0, rc;

	while (words[argc] != NULL) {
		ck_assert_int_lt(argc, ARGS_MAX);
		argv[argc] = xstrdup(words[argc]);
		argc++;
	}
	argv[argc] = NULL;
	rc = serve_config(argc, argv, cfg);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return rc;
}

#define SERVE_CFG(cfg, ...) serve_cfg(cfg, (const char *const[]){ "serve", __VA_ARGS__, NULL })

START_TEST(test_serve_precedence)
{
	struct node_config cfg;
	char conf[600], cwd[512], want[1100];
	FILE *fp;

	snprintf(conf, sizeof conf, "%s/p2p.conf", tmpdir);
	fp = fopen(conf, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("# a node\n"
	      "db = /conf/p2p.db\n"
	      "chunk-size = 64K\n"
	      "log-level = debug\n"
	      "listen = a:1, a:2\n"
	      "listen = a:3\n"
	      "bootstrap = b:1\n"
	      "no-mdns = true\n"
	      "bluetooth = false\n"
	      "max_peers = 7\n", fp);
	fclose(fp);
	setenv("P2P_DB", "/env/p2p.db", 1);
	setenv("P2P_LOG_LEVEL", "error", 1);

	/* the file beats the environment */
	ck_assert_int_eq(SERVE_CFG(&cfg, "--config", conf), 0);
	ck_assert_str_eq(cfg.db_path, "/conf/p2p.db");
	ck_assert_uint_eq(cfg.chunk_size, 64 * 1024);
	ck_assert_int_eq(cfg.log_level, LOG_DEBUG);
	ck_assert_int_eq(cfg.nlisten, 3);
	ck_assert_str_eq(cfg.listen[2], "a:3");
	ck_assert_int_eq(cfg.nbootstrap, 1);
	ck_assert_int_eq(cfg.mdns, 0);
	ck_assert_int_eq(cfg.bluetooth, 0);
	ck_assert_int_eq(cfg.max_peers, 7);
	node_config_free(&cfg);

	/* flags beat the file; a list on the command line replaces the file's */
	ck_assert_int_eq(SERVE_CFG(&cfg, "--config", conf, "--db", "/cli/p2p.db",
	    "--chunk-size", "128K", "--listen", "c:1", "--log-level", "warn", "--bluetooth",
	    "--no-tcp", "--api", "127.0.0.1:7001", "--join", "p2p1:x"), 0);
	ck_assert_str_eq(cfg.db_path, "/cli/p2p.db");
	ck_assert_uint_eq(cfg.chunk_size, 128 * 1024);
	ck_assert_int_eq(cfg.log_level, LOG_WARN);
	ck_assert_int_eq(cfg.nlisten, 1);
	ck_assert_str_eq(cfg.listen[0], "c:1");
	ck_assert_int_eq(cfg.nbootstrap, 1);
	ck_assert_int_eq(cfg.bluetooth, 1);
	ck_assert_int_eq(cfg.no_tcp, 1);
	ck_assert_str_eq(cfg.api_addr, "127.0.0.1:7001");
	ck_assert_str_eq(cfg.join_ticket, "p2p1:x");
	node_config_free(&cfg);

	/* a flag before `serve` counts as a flag; the one after `serve` wins */
	cmd_globals.db = "/global/p2p.db";
	ck_assert_int_eq(SERVE_CFG(&cfg, "--config", conf), 0);
	ck_assert_str_eq(cfg.db_path, "/global/p2p.db");
	node_config_free(&cfg);
	ck_assert_int_eq(SERVE_CFG(&cfg, "--db", "/after/p2p.db"), 0);
	ck_assert_str_eq(cfg.db_path, "/after/p2p.db");
	node_config_free(&cfg);
	cmd_globals.db = NULL;

	/* the environment when neither gives a value; then the defaults */
	ck_assert_int_eq(SERVE_CFG(&cfg, "--no-mdns"), 0);
	ck_assert_str_eq(cfg.db_path, "/env/p2p.db");
	ck_assert_int_eq(cfg.log_level, LOG_ERROR);
	ck_assert_uint_eq(cfg.chunk_size, CHUNK_SIZE_DEFAULT);
	ck_assert_int_eq(cfg.mdns, 0);
	node_config_free(&cfg);
	unsetenv("P2P_DB");
	unsetenv("P2P_LOG_LEVEL");
	setenv("XDG_DATA_HOME", "/xdg", 1);
	ck_assert_int_eq(serve_cfg(&cfg, (const char *const[]){ "serve", NULL }), 0);
	ck_assert_str_eq(cfg.db_path, "/xdg/p2p/p2p.db");
	ck_assert_int_eq(cfg.log_level, LOG_INFO);
	ck_assert_int_eq(cfg.mdns, 1);
	node_config_free(&cfg);

	/* a relative --db is made absolute */
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	ck_assert_int_eq(SERVE_CFG(&cfg, "--db", "rel/p2p.db"), 0);
	snprintf(want, sizeof want, "%s/rel/p2p.db", cwd);
	ck_assert_str_eq(cfg.db_path, want);
	node_config_free(&cfg);
}
END_TEST

/* serve_check_network(cfg) with stderr captured into err_text. */
static int
check_network(const struct node_config *cfg)
{
	int se, fe, rc;

	fflush(stderr);
	se = dup(STDERR_FILENO);
	fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert(se >= 0 && fe >= 0);
	dup2(fe, STDERR_FILENO);
	rc = serve_check_network(cfg);
	fflush(stderr);
	dup2(se, STDERR_FILENO);
	close(se);
	close(fe);
	slurp(err_path, err_text);
	return rc;
}

/* --bluetooth and friends: values, config keys, and the checks before start. */
START_TEST(test_serve_bluetooth)
{
	struct node_config cfg;
	char conf[600];
	FILE *fp;

	/* --bt-channel: an RFCOMM server channel, 1..30 */
	ck_assert_int_eq(RUN("serve", "--bt-channel", "0"), EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(err_text, "1..30"));
	ck_assert_int_eq(RUN("serve", "--bt-channel", "31"), EXIT_USAGE);
	ck_assert_int_eq(RUN("serve", "--bt-channel", "7x"), EXIT_USAGE);
	ck_assert_int_eq(RUN("serve", "--bt-channel", ""), EXIT_USAGE);
	/* --bt-adapter: hciN or an adapter address */
	ck_assert_int_eq(RUN("serve", "--bt-adapter", "wlan0"), EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(err_text, "hciN"));
	ck_assert_int_eq(RUN("serve", "--bt-adapter", "hcix"), EXIT_USAGE);
	ck_assert_int_eq(RUN("serve", "--bt-adapter", "AA:BB:CC:DD:EE"), EXIT_USAGE);
	ck_assert_int_eq(RUN("serve", "--bt-scan=yes"), EXIT_USAGE);

	ck_assert_int_eq(SERVE_CFG(&cfg, "--bluetooth", "--bt-channel", "1", "--bt-adapter",
	    "hci1", "--bt-scan", "--no-tcp", "--bootstrap", "bt:AA:BB:CC:DD:EE:FF"), 0);
	ck_assert_int_eq(cfg.bluetooth, 1);
	ck_assert_int_eq(cfg.bt_channel, 1);
	ck_assert_str_eq(cfg.bt_adapter, "hci1");
	ck_assert_int_eq(cfg.bt_scan, 1);
	ck_assert_int_eq(cfg.no_tcp, 1);
	ck_assert_int_eq(check_network(&cfg), 0);
	node_config_free(&cfg);
	ck_assert_int_eq(SERVE_CFG(&cfg, "--bt-channel", "30", "--bt-adapter",
	    "aa:bb:cc:dd:ee:ff"), 0);
	ck_assert_int_eq(cfg.bt_channel, 30);
	ck_assert_int_eq(cfg.bluetooth, 0); /* the others do not turn it on */
	ck_assert_int_eq(check_network(&cfg), 0);
	node_config_free(&cfg);

	/* config keys mirror the flags */
	snprintf(conf, sizeof conf, "%s/bt.conf", tmpdir);
	fp = fopen(conf, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("bluetooth = true\nbt-adapter = 00:11:22:33:44:55\nbt_channel = 12\n"
	      "bt-scan = true\nno-tcp = true\n", fp);
	fclose(fp);
	ck_assert_int_eq(SERVE_CFG(&cfg, "--config", conf), 0);
	ck_assert_int_eq(cfg.bluetooth, 1);
	ck_assert_str_eq(cfg.bt_adapter, "00:11:22:33:44:55");
	ck_assert_int_eq(cfg.bt_channel, 12);
	ck_assert_int_eq(cfg.bt_scan, 1);
	ck_assert_int_eq(cfg.no_tcp, 1);
	node_config_free(&cfg);
	/* the command line wins */
	ck_assert_int_eq(SERVE_CFG(&cfg, "--config", conf, "--bt-channel", "3"), 0);
	ck_assert_int_eq(cfg.bt_channel, 3);
	node_config_free(&cfg);
	fp = fopen(conf, "w");
	fputs("bt-channel = 99\n", fp);
	fclose(fp);
	ck_assert_int_eq(SERVE_CFG(&cfg, "--config", conf), EXIT_USAGE);
	node_config_free(&cfg);

	/* --no-tcp needs Bluetooth, and leaves nothing for --listen */
	ck_assert_int_eq(SERVE_CFG(&cfg, "--no-tcp"), 0);
	ck_assert_int_eq(check_network(&cfg), EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(err_text, "--no-tcp needs --bluetooth"));
	node_config_free(&cfg);
	ck_assert_int_eq(SERVE_CFG(&cfg, "--no-tcp", "--bluetooth", "--listen", ":3000"), 0);
	ck_assert_int_eq(check_network(&cfg), EXIT_USAGE);
	node_config_free(&cfg);
	/* --listen is TCP; bt: listen addresses get a pointer to the right flags */
	ck_assert_int_eq(SERVE_CFG(&cfg, "--bluetooth", "--listen", "bt:hci0/7"), 0);
	ck_assert_int_eq(check_network(&cfg), EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(err_text, "--bt-channel"));
	node_config_free(&cfg);

	/* bootstrap bt: addresses: a device address and an optional channel */
	ck_assert_int_eq(SERVE_CFG(&cfg, "--bootstrap", "bt:AA:BB:CC:DD:EE:FF/30",
	    "--bootstrap", "10.0.0.1:3000", "--bootstrap", "bt:aa:bb:cc:dd:ee:ff"), 0);
	ck_assert_int_eq(check_network(&cfg), 0);
	node_config_free(&cfg);
	static const char *const bad[] = { "bt:", "bt:zz", "bt:AA:BB:CC:DD:EE:FF/0",
		"bt:AA:BB:CC:DD:EE:FF/31", "bt:AA:BB:CC:DD:EE:FF/x", "bt:/7",
		"bt:AA:BB:CC:DD:EE:FF:00/7" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_int_eq(SERVE_CFG(&cfg, "--bootstrap", bad[i]), 0);
		ck_assert_msg(check_network(&cfg) == EXIT_USAGE, "%s accepted", bad[i]);
		ck_assert_ptr_nonnull(strstr(err_text, "--bootstrap"));
		node_config_free(&cfg);
	}
	ck_assert(!exists(nodb));
}
END_TEST

static Suite *
cmd_suite(void)
{
	Suite *s = suite_create("cmd");
	TCase *tc;

	tc = tcase_create("dispatch");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_unknown_command);
	tcase_add_test(tc, test_help_every_entry);
	tcase_add_test(tc, test_help_command);
	tcase_add_test(tc, test_version);
	suite_add_tcase(s, tc);

	tc = tcase_create("options");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_unknown_flag);
	tcase_add_test(tc, test_bad_arity);
	tcase_add_test(tc, test_bad_key);
	tcase_add_test(tc, test_store_missing_file);
	tcase_add_test(tc, test_get_out_missing_dir);
	tcase_add_test(tc, test_serve_bad_values);
	tcase_add_test(tc, test_serve_precedence);
	tcase_add_test(tc, test_serve_bluetooth);
	suite_add_tcase(s, tc);

	tc = tcase_create("no_daemon");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_no_daemon);
	tcase_add_test(tc, test_direct_empty_db);
	suite_add_tcase(s, tc);

	tc = tcase_create("db_path");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_db_path);
	tcase_add_test(tc, test_db_flag_positions);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(cmd_suite());
	int failed;

	log_init("test_cmd", LOG_WARN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
