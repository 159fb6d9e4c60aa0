/* test_lib.c: lib/ — key validation, bounded number parsing, hex, the bounded
 * reader/writer every untrusted byte goes through. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

static int
key_ok(const char *k, size_t len)
{
	const char *errstr = NULL;
	return key_validate(k, len, &errstr);
}

START_TEST(test_key_valid)
{
	static const char *good[] = { "a", "photos/cat.jpg", "../../etc/passwd", "/abs",
		"with space", "ümlaut", "日本語", "emoji 😀", "a%2Fb", "." };
	for (size_t i = 0; i < nitems(good); i++)
		ck_assert_msg(key_ok(good[i], strlen(good[i])) == 0, "rejected %s", good[i]);
	char *k = malloc(KEY_MAX);
	memset(k, 'x', KEY_MAX);
	ck_assert_int_eq(key_ok(k, KEY_MAX), 0);
	free(k);
}
END_TEST

START_TEST(test_key_invalid)
{
	const char *errstr = NULL;
	char big[KEY_MAX + 1];

	ck_assert_int_eq(key_validate("", 0, &errstr), -1);
	ck_assert_str_eq(errstr, "key is empty");
	memset(big, 'x', sizeof big);
	ck_assert_int_eq(key_validate(big, sizeof big, &errstr), -1);
	ck_assert_ptr_nonnull(strstr(errstr, "1024"));
	ck_assert_int_eq(key_validate("a\0b", 3, &errstr), -1);
	ck_assert_ptr_nonnull(strstr(errstr, "NUL"));
	static const char *ctl[] = { "a\x01", "tab\there", "nl\n", "del\x7f", "c1\xc2\x85" };
	for (size_t i = 0; i < nitems(ctl); i++) {
		ck_assert_msg(key_validate(ctl[i], strlen(ctl[i]), &errstr) == -1, "%zu", i);
		ck_assert_ptr_nonnull(strstr(errstr, "control"));
	}
	static const char *bad[] = { "\xff", "\xc0\xaf" /* overlong '/' */, "\xe0\x80\xaf",
		"\xed\xa0\x80" /* surrogate */, "\xf4\x90\x80\x80" /* > U+10FFFF */, "\xc3",
		"\xe6\x97", "\x80", "a\xc3(" };
	for (size_t i = 0; i < nitems(bad); i++) {
		ck_assert_msg(key_validate(bad[i], strlen(bad[i]), &errstr) == -1, "%zu", i);
		ck_assert_ptr_nonnull(strstr(errstr, "UTF-8"));
	}
}
END_TEST

START_TEST(test_parse_num)
{
	const char *e;

	ck_assert_int_eq(parse_num("42", 0, 100, &e), 42);
	ck_assert_ptr_null(e);
	parse_num("101", 0, 100, &e);
	ck_assert_str_eq(e, "too large");
	parse_num("-1", 0, 100, &e);
	ck_assert_str_eq(e, "too small");
	static const char *bad[] = { "", " 1", "1 ", "1x", "0x10", "99999999999999999999999" };
	for (size_t i = 0; i < nitems(bad); i++) {
		parse_num(bad[i], 0, 100, &e);
		ck_assert_msg(e != NULL, "accepted '%s'", bad[i]);
	}
	parse_num(NULL, 0, 1, &e);
	ck_assert_str_eq(e, "invalid");
}
END_TEST

