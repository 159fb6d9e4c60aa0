/* tempnode.h: a short-lived client node for `store`/`get --bootstrap ADDR`: the CLI runs
 * a temporary daemon (itself: /proc/self/exe serve) on a temporary data directory, with
 * --bootstrap and the network key (--join TICKET or --network-key FILE), waits for it
 * to connect and to receive the file index, runs the operation through its API, then
 * stops it and removes the directory. */
#ifndef P2P_CMD_TEMPNODE_H
#define P2P_CMD_TEMPNODE_H

#include <sys/types.h>

struct tempnode {
	char dir[128];
	char db[160];
	pid_t pid;
};

struct tempnode_opts {
	const char *bootstrap;   /* host:port (or a ticket) */
	const char *join;        /* ticket, or NULL */
	const char *network_key; /* file, or NULL */
	const char *wait_key;    /* get: wait until this key's metadata arrived */
	int store;               /* store: the node is a writer that must not keep copies */
};

/* Start and wait (connected to a peer; the key known if wait_key). 0 ok (tn->db is the
 * database to use), -1 after printing why (the node's last error line when it could
 * not join: "node at ... is in another network ..."). */
int tempnode_start(struct tempnode *tn, const struct tempnode_opts *o);
/* SIGTERM, wait (at most 10 s, then SIGKILL), remove the directory. Safe to call
 * twice. */
void tempnode_stop(struct tempnode *tn);

#endif
