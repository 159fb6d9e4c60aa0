/* test_mdns.c: node/mdns.c, the parts that need no avahi-daemon: judging a resolved
 * instance's TXT record, address formatting, instance names, argument checks.
 * (Discovery itself runs in tests/integration/t_netlab_mdns.sh.) */
#include "node/mdns.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SELF "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define PEER "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define NET "0123456789abcdef"

static enum mdns_verdict
judge(const char *node, const char *proto, const char *net, char *out)
{
	return mdns_judge(node, node ? strlen(node) : 0, proto, proto ? strlen(proto) : 0, net,
	    net ? strlen(net) : 0, SELF, NET, out);
}

START_TEST(judge_peer)
{
	char out[MDNS_NODE_HEX_LEN + 1] = "";

	ck_assert_int_eq(judge(PEER, "1", NET, out), MDNS_PEER);
	ck_assert_str_eq(out, PEER);
}
END_TEST

START_TEST(judge_uppercase_is_lowered)
{
	char out[MDNS_NODE_HEX_LEN + 1] = "";
	char up[] = "FFEEDDCCBBAA99887766554433221100FFEEDDCCBBAA99887766554433221100";

	ck_assert_int_eq(judge(up, "1", "0123456789ABCDEF", out), MDNS_PEER);
	ck_assert_str_eq(out, PEER);
}
END_TEST

START_TEST(judge_self)
{
	ck_assert_int_eq(judge(SELF, "1", NET, NULL), MDNS_SELF);
}
END_TEST

START_TEST(judge_other_network)
{
	ck_assert_int_eq(judge(PEER, "1", "fedcba9876543210", NULL), MDNS_OTHER_NET);
}
END_TEST

START_TEST(judge_other_proto)
{
	ck_assert_int_eq(judge(PEER, "2", NET, NULL), MDNS_OTHER_PROTO);
}
END_TEST

START_TEST(judge_malformed)
{
	char shortid[] = "ffee";
	char nonhex[] = "gfeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
	char nul[MDNS_NODE_HEX_LEN];

	ck_assert_int_eq(judge(NULL, "1", NET, NULL), MDNS_MALFORMED);
	ck_assert_int_eq(judge(PEER, NULL, NET, NULL), MDNS_MALFORMED);
	ck_assert_int_eq(judge(PEER, "1", NULL, NULL), MDNS_MALFORMED);
	ck_assert_int_eq(judge(shortid, "1", NET, NULL), MDNS_MALFORMED);
	ck_assert_int_eq(judge(nonhex, "1", NET, NULL), MDNS_MALFORMED);
	ck_assert_int_eq(judge(PEER, "1", "0123", NULL), MDNS_MALFORMED);
	ck_assert_int_eq(judge(PEER, "", NET, NULL), MDNS_MALFORMED);
	ck_assert_int_eq(judge(PEER, "x", NET, NULL), MDNS_MALFORMED);
	ck_assert_int_eq(judge(PEER, "0", NET, NULL), MDNS_MALFORMED);
	ck_assert_int_eq(judge(PEER, "99999999", NET, NULL), MDNS_MALFORMED);
	ck_assert_int_eq(judge(PEER, " 1", NET, NULL), MDNS_MALFORMED);
	/* bytes off the wire may hold a NUL */
	memcpy(nul, PEER, sizeof nul);
	nul[10] = '\0';
	ck_assert_int_eq(mdns_judge(nul, sizeof nul, "1", 1, NET, 16, SELF, NET, NULL),
	    MDNS_MALFORMED);
	ck_assert_int_eq(mdns_judge(PEER, 64, "1\0", 2, NET, 16, SELF, NET, NULL), MDNS_MALFORMED);
	ck_assert_str_eq(mdns_verdict_name(MDNS_OTHER_NET), "other network");
}
END_TEST

START_TEST(addr_ipv4)
{
	struct in_addr a;
	char out[MDNS_ADDR_LEN];

	inet_pton(AF_INET, "10.77.0.2", &a);
	ck_assert_int_eq(mdns_format_addr(AF_INET, &a, "eth0", 7000, out, sizeof out), 0);
	ck_assert_str_eq(out, "10.77.0.2:7000");
	ck_assert_int_eq(mdns_format_addr(AF_INET, &a, NULL, 0, out, sizeof out), -1);
	ck_assert_int_eq(mdns_format_addr(AF_INET, &a, NULL, 7000, out, 10), -1);
	ck_assert_int_eq(mdns_format_addr(AF_UNIX, &a, NULL, 7000, out, sizeof out), -1);
}
END_TEST

