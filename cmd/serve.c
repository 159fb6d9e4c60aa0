/* serve.c: `p2p serve`: fill a node_config from flags, a config file and the
 * environment, make the data directory, and run the daemon (node_run). */
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "cmd/serve.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "node/node.h"
#include "p2p/rfcomm.h"
#include "p2p/ticket.h"
#include "p2p/transport.h"
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define SERVE_MAX_PEERS_LIMIT 100000

static int cmd_serve_exec(int argc, char **argv);

const struct cmd_entry cmd_serve_entry = {
	.name = "serve",
	.alias = NULL,
	.usage = "[--db PATH] [--api ADDR] [--chunk-size SIZE] [--log-level LEVEL] "
		 "[--config FILE] [network flags]",
	.summary = "run a node (the daemon) in the foreground",
	.help =
	    "Run the node until SIGINT or SIGTERM. It keeps its database, chunks and API\n"
	    "socket (<datadir>/api.sock, mode 0600) in the database's folder, the data\n"
	    "directory, which is created (mode 0700) if missing.\n"
	    "\n"
	    "Options:\n"
	    "  --db PATH            database path; its folder is the data directory\n"
	    "  --api ADDR           also serve the control API on TCP, e.g. 127.0.0.1:7001\n"
	    "                       (port 0: any free port; `p2p status --json` shows it)\n"
	    "  --chunk-size SIZE    chunk size for new files, 4K..16M (default 1M)\n"
	    "  --inline-max SIZE    chunks up to SIZE bytes are kept in the database rather\n"
	    "                       than as a file each, 0..64K (default 16K; 0: never)\n"
	    "  --log-level LEVEL    error, warn, info (default) or debug\n"
	    "  --config FILE        read settings from FILE (see below)\n"
	    "\n"
	    "Network:\n"
	    "  --listen ADDR        listen for peers on ADDR (host:port, :port for every\n"
	    "                       address; repeatable, max 8). Default :3000; if that port\n"
	    "                       is taken the node runs without a listener (a warning\n"
	    "                       says so); a taken --listen port is an error\n"
	    "  --bootstrap ADDR     a peer (host:port, bt:AA:BB:CC:DD:EE:FF[/channel]) or a\n"
	    "                       ticket to contact at start (repeatable, max 32; names\n"
	    "                       are resolved at start)\n"
	    "  --bootstrap-url URL  fetch bootstrap addresses from URL at start (one per line;\n"
	    "                       10 s timeout, 64 KiB at most)\n"
	    "  --network-key FILE   the network's key file (64 hex characters, mode 0600);\n"
	    "                       default <datadir>/network.key, created on first start\n"
	    "  --join TICKET        join the network of a ticket from `p2p invite` (its key is\n"
	    "                       saved as <datadir>/network.key; its addresses are dialled)\n"
	    "  --max-peers N        at most N peer connections (default 64)\n"
	    "  --no-mdns            do not discover peers on the local network\n"
	    "  --bluetooth          also use Bluetooth (RFCOMM): listen on the adapter's\n"
	    "                       channel, dial bt: addresses. Without a usable adapter:\n"
	    "                       one warning, and TCP only\n"
	    "  --bt-adapter ADAPTER the adapter: hciN or its address (default: the first\n"
	    "                       one that is up)\n"
	    "  --bt-channel N       RFCOMM channel to listen on, 1..30 (default 7)\n"
	    "  --bt-scan            look for nodes nearby (inquiry + SDP, every 5 min)\n"
	    "  --no-tcp             no TCP peers (needs --bluetooth): a Bluetooth-only node;\n"
	    "                       exits (status 1) if Bluetooth is not usable\n"
	    "\n"
	    "Replication:\n"
	    "  --replicas N|all     nodes that hold each chunk (default 3; all = every node)\n"
	    "  --min-copies N       copies a store waits for when peers are connected\n"
	    "                       (default 2)\n"
	    "  --repair-after DUR   a holder unreachable this long is replaced (default 10m)\n"
	    "  --tombstone-retention DUR  how long deletes are remembered (default 30d)\n"
	    "  --anti-entropy DUR   compare file indexes with one peer this often (default 5s)\n"
	    "  --ephemeral          a short-lived client node (store/get --bootstrap): it is\n"
	    "                       never a holder; a store waits for R copies elsewhere\n"
	    "\n"
	    "Config file: one `key = value` per line, `#` comments; the keys are the long\n"
	    "flag names without the leading dashes (chunk-size = 4M; chunk_size works too);\n"
	    "listen and bootstrap may repeat or hold a comma-separated list; the switches\n"
	    "take true/false (no-mdns = true). Example:\n"
	    "  db = /var/lib/p2p/p2p.db\n"
	    "  listen = 0.0.0.0:7000\n"
	    "  bootstrap = 192.0.2.10:7000, 192.0.2.11:7000\n"
	    "\n"
	    "Precedence, highest first: flags on the command line (after or before `serve`),\n"
	    "then the config file, then the environment (P2P_DB, P2P_LOG_LEVEL), then the\n"
	    "defaults ($XDG_DATA_HOME/p2p/p2p.db, else ~/.local/share/p2p/p2p.db). A list\n"
	    "given on the command line replaces the file's list.\n"
	    "\n"
	    "Exit status: 0 clean stop; 1 the node failed (one line says why); 2 usage error,\n"
	    "bad flag value or bad config file.\n"
	    "\n"
	    "Example:\n"
	    "  p2p serve --db /var/lib/p2p/a/p2p.db --listen 0.0.0.0:7000\n",
	.exec = cmd_serve_exec,
};

