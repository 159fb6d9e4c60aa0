/* fuzz_ticket.c: p2p/ticket.c, both forms of a join ticket.
 *  1. ticket_decode on the input as a binary blob: on success the ticket holds its
 *     limits and ticket_encode gives back exactly the input;
 *  2. ticket_from_string on a NUL-terminated copy of the input: on success
 *     ticket_to_string gives back exactly the input minus the surrounding whitespace
 *     (the base64url form is strict: one string per blob), and parsing that string
 *     gives the same ticket.
 * The seed corpus has both blobs and "p2p1:..." strings. */
#include "tests/fuzz/fuzz.h"
#include "p2p/ticket.h"
#include "lib/buf.h"

#include <string.h>

static int
ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void
check_ticket(const struct ticket *t)
{
	FUZZ_CHECK(t->naddrs <= TICKET_MAX_ADDRS);
	for (size_t i = 0; i < t->naddrs; i++) {
		size_t n = strnlen(t->addrs[i], TICKET_ADDR_MAX + 1);

		FUZZ_CHECK(n >= 1 && n <= TICKET_ADDR_MAX);
		for (size_t k = 0; k < n; k++)
			FUZZ_CHECK(t->addrs[i][k] >= 0x21 && t->addrs[i][k] <= 0x7e);
	}
}

static int
same_ticket(const struct ticket *a, const struct ticket *b)
{
	if (memcmp(a->key.k, b->key.k, NETKEY_LEN) != 0 || a->naddrs != b->naddrs)
		return 0;
	for (size_t i = 0; i < a->naddrs; i++)
		if (strcmp(a->addrs[i], b->addrs[i]) != 0)
			return 0;
	return 1;
}

static void
blob(const uint8_t *data, size_t size)
{
	const char *errstr = NULL;
	struct ticket t, t2;
	struct rd r;
	struct wr w;
	char *s, *cause = NULL;

	rd_init(&r, data, size);
	if (ticket_decode(&r, &t, &errstr) == -1) {
		FUZZ_CHECK(errstr != NULL);
		FUZZ_CHECK(t.naddrs == 0);
		return;
	}
	check_ticket(&t);
	wr_init(&w, TICKET_BLOB_MAX);
	FUZZ_CHECK(ticket_encode(&w, &t) == 0);
	fuzz_same_bytes("ticket blob", data, size, w.p, w.len);
	wr_free(&w);

	s = ticket_to_string(&t);
	FUZZ_CHECK(s != NULL);
	FUZZ_CHECK(strlen(s) <= TICKET_STR_MAX);
	FUZZ_CHECK(ticket_from_string(s, &t2, &cause) == 0);
	FUZZ_CHECK(same_ticket(&t, &t2));
	free(s);
}

static void
text(const uint8_t *data, size_t size)
{
	struct ticket t, t2;
	char *in, *s, *cause = NULL;
	size_t a = 0, b;

	if ((in = malloc(size + 1)) == NULL)
		return;
	memcpy(in, data, size);
	in[size] = '\0';
	if (ticket_from_string(in, &t, &cause) == -1) {
		FUZZ_CHECK(cause != NULL);
		free(cause);
		free(in);
		return;
	}
	FUZZ_CHECK(cause == NULL);
	check_ticket(&t);

	/* The accepted text: the input up to its first NUL, without surrounding blanks. */
	b = strlen(in);
	while (a < b && ws(in[a]))
		a++;
	while (b > a && ws(in[b - 1]))
		b--;
	s = ticket_to_string(&t);
	FUZZ_CHECK(s != NULL);
	/* e.g. trailing text the parser never looked at */
	fuzz_same_bytes("ticket string (trimmed)", in + a, b - a, s, strlen(s));
	FUZZ_CHECK(ticket_from_string(s, &t2, &cause) == 0);
	FUZZ_CHECK(same_ticket(&t, &t2));
	free(s);
	free(in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	blob(data, size);
	text(data, size);
	return 0;
}
