/* test_rfcomm.c: the RFCOMM transport (p2p/rfcomm.c) on any host: address parsing and
 * formatting, and what it says when the host has no Bluetooth. Real RFCOMM links are
 * tested in a VM: tests/integration/t_bt_rfcomm.sh (tests/bt/README.md). */
#include "lib/util.h"
#include "p2p/rfcomm.h"
#include "p2p/transport.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bluetooth/bluetooth.h>
#include <bluetooth/rfcomm.h>

/* ---- address table ---------------------------------------------------------------- */

static const struct rfcomm_case {
	const char *in;
	int flags;
	const char *fmt;  /* expected format() output; NULL: parse must fail */
	const char *err;  /* for failures: a substring of the cause */
	int channel;
} rfcomm_cases[] = {
	{ "bt:AA:BB:CC:DD:EE:FF/7", 0, "bt:AA:BB:CC:DD:EE:FF/7", NULL, 7 },
	{ "bt:aa:bb:cc:dd:ee:ff", 0, "bt:AA:BB:CC:DD:EE:FF/7", NULL, RFCOMM_DEFAULT_CHANNEL },
	{ "bt:00:11:22:33:44:55/1", 0, "bt:00:11:22:33:44:55/1", NULL, 1 },
	{ "bt:00:11:22:33:44:55/30", 0, "bt:00:11:22:33:44:55/30", NULL, 30 },
	{ "bt:0a:1B:2c:3D:4e:5F/12", TP_PASSIVE, "bt:0A:1B:2C:3D:4E:5F/12", NULL, 12 },
	/* listen addresses: every adapter, any free channel */
	{ "bt:", TP_PASSIVE, "bt:/7", NULL, RFCOMM_DEFAULT_CHANNEL },
	{ "bt:/3", TP_PASSIVE, "bt:/3", NULL, 3 },
	{ "bt:/0", TP_PASSIVE, "bt:/0", NULL, 0 },
	{ "bt:00:00:00:00:00:00/5", TP_PASSIVE, "bt:/5", NULL, 5 },
	{ "bt:AA:BB:CC:DD:EE:FF/0", TP_PASSIVE, "bt:AA:BB:CC:DD:EE:FF/0", NULL, 0 },
	/* refused */
	{ "", 0, NULL, "empty address", 0 },
	{ "AA:BB:CC:DD:EE:FF/7", 0, NULL, "not a Bluetooth address", 0 },
	{ "BT:AA:BB:CC:DD:EE:FF/7", 0, NULL, "not a Bluetooth address", 0 },
	{ "127.0.0.1:3000", 0, NULL, "not a Bluetooth address", 0 },
	{ "bt:", 0, NULL, "missing device address", 0 },
	{ "bt:/7", 0, NULL, "missing device address", 0 },
	{ "bt:AA:BB:CC:DD:EE:FF/0", 0, NULL, "channel 0", 0 },
	{ "bt:AA:BB:CC:DD:EE:FF/31", TP_PASSIVE, NULL, "channel is too large", 0 },
	{ "bt:AA:BB:CC:DD:EE:FF/-1", 0, NULL, "channel is too small", 0 },
	{ "bt:AA:BB:CC:DD:EE:FF/x", 0, NULL, "channel is invalid", 0 },
	{ "bt:AA:BB:CC:DD:EE:FF/", 0, NULL, "channel is invalid", 0 },
	{ "bt:AA:BB:CC:DD:EE:FF/7/8", 0, NULL, "channel is invalid", 0 },
	{ "bt:AA:BB:CC:DD:EE:FF/ 7", 0, NULL, "channel is invalid", 0 },
	{ "bt:AA:BB:CC:DD:EE", 0, NULL, "bad device address", 0 },
	{ "bt:AA:BB:CC:DD:EE:FG", 0, NULL, "bad device address", 0 },
	{ "bt:AA-BB-CC-DD-EE-FF", 0, NULL, "bad device address", 0 },
	{ "bt:AA:BB:CC:DD:EE:FF:00", 0, NULL, "bad device address", 0 },
	{ "bt:AAA:BB:CC:DD:EE:F", 0, NULL, "bad device address", 0 },
	{ "bt: AA:BB:CC:DD:EE:F", 0, NULL, "bad device address", 0 },
	{ "bt:AA:BB:CC:DD:EE:FF ", 0, NULL, "bad device address", 0 },
	{ "bt:00:00:00:00:00:00", 0, NULL, "not a device address", 0 },
	{ "bt:FF:FF:FF:FF:FF:FF", TP_PASSIVE, NULL, "not a device address", 0 },
	{ "bt:hci16", TP_PASSIVE, NULL, "not an adapter name", 0 },
	{ "bt:hcix/1", TP_PASSIVE, NULL, "not an adapter name", 0 },
	{ "bt:hci-1", 0, NULL, "not an adapter name", 0 },
};

