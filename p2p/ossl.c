/* ossl.c: see ossl.h. */
#include "p2p/ossl.h"

#include <openssl/err.h>

const char *
ossl_errstr(void)
{
	static _Thread_local char buf[256];
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	if (e == 0)
		return "unknown OpenSSL error";
	ERR_error_string_n(e, buf, sizeof buf);
	return buf;
}
