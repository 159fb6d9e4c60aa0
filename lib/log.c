/* log.c: leveled logging to stderr, modelled on OpenBSD's log.c. */
#include "lib/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "p2p";
static int log_lvl = LOG_INFO;
static int log_tty;
static pthread_mutex_t log_mtx = PTHREAD_MUTEX_INITIALIZER;

static const char *level_names[] = { "error", "warn", "info", "debug" };

void
log_init(const char *progname, int level)
{
	if (progname != NULL)
		log_prog = progname;
	log_lvl = level;
	log_tty = isatty(STDERR_FILENO);
}

void
log_set_level(int level)
{
	log_lvl = level;
}

int
log_get_level(void)
{
	return log_lvl;
}

int
log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	if (strcmp(s, "warning") == 0)
		return LOG_WARN;
	return -1;
}

const char *
log_level_name(int level)
{
	if (level < 0 || level > LOG_DEBUG)
		return "?";
	return level_names[level];
}

static void
vlog(int level, const char *errstr, const char *fmt, va_list ap)
{
	char msg[1024], ts[32] = "";
	static const char *colour[] = { "\033[31m", "\033[33m", "", "\033[2m" };

	if (level > log_lvl)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (!log_tty) {
		/* Timestamps only when not on a terminal: the journal adds its own,
		 * but plain files and test logs want them. */
		struct timespec t;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &t);
		gmtime_r(&t.tv_sec, &tm);
		snprintf(ts, sizeof ts, "%02d:%02d:%02d.%03ld ", tm.tm_hour, tm.tm_min, tm.tm_sec,
		    t.tv_nsec / 1000000);
	}
	pthread_mutex_lock(&log_mtx);
	if (log_tty)
		fprintf(stderr, "%s%s: %s%s%s%s\n", colour[level], log_prog,
		    level <= LOG_WARN ? level_names[level] : "", level <= LOG_WARN ? ": " : "",
		    msg, colour[level][0] ? "\033[0m" : "");
	else
		fprintf(stderr, "%s%s[%d] %s: %s%s%s\n", ts, log_prog, (int)getpid(),
		    level_names[level], msg, errstr ? ": " : "", errstr ? errstr : "");
	pthread_mutex_unlock(&log_mtx);
	(void)errstr;
}

#define LOGFN(name, level)                      \
	void name(const char *fmt, ...)         \
	{                                       \
		va_list ap;                     \
		va_start(ap, fmt);              \
		vlog(level, NULL, fmt, ap);     \
		va_end(ap);                     \
	}
LOGFN(log_error, LOG_ERROR)
LOGFN(log_warnx, LOG_WARN)
LOGFN(log_info, LOG_INFO)
LOGFN(log_debug, LOG_DEBUG)

void
log_warn(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	log_warnx("%s: %s", buf, strerror(saved));
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: fatal: %s: %s\n", log_prog, buf, strerror(saved));
	abort();
}

void
fatalx(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: fatal: %s\n", log_prog, buf);
	abort();
}

char *
log_escape(const void *in, size_t len, char *out, size_t outlen)
{
	const unsigned char *p = in;
	size_t o = 0;

	if (outlen == 0)
		return out;
	for (size_t i = 0; i < len; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
			if (o + 2 > outlen)
				break;
			out[o++] = (char)p[i];
		} else {
			if (o + 5 > outlen)
				break;
			snprintf(out + o, 5, "\\x%02x", p[i]);
			o += 4;
		}
	}
	out[o] = '\0';
	return out;
}
