/* serve.h: `p2p serve`'s settings, exposed for the unit tests. */
#ifndef P2P_CMD_SERVE_H
#define P2P_CMD_SERVE_H

#include "node/node.h"

/* Fill cfg (node_config_init first) from serve's argv (argv[0] = "serve"), the config
 * file it names, cmd_globals and the environment, in that order of precedence. Returns 0,
 * or an exit code after printing why (EXIT_USAGE for bad flags, values or config; EXIT_FAIL
 * otherwise). cfg always needs node_config_free(). Creates nothing. */
int serve_config(int argc, char **argv, struct node_config *cfg);
/* The network settings that can be checked before the daemon starts (--no-tcp without
 * --bluetooth, --listen with --no-tcp, bootstrap and listen addresses, the join
 * ticket). 0, or EXIT_USAGE after printing one line. */
int serve_check_network(const struct node_config *cfg);

#endif
