/* ossl.h: OpenSSL error text for causes. Internal to p2p/. */
#ifndef P2P_OSSL_H
#define P2P_OSSL_H

/* The oldest queued OpenSSL error as text (thread-local buffer); clears the queue. */
const char *ossl_errstr(void);

#endif
