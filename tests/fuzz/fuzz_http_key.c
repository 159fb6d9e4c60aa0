/* fuzz_http_key.c: the control API's key path, /v1/files/<key> (node/api.c).
 * api_key() is static, so this repeats its two steps exactly: evhttp_uridecode(raw, 0,
 * &len) then key_validate(key, len). raw is the input as a C string (a path cannot hold
 * a NUL byte). Checks: an accepted key is a C string of exactly len bytes (no NUL that
 * would cut it short for the database or a log line), no longer than the raw text, and
 * evhttp_uriencode then evhttp_uridecode gives it back unchanged.
 * Then the same through the request path the daemon sees: "/v1/files/" + input parsed
 * as libevent parses a request line's URI (evhttp_uri_parse_with_flags,
 * EVHTTP_URI_NONCONFORMANT), and api_key's steps on what follows the prefix. */
#include "tests/fuzz/fuzz.h"
#include "lib/util.h"

#include <string.h>

#include <event2/http.h>

static void
api_key_steps(const char *raw)
{
	size_t len = 0;
	char *key = evhttp_uridecode(raw, 0, &len);
	const char *errstr = NULL;

	if (key == NULL)
		return;
	FUZZ_CHECK(len <= strlen(raw));
	FUZZ_CHECK(key[len] == '\0');
	if (key_validate(key, len, &errstr) == 0) {
		FUZZ_CHECK(strlen(key) == len);
		FUZZ_CHECK(len >= 1 && len <= KEY_MAX);
		for (size_t i = 0; i < len; i++)
			FUZZ_CHECK((unsigned char)key[i] >= 0x20 && key[i] != 0x7f);
		/* Percent-encoding the key and decoding it again is the identity. */
		char *enc = evhttp_uriencode(key, (ev_ssize_t)len, 0);
		FUZZ_CHECK(enc != NULL);
		size_t len2 = 0;
		char *back = evhttp_uridecode(enc, 0, &len2);
		FUZZ_CHECK(back != NULL && len2 == len && memcmp(back, key, len) == 0);
		free(back);
		free(enc);
	} else {
		FUZZ_CHECK(errstr != NULL);
	}
	free(key);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char prefix[] = "/v1/files/";
	char *raw, *req;
	struct evhttp_uri *uri;

	if ((raw = malloc(size + 1)) == NULL)
		return 0;
	memcpy(raw, data, size);
	raw[size] = '\0';
	api_key_steps(raw);

	if ((req = malloc(sizeof prefix + size)) != NULL) {
		memcpy(req, prefix, sizeof prefix - 1);
		memcpy(req + sizeof prefix - 1, raw, size + 1);
		if ((uri = evhttp_uri_parse_with_flags(req,
		    EVHTTP_URI_NONCONFORMANT)) != NULL) {
			const char *path = evhttp_uri_get_path(uri);

			if (path != NULL && strncmp(path, prefix, sizeof prefix - 1) == 0)
				api_key_steps(path + sizeof prefix - 1);
			evhttp_uri_free(uri);
		}
		free(req);
	}
	free(raw);
	return 0;
}