enum {
	S_API = OPT_FIRST_PRIVATE,
	S_CHUNK_SIZE,
	S_INLINE_MAX,
	S_LISTEN,
	S_BOOTSTRAP,
	S_BOOTSTRAP_URL,
	S_NETWORK_KEY,
	S_JOIN,
	S_MAX_PEERS,
	S_NO_MDNS,
	S_BLUETOOTH,
	S_BT_ADAPTER,
	S_BT_CHANNEL,
	S_BT_SCAN,
	S_NO_TCP,
	S_CONFIG,
	S_REPLICAS,
	S_MIN_COPIES,
	S_REPAIR_AFTER,
	S_TOMBSTONES,
	S_ANTI_ENTROPY,
	S_EPHEMERAL,
};

static const struct option serve_opts[] = {
	CMD_OPT_DB,
	{ "api", required_argument, NULL, S_API },
	{ "chunk-size", required_argument, NULL, S_CHUNK_SIZE },
	{ "inline-max", required_argument, NULL, S_INLINE_MAX },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "listen", required_argument, NULL, S_LISTEN },
	{ "bootstrap", required_argument, NULL, S_BOOTSTRAP },
	{ "bootstrap-url", required_argument, NULL, S_BOOTSTRAP_URL },
	{ "network-key", required_argument, NULL, S_NETWORK_KEY },
	{ "join", required_argument, NULL, S_JOIN },
	{ "max-peers", required_argument, NULL, S_MAX_PEERS },
	{ "no-mdns", no_argument, NULL, S_NO_MDNS },
	{ "bluetooth", no_argument, NULL, S_BLUETOOTH },
	{ "bt-adapter", required_argument, NULL, S_BT_ADAPTER },
	{ "bt-channel", required_argument, NULL, S_BT_CHANNEL },
	{ "bt-scan", no_argument, NULL, S_BT_SCAN },
	{ "no-tcp", no_argument, NULL, S_NO_TCP },
	{ "config", required_argument, NULL, S_CONFIG },
	{ "replicas", required_argument, NULL, S_REPLICAS },
	{ "min-copies", required_argument, NULL, S_MIN_COPIES },
	{ "repair-after", required_argument, NULL, S_REPAIR_AFTER },
	{ "tombstone-retention", required_argument, NULL, S_TOMBSTONES },
	{ "anti-entropy", required_argument, NULL, S_ANTI_ENTROPY },
	{ "ephemeral", no_argument, NULL, S_EPHEMERAL },
	CMD_OPT_END,
};

struct serve_state {
	struct node_config *cfg;
	int cli;             /* applying command-line flags (else the config file) */
	int have_db, have_log;
	int cli_listen, cli_bootstrap; /* the command line started its own list */
};

