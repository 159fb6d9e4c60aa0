/* peer_boot.c: --bootstrap-url: fetch a list of bootstrap addresses with libcurl, once,
 * before the event loop starts (10 s timeout, 64 KiB at most, http and https only). */
#include "node/net.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

struct fetch {
	char buf[NET_URL_MAX_BYTES + 1];
	size_t len;
	int too_big;
};

static size_t
fetch_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct fetch *f = arg;
	size_t n = size * nmemb;

	if (n > NET_URL_MAX_BYTES - f->len) {
		f->too_big = 1;
		return 0; /* aborts the transfer */
	}
	memcpy(f->buf + f->len, p, n);
	f->len += n;
	return n;
}

/* One line: trimmed, '#' comment or empty skipped, printable ASCII only. */
static int
take_line(const char *s, size_t len, char **out, int max, int *n)
{
	while (len > 0 && (s[0] == ' ' || s[0] == '\t'))
		s++, len--;
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
		len--;
	if (len == 0 || s[0] == '#')
		return 0;
	if (len > 255)
		return -1;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return -1;
	if (*n >= max)
		return 0;
	out[(*n)++] = xstrndup(s, len);
	return 0;
}

int
net_fetch_bootstrap(const char *url, char **out, int max, int *n, char **cause)
{
	struct fetch *f = xcalloc(1, sizeof *f);
	char err[CURL_ERROR_SIZE] = "";
	long code = 0;
	CURL *h;
	CURLcode rc;
	size_t off = 0;
	int bad = 0;

	*n = 0;
	if ((h = curl_easy_init()) == NULL) {
		free(f);
		return set_cause(cause, "cannot initialise libcurl");
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)NET_URL_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)NET_URL_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE, (long)NET_URL_MAX_BYTES);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fetch_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "p2p/" P2P_VERSION);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	if (f->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		free(f);
		return set_cause(cause, "the list is larger than %d KiB", NET_URL_MAX_BYTES / 1024);
	}
	if (rc != CURLE_OK) {
		set_cause(cause, "%s", err[0] ? err : curl_easy_strerror(rc));
		free(f);
		return -1;
	}
	if (code != 200) {
		free(f);
		return set_cause(cause, "HTTP status %ld", code);
	}
	while (off < f->len) {
		const char *nl = memchr(f->buf + off, '\n', f->len - off);
		size_t l = nl ? (size_t)(nl - (f->buf + off)) : f->len - off;

		if (take_line(f->buf + off, l, out, max, n) == -1)
			bad++;
		off += l + 1;
	}
	free(f);
	if (bad > 0 && *n == 0)
		return set_cause(cause, "no usable address in the list");
	return 0;
}