START_TEST(test_parse_size)
{
	const char *e;
	uint64_t v;

	ck_assert_int_eq(parse_size("4096", UINT64_MAX, &v, &e), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(parse_size("64K", UINT64_MAX, &v, &e), 0);
	ck_assert_uint_eq(v, 65536);
	ck_assert_int_eq(parse_size("1M", UINT64_MAX, &v, &e), 0);
	ck_assert_uint_eq(v, 1u << 20);
	ck_assert_int_eq(parse_size("1MiB", UINT64_MAX, &v, &e), 0);
	ck_assert_uint_eq(v, 1u << 20);
	ck_assert_int_eq(parse_size("2g", UINT64_MAX, &v, &e), 0);
	ck_assert_uint_eq(v, 2ull << 30);
	ck_assert_int_eq(parse_size("17M", 16u << 20, &v, &e), -1);
	ck_assert_str_eq(e, "too large");
	ck_assert_int_eq(parse_size("99999999999T", UINT64_MAX, &v, &e), -1);
	static const char *bad[] = { "", "M", "-1", "1X", "1MB2", " 1", "1.5M" };
	for (size_t i = 0; i < nitems(bad); i++)
		ck_assert_msg(parse_size(bad[i], UINT64_MAX, &v, &e) == -1, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(test_parse_duration)
{
	const char *e;
	int64_t v;

	ck_assert_int_eq(parse_duration("90", &v, &e), 0);
	ck_assert_int_eq(v, 90);
	ck_assert_int_eq(parse_duration("15m", &v, &e), 0);
	ck_assert_int_eq(v, 900);
	ck_assert_int_eq(parse_duration("24h", &v, &e), 0);
	ck_assert_int_eq(v, 86400);
	ck_assert_int_eq(parse_duration("7d", &v, &e), 0);
	ck_assert_int_eq(v, 7 * 86400);
	static const char *bad[] = { "", "h", "1x", "1hh", "-5s", "99999999999999999999" };
	for (size_t i = 0; i < nitems(bad); i++)
		ck_assert_msg(parse_duration(bad[i], &v, &e) == -1, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(test_hex)
{
	uint8_t in[4] = { 0x00, 0xab, 0x7f, 0xff }, out[4];
	char s[9];

	hex_encode(in, 4, s);
	ck_assert_str_eq(s, "00ab7fff");
	ck_assert_int_eq(hex_decode("00AB7fff", out, 4), 0);
	ck_assert_mem_eq(in, out, 4);
	ck_assert_int_eq(hex_decode("00ab7ff", out, 4), -1);   /* short */
	ck_assert_int_eq(hex_decode("00ab7fff0", out, 4), -1); /* long */
	ck_assert_int_eq(hex_decode("00ab7fgf", out, 4), -1);  /* not hex */
}
END_TEST

START_TEST(test_reader)
{
	static const uint8_t msg[] = { 1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 2, 'h', 'i' };
	struct rd r;
	uint8_t a;
	uint16_t b;
	uint32_t c;
	uint64_t d;
	const uint8_t *s;
	size_t n;

	rd_init(&r, msg, sizeof msg);
	ck_assert_int_eq(rd_u8(&r, &a), 0);
	ck_assert_int_eq(rd_u16(&r, &b), 0);
	ck_assert_int_eq(rd_u32(&r, &c), 0);
	ck_assert_int_eq(rd_u64(&r, &d), 0);
	ck_assert_int_eq(rd_str16(&r, &s, &n, 16), 0);
	ck_assert_uint_eq(a, 1);
	ck_assert_uint_eq(b, 2);
	ck_assert_uint_eq(c, 3);
	ck_assert_uint_eq(d, 4);
	ck_assert_uint_eq(n, 2);
	ck_assert_mem_eq(s, "hi", 2);
	ck_assert_int_eq(rd_end(&r), 0);

	/* every truncation fails somewhere, and the error sticks */
	for (size_t len = 0; len < sizeof msg; len++) {
		rd_init(&r, msg, len);
		rd_u8(&r, &a);
		rd_u16(&r, &b);
		rd_u32(&r, &c);
		rd_u64(&r, &d);
		rd_str16(&r, &s, &n, 16);
		ck_assert_msg(rd_end(&r) == -1, "truncated at %zu accepted", len);
	}
	/* trailing bytes */
	rd_init(&r, msg, 2);
	rd_u8(&r, &a);
	ck_assert_int_eq(rd_end(&r), -1);
	/* a string longer than its limit fails before anything is read past it */
	rd_init(&r, msg + 15, 4);
	ck_assert_int_eq(rd_str16(&r, &s, &n, 1), -1);
	ck_assert_int_eq(rd_end(&r), -1);
}
END_TEST

START_TEST(test_writer)
{
	struct wr w;
	struct rd r;
	uint64_t d;

	wr_init(&w, 16);
	wr_u8(&w, 1);
	wr_u64(&w, 0x0102030405060708ull);
	wr_str16(&w, "abc", 3);
	ck_assert(wr_ok(&w));
	ck_assert_uint_eq(w.len, 1 + 8 + 2 + 3);
	rd_init(&r, w.p + 1, 8);
	rd_u64(&r, &d);
	ck_assert_uint_eq(d, 0x0102030405060708ull);
	wr_bytes(&w, "xyz", 3); /* 17 > 16: poisoned, nothing written */
	ck_assert(!wr_ok(&w));
	ck_assert_uint_eq(w.len, 14);
	wr_reset(&w);
	ck_assert(wr_ok(&w));
	wr_free(&w);
}
END_TEST

START_TEST(test_log_escape)
{
	char out[64];

	ck_assert_str_eq(log_escape("ok", 2, out, sizeof out), "ok");
	ck_assert_str_eq(log_escape("a\nb\x01\\", 5, out, sizeof out), "a\\x0ab\\x01\\x5c");
	ck_assert_str_eq(log_escape("abcdef", 6, out, 4), "abc"); /* truncated, terminated */
}
END_TEST

START_TEST(test_dirname)
{
	char *d;

	d = path_dirname("/a/b/p2p.db");
	ck_assert_str_eq(d, "/a/b");
	free(d);
	d = path_dirname("p2p.db");
	ck_assert_str_eq(d, ".");
	free(d);
	d = path_dirname("/p2p.db");
	ck_assert_str_eq(d, "/");
	free(d);
}
END_TEST

/* fd_pwrite_out: the bytes land at their offset (a hole before them), every one of them,
 * and a failure is its errno */
START_TEST(test_pwrite_out)
{
	char path[] = "/tmp/test_lib.XXXXXX", got[8];
	int fd = mkstemp(path);

	ck_assert_int_ne(fd, -1);
	unlink(path);
	ck_assert_int_eq(fd_pwrite_out(fd, "abc", 3, 5), 0);
	ck_assert_int_eq(fd_pwrite_out(fd, "xy", 2, 0), 0);
	ck_assert_int_eq(fd_read_full(fd, got, sizeof got, 0), 8);
	ck_assert_int_eq(memcmp(got, "xy\0\0\0abc", 8), 0);
	ck_assert_int_eq(fd_pwrite_out(fd, "", 0, 100), 0);
	close(fd);
	ck_assert_int_eq(fd_pwrite_out(fd, "abc", 3, 0), EBADF);
}
END_TEST

static Suite *
lib_suite(void)
{
	Suite *s = suite_create("lib");
	TCase *tc;

	tc = tcase_create("keys");
	tcase_add_test(tc, test_key_valid);
	tcase_add_test(tc, test_key_invalid);
	suite_add_tcase(s, tc);
	tc = tcase_create("numbers");
	tcase_add_test(tc, test_parse_num);
	tcase_add_test(tc, test_parse_size);
	tcase_add_test(tc, test_parse_duration);
	tcase_add_test(tc, test_hex);
	suite_add_tcase(s, tc);
	tc = tcase_create("buf");
	tcase_add_test(tc, test_reader);
	tcase_add_test(tc, test_writer);
	suite_add_tcase(s, tc);
	tc = tcase_create("misc");
	tcase_add_test(tc, test_log_escape);
	tcase_add_test(tc, test_dirname);
	tcase_add_test(tc, test_pwrite_out);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(lib_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
