/* notify.h: service-manager notifications (systemd Type=notify, WatchdogSec=).
 *
 * Built on sd_notify(3) when libsystemd is available (HAVE_LIBSYSTEMD); otherwise, and
 * whenever the process was not started by systemd with a notify socket ($NOTIFY_SOCKET
 * unset), every call is a cheap no-op. Safe from any thread.
 *
 * The daemon's part:
 *   notify_ready()                   once the API socket and listeners accept connections
 *   notify_status("...")             free-form one-line state (systemctl status shows it)
 *   notify_watchdog_interval_usec()  at start: when non-zero, arm a timer at half of it
 *   notify_watchdog_ping()           from that timer, on the event-loop thread, so a hung
 *                                    loop is what stops the pings
 *   notify_stopping()                when shutdown begins */
#ifndef P2P_NOTIFY_H
#define P2P_NOTIFY_H

#include <stdint.h>

void notify_ready(void);
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void notify_stopping(void);
/* WatchdogSec= in microseconds for this process, or 0 when there is no watchdog. */
uint64_t notify_watchdog_interval_usec(void);
void notify_watchdog_ping(void);

#endif
