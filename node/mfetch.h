/* mfetch.h: chunk lists too long for one FILE (docs/PROTOCOL.md section 8, "Long chunk
 * lists"). A version of more than MSG_FILE_MAX_CHUNKS chunks travels as a FILE with
 * MSG_FILE_MORE and its first MSG_FILE_MAX_CHUNKS hashes; the receiver asks the sender
 * for the rest, MSG_FILE_MAX_CHUNKS at a time (MANIFEST_GET / MANIFEST_PART), and applies
 * the FILE once the list is whole. One such list arrives at a time (its hashes are held
 * in memory, 32 bytes per chunk); a FILE with MORE that arrives meanwhile is dropped and
 * comes back with the next anti-entropy round. Loop thread only. */
#ifndef P2P_MFETCH_H
#define P2P_MFETCH_H

#include <stdint.h>

struct node;
struct msg_file;
struct msg_mget;
struct msg_mpart;
struct mfetch;

#define MFETCH_TIMEOUT_MS 60000 /* no MANIFEST_PART for this long: the list is dropped */

/* apply(n, mf): a whole FILE (flag MORE cleared, mf->chunks holding all nchunks hashes,
 * to be taken over by apply, which sets mf->chunks to NULL or leaves it to be freed). */
struct mfetch *mfetch_new(struct node *n, void (*apply)(struct node *n, struct msg_file *mf));
void mfetch_free(struct mfetch *m); /* NULL ok */
/* A FILE with MSG_FILE_MORE from peer `from`, not current here: takes mf->chunks. */
void mfetch_on_file(struct mfetch *m, const uint8_t from[32], struct msg_file *mf);
/* 0, or -1 when the peer broke the protocol (the caller drops the link). */
int mfetch_on_part(struct mfetch *m, const uint8_t from[32], const struct msg_mpart *p);
/* Answer a MANIFEST_GET from the database (current versions only). */
void mfetch_on_get(struct node *n, const uint8_t from[32], const struct msg_mget *g);
void mfetch_peer_down(struct mfetch *m, const uint8_t id[32]);
void mfetch_tick(struct mfetch *m);
/* 1 while a list is being fetched (tests, status) */
int mfetch_busy(const struct mfetch *m);

#endif
