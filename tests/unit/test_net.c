/* test_net.c: the network's pure helpers (node/peer_util.c): backoff, address parsing
 * and choice, dialable addresses for tickets, the PEERS list, transports (bt:
 * addresses, what a node may dial, PEERS entries by transport), the duplicate-link
 * rule. */
#include "node/net.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- backoff ------------------------------------------------------------------- */

START_TEST(test_backoff_grows_and_caps)
{
	uint64_t prev_max = 0;

	for (unsigned f = 0; f < 12; f++) {
		uint64_t step = NET_BACKOFF_BASE_MS << (f < 20 ? f : 20);
		uint64_t lo, hi;

		if (step > NET_BACKOFF_MAX_MS)
			step = NET_BACKOFF_MAX_MS;
		lo = net_backoff_ms(f, 0);
		hi = net_backoff_ms(f, UINT32_MAX);
		ck_assert_uint_eq(lo, step / 2);            /* half is fixed */
		ck_assert_uint_le(hi, step);                /* the other half is jitter */
		ck_assert_uint_ge(hi, prev_max / 2);
		prev_max = hi;
	}
	ck_assert_uint_le(net_backoff_ms(1000, UINT32_MAX), NET_BACKOFF_MAX_MS);
	ck_assert_uint_ge(net_backoff_ms(1000, 0), NET_BACKOFF_MAX_MS / 2);
	ck_assert_uint_le(net_backoff_ms(UINT32_MAX, 12345), NET_BACKOFF_MAX_MS);
}
END_TEST

START_TEST(test_backoff_other_base)
{
	/* bootstrap addresses: 250 ms first, same doubling and cap */
	ck_assert_uint_eq(net_backoff_from(250, 1000, 0, 0), 125);
	ck_assert_uint_le(net_backoff_from(250, 1000, 0, UINT32_MAX), 250);
	ck_assert_uint_eq(net_backoff_from(250, 1000, 1, 0), 250);
	ck_assert_uint_eq(net_backoff_from(250, 1000, 2, 0), 500);
	ck_assert_uint_eq(net_backoff_from(250, 1000, 3, 0), 500); /* capped at 1000 */
	ck_assert_uint_eq(net_backoff_from(250, 1000, 100, 0), 500);
	ck_assert_uint_eq(net_backoff_ms(2, 7), net_backoff_from(NET_BACKOFF_BASE_MS,
	    NET_BACKOFF_MAX_MS, 2, 7));
}
END_TEST

START_TEST(test_backoff_jitter_spreads)
{
	uint64_t a = net_backoff_ms(3, 1), b = net_backoff_ms(3, 3000);

	ck_assert_uint_ne(a, b);
	ck_assert_uint_ge(a, 4000);
	ck_assert_uint_le(b, 8000);
}
END_TEST

/* ---- addresses ------------------------------------------------------------------ */