START_TEST(rfcomm_parse_table)
{
	const struct rfcomm_case *c = &rfcomm_cases[_i];
	struct tp_addr a;
	char out[TP_ADDRSTRLEN], *cause = NULL;
	int rc = transport_rfcomm.parse(c->in, c->flags, &a, &cause);

	if (c->fmt == NULL) {
		ck_assert_msg(rc == -1, "'%s' parsed but should not", c->in);
		ck_assert_ptr_nonnull(cause);
		ck_assert_msg(strstr(cause, c->err) != NULL, "'%s': cause '%s' lacks '%s'",
		    c->in, cause, c->err);
		ck_assert_ptr_null(strchr(cause, '\n'));
		free(cause);
		return;
	}
	ck_assert_msg(rc == 0, "'%s': %s", c->in, cause ? cause : "?");
	ck_assert_ptr_null(cause);
	ck_assert_int_eq(a.ss.ss_family, AF_BLUETOOTH);
	ck_assert_int_eq(a.len, sizeof(struct sockaddr_rc));
	ck_assert_int_eq(rfcomm_addr_channel(&a), c->channel);
	ck_assert_int_eq(transport_rfcomm.format(&a, out, sizeof out), 0);
	ck_assert_str_eq(out, c->fmt);
	/* what format prints, parse reads back to the same address */
	{
		struct tp_addr b;
		ck_assert_int_eq(transport_rfcomm.parse(out, c->flags, &b, NULL), 0);
		ck_assert_int_eq(b.len, a.len);
		ck_assert_mem_eq(&b.ss, &a.ss, a.len);
	}
	ck_assert_int_eq(transport_rfcomm.format(&a, out, strlen(c->fmt)), -1); /* no room */
}
END_TEST

/* bdaddr_t is stored last byte first (as the kernel and str2ba(3) do). */
START_TEST(rfcomm_bdaddr_byte_order)
{
	static const uint8_t want[RFCOMM_BDADDR_LEN] = { 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 };
	struct tp_addr a;
	uint8_t b[RFCOMM_BDADDR_LEN];
	char s[RFCOMM_BDADDR_STRLEN];

	ck_assert_int_eq(rfcomm_bdaddr_parse("11:22:33:44:55:66", b), 0);
	ck_assert_mem_eq(b, want, sizeof b);
	rfcomm_bdaddr_format(b, s);
	ck_assert_str_eq(s, "11:22:33:44:55:66");

	ck_assert_int_eq(transport_rfcomm.parse("bt:11:22:33:44:55:66/9", 0, &a, NULL), 0);
	ck_assert_int_eq(rfcomm_addr_bdaddr(&a, b), 0);
	ck_assert_mem_eq(b, want, sizeof b);
	ck_assert_mem_eq(&((struct sockaddr_rc *)&a.ss)->rc_bdaddr, want, sizeof want);
	ck_assert_int_eq(((struct sockaddr_rc *)&a.ss)->rc_channel, 9);

	ck_assert_int_eq(rfcomm_bdaddr_parse("11:22:33:44:55", b), -1);
	ck_assert_int_eq(rfcomm_bdaddr_parse("11:22:33:44:55:6", b), -1);
	ck_assert_int_eq(rfcomm_bdaddr_parse("11:22:33:44:55:666", b), -1);
	ck_assert_int_eq(rfcomm_bdaddr_parse("11:22:33:44:55;66", b), -1);
	ck_assert_int_eq(rfcomm_bdaddr_parse("+1:22:33:44:55:66", b), -1);
	ck_assert_int_eq(rfcomm_bdaddr_parse(NULL, b), -1);
}
END_TEST

