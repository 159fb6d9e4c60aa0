/* sha256.c: SHA-256 for the whole program (see store.h): the algorithm fetched from the
 * provider once, and one-shot hashing of a buffer. Its own file so that the fuzz
 * harnesses, which link only what they need, get it with the manifest code. */
#include "store/store.h"
#include "lib/log.h"

#include <pthread.h>

static EVP_MD *sha256_fetched;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
	if ((sha256_fetched = EVP_MD_fetch(NULL, "SHA2-256", NULL)) == NULL)
		fatalx("EVP_MD_fetch SHA2-256 failed");
}

const EVP_MD *
sha256_md(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_fetched;
}

void
hash_buf(const void *p, size_t n, uint8_t out[HASH_LEN])
{
	if (EVP_Digest(p, n, out, NULL, sha256_md(), NULL) != 1)
		fatalx("EVP_Digest sha256 failed");
}
