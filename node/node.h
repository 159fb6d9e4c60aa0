/* node.h: the daemon (`p2p serve`). */
#ifndef P2P_NODE_H
#define P2P_NODE_H

#include <stdint.h>

#define NODE_MAX_LISTEN 8
#define NODE_MAX_BOOTSTRAP 32

struct node_config {
	char *db_path;        /* <datadir>/p2p.db; the data directory is its folder */
	char *api_addr;       /* NULL, or "127.0.0.1:PORT" / "[::1]:PORT" for a TCP API */
	uint32_t chunk_size;  /* bytes, CHUNK_SIZE_MIN..CHUNK_SIZE_MAX */
	uint32_t inline_max;  /* chunks up to this many bytes live in the database */
	int log_level;
	/* network (issue 3 onwards); zero/NULL = defaults */
	char *listen[NODE_MAX_LISTEN];
	int nlisten;
	char *bootstrap[NODE_MAX_BOOTSTRAP];
	int nbootstrap;
	char *bootstrap_url;
	char *network_key_file;
	char *join_ticket;
	int max_peers;
	/* replication (issue 4) */
	int replicas;         /* R: nodes holding each chunk; 0 = all */
	int min_copies;       /* copies before a store returns (when peers are connected) */
	int64_t repair_after_s; /* a holder unreachable this long is replaced */
	int64_t tombstone_s;  /* tombstones are kept this long */
	int64_t anti_entropy_ms; /* DIGEST to one peer this often */
	int ephemeral;        /* a short-lived client node: never a holder */
	int mdns;             /* 1 = on (default) */
	int bluetooth;        /* peers over Bluetooth RFCOMM too (issue 6) */
	char *bt_adapter;     /* NULL (the first adapter that is up), "hciN" or its address */
	int bt_channel;       /* RFCOMM channel to listen on, 1..30; 0 = 7 */
	int bt_scan;          /* look for nodes by inquiry + SDP */
	int no_tcp;           /* no TCP peers: a Bluetooth-only node */
};

void node_config_init(struct node_config *cfg);
void node_config_free(struct node_config *cfg);

/* Run the daemon until SIGINT/SIGTERM. Returns a process exit code (0 clean stop,
 * 1 failure, after printing one clear line about why). */
int node_run(const struct node_config *cfg);

#endif