START_TEST(addr_ipv6)
{
	struct in6_addr a;
	char out[MDNS_ADDR_LEN];

	inet_pton(AF_INET6, "2001:db8::2", &a);
	ck_assert_int_eq(mdns_format_addr(AF_INET6, &a, "eth0", 3000, out, sizeof out), 0);
	ck_assert_str_eq(out, "[2001:db8::2]:3000");
	inet_pton(AF_INET6, "fe80::1", &a);
	ck_assert_int_eq(mdns_format_addr(AF_INET6, &a, "eth0", 3000, out, sizeof out), 0);
	ck_assert_str_eq(out, "[fe80::1%eth0]:3000");
	ck_assert_int_eq(mdns_format_addr(AF_INET6, &a, NULL, 3000, out, sizeof out), 0);
	ck_assert_str_eq(out, "[fe80::1]:3000");
	/* the longest form fits MDNS_ADDR_LEN */
	inet_pton(AF_INET6, "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &a);
	ck_assert_int_eq(mdns_format_addr(AF_INET6, &a, "abcdefghijklmno", 65535, out,
	    sizeof out), 0);
	ck_assert_str_eq(out, "[febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff%abcdefghijklmno]:65535");
}
END_TEST

START_TEST(instance_name)
{
	char out[32];

	mdns_instance_name(PEER, out, sizeof out);
	ck_assert_str_eq(out, "p2p-ffeeddccbbaa9988");
}
END_TEST

static void
nop_found(void *arg, const char *node, const char *addr)
{
}

START_TEST(new_rejects_bad_arguments)
{
	char *cause = NULL;

	/* All fail before any event base or D-Bus is touched. */
	ck_assert_ptr_null(mdns_new(NULL, SELF, NET, 7000, nop_found, NULL, &cause));
	ck_assert_ptr_nonnull(cause);
	free(cause);
	cause = NULL;
#ifdef HAVE_AVAHI_CLIENT
	{
		struct event_base *fake = (struct event_base *)&cause; /* never dereferenced */

		ck_assert_ptr_null(mdns_new(fake, "abc", NET, 7000, nop_found, NULL, &cause));
		ck_assert_ptr_nonnull(strstr(cause, "node ID"));
		free(cause);
		cause = NULL;
		ck_assert_ptr_null(mdns_new(fake, SELF, "xyz", 7000, nop_found, NULL, &cause));
		ck_assert_ptr_nonnull(strstr(cause, "network identifier"));
		free(cause);
		cause = NULL;
		ck_assert_ptr_null(mdns_new(fake, SELF, NET, 0, nop_found, NULL, &cause));
		free(cause);
	}
#else
	ck_assert_ptr_null(mdns_new(NULL, SELF, NET, 7000, nop_found, NULL, &cause));
	ck_assert_ptr_nonnull(strstr(cause, "without Avahi"));
	free(cause);
#endif
	mdns_free(NULL);
	mdns_rebrowse(NULL);
	ck_assert_int_eq(mdns_published(NULL), 0);
	ck_assert_ptr_null(mdns_service_name(NULL));
}
END_TEST

static Suite *
mdns_suite(void)
{
	Suite *s = suite_create("mdns");
	TCase *tc;

	tc = tcase_create("judge");
	tcase_add_test(tc, judge_peer);
	tcase_add_test(tc, judge_uppercase_is_lowered);
	tcase_add_test(tc, judge_self);
	tcase_add_test(tc, judge_other_network);
	tcase_add_test(tc, judge_other_proto);
	tcase_add_test(tc, judge_malformed);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_test(tc, addr_ipv4);
	tcase_add_test(tc, addr_ipv6);
	tcase_add_test(tc, instance_name);
	suite_add_tcase(s, tc);

	tc = tcase_create("api");
	tcase_add_test(tc, new_rejects_bad_arguments);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(mdns_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
