/* common.c: see common.h. */
#include "cmd/common.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct cmd_globals cmd_globals = { .db = NULL, .log_level = -1, .quiet = 0, .json = 0 };

volatile sig_atomic_t cmd_interrupted;
static struct sigaction old_int, old_term;
static int signals_on;

void
cmd_common_init(struct cmd_common *c)
{
	c->db = cmd_globals.db;
	c->json = cmd_globals.json;
	c->quiet = cmd_globals.quiet;
}

int
cmd_common_opt(struct cmd_common *c, int ch, const char *arg)
{
	switch (ch) {
	case OPT_DB:
		c->db = arg;
		return 1;
	case OPT_JSON:
		c->json = 1;
		return 1;
	case 'q':
		c->quiet = 1;
		return 1;
	}
	return 0;
}

void
cmd_getopt_begin(void)
{
	optind = 0; /* GNU getopt: 0 reinitialises its internal state too */
	opterr = 0;
	optarg = NULL;
}

int
cmd_parse_common_only(const struct cmd_entry *e, int argc, char **argv,
    const struct option *opts, struct cmd_common *co)
{
	int ch;

	cmd_common_init(co);
	cmd_getopt_begin();
	while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (cmd_common_opt(co, ch, optarg))
			continue;
		return cmd_bad_option(e, argv, ch);
	}
	if (optind < argc)
		return cmd_usage(e, "unexpected argument '%s'", argv[optind]);
	return -1;
}

int
cmd_bad_option(const struct cmd_entry *e, char **argv, int ch)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";
	char name[128];
	size_t n;

	/* The offending word, without any "=value". */
	n = strcspn(arg, "=");
	if (n >= sizeof name)
		n = sizeof name - 1;
	memcpy(name, arg, n);
	name[n] = '\0';
	if (optopt > 0 && optopt < 0x100 && isprint(optopt) && strncmp(name, "--", 2) != 0)
		snprintf(name, sizeof name, "-%c", optopt);
	if (ch == ':')
		return cmd_usage(e, "option %s needs a value", name);
	return cmd_usage(e, "unknown option %s", name);
}

void
cmd_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("p2p: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *
env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

int
cmd_db_path(const char *flag, char **out, char **cause)
{
	const char *v;

	*out = NULL;
	if (flag != NULL) {
		if (*flag == '\0')
			return set_cause(cause, "--db needs a path");
		*out = xstrdup(flag);
		return 0;
	}
	if ((v = env_nonempty("P2P_DB")) != NULL) {
		*out = xstrdup(v);
		return 0;
	}
	if ((v = env_nonempty("XDG_DATA_HOME")) != NULL && v[0] == '/') {
		xasprintf(out, "%s/p2p/p2p.db", v);
		return 0;
	}
	if ((v = env_nonempty("HOME")) == NULL) {
		struct passwd *pw = getpwuid(getuid());

		if (pw == NULL || pw->pw_dir == NULL || *pw->pw_dir == '\0')
			return set_cause(cause, "cannot find the home directory; use --db PATH");
		v = pw->pw_dir;
	}
	xasprintf(out, "%s/.local/share/p2p/p2p.db", v);
	return 0;
}

char *
cmd_db_resolve(const char *flag)
{
	char *path, *cause = NULL;

	if (cmd_db_path(flag, &path, &cause) == -1) {
		cmd_err("%s", cause);
		free(cause);
		return NULL;
	}
	return path;
}

int
cmd_check_data(const char *db_path)
{
	char *dir = path_dirname(db_path);
	struct stat st;
	int rc = 0;

	errno = 0;
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode) || stat(db_path, &st) == -1) {
		if (errno == EACCES)
			cmd_err("cannot read %s: %s", db_path, strerror(errno));
		else
			cmd_err("no p2p node data at %s (start one with: p2p serve --db %s)", dir,
			    db_path);
		rc = EXIT_FAIL;
	}
	free(dir);
	return rc;
}

int
cmd_check_key(const char *key)
{
	const char *errstr;
	char esc[256];

	if (key_validate(key, strlen(key), &errstr) == 0)
		return 0;
	cmd_err("bad key \"%s\": %s (a key is 1..%d bytes of UTF-8 without control "
	    "characters)", log_escape(key, strlen(key), esc, sizeof esc), errstr, KEY_MAX);
	return EXIT_USAGE;
}

static void
on_signal(int sig)
{
	(void)sig;
	cmd_interrupted = 1;
}

void
cmd_signals_begin(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: a blocking read() returns EINTR */
	cmd_interrupted = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	signals_on = 1;
}

void
cmd_signals_end(void)
{
	if (!signals_on)
		return;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	signals_on = 0;
}

char *
cmd_fmt_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)n;
	size_t u = 0;

	if (n < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)n);
		return buf;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < nitems(units)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

char *
cmd_fmt_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "-");
	return buf;
}

int
progress_wanted(int quiet)
{
	return !quiet && isatty(STDERR_FILENO);
}

void
progress_begin(struct progress *p, int on, uint64_t total)
{
	memset(p, 0, sizeof *p);
	p->on = on;
	p->total = total;
	p->start_ms = mono_ms();
}

static void
progress_draw(struct progress *p, uint64_t done, uint64_t now)
{
	char b[32], line[128];
	double secs = (double)(now - p->start_ms) / 1000.0;
	double mbs = secs > 0 ? (double)done / 1e6 / secs : 0;

	cmd_fmt_bytes(done, b, sizeof b);
	if (p->total > 0)
		snprintf(line, sizeof line, "%s  %5.1f%%  %.1f MB/s", b,
		    100.0 * (double)done / (double)p->total, mbs);
	else
		snprintf(line, sizeof line, "%s  %.1f MB/s", b, mbs);
	fprintf(stderr, "\r\033[K%s", line);
	fflush(stderr);
	p->drawn = 1;
}

void
progress_update(struct progress *p, uint64_t done)
{
	uint64_t now;

	if (!p->on)
		return;
	now = mono_ms();
	if (p->drawn && now - p->last_ms < 200)
		return;
	if (!p->drawn && now - p->start_ms < 300)
		return; /* quick transfers draw nothing */
	p->last_ms = now;
	progress_draw(p, done, now);
}

void
progress_end(struct progress *p)
{
	if (p->on && p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	p->drawn = 0;
	p->on = 0;
}