/* A peer address as accept(2) or getpeername(2) hands it over. */
START_TEST(rfcomm_format_sockaddr)
{
	struct sockaddr_rc rc;
	struct sockaddr_in sin;
	struct tp_addr a;
	uint8_t b[RFCOMM_BDADDR_LEN];
	char out[TP_ADDRSTRLEN];

	memset(&rc, 0, sizeof rc);
	rc.rc_family = AF_BLUETOOTH;
	rc.rc_channel = 12;
	ck_assert_int_eq(rfcomm_bdaddr_parse("12:34:56:78:9A:BC", rc.rc_bdaddr.b), 0);
	tp_addr_set(&a, (struct sockaddr *)&rc, sizeof rc);
	ck_assert_int_eq(transport_rfcomm.format(&a, out, sizeof out), 0);
	ck_assert_str_eq(out, "bt:12:34:56:78:9A:BC/12");

	/* not RFCOMM, or cut short: refused */
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	tp_addr_set(&a, (struct sockaddr *)&sin, sizeof sin);
	ck_assert_int_eq(transport_rfcomm.format(&a, out, sizeof out), -1);
	ck_assert_int_eq(rfcomm_addr_channel(&a), -1);
	ck_assert_int_eq(rfcomm_addr_bdaddr(&a, b), -1);
	tp_addr_set(&a, (struct sockaddr *)&rc, 4);
	ck_assert_int_eq(transport_rfcomm.format(&a, out, sizeof out), -1);
	ck_assert_int_eq(rfcomm_addr_channel(&a), -1);
}
END_TEST

START_TEST(rfcomm_vtable)
{
	ck_assert_str_eq(transport_rfcomm.name, "rfcomm");
	ck_assert_ptr_nonnull(transport_rfcomm.parse);
	ck_assert_ptr_nonnull(transport_rfcomm.listen);
	ck_assert_ptr_nonnull(transport_rfcomm.connect_nonblocking);
	ck_assert_ptr_nonnull(transport_rfcomm.format);
}
END_TEST

/* ---- hosts without Bluetooth ------------------------------------------------------- */

/* What this kernel says to an RFCOMM socket: 0 if it can make one, else errno. */
static int
probe_errno(void)
{
	int fd = socket(AF_BLUETOOTH, SOCK_STREAM, BTPROTO_RFCOMM);

	if (fd == -1)
		return errno;
	close(fd);
	return 0;
}

START_TEST(rfcomm_available_reason)
{
	char *why = NULL;
	int e = probe_errno(), ok = rfcomm_available(&why);

	if (e == EAFNOSUPPORT) {
		/* This host (and most CI machines): no AF_BLUETOOTH in the kernel. */
		ck_assert_int_eq(ok, 0);
		ck_assert_ptr_nonnull(why);
		ck_assert_msg(strstr(why, "no Bluetooth") != NULL &&
		    strstr(why, "AF_BLUETOOTH") != NULL &&
		    strstr(why, strerror(EAFNOSUPPORT)) != NULL, "unclear reason: %s", why);
	} else if (ok) {
		ck_assert_ptr_null(why);
	} else {
		ck_assert_ptr_nonnull(why); /* no rfcomm module, no adapter, adapter down */
	}
	if (why != NULL) {
		ck_assert_ptr_null(strchr(why, '\n')); /* one log line */
		ck_assert_int_gt((int)strlen(why), 10);
	}
	free(why);
	/* the reason is optional */
	ck_assert_int_eq(rfcomm_available(NULL), ok);
}
END_TEST

