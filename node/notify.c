/* notify.c: see notify.h. */
#include "node/notify.h"

#include <stdarg.h>
#include <stdio.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

void
notify_ready(void)
{
	sd_notify(0, "READY=1");
}

void
notify_status(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* One line: a newline would start another VAR= assignment. */
	for (char *p = msg; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	sd_notifyf(0, "STATUS=%s", msg);
}

void
notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

uint64_t
notify_watchdog_interval_usec(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec;
}

void
notify_watchdog_ping(void)
{
	sd_notify(0, "WATCHDOG=1");
}

#else /* !HAVE_LIBSYSTEMD */

void
notify_ready(void)
{
}

void
notify_status(const char *fmt, ...)
{
}

void
notify_stopping(void)
{
}

uint64_t
notify_watchdog_interval_usec(void)
{
	return 0;
}

void
notify_watchdog_ping(void)
{
}

#endif