START_TEST(test_split_join)
{
	char host[64], out[80];
	uint16_t port;

	ck_assert_int_eq(net_split_addr("127.0.0.1:3000", host, sizeof host, &port), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_uint_eq(port, 3000);
	ck_assert_int_eq(net_split_addr("[::1]:4000", host, sizeof host, &port), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_uint_eq(port, 4000);
	ck_assert_int_eq(net_split_addr(":3000", host, sizeof host, &port), 0);
	ck_assert_str_eq(host, "");
	ck_assert_int_eq(net_split_addr("host.example:1", host, sizeof host, &port), 0);
	ck_assert_str_eq(host, "host.example");
	ck_assert_int_eq(net_split_addr("::1:3000", host, sizeof host, &port), -1);
	ck_assert_int_eq(net_split_addr("1.2.3.4", host, sizeof host, &port), -1);
	ck_assert_int_eq(net_split_addr("1.2.3.4:", host, sizeof host, &port), -1);
	ck_assert_int_eq(net_split_addr("1.2.3.4:65536", host, sizeof host, &port), -1);
	ck_assert_int_eq(net_split_addr("1.2.3.4:12x", host, sizeof host, &port), -1);
	ck_assert_int_eq(net_split_addr("[::1]3000", host, sizeof host, &port), -1);
	ck_assert_int_eq(net_split_addr("", host, sizeof host, &port), -1);
	ck_assert_int_eq(net_split_addr("averyveryverylonghostname:1", host, 8, &port), -1);
	ck_assert_int_eq(net_join_addr("::1", 5, out, sizeof out), 0);
	ck_assert_str_eq(out, "[::1]:5");
	ck_assert_int_eq(net_join_addr("10.0.0.1", 5, out, sizeof out), 0);
	ck_assert_str_eq(out, "10.0.0.1:5");
	ck_assert_int_eq(net_join_addr("10.0.0.1", 5, out, 4), -1);
}
END_TEST

START_TEST(test_host_kinds)
{
	ck_assert(net_host_unspecified(""));
	ck_assert(net_host_unspecified("0.0.0.0"));
	ck_assert(net_host_unspecified("::"));
	ck_assert(!net_host_unspecified("127.0.0.1"));
	ck_assert(net_host_numeric("192.0.2.1"));
	ck_assert(net_host_numeric("fe80::1%eth0"));
	ck_assert(!net_host_numeric("localhost"));
	ck_assert(!net_host_numeric("1.2.3"));
	ck_assert(net_host_loopback("127.0.0.1"));
	ck_assert(net_host_loopback("127.1.2.3"));
	ck_assert(net_host_loopback("::1"));
	ck_assert(!net_host_loopback("10.0.0.1"));
}
END_TEST

START_TEST(test_pick_addr)
{
	char out[80];
	const char *a1[] = { ":3000" };
	const char *a2[] = { "0.0.0.0:3000", "10.0.0.5:4000" };
	const char *a3[] = { "192.0.2.1:7000", "10.0.0.5:4000" };
	const char *a4[] = { "node.example:7000" };
	const char *a5[] = { "[::]:9000" };
	const char *bad[] = { "nonsense", "1.2.3.4:0" };

	/* an unspecified host gets the observed one; the source port is never used */
	ck_assert_int_eq(net_pick_addr(a1, 1, "192.0.2.9", out, sizeof out), 0);
	ck_assert_str_eq(out, "192.0.2.9:3000");
	/* an advertised address matching the observed host wins */
	ck_assert_int_eq(net_pick_addr(a2, 2, "10.0.0.5", out, sizeof out), 0);
	ck_assert_str_eq(out, "10.0.0.5:4000");
	ck_assert_int_eq(net_pick_addr(a2, 2, "10.0.0.6", out, sizeof out), 0);
	ck_assert_str_eq(out, "10.0.0.6:3000");
	/* literals only: the first */
	ck_assert_int_eq(net_pick_addr(a3, 2, "198.51.100.1", out, sizeof out), 0);
	ck_assert_str_eq(out, "192.0.2.1:7000");
	ck_assert_int_eq(net_pick_addr(a3, 2, "10.0.0.5", out, sizeof out), 0);
	ck_assert_str_eq(out, "10.0.0.5:4000");
	/* a host name is never resolved on the loop: the observed host with its port */
	ck_assert_int_eq(net_pick_addr(a4, 1, "192.0.2.7", out, sizeof out), 0);
	ck_assert_str_eq(out, "192.0.2.7:7000");
	ck_assert_int_eq(net_pick_addr(a5, 1, "2001:db8::1", out, sizeof out), 0);
	ck_assert_str_eq(out, "[2001:db8::1]:9000");
	ck_assert_int_eq(net_pick_addr(bad, 2, "192.0.2.7", out, sizeof out), -1);
	ck_assert_int_eq(net_pick_addr(NULL, 0, "192.0.2.7", out, sizeof out), -1);
}
END_TEST

START_TEST(test_dialable_addrs)
{
	const char *listen[] = { ":3000", "0.0.0.0:4000", "[::]:5000", "127.0.0.1:6000",
	    ":3000" };
	const char *ifs[] = { "192.0.2.1", "2001:db8::1", "127.0.0.1", "::1" };
	char out[16][NET_ADDR_LEN];
	size_t n;

	n = net_dialable_addrs(listen, 5, ifs, 4, out, 16);
	ck_assert_uint_eq(n, 4 + 2 + 2 + 1);
	ck_assert_str_eq(out[0], "192.0.2.1:3000");
	ck_assert_str_eq(out[1], "[2001:db8::1]:3000");
	ck_assert_str_eq(out[2], "127.0.0.1:3000");
	ck_assert_str_eq(out[3], "[::1]:3000");
	ck_assert_str_eq(out[4], "192.0.2.1:4000");
	ck_assert_str_eq(out[5], "127.0.0.1:4000");
	ck_assert_str_eq(out[6], "[2001:db8::1]:5000");
	ck_assert_str_eq(out[7], "[::1]:5000");
	ck_assert_str_eq(out[8], "127.0.0.1:6000");
	/* bounded */
	ck_assert_uint_eq(net_dialable_addrs(listen, 5, ifs, 4, out, 3), 3);
	/* no interfaces: only the explicit addresses */
	ck_assert_uint_eq(net_dialable_addrs(listen, 5, NULL, 0, out, 16), 1);
}
END_TEST

/* ---- PEERS list ------------------------------------------------------------------ */

static uint8_t ids[400][32];

static void
make_ids(void)
{
	for (int i = 0; i < 400; i++) {
		memset(ids[i], 0, 32);
		ids[i][0] = (uint8_t)(i >> 8);
		ids[i][1] = (uint8_t)i;
		ids[i][31] = 0xaa;
	}
}

START_TEST(test_gossip_filters)
{
	struct net_gossip_cand c[5];
	size_t out[5], n;
	int64_t now = 1000000000;

	make_ids();
	memset(c, 0, sizeof c);
	c[0] = (struct net_gossip_cand){ ids[0], "10.0.0.1:1", 0, now - 1000 };
	c[1] = (struct net_gossip_cand){ ids[1], "10.0.0.2:1", 1, now };       /* receiver */
	c[2] = (struct net_gossip_cand){ ids[2], "", 1, now };                 /* no address */
	c[3] = (struct net_gossip_cand){ ids[3], "10.0.0.4:1", 0, now - 5000000 }; /* stale */
	c[4] = (struct net_gossip_cand){ ids[4], "10.0.0.5:1", 1, now - 10 };
	n = net_gossip_select(c, 5, ids[1], now, 1000000, 256, out);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(out[0], 4); /* connected first */
	ck_assert_uint_eq(out[1], 0);
	/* a stale but connected peer is still sent */
	c[3].connected = 1;
	n = net_gossip_select(c, 5, ids[1], now, 1000000, 256, out);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(net_gossip_select(c, 0, NULL, now, 1, 256, out), 0);
}
END_TEST

START_TEST(test_gossip_bounded)
{
	static struct net_gossip_cand c[400];
	static size_t out[400];
	size_t n, i;
	int64_t now = 5000000;

	make_ids();
	for (i = 0; i < 400; i++)
		c[i] = (struct net_gossip_cand){ ids[i], "10.0.0.1:1", 0, now - (int64_t)i };
	n = net_gossip_select(c, 400, NULL, now, 1000000, 256, out);
	ck_assert_uint_eq(n, 256);
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(out[i], i); /* most recently seen first */
}
END_TEST

/* ---- transports: bt: addresses, what a node dials, PEERS by transport ------------ */

START_TEST(test_bt_addr_norm)
{
	char out[NET_ADDR_LEN];
	static const char *const bad[] = {
		"bt:hci0/7", "bt:hci0", "bt:", "bt:/7", "AA:BB:CC:DD:EE:FF/7", "BT:AA:BB:CC:DD:EE:FF",
		"bt:AA:BB:CC:DD:EE:FF/0", "bt:AA:BB:CC:DD:EE:FF/31", "bt:AA:BB:CC:DD:EE:FF/07",
		"bt:AA:BB:CC:DD:EE:FF/", "bt:AA:BB:CC:DD:EE:FF/7x", "bt:AA:BB:CC:DD:EE:FF/100",
		"bt:AA:BB:CC:DD:EE", "bt:AA:BB:CC:DD:EE:FF:00", "bt:AA-BB-CC-DD-EE-FF",
		"bt:GG:BB:CC:DD:EE:FF", "bt:00:00:00:00:00:00", "bt:FF:FF:FF:FF:FF:FF",
		"bt:AA:BB:CC:DD:EE:FF/7/7", "127.0.0.1:3000",
	};

	ck_assert_int_eq(net_bt_addr_norm("bt:aa:bb:cc:dd:ee:0f/12", out, sizeof out), 0);
	ck_assert_str_eq(out, "bt:AA:BB:CC:DD:EE:0F/12");
	/* no channel: the default one */
	ck_assert_int_eq(net_bt_addr_norm("bt:AA:BB:CC:DD:EE:FF", out, sizeof out), 0);
	ck_assert_str_eq(out, "bt:AA:BB:CC:DD:EE:FF/7");
	ck_assert_int_eq(net_bt_addr_norm("bt:AA:BB:CC:DD:EE:FF/1", out, sizeof out), 0);
	ck_assert_int_eq(net_bt_addr_norm("bt:AA:BB:CC:DD:EE:FF/30", out, sizeof out), 0);
	ck_assert_str_eq(out, "bt:AA:BB:CC:DD:EE:FF/30");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(net_bt_addr_norm(bad[i], out, sizeof out) == -1, "%s accepted",
		    bad[i]);
	ck_assert_int_eq(net_bt_addr_norm(NULL, out, sizeof out), -1);
	/* does not fit */
	ck_assert_int_eq(net_bt_addr_norm("bt:AA:BB:CC:DD:EE:FF/7", out, 10), -1);
}
END_TEST

START_TEST(test_transport_usable)
{
	ck_assert_int_eq(net_addr_transport("bt:AA:BB:CC:DD:EE:FF/7"), NET_TP_RFCOMM);
	ck_assert_int_eq(net_addr_transport("10.0.0.1:3000"), NET_TP_TCP);
	ck_assert_int_eq(net_addr_transport("[::1]:3000"), NET_TP_TCP);
	/* a TCP-only node, a bridge, a Bluetooth-only node, and neither */
	ck_assert(net_transport_usable(NET_TP_TCP, 1, 0));
	ck_assert(!net_transport_usable(NET_TP_RFCOMM, 1, 0));
	ck_assert(net_transport_usable(NET_TP_TCP, 1, 1));
	ck_assert(net_transport_usable(NET_TP_RFCOMM, 1, 1));
	ck_assert(!net_transport_usable(NET_TP_TCP, 0, 1));
	ck_assert(net_transport_usable(NET_TP_RFCOMM, 0, 1));
	ck_assert(!net_transport_usable(NET_TP_TCP, 0, 0));
	ck_assert(!net_transport_usable(3, 1, 1));
	ck_assert(!net_transport_usable(0, 1, 1));
}
END_TEST

/* Which known peers take a new address from gossip: only those not reachable at theirs. */
START_TEST(test_peer_unreachable)
{
	ck_assert(net_peer_unreachable("left", 0));
	ck_assert(net_peer_unreachable("failed", 0));
	ck_assert(net_peer_unreachable("disconnected", 2));
	ck_assert(!net_peer_unreachable("disconnected", 0));
	ck_assert(!net_peer_unreachable("connected", 0));
}
END_TEST

START_TEST(test_gossip_addr_by_transport)
{
	char out[NET_ADDR_LEN];

	/* a TCP entry: taken by nodes with TCP, never by a --no-tcp node */
	ck_assert_int_eq(net_gossip_addr(NET_TP_TCP, "10.0.0.1:3000", 1, 0, out, sizeof out), 0);
	ck_assert_str_eq(out, "10.0.0.1:3000");
	ck_assert_int_eq(net_gossip_addr(NET_TP_TCP, "10.0.0.1:3000", 1, 1, out, sizeof out), 0);
	ck_assert_int_eq(net_gossip_addr(NET_TP_TCP, "10.0.0.1:3000", 0, 1, out, sizeof out), -1);
	/* an RFCOMM entry: only with Bluetooth on; normalised */
	ck_assert_int_eq(net_gossip_addr(NET_TP_RFCOMM, "bt:aa:bb:cc:dd:ee:ff/3", 1, 0, out,
	    sizeof out), -1);
	ck_assert_int_eq(net_gossip_addr(NET_TP_RFCOMM, "bt:aa:bb:cc:dd:ee:ff/3", 0, 1, out,
	    sizeof out), 0);
	ck_assert_str_eq(out, "bt:AA:BB:CC:DD:EE:FF/3");
	ck_assert_int_eq(net_gossip_addr(NET_TP_RFCOMM, "bt:AA:BB:CC:DD:EE:FF", 1, 1, out,
	    sizeof out), 0);
	ck_assert_str_eq(out, "bt:AA:BB:CC:DD:EE:FF/7");
	/* the address must be of the transport the entry names */
	ck_assert_int_eq(net_gossip_addr(NET_TP_TCP, "bt:AA:BB:CC:DD:EE:FF/7", 1, 1, out,
	    sizeof out), -1);
	ck_assert_int_eq(net_gossip_addr(NET_TP_RFCOMM, "10.0.0.1:3000", 1, 1, out,
	    sizeof out), -1);
	/* unknown transports are ignored, not an error */
	ck_assert_int_eq(net_gossip_addr(3, "10.0.0.1:3000", 1, 1, out, sizeof out), -1);
	ck_assert_int_eq(net_gossip_addr(0, "10.0.0.1:3000", 1, 1, out, sizeof out), -1);
	/* nothing that needs resolving or cannot be dialled */
	ck_assert_int_eq(net_gossip_addr(NET_TP_TCP, "node.example:3000", 1, 1, out, sizeof out),
	    -1);
	ck_assert_int_eq(net_gossip_addr(NET_TP_TCP, "0.0.0.0:3000", 1, 1, out, sizeof out), -1);
	ck_assert_int_eq(net_gossip_addr(NET_TP_TCP, ":3000", 1, 1, out, sizeof out), -1);
	ck_assert_int_eq(net_gossip_addr(NET_TP_TCP, "10.0.0.1:0", 1, 1, out, sizeof out), -1);
	ck_assert_int_eq(net_gossip_addr(NET_TP_RFCOMM, "bt:hci0/7", 1, 1, out, sizeof out), -1);
	ck_assert_int_eq(net_gossip_addr(NET_TP_RFCOMM, "bt:00:00:00:00:00:00/7", 1, 1, out,
	    sizeof out), -1);
}
END_TEST

START_TEST(test_pick_bt_addr)
{
	char out[NET_ADDR_LEN];
	const char *a1[] = { "127.0.0.1:3000", "bt:00:AA:01:00:00:00/7",
	    "bt:00:aa:01:01:00:01/9" };
	const char *a2[] = { ":3000", "bt:hci0/7", "bt:00:AA:01:00:00:00" };
	const char *none[] = { ":3000", "10.0.0.1:4000", "bt:hci1/7" };

	/* the advertised address of the device the link came from */
	ck_assert_int_eq(net_pick_bt_addr(a1, 3, "00:AA:01:01:00:01", out, sizeof out), 0);
	ck_assert_str_eq(out, "bt:00:AA:01:01:00:01/9");
	/* another device: the first valid bt: address */
	ck_assert_int_eq(net_pick_bt_addr(a1, 3, "11:22:33:44:55:66", out, sizeof out), 0);
	ck_assert_str_eq(out, "bt:00:AA:01:00:00:00/7");
	ck_assert_int_eq(net_pick_bt_addr(a1, 3, NULL, out, sizeof out), 0);
	ck_assert_str_eq(out, "bt:00:AA:01:00:00:00/7");
	ck_assert_int_eq(net_pick_bt_addr(a2, 3, "00:AA:01:00:00:00", out, sizeof out), 0);
	ck_assert_str_eq(out, "bt:00:AA:01:00:00:00/7");
	ck_assert_int_eq(net_pick_bt_addr(none, 3, "00:AA:01:00:00:00", out, sizeof out), -1);
	ck_assert_int_eq(net_pick_bt_addr(NULL, 0, NULL, out, sizeof out), -1);
}
END_TEST

START_TEST(test_alt_addr)
{
	char out[NET_ADDR_LEN];
	const char *both[] = { ":3000", "10.0.0.5:3001", "bt:00:aa:01:00:00:00/7" };
	const char *tcp[] = { ":3000", "10.0.0.5:3001" };
	const char *bt[] = { "bt:00:AA:01:00:00:00/7" };

	/* a bridge seen over TCP: its bt: address; over RFCOMM: a dialable TCP one */
	ck_assert_int_eq(net_alt_addr(both, 3, NET_TP_TCP, out, sizeof out), 0);
	ck_assert_str_eq(out, "bt:00:AA:01:00:00:00/7");
	ck_assert_int_eq(net_alt_addr(both, 3, NET_TP_RFCOMM, out, sizeof out), 0);
	ck_assert_str_eq(out, "10.0.0.5:3001");
	/* a node of one transport has no other address */
	ck_assert_int_eq(net_alt_addr(tcp, 2, NET_TP_TCP, out, sizeof out), -1);
	ck_assert_int_eq(net_alt_addr(bt, 1, NET_TP_RFCOMM, out, sizeof out), -1);
}
END_TEST

/* ---- duplicate links ------------------------------------------------------------- */

START_TEST(test_keep_new_link)
{
	uint8_t lo[32], hi[32];

	memset(lo, 0x11, 32);
	memset(hi, 0x22, 32);
	/* we are lo: keep the link lo dialled, whichever came first */
	ck_assert_int_eq(net_keep_new_link(lo, hi, 0, 1), 1);
	ck_assert_int_eq(net_keep_new_link(lo, hi, 1, 0), 0);
	/* we are hi: the same link (the one lo dialled, i.e. our inbound one) */
	ck_assert_int_eq(net_keep_new_link(hi, lo, 1, 0), 1);
	ck_assert_int_eq(net_keep_new_link(hi, lo, 0, 1), 0);
	/* both dialled by one side: the older stays */
	ck_assert_int_eq(net_keep_new_link(lo, hi, 1, 1), 0);
	ck_assert_int_eq(net_keep_new_link(hi, lo, 0, 0), 0);
}
END_TEST

static Suite *
net_suite(void)
{
	Suite *s = suite_create("net");
	TCase *tc;

	tc = tcase_create("backoff");
	tcase_add_test(tc, test_backoff_grows_and_caps);
	tcase_add_test(tc, test_backoff_jitter_spreads);
	tcase_add_test(tc, test_backoff_other_base);
	suite_add_tcase(s, tc);
	tc = tcase_create("addresses");
	tcase_add_test(tc, test_split_join);
	tcase_add_test(tc, test_host_kinds);
	tcase_add_test(tc, test_pick_addr);
	tcase_add_test(tc, test_dialable_addrs);
	suite_add_tcase(s, tc);
	tc = tcase_create("gossip");
	tcase_add_test(tc, test_gossip_filters);
	tcase_add_test(tc, test_gossip_bounded);
	suite_add_tcase(s, tc);
	tc = tcase_create("transports");
	tcase_add_test(tc, test_bt_addr_norm);
	tcase_add_test(tc, test_transport_usable);
	tcase_add_test(tc, test_peer_unreachable);
	tcase_add_test(tc, test_gossip_addr_by_transport);
	tcase_add_test(tc, test_pick_bt_addr);
	tcase_add_test(tc, test_alt_addr);
	suite_add_tcase(s, tc);

	tc = tcase_create("duplicates");
	tcase_add_test(tc, test_keep_new_link);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(net_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