START_TEST(rfcomm_no_bluetooth_listen_connect)
{
	struct tp_addr l, r;
	char *cause = NULL;

	if (probe_errno() != EAFNOSUPPORT)
		return; /* this host has Bluetooth: covered by tests/integration/t_bt_rfcomm.sh */
	ck_assert_int_eq(transport_rfcomm.parse("bt:/7", TP_PASSIVE, &l, NULL), 0);
	ck_assert_int_eq(transport_rfcomm.listen(&l, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, "AF_BLUETOOTH") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(transport_rfcomm.parse("bt:00:11:22:33:44:55/7", 0, &r, NULL), 0);
	ck_assert_int_eq(transport_rfcomm.connect_nonblocking(&r, &cause), -1);
	ck_assert_msg(cause != NULL && strstr(cause, "AF_BLUETOOTH") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(rfcomm_connect_from(&r, &l, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	cause = NULL;
	/* "hciN" needs the adapter list, which needs AF_BLUETOOTH too */
	ck_assert_int_eq(transport_rfcomm.parse("bt:hci0/7", TP_PASSIVE, &l, &cause), -1);
	ck_assert_msg(cause != NULL && strstr(cause, "adapters") != NULL, "%s", cause);
	free(cause);
}
END_TEST

/* The adapter a node uses (--bt-adapter): bad names first, then what a host without
 * Bluetooth says (one line, the node then runs on TCP). */
START_TEST(rfcomm_adapter_pick_reason)
{
	struct tp_addr a;
	char *why = NULL;
	int dev = -1;

	ck_assert_int_eq(rfcomm_adapter_pick("wlan0", &a, &dev, &why), -1);
	ck_assert_msg(why != NULL && strstr(why, "not an adapter") != NULL, "%s", why);
	free(why);
	why = NULL;
	ck_assert_int_eq(rfcomm_adapter_pick("hci99999", &a, &dev, &why), -1);
	ck_assert_msg(why != NULL && strstr(why, "hci0..") != NULL, "%s", why);
	free(why);
	why = NULL;
	if (probe_errno() != EAFNOSUPPORT)
		return; /* adapters here: tests/integration/t_bt_bridge.sh */
	ck_assert_int_eq(rfcomm_adapter_pick(NULL, &a, &dev, &why), -1);
	ck_assert_msg(why != NULL && strstr(why, "no Bluetooth") != NULL &&
	    strchr(why, '\n') == NULL, "%s", why);
	free(why);
	why = NULL;
	ck_assert_int_eq(rfcomm_adapter_pick("hci0", &a, &dev, &why), -1);
	ck_assert_ptr_nonnull(why);
	free(why);
	why = NULL;
	ck_assert_int_eq(rfcomm_adapter_pick("00:11:22:33:44:55", &a, &dev, &why), -1);
	ck_assert_ptr_nonnull(why);
	free(why);
}
END_TEST

START_TEST(rfcomm_set_channel)
{
	struct tp_addr a;
	char out[TP_ADDRSTRLEN];

	ck_assert_int_eq(transport_rfcomm.parse("bt:00:11:22:33:44:55", 0, &a, NULL), 0);
	ck_assert_int_eq(rfcomm_addr_channel(&a), RFCOMM_DEFAULT_CHANNEL);
	ck_assert_int_eq(rfcomm_addr_set_channel(&a, 12), 0);
	ck_assert_int_eq(rfcomm_addr_channel(&a), 12);
	ck_assert_int_eq(transport_rfcomm.format(&a, out, sizeof out), 0);
	ck_assert_str_eq(out, "bt:00:11:22:33:44:55/12");
	ck_assert_int_eq(rfcomm_addr_set_channel(&a, 31), -1);
	ck_assert_int_eq(rfcomm_addr_set_channel(&a, -1), -1);
	ck_assert_int_eq(rfcomm_addr_channel(&a), 12);
	ck_assert_int_eq(transport_tcp.parse("127.0.0.1:1", 0, &a, NULL), 0);
	ck_assert_int_eq(rfcomm_addr_set_channel(&a, 7), -1);
}
END_TEST

START_TEST(rfcomm_wrong_family_refused)
{
	struct tp_addr a;
	char *cause = NULL;

	ck_assert_int_eq(transport_tcp.parse("127.0.0.1:1", 0, &a, NULL), 0);
	ck_assert_int_eq(transport_rfcomm.listen(&a, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(transport_rfcomm.connect_nonblocking(&a, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
}
END_TEST

/* The send-buffer option is plain SOL_SOCKET: check it on any stream socket. */
START_TEST(rfcomm_setup_accepted_sndbuf)
{
	int sv[2], sz = 0;
	socklen_t len = sizeof sz;
	char *cause = NULL;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(rfcomm_setup_accepted(sv[0], &cause), 0);
	ck_assert_int_eq(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, &len), 0);
	ck_assert_int_ge(sz, 200 * 1024); /* Linux doubles it, capped at 2 * wmem_max */
	ck_assert_int_eq(rfcomm_setup_accepted(-1, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static Suite *
rfcomm_suite(void)
{
	Suite *s = suite_create("rfcomm");
	TCase *tc;

	tc = tcase_create("address");
	tcase_add_loop_test(tc, rfcomm_parse_table, 0, (int)nitems(rfcomm_cases));
	tcase_add_test(tc, rfcomm_bdaddr_byte_order);
	tcase_add_test(tc, rfcomm_format_sockaddr);
	tcase_add_test(tc, rfcomm_vtable);
	tcase_add_test(tc, rfcomm_set_channel);
	suite_add_tcase(s, tc);

	tc = tcase_create("host");
	tcase_add_test(tc, rfcomm_available_reason);
	tcase_add_test(tc, rfcomm_no_bluetooth_listen_connect);
	tcase_add_test(tc, rfcomm_adapter_pick_reason);
	tcase_add_test(tc, rfcomm_wrong_family_refused);
	tcase_add_test(tc, rfcomm_setup_accepted_sndbuf);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(rfcomm_suite());
	int failed;

	srunner_run_all(sr, CK_ENV); /* CK_VERBOSITY, default normal */
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
