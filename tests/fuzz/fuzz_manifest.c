/* fuzz_manifest.c: store/manifest.c manifest_decode on untrusted bytes.
 * On success: the manifest's invariants hold, manifest_encode gives back exactly the
 * input (the encoding is canonical and the decoder takes nothing else), decoding that
 * again gives the same manifest, and manifest_hash is the SHA-256 of the encoding. */
#include "tests/fuzz/fuzz.h"
#include "store/store.h"

#include <string.h>

#include <openssl/evp.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest m, m2;
	uint8_t *enc = NULL, h1[HASH_LEN], h2[HASH_LEN];
	size_t enclen = 0;
	char *cause = NULL;
	uint64_t total = 0;

	if (manifest_decode(&m, data, size, &cause) == -1) {
		FUZZ_CHECK(cause != NULL);
		FUZZ_CHECK(m.chunks == NULL && m.nchunks == 0);
		free(cause);
		manifest_free(&m); /* documented as safe after a failure */
		return 0;
	}
	FUZZ_CHECK(cause == NULL);
	FUZZ_CHECK(m.chunk_size >= CHUNK_SIZE_MIN && m.chunk_size <= CHUNK_SIZE_MAX);
	FUZZ_CHECK(m.nchunks <= MANIFEST_MAX_CHUNKS);
	FUZZ_CHECK(m.nchunks == 0 || m.chunks != NULL);
	FUZZ_CHECK(size == 57 + m.nchunks * HASH_LEN);
	for (uint64_t i = 0; i < m.nchunks; i++) {
		uint32_t cl = manifest_chunk_len(&m, i);

		FUZZ_CHECK(cl >= 1 && cl <= m.chunk_size);
		FUZZ_CHECK(i + 1 == m.nchunks || cl == m.chunk_size);
		total += cl;
	}
	FUZZ_CHECK(total == m.size);
	FUZZ_CHECK(manifest_chunk_len(&m, m.nchunks) == 0);

	/* Round trip. */
	FUZZ_CHECK(manifest_encode(&m, &enc, &enclen) == 0);
	fuzz_same_bytes("manifest", data, size, enc, enclen);
	FUZZ_CHECK(manifest_decode(&m2, enc, enclen, NULL) == 0);
	FUZZ_CHECK(m2.size == m.size && m2.chunk_size == m.chunk_size &&
	    m2.nchunks == m.nchunks);
	FUZZ_CHECK(memcmp(m2.file_hash, m.file_hash, HASH_LEN) == 0);
	FUZZ_CHECK(m.nchunks == 0 ||
	    memcmp(m2.chunks, m.chunks, (size_t)m.nchunks * HASH_LEN) == 0);

	/* Identity: SHA-256 of the canonical encoding. */
	manifest_hash(&m, h1);
	FUZZ_CHECK(EVP_Digest(enc, enclen, h2, NULL, EVP_sha256(), NULL) == 1);
	FUZZ_CHECK(memcmp(h1, h2, HASH_LEN) == 0);

	free(enc);
	manifest_free(&m2);
	manifest_free(&m);
	FUZZ_CHECK(m.chunks == NULL && m.nchunks == 0);
	return 0;
}
