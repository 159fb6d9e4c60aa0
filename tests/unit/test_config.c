/* test_config.c: lib/config.c (key = value files). */
#include "lib/config.h"
#include "lib/util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REC_MAX 32

struct rec {
	int n;
	char *kv[REC_MAX]; /* "key=val" */
	const char *reject; /* a key set() refuses as unknown */
};

static char tmpdir[] = "/tmp/p2p-test-config.XXXXXX";
static char path[512];
static struct rec rec;

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof path, "%s/p2p.conf", tmpdir);
	memset(&rec, 0, sizeof rec);
}

static void
teardown(void)
{
	for (int i = 0; i < rec.n; i++)
		free(rec.kv[i]);
	unlink(path);
	rmdir(tmpdir);
	strcpy(tmpdir + strlen(tmpdir) - 6, "XXXXXX");
}

static int
rec_set(void *arg, const char *key, const char *val, char **cause)
{
	struct rec *r = arg;

	if (r->reject != NULL && strcmp(key, r->reject) == 0)
		return set_cause(cause, "unknown key '%s'", key);
	ck_assert_int_lt(r->n, REC_MAX);
	xasprintf(&r->kv[r->n++], "%s=%s", key, val);
	return 0;
}

static void
write_file(const void *data, size_t len, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static void
write_str(const char *s)
{
	write_file(s, strlen(s), 0600);
}

/* Load path and expect success. */
static void
load_ok(void)
{
	char *cause = NULL;
	int rc = config_load(path, rec_set, &rec, &cause);

	ck_assert_msg(rc == 0, "config_load failed: %s", cause ? cause : "(no cause)");
	ck_assert_ptr_null(cause);
}

/* Load path, expect failure with cause "<path><suffix>". */
static void
load_fail(const char *suffix)
{
	char *cause = NULL, *want;

	ck_assert_int_eq(config_load(path, rec_set, &rec, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	xasprintf(&want, "%s%s", path, suffix);
	ck_assert_str_eq(cause, want);
	free(want);
	free(cause);
}

START_TEST(test_good)
{
	write_str("db = /var/lib/p2p-storage/a/p2p.db\n"
	          "api=127.0.0.1:7001\n"
	          "chunk-size = 1M\n"
	          "log-level =\tdebug\n"
	          "mdns = 0\n"
	          "bootstrap-url =\n");
	load_ok();
	ck_assert_int_eq(rec.n, 6);
	ck_assert_str_eq(rec.kv[0], "db=/var/lib/p2p-storage/a/p2p.db");
	ck_assert_str_eq(rec.kv[1], "api=127.0.0.1:7001");
	ck_assert_str_eq(rec.kv[2], "chunk-size=1M");
	ck_assert_str_eq(rec.kv[3], "log-level=debug");
	ck_assert_str_eq(rec.kv[4], "mdns=0");
	ck_assert_str_eq(rec.kv[5], "bootstrap-url=");
}
END_TEST

START_TEST(test_comments_blank_whitespace)
{
	write_str("# a comment\n"
	          "\n"
	          "   \t \n"
	          "   # indented comment = not a setting\n"
	          "  listen   =   0.0.0.0:7000   \r\n"
	          "key.with_all-chars9 = value # not a comment\n"
	          "last = no newline at end");
	load_ok();
	ck_assert_int_eq(rec.n, 3);
	ck_assert_str_eq(rec.kv[0], "listen=0.0.0.0:7000");
	ck_assert_str_eq(rec.kv[1], "key.with_all-chars9=value # not a comment");
	ck_assert_str_eq(rec.kv[2], "last=no newline at end");
}
END_TEST

START_TEST(test_empty_file)
{
	write_str("");
	load_ok();
	ck_assert_int_eq(rec.n, 0);
}
END_TEST

START_TEST(test_quotes)
{
	write_str("a = \"  spaced value  \"\n"
	          "b = \"\"\n"
	          "c = \"say \\\"hi\\\" \\\\ # = x\"\n"
	          "d = \"back\\slash\"\n"
	          "e = un\"quoted\"\n");
	load_ok();
	ck_assert_int_eq(rec.n, 5);
	ck_assert_str_eq(rec.kv[0], "a=  spaced value  ");
	ck_assert_str_eq(rec.kv[1], "b=");
	ck_assert_str_eq(rec.kv[2], "c=say \"hi\" \\ # = x");
	ck_assert_str_eq(rec.kv[3], "d=back\\slash");
	ck_assert_str_eq(rec.kv[4], "e=un\"quoted\"");
}
END_TEST

START_TEST(test_quote_errors)
{
	write_str("a = 1\nb = \"open\n");
	load_fail(":2: unterminated quoted value");
	write_str("b = \"closed\" trailing\n");
	load_fail(":1: text after the closing quote");
}
END_TEST

START_TEST(test_repeated_keys)
{
	write_str("listen = 0.0.0.0:7000\n"
	          "bootstrap = 10.0.0.1:7000\n"
	          "listen = [::]:7000\n"
	          "bootstrap = 10.0.0.2:7000\n");
	load_ok();
	ck_assert_int_eq(rec.n, 4);
	ck_assert_str_eq(rec.kv[0], "listen=0.0.0.0:7000");
	ck_assert_str_eq(rec.kv[1], "bootstrap=10.0.0.1:7000");
	ck_assert_str_eq(rec.kv[2], "listen=[::]:7000");
	ck_assert_str_eq(rec.kv[3], "bootstrap=10.0.0.2:7000");
}
END_TEST

START_TEST(test_missing_equals)
{
	write_str("# header\ndb = x\nmdns on\n");
	load_fail(":3: missing '=' (expected: key = value)");
	ck_assert_int_eq(rec.n, 1); /* settings before the error were passed on */
}
END_TEST

START_TEST(test_empty_key)
{
	write_str("\n  = value\n");
	load_fail(":2: empty key");
}
END_TEST

START_TEST(test_bad_key)
{
	write_str("two words = x\n");
	load_fail(":1: invalid key (letters, digits, '-', '_' and '.' only)");
}
END_TEST

START_TEST(test_line_length)
{
	char *buf = xmalloc(CONFIG_LINE_MAX + 16);
	size_t n;

	/* Exactly CONFIG_LINE_MAX bytes: fine. */
	n = (size_t)snprintf(buf, 16, "k = ");
	memset(buf + n, 'v', CONFIG_LINE_MAX - n);
	buf[CONFIG_LINE_MAX] = '\n';
	write_file(buf, CONFIG_LINE_MAX + 1, 0600);
	load_ok();
	ck_assert_int_eq(rec.n, 1);
	ck_assert_uint_eq(strlen(rec.kv[0]), 2 + CONFIG_LINE_MAX - n);

	/* One more byte on line 2: an error with its line number. */
	memmove(buf + 6, buf, CONFIG_LINE_MAX);
	memcpy(buf, "a = 1\n", 6);
	buf[6 + CONFIG_LINE_MAX] = 'v';
	buf[6 + CONFIG_LINE_MAX + 1] = '\n';
	write_file(buf, 6 + CONFIG_LINE_MAX + 2, 0600);
	load_fail(":2: line too long (max 4096 bytes)");
	free(buf);
}
END_TEST

START_TEST(test_nul_byte)
{
	write_file("a = 1\nb = x\0y\n", 14, 0600);
	load_fail(":2: NUL byte in line");
}
END_TEST

START_TEST(test_unknown_key)
{
	rec.reject = "colour";
	write_str("db = x\n# c\ncolour = blue\ndb = y\n");
	load_fail(":3: unknown key 'colour'");
	ck_assert_int_eq(rec.n, 1);
}
END_TEST

static int
reject_silently(void *arg, const char *key, const char *val, char **cause)
{
	return -1;
}

START_TEST(test_reject_without_cause)
{
	char *cause = NULL, *want;

	write_str("max-peers = lots\n");
	ck_assert_int_eq(config_load(path, reject_silently, NULL, &cause), -1);
	xasprintf(&want, "%s:1: bad value for max-peers", path);
	ck_assert_str_eq(cause, want);
	free(want);
	free(cause);
}
END_TEST

START_TEST(test_missing_file)
{
	load_fail(": No such file or directory");
	ck_assert_int_eq(rec.n, 0);
}
END_TEST

START_TEST(test_world_writable)
{
	char *want;

	write_file("a = 1\n", 6, 0666);
	xasprintf(&want, ": is world-writable, refusing it (chmod o-w %s)", path);
	load_fail(want);
	free(want);
	ck_assert_int_eq(rec.n, 0);
	/* Group-writable is the admin's choice. */
	ck_assert_int_eq(chmod(path, 0664), 0);
	load_ok();
}
END_TEST

START_TEST(test_directory)
{
	char *cause = NULL, *want;

	ck_assert_int_eq(config_load(tmpdir, rec_set, &rec, &cause), -1);
	xasprintf(&want, "%s: not a regular file", tmpdir);
	ck_assert_str_eq(cause, want);
	free(want);
	free(cause);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_good);
	tcase_add_test(tc, test_comments_blank_whitespace);
	tcase_add_test(tc, test_empty_file);
	tcase_add_test(tc, test_quotes);
	tcase_add_test(tc, test_repeated_keys);
	suite_add_tcase(s, tc);

	tc = tcase_create("syntax_errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_quote_errors);
	tcase_add_test(tc, test_missing_equals);
	tcase_add_test(tc, test_empty_key);
	tcase_add_test(tc, test_bad_key);
	tcase_add_test(tc, test_line_length);
	tcase_add_test(tc, test_nul_byte);
	suite_add_tcase(s, tc);

	tc = tcase_create("set_errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_unknown_key);
	tcase_add_test(tc, test_reject_without_cause);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_world_writable);
	tcase_add_test(tc, test_directory);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
