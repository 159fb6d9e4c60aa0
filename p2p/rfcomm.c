/* rfcomm.c: the Bluetooth RFCOMM transport; see rfcomm.h.
 *
 * Kernel socket API only: AF_BLUETOOTH/BTPROTO_RFCOMM stream sockets, and a raw
 * BTPROTO_HCI socket for the adapter list (HCIGETDEVLIST/HCIGETDEVINFO ioctls, which
 * need no privileges). The libbluetooth headers are used for the structures and
 * constants only; nothing here calls into libbluetooth. */
#include "p2p/rfcomm.h"
#include "lib/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bluetooth/bluetooth.h>
#include <bluetooth/hci.h>
#include <bluetooth/rfcomm.h>

#define RFCOMM_BACKLOG 16
#define HCI_NAME_PREFIX "hci"

_Static_assert(sizeof(bdaddr_t) == RFCOMM_BDADDR_LEN, "bdaddr_t is 6 bytes");
_Static_assert(sizeof(struct sockaddr_rc) <= sizeof(struct sockaddr_storage),
    "sockaddr_rc fits a tp_addr");

struct adapter {
	int id;        /* N of hciN */
	bdaddr_t addr;
	int up;
};

/* ---- addresses ------------------------------------------------------------------ */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
rfcomm_bdaddr_parse(const char *s, uint8_t out[RFCOMM_BDADDR_LEN])
{
	uint8_t b[RFCOMM_BDADDR_LEN];

	if (s == NULL || strlen(s) != RFCOMM_BDADDR_STRLEN - 1)
		return -1;
	for (int i = 0; i < RFCOMM_BDADDR_LEN; i++) {
		const char *p = s + 3 * i;
		int hi = hexval(p[0]), lo = hexval(p[1]);

		if (hi < 0 || lo < 0 || (i < RFCOMM_BDADDR_LEN - 1 && p[2] != ':'))
			return -1;
		/* The text is most significant byte first; bdaddr_t is the reverse. */
		b[RFCOMM_BDADDR_LEN - 1 - i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(out, b, sizeof b);
	return 0;
}

void
rfcomm_bdaddr_format(const uint8_t b[RFCOMM_BDADDR_LEN], char *out)
{
	snprintf(out, RFCOMM_BDADDR_STRLEN, "%02X:%02X:%02X:%02X:%02X:%02X", b[5], b[4],
	    b[3], b[2], b[1], b[0]);
}

static int
is_any(const bdaddr_t *a)
{
	static const bdaddr_t any; /* BDADDR_ANY, without the header's compound literal */

	return memcmp(a, &any, sizeof any) == 0;
}

static int
is_broadcast(const bdaddr_t *a)
{
	static const uint8_t all[RFCOMM_BDADDR_LEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	return memcmp(a, all, sizeof all) == 0;
}

int
rfcomm_addr_channel(const struct tp_addr *a)
{
	const struct sockaddr_rc *rc = (const struct sockaddr_rc *)&a->ss;

	if (a->ss.ss_family != AF_BLUETOOTH || a->len < sizeof *rc)
		return -1;
	return rc->rc_channel;
}

int
rfcomm_addr_bdaddr(const struct tp_addr *a, uint8_t out[RFCOMM_BDADDR_LEN])
{
	const struct sockaddr_rc *rc = (const struct sockaddr_rc *)&a->ss;

	if (a->ss.ss_family != AF_BLUETOOTH || a->len < sizeof *rc)
		return -1;
	memcpy(out, &rc->rc_bdaddr, RFCOMM_BDADDR_LEN);
	return 0;
}

int
rfcomm_addr_set_channel(struct tp_addr *a, int channel)
{
	struct sockaddr_rc *rc = (struct sockaddr_rc *)&a->ss;

	if (a->ss.ss_family != AF_BLUETOOTH || a->len < sizeof *rc || channel < 0 ||
	    channel > RFCOMM_CHANNEL_MAX)
		return -1;
	rc->rc_channel = (uint8_t)channel;
	return 0;
}

/* ---- adapters ------------------------------------------------------------------- */

static int
hci_socket(char **cause)
{
	int fd = socket(AF_BLUETOOTH, SOCK_RAW | SOCK_CLOEXEC, BTPROTO_HCI);

	if (fd == -1)
		set_cause(cause, "cannot list Bluetooth adapters: socket(AF_BLUETOOTH, HCI): %s",
		    strerror(errno));
	return fd;
}

static int
adapter_info(int hci, int id, struct adapter *ad)
{
	struct hci_dev_info di;

	memset(&di, 0, sizeof di);
	di.dev_id = (uint16_t)id;
	if (ioctl(hci, HCIGETDEVINFO, &di) == -1)
		return -1;
	ad->id = id;
	bacpy(&ad->addr, &di.bdaddr);
	ad->up = (di.flags & (1UL << HCI_UP)) != 0;
	return 0;
}

/* The local adapters, up to HCI_MAX_DEV. Count (>= 0) or -1 with *cause. */
static int
adapters_list(struct adapter *out, char **cause)
{
	struct {
		struct hci_dev_list_req l;
		struct hci_dev_req r[HCI_MAX_DEV];
	} req;
	int hci, n = 0;

	if ((hci = hci_socket(cause)) == -1)
		return -1;
	memset(&req, 0, sizeof req);
	req.l.dev_num = HCI_MAX_DEV;
	if (ioctl(hci, HCIGETDEVLIST, &req) == -1) {
		set_cause(cause, "cannot list Bluetooth adapters: %s", strerror(errno));
		close(hci);
		return -1;
	}
	for (int i = 0; i < req.l.dev_num && i < HCI_MAX_DEV; i++)
		if (adapter_info(hci, req.r[i].dev_id, &out[n]) == 0)
			n++;
	close(hci);
	return n;
}

/* "hciN" -> the adapter's address. 0 ok, -1 with *cause. */
static int
adapter_by_name(const char *name, bdaddr_t *out, char **cause)
{
	struct adapter ad;
	const char *errstr;
	long long id;
	int hci;

	id = parse_num(name + strlen(HCI_NAME_PREFIX), 0, HCI_MAX_DEV - 1, &errstr);
	if (errstr != NULL)
		return set_cause(cause, "%s: not an adapter name (hci0..hci%d)", name,
		    HCI_MAX_DEV - 1);
	if ((hci = hci_socket(cause)) == -1)
		return -1;
	if (adapter_info(hci, (int)id, &ad) == -1) {
		int e = errno;
		close(hci);
		return set_cause(cause, "Bluetooth adapter %s: %s", name,
		    e == ENODEV ? "no such adapter" : strerror(e));
	}
	close(hci);
	if (is_any(&ad.addr))
		return set_cause(cause, "Bluetooth adapter %s has no address yet (is it up?)",
		    name);
	bacpy(out, &ad.addr);
	return 0;
}

static int
adapter_cmp(const void *a, const void *b)
{
	const struct adapter *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

int
rfcomm_available(char **why)
{
	struct adapter ads[HCI_MAX_DEV];
	char addr[RFCOMM_BDADDR_STRLEN], *cause = NULL;
	int fd, n, e;

	if ((fd = socket(AF_BLUETOOTH, SOCK_STREAM | SOCK_CLOEXEC, BTPROTO_RFCOMM)) == -1) {
		e = errno;
		if (e == EAFNOSUPPORT)
			set_cause(why, "no Bluetooth: socket(AF_BLUETOOTH): %s (the kernel has "
			    "no Bluetooth support, or a sandbox blocks AF_BLUETOOTH)",
			    strerror(e));
		else if (e == EPROTONOSUPPORT)
			set_cause(why, "no Bluetooth RFCOMM: socket(AF_BLUETOOTH, RFCOMM): %s "
			    "(load the rfcomm kernel module)", strerror(e));
		else if (e == EACCES || e == EPERM)
			set_cause(why, "no Bluetooth: socket(AF_BLUETOOTH, RFCOMM): %s (not "
			    "allowed here)", strerror(e));
		else
			set_cause(why, "no Bluetooth: socket(AF_BLUETOOTH, RFCOMM): %s",
			    strerror(e));
		return 0;
	}
	close(fd);

	if ((n = adapters_list(ads, &cause)) == -1) {
		set_cause(why, "no Bluetooth: %s", cause);
		free(cause);
		return 0;
	}
	if (n == 0) {
		set_cause(why, "no Bluetooth adapter (bluetoothctl list shows none)");
		return 0;
	}
	for (int i = 0; i < n; i++)
		if (ads[i].up)
			return 1;
	/* HCIGETDEVLIST lists the newest first: name them in hciN order. */
	qsort(ads, (size_t)n, sizeof ads[0], adapter_cmp);
	rfcomm_bdaddr_format(ads[0].addr.b, addr);
	if (n == 1)
		set_cause(why, "Bluetooth adapter hci%d (%s) is down (see rfkill list; "
		    "bluetoothctl power on)", ads[0].id, addr);
	else
		set_cause(why, "all %d Bluetooth adapters (hci%d..hci%d) are down (see rfkill "
		    "list; bluetoothctl power on)", n, ads[0].id, ads[n - 1].id);
	return 0;
}

int
rfcomm_adapter_pick(const char *name, struct tp_addr *out, int *dev_id, char **why)
{
	struct adapter ads[HCI_MAX_DEV];
	struct sockaddr_rc *rc = (struct sockaddr_rc *)&out->ss;
	char addr[RFCOMM_BDADDR_STRLEN], *cause = NULL;
	bdaddr_t want;
	int n, i, by_name = 0;
	long long id = -1;

	memset(out, 0, sizeof *out);
	if (name != NULL && strncmp(name, HCI_NAME_PREFIX, strlen(HCI_NAME_PREFIX)) == 0) {
		const char *errstr;

		id = parse_num(name + strlen(HCI_NAME_PREFIX), 0, HCI_MAX_DEV - 1, &errstr);
		if (errstr != NULL)
			return set_cause(why, "%s: not an adapter name (hci0..hci%d)", name,
			    HCI_MAX_DEV - 1);
		by_name = 1;
	} else if (name != NULL && rfcomm_bdaddr_parse(name, want.b) == -1) {
		return set_cause(why, "%s: not an adapter (hciN or AA:BB:CC:DD:EE:FF)", name);
	}
	if (!rfcomm_available(why))
		return -1;
	if ((n = adapters_list(ads, &cause)) == -1) {
		set_cause(why, "no Bluetooth: %s", cause);
		free(cause);
		return -1;
	}
	qsort(ads, (size_t)n, sizeof ads[0], adapter_cmp);
	for (i = 0; i < n; i++) {
		if (name == NULL ? ads[i].up : by_name ? ads[i].id == id :
		    bacmp(&ads[i].addr, &want) == 0)
			break;
	}
	if (i == n)
		return set_cause(why, "Bluetooth adapter %s: no such adapter", name != NULL ?
		    name : "(default)");
	rfcomm_bdaddr_format(ads[i].addr.b, addr);
	if (!ads[i].up)
		return set_cause(why, "Bluetooth adapter hci%d (%s) is down (see rfkill list; "
		    "bluetoothctl power on)", ads[i].id, addr);
	if (is_any(&ads[i].addr))
		return set_cause(why, "Bluetooth adapter hci%d has no address yet", ads[i].id);
	rc->rc_family = AF_BLUETOOTH;
	bacpy(&rc->rc_bdaddr, &ads[i].addr);
	rc->rc_channel = 0;
	out->len = sizeof *rc;
	*dev_id = ads[i].id;
	return 0;
}

/* ---- the transport ---------------------------------------------------------------- */

static int
rfcomm_parse(const char *s, int flags, struct tp_addr *a, char **cause)
{
	struct sockaddr_rc *rc = (struct sockaddr_rc *)&a->ss;
	char dev[RFCOMM_BDADDR_STRLEN];
	const char *p, *slash, *errstr;
	long long ch = RFCOMM_DEFAULT_CHANNEL;
	size_t dlen;

	memset(a, 0, sizeof *a);
	if (s == NULL || *s == '\0')
		return set_cause(cause, "empty address");
	if (strncmp(s, RFCOMM_PREFIX, strlen(RFCOMM_PREFIX)) != 0)
		return set_cause(cause, "%s: not a Bluetooth address (%sAA:BB:CC:DD:EE:FF/ch)",
		    s, RFCOMM_PREFIX);
	p = s + strlen(RFCOMM_PREFIX);
	if ((slash = strchr(p, '/')) != NULL) {
		ch = parse_num(slash + 1, 0, RFCOMM_CHANNEL_MAX, &errstr);
		if (errstr != NULL)
			return set_cause(cause, "%s: channel is %s (1..%d)", s, errstr,
			    RFCOMM_CHANNEL_MAX);
		if (ch == 0 && !(flags & TP_PASSIVE))
			return set_cause(cause, "%s: channel 0", s);
		dlen = (size_t)(slash - p);
	} else
		dlen = strlen(p);
	if (dlen >= sizeof dev)
		return set_cause(cause, "%s: bad device address", s);
	memcpy(dev, p, dlen);
	dev[dlen] = '\0';

	rc->rc_family = AF_BLUETOOTH;
	rc->rc_channel = (uint8_t)ch;
	a->len = sizeof *rc;
	if (dlen == 0) {
		if (!(flags & TP_PASSIVE))
			return set_cause(cause, "%s: missing device address", s);
		return 0; /* BDADDR_ANY: every adapter */
	}
	if (strncmp(dev, HCI_NAME_PREFIX, strlen(HCI_NAME_PREFIX)) == 0)
		return adapter_by_name(dev, &rc->rc_bdaddr, cause);
	if (rfcomm_bdaddr_parse(dev, rc->rc_bdaddr.b) == -1)
		return set_cause(cause, "%s: bad device address (AA:BB:CC:DD:EE:FF)", s);
	if (is_broadcast(&rc->rc_bdaddr) || (is_any(&rc->rc_bdaddr) && !(flags & TP_PASSIVE)))
		return set_cause(cause, "%s: not a device address", s);
	return 0;
}

static int
rfcomm_format(const struct tp_addr *a, char *out, size_t outlen)
{
	const struct sockaddr_rc *rc = (const struct sockaddr_rc *)&a->ss;
	char dev[RFCOMM_BDADDR_STRLEN];
	int n;

	if (a->ss.ss_family != AF_BLUETOOTH || a->len < sizeof *rc)
		return -1;
	if (is_any(&rc->rc_bdaddr))
		dev[0] = '\0';
	else
		rfcomm_bdaddr_format(rc->rc_bdaddr.b, dev);
	n = snprintf(out, outlen, "%s%s/%u", RFCOMM_PREFIX, dev, rc->rc_channel);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* A listen address naming an adapter must name one that exists: the kernel would
 * accept the bind and then never see a connection. 0 ok, -1 with *cause. */
static int
check_local_adapter(const bdaddr_t *addr, const char *name, char **cause)
{
	struct adapter ads[HCI_MAX_DEV];
	int n;

	if (is_any(addr))
		return 0;
	if ((n = adapters_list(ads, cause)) == -1)
		return -1;
	for (int i = 0; i < n; i++)
		if (bacmp(&ads[i].addr, addr) == 0)
			return 0;
	return set_cause(cause, "listen on %s: no local Bluetooth adapter has that address",
	    name);
}

/* The default RFCOMM send buffer (50800 bytes on Linux 6.1) is too small for one
 * 16 KiB write: the kernel builds the whole write as MTU-sized fragments before queueing
 * any of them, charging each to the send buffer (~3 KiB of truesize per 1 KiB frame),
 * and waits for room that only sending those same fragments could free. Seen in the
 * test VM (tests/bt/README.md): 8 KiB writes pass, 16 KiB writes hang for good, and
 * with a 256 KiB SO_SNDBUF they pass. A TLS record is up to 16 KiB + 256, so every
 * RFCOMM socket of ours gets the larger buffer (the kernel caps it at wmem_max * 2). */
static int
tune_socket(int fd, char **cause)
{
	int sz = RFCOMM_SNDBUF;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz) == -1)
		return set_cause(cause, "setsockopt(SO_SNDBUF): %s", strerror(errno));
	return 0;
}

int
rfcomm_setup_accepted(int fd, char **cause)
{
	return tune_socket(fd, cause);
}

static int
rfcomm_socket(char **cause)
{
	int fd = socket(AF_BLUETOOTH, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    BTPROTO_RFCOMM);

	if (fd == -1)
		set_cause(cause, "socket(AF_BLUETOOTH, RFCOMM): %s", strerror(errno));
	else if (tune_socket(fd, cause) == -1) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static int
rfcomm_listen(const struct tp_addr *a, char **cause)
{
	const struct sockaddr_rc *rc = (const struct sockaddr_rc *)&a->ss;
	char name[TP_ADDRSTRLEN];
	int fd;

	if (a->ss.ss_family != AF_BLUETOOTH || a->len < sizeof *rc)
		return set_cause(cause, "listen: not an RFCOMM address");
	if (rfcomm_format(a, name, sizeof name) == -1)
		snprintf(name, sizeof name, "?");
	if ((fd = rfcomm_socket(cause)) == -1)
		return -1;
	if (check_local_adapter(&rc->rc_bdaddr, name, cause) == -1) {
		close(fd);
		return -1;
	}
	/* Channel 0: listen(2) picks a free channel; tp_addr_local() tells which. */
	if (bind(fd, (const struct sockaddr *)rc, sizeof *rc) == -1 ||
	    listen(fd, RFCOMM_BACKLOG) == -1) {
		int e = errno;
		set_cause(cause, "listen on %s: %s", name,
		    e == EADDRINUSE ? "channel already in use" : strerror(e));
		close(fd);
		return -1;
	}
	return fd;
}

int
rfcomm_connect_from(const struct tp_addr *remote, const struct tp_addr *local,
    char **cause)
{
	const struct sockaddr_rc *rc = (const struct sockaddr_rc *)&remote->ss;
	char name[TP_ADDRSTRLEN];
	int fd, e;

	if (remote->ss.ss_family != AF_BLUETOOTH || remote->len < sizeof *rc ||
	    (local != NULL && (local->ss.ss_family != AF_BLUETOOTH ||
	    local->len < sizeof *rc)))
		return set_cause(cause, "connect: not an RFCOMM address");
	if (rfcomm_format(remote, name, sizeof name) == -1)
		snprintf(name, sizeof name, "?");
	if ((fd = rfcomm_socket(cause)) == -1)
		return -1;
	if (local != NULL) {
		struct sockaddr_rc src;

		memcpy(&src, &local->ss, sizeof src);
		src.rc_channel = 0;
		if (bind(fd, (const struct sockaddr *)&src, sizeof src) == -1) {
			e = errno;
			goto fail;
		}
	}
	/* Non-blocking: EINPROGRESS, then writable once connected (or SO_ERROR set). */
	if (connect(fd, (const struct sockaddr *)rc, sizeof *rc) == -1 &&
	    errno != EINPROGRESS) {
		e = errno;
		goto fail;
	}
	return fd;
fail:
	set_cause(cause, "connect to %s: %s", name,
	    e == EHOSTUNREACH ? "no usable local Bluetooth adapter" : strerror(e));
	close(fd);
	return -1;
}

static int
rfcomm_connect_nonblocking(const struct tp_addr *a, char **cause)
{
	return rfcomm_connect_from(a, NULL, cause);
}

const struct transport transport_rfcomm = {
	.name = "rfcomm",
	.parse = rfcomm_parse,
	.listen = rfcomm_listen,
	.connect_nonblocking = rfcomm_connect_nonblocking,
	.format = rfcomm_format,
};
