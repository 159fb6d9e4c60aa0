/* hasher.h: SHA-256 on a second thread, so the CLI's end-to-end check of a store or a
 * get overlaps with its I/O instead of adding to it. */
#ifndef P2P_HASHER_H
#define P2P_HASHER_H

#include <stddef.h>
#include <stdint.h>

struct hasher;

struct hasher *hasher_new(void);
/* Hash the whole file fd (pread from offset 0 to its end) on the thread, while the
 * caller does something else; hasher_final() waits for it. fd must stay open until then.
 * hasher_error(): after hasher_final(), 0 or the errno of a failed read. */
struct hasher *hasher_new_file(int fd);
int hasher_error(struct hasher *h);
/* Hash p[0..n) on the thread. Waits for the previous feed to finish first, so p must
 * stay untouched until the next hasher_feed() or hasher_final() returns. */
void hasher_feed(struct hasher *h, const void *p, size_t n);
/* Wait for the last feed and write the digest. */
void hasher_final(struct hasher *h, uint8_t out[32]);
void hasher_free(struct hasher *h); /* NULL ok */

#endif