/* "chunk-size", "chunk_size", "chunksize" and "--chunk-size" are the same name. */
static int
name_eq(const char *key, const char *name)
{
	while (*key == '-')
		key++;
	for (;;) {
		while (*key == '-' || *key == '_')
			key++;
		while (*name == '-')
			name++;
		if (*key == '\0' || *name == '\0')
			return *key == *name;
		if (*key++ != *name++)
			return 0;
	}
}

static int
parse_bool(const char *val, int *out)
{
	if (val == NULL || *val == '\0' || strcasecmp(val, "true") == 0 ||
	    strcasecmp(val, "yes") == 0 || strcasecmp(val, "on") == 0 || strcmp(val, "1") == 0)
		*out = 1;
	else if (strcasecmp(val, "false") == 0 || strcasecmp(val, "no") == 0 ||
	    strcasecmp(val, "off") == 0 || strcmp(val, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

static void
set_str(char **dst, const char *val)
{
	free(*dst);
	*dst = xstrdup(val);
}

/* Append the comma/space-separated addresses in val to list. */
static int
add_addrs(char **list, int *n, int max, const char *what, const char *val, char **cause)
{
	const char *p = val;
	int added = 0;

	while (*p != '\0') {
		size_t len;

		p += strspn(p, ", \t");
		len = strcspn(p, ", \t");
		if (len == 0)
			break;
		if (*n >= max)
			return set_cause(cause, "too many %s addresses (at most %d)", what, max);
		list[(*n)++] = xstrndup(p, len);
		p += len;
		added++;
	}
	if (added == 0)
		return set_cause(cause, "%s needs an address", what);
	return 0;
}

static void
clear_list(char **list, int *n)
{
	for (int i = 0; i < *n; i++) {
		free(list[i]);
		list[i] = NULL;
	}
	*n = 0;
}

/* One setting, from the command line (val NULL for switches) or the config file. */
static int
serve_set(struct serve_state *ss, const char *key, const char *val, char **cause)
{
	struct node_config *cfg = ss->cfg;
	const char *errstr;
	uint64_t size;
	int b, lvl;

	if (name_eq(key, "db")) {
		if (val == NULL || *val == '\0')
			return set_cause(cause, "db needs a path");
		set_str(&cfg->db_path, val);
		ss->have_db = 1;
	} else if (name_eq(key, "api")) {
		if (val == NULL || *val == '\0')
			return set_cause(cause, "api needs an address (127.0.0.1:PORT)");
		set_str(&cfg->api_addr, val);
	} else if (name_eq(key, "chunk-size")) {
		if (parse_size(val, CHUNK_SIZE_MAX, &size, &errstr) == -1 ||
		    size < CHUNK_SIZE_MIN)
			return set_cause(cause, "chunk size '%s' is %s: it must be 4K..16M",
			    val ? val : "", errstr != NULL ? errstr : "too small");
		cfg->chunk_size = (uint32_t)size;
	} else if (name_eq(key, "inline-max")) {
		if (parse_size(val, STORE_INLINE_MAX_LIMIT, &size, &errstr) == -1)
			return set_cause(cause, "inline max '%s' is %s: it must be 0..64K",
			    val ? val : "", errstr != NULL ? errstr : "invalid");
		cfg->inline_max = (uint32_t)size;
	} else if (name_eq(key, "log-level")) {
		if (val == NULL || (lvl = log_level_parse(val)) < 0)
			return set_cause(cause, "unknown log level '%s' (error, warn, info, debug)",
			    val ? val : "");
		cfg->log_level = lvl;
		ss->have_log = 1;
	} else if (name_eq(key, "listen")) {
		if (ss->cli && !ss->cli_listen) {
			clear_list(cfg->listen, &cfg->nlisten);
			ss->cli_listen = 1;
		}
		return add_addrs(cfg->listen, &cfg->nlisten, NODE_MAX_LISTEN, "listen",
		    val ? val : "", cause);
	} else if (name_eq(key, "bootstrap")) {
		if (ss->cli && !ss->cli_bootstrap) {
			clear_list(cfg->bootstrap, &cfg->nbootstrap);
			ss->cli_bootstrap = 1;
		}
		return add_addrs(cfg->bootstrap, &cfg->nbootstrap, NODE_MAX_BOOTSTRAP,
		    "bootstrap", val ? val : "", cause);
	} else if (name_eq(key, "bootstrap-url")) {
		if (val == NULL || *val == '\0')
			return set_cause(cause, "bootstrap-url needs a URL");
		set_str(&cfg->bootstrap_url, val);
	} else if (name_eq(key, "network-key")) {
		if (val == NULL || *val == '\0')
			return set_cause(cause, "network-key needs a file");
		set_str(&cfg->network_key_file, val);
	} else if (name_eq(key, "join")) {
		if (val == NULL || *val == '\0')
			return set_cause(cause, "join needs a ticket");
		set_str(&cfg->join_ticket, val);
	} else if (name_eq(key, "max-peers")) {
		long long n = parse_num(val, 1, SERVE_MAX_PEERS_LIMIT, &errstr);

		if (errstr != NULL)
			return set_cause(cause, "max-peers '%s' is %s (1..%d)", val ? val : "",
			    errstr, SERVE_MAX_PEERS_LIMIT);
		cfg->max_peers = (int)n;
	} else if (name_eq(key, "no-mdns")) {
		if (parse_bool(val, &b) == -1)
			return set_cause(cause, "no-mdns takes true or false, not '%s'", val);
		cfg->mdns = !b;
	} else if (name_eq(key, "bluetooth")) {
		if (parse_bool(val, &b) == -1)
			return set_cause(cause, "bluetooth takes true or false, not '%s'", val);
		cfg->bluetooth = b;
	} else if (name_eq(key, "bt-adapter")) {
		uint8_t dev[RFCOMM_BDADDR_LEN];

		if (val == NULL || (strncmp(val, "hci", 3) == 0 ?
		    (parse_num(val + 3, 0, 1023, &errstr), errstr != NULL) :
		    rfcomm_bdaddr_parse(val, dev) == -1))
			return set_cause(cause, "bt-adapter '%s': expected hciN or the adapter's "
			    "address AA:BB:CC:DD:EE:FF", val ? val : "");
		set_str(&cfg->bt_adapter, val);
	} else if (name_eq(key, "bt-channel")) {
		long long n = parse_num(val, 1, RFCOMM_CHANNEL_MAX, &errstr);

		if (errstr != NULL)
			return set_cause(cause, "bt-channel '%s' is %s (an RFCOMM channel, 1..%d)",
			    val ? val : "", errstr, RFCOMM_CHANNEL_MAX);
		cfg->bt_channel = (int)n;
	} else if (name_eq(key, "bt-scan")) {
		if (parse_bool(val, &b) == -1)
			return set_cause(cause, "bt-scan takes true or false, not '%s'", val);
		cfg->bt_scan = b;
	} else if (name_eq(key, "no-tcp")) {
		if (parse_bool(val, &b) == -1)
			return set_cause(cause, "no-tcp takes true or false, not '%s'", val);
		cfg->no_tcp = b;
	} else if (name_eq(key, "replicas")) {
		long long n;

		if (val != NULL && strcmp(val, "all") == 0) {
			cfg->replicas = 0;
			return 0;
		}
		n = parse_num(val, 1, 1000, &errstr);
		if (errstr != NULL)
			return set_cause(cause, "replicas '%s' is %s (1..1000 or all)",
			    val ? val : "", errstr);
		cfg->replicas = (int)n;
	} else if (name_eq(key, "min-copies")) {
		long long n = parse_num(val, 1, 1000, &errstr);

		if (errstr != NULL)
			return set_cause(cause, "min-copies '%s' is %s (1..1000)", val ? val : "",
			    errstr);
		cfg->min_copies = (int)n;
	} else if (name_eq(key, "repair-after") || name_eq(key, "tombstone-retention") ||
	    name_eq(key, "anti-entropy")) {
		int64_t secs;

		if (val == NULL || parse_duration(val, &secs, &errstr) == -1 || secs < 1)
			return set_cause(cause, "%s '%s': expected a duration such as 90s, 15m, "
			    "24h, 30d (at least 1s)", key, val ? val : "");
		if (name_eq(key, "repair-after"))
			cfg->repair_after_s = secs;
		else if (name_eq(key, "tombstone-retention"))
			cfg->tombstone_s = secs;
		else
			cfg->anti_entropy_ms = secs * 1000;
	} else if (name_eq(key, "ephemeral")) {
		if (parse_bool(val, &b) == -1)
			return set_cause(cause, "ephemeral takes true or false, not '%s'", val);
		cfg->ephemeral = b;
	} else if (name_eq(key, "config")) {
		return set_cause(cause, "a config file cannot name another config file");
	} else {
		return set_cause(cause, "unknown setting '%s'", key);
	}
	return 0;
}

static int
config_set(void *arg, const char *key, const char *val, char **cause)
{
	return serve_set(arg, key, val, cause);
}

static const char *
opt_name(int ch)
{
	for (const struct option *o = serve_opts; o->name != NULL; o++)
		if (o->val == ch)
			return o->name;
	return "?";
}

/* Make a relative database path absolute, so that the daemon's paths do not depend on
 * its working directory. */
static void
absolute_db(struct node_config *cfg)
{
	char cwd[PATH_MAX], *abs;

	if (cfg->db_path[0] == '/' || getcwd(cwd, sizeof cwd) == NULL)
		return;
	xasprintf(&abs, "%s/%s", cwd, cfg->db_path);
	free(cfg->db_path);
	cfg->db_path = abs;
}

int
serve_config(int argc, char **argv, struct node_config *cfg)
{
	const struct cmd_entry *e = &cmd_serve_entry;
	struct serve_state ss;
	const char *config = NULL, *env;
	char *cause = NULL, *path = NULL;
	int ch, lvl, rc = EXIT_USAGE;

	node_config_init(cfg);
	/* Pass 1: check the flags and find --config. */
	cmd_getopt_begin();
	while ((ch = getopt_long(argc, argv, ":", serve_opts, NULL)) != -1) {
		if (ch == '?' || ch == ':')
			return cmd_bad_option(e, argv, ch);
		if (ch == S_CONFIG)
			config = optarg;
	}
	if (optind < argc)
		return cmd_usage(e, "unexpected argument '%s'", argv[optind]);

	memset(&ss, 0, sizeof ss);
	ss.cfg = cfg;
	if (config != NULL && config_load(config, config_set, &ss, &cause) == -1) {
		cmd_err("serve: %s", cause ? cause : config);
		goto out;
	}

	/* Pass 2: the command line wins over the file; flags before `serve` first. */
	ss.cli = 1;
	if (cmd_globals.db != NULL && serve_set(&ss, "db", cmd_globals.db, &cause) == -1)
		goto bad;
	if (cmd_globals.log_level >= 0) {
		cfg->log_level = cmd_globals.log_level;
		ss.have_log = 1;
	}
	cmd_getopt_begin();
	while ((ch = getopt_long(argc, argv, ":", serve_opts, NULL)) != -1) {
		if (ch == S_CONFIG)
			continue;
		if (ch == S_NO_MDNS || ch == S_BLUETOOTH || ch == S_NO_TCP || ch == S_EPHEMERAL ||
		    ch == S_BT_SCAN) {
			if (serve_set(&ss, opt_name(ch), NULL, &cause) == -1)
				goto bad;
		} else if (serve_set(&ss, opt_name(ch), optarg, &cause) == -1) {
			goto bad;
		}
	}

	/* The environment only where neither gave a value. */
	if (!ss.have_log && (env = getenv("P2P_LOG_LEVEL")) != NULL && *env != '\0') {
		if ((lvl = log_level_parse(env)) < 0) {
			cmd_err("serve: P2P_LOG_LEVEL: unknown log level '%s' (error, warn, info, "
			    "debug)", env);
			goto out;
		}
		cfg->log_level = lvl;
	}
	if (!ss.have_db) {
		if (cmd_db_path(NULL, &path, &cause) == -1) {
			cmd_err("serve: %s", cause);
			goto out;
		}
		cfg->db_path = path;
	}
	absolute_db(cfg);
	rc = 0;
	goto out;
bad:
	rc = cmd_usage(e, "%s", cause ? cause : "bad value");
out:
	free(cause);
	return rc;
}

/* A bootstrap address: tcp host:port (not resolved here), bt:AA:BB:CC:DD:EE:FF[/ch]
 * or a ticket (checked at start). 0 ok, -1 with *cause. */
static int
check_bootstrap(const char *a, char **cause)
{
	const char *slash, *errstr;
	uint8_t dev[RFCOMM_BDADDR_LEN];
	char d[RFCOMM_BDADDR_STRLEN];
	size_t len;

	if (strncmp(a, RFCOMM_PREFIX, strlen(RFCOMM_PREFIX)) != 0)
		return 0;
	a += strlen(RFCOMM_PREFIX);
	slash = strchr(a, '/');
	len = slash != NULL ? (size_t)(slash - a) : strlen(a);
	if (slash != NULL) {
		(void)parse_num(slash + 1, 1, RFCOMM_CHANNEL_MAX, &errstr);
		if (errstr != NULL)
			return set_cause(cause, "bt:%s: channel is %s (1..%d)", a, errstr,
			    RFCOMM_CHANNEL_MAX);
	}
	if (len == 0 || len >= sizeof d)
		return set_cause(cause, "bt:%s: expected bt:AA:BB:CC:DD:EE:FF[/channel]", a);
	memcpy(d, a, len);
	d[len] = '\0';
	if (strncmp(d, "hci", 3) != 0 && rfcomm_bdaddr_parse(d, dev) == -1)
		return set_cause(cause, "bt:%s: expected bt:AA:BB:CC:DD:EE:FF[/channel]", a);
	return 0;
}

/* The network flags serve can check before starting: exit 2 with one line. */
int
serve_check_network(const struct node_config *cfg)
{
	const struct cmd_entry *e = &cmd_serve_entry;
	struct tp_addr ta;
	struct ticket t;
	char *cause = NULL;
	int i;

	if (cfg->no_tcp && !cfg->bluetooth)
		return cmd_usage(e, "--no-tcp needs --bluetooth (without TCP and Bluetooth a "
		    "node has no way to reach peers)");
	if (cfg->no_tcp && cfg->nlisten > 0)
		return cmd_usage(e, "--listen is for TCP, which --no-tcp turns off (the "
		    "Bluetooth listener is set with --bt-adapter and --bt-channel)");
	for (i = 0; i < cfg->nbootstrap; i++) {
		if (check_bootstrap(cfg->bootstrap[i], &cause) == -1) {
			cmd_usage(e, "--bootstrap %s", cause);
			free(cause);
			return EXIT_USAGE;
		}
	}
	for (i = 0; i < cfg->nlisten; i++) {
		if (strncmp(cfg->listen[i], RFCOMM_PREFIX, strlen(RFCOMM_PREFIX)) == 0)
			return cmd_usage(e, "--listen %s: --listen is for TCP; Bluetooth listens "
			    "with --bluetooth (--bt-adapter, --bt-channel)", cfg->listen[i]);
		if (transport_tcp.parse(cfg->listen[i], TP_PASSIVE, &ta, &cause) == -1) {
			cmd_usage(e, "--listen: %s", cause);
			free(cause);
			return EXIT_USAGE;
		}
	}
	if (cfg->join_ticket != NULL) {
		if (ticket_from_string(cfg->join_ticket, &t, &cause) == -1) {
			cmd_usage(e, "--join: %s", cause);
			free(cause);
			return EXIT_USAGE;
		}
		netkey_clear(&t.key);
	}
	return 0;
}

static int
cmd_serve_exec(int argc, char **argv)
{
	struct node_config cfg;
	char *dir = NULL;
	int rc;

	if ((rc = serve_config(argc, argv, &cfg)) != 0)
		goto out;
	if ((rc = serve_check_network(&cfg)) != 0)
		goto out;
	rc = EXIT_FAIL;
	dir = path_dirname(cfg.db_path);
	if (mkdir_p(dir, 0700) == -1) {
		cmd_err("cannot create the data directory %s: %s", dir, strerror(errno));
		goto out;
	}
	log_set_level(cfg.log_level);
	rc = node_run(&cfg);
out:
	free(dir);
	node_config_free(&cfg);
	return rc;
}
