/* node.c: the daemon's life cycle: data directory and its lock, identity, database,
 * chunk store, threads, control API, signals, systemd notifications, shutdown. */
#include "node/node.h"
#include "node/daemon.h"
#include "node/notify.h"
#include "node/work.h"
#include "node/net.h"
#include "node/repl.h"
#include "p2p/identity.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

void
node_config_init(struct node_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->chunk_size = CHUNK_SIZE_DEFAULT;
	cfg->inline_max = STORE_INLINE_MAX_DEFAULT;
	cfg->log_level = LOG_INFO;
	cfg->max_peers = 64;
	cfg->replicas = REPL_REPLICAS_DEFAULT;
	cfg->min_copies = REPL_MIN_COPIES_DEFAULT;
	cfg->repair_after_s = REPL_REPAIR_AFTER_S_DEFAULT;
	cfg->tombstone_s = REPL_TOMBSTONE_S_DEFAULT;
	cfg->anti_entropy_ms = REPL_AE_MS;
	cfg->mdns = 1;
}

void
node_config_free(struct node_config *cfg)
{
	int i;

	free(cfg->db_path);
	free(cfg->api_addr);
	for (i = 0; i < cfg->nlisten; i++)
		free(cfg->listen[i]);
	for (i = 0; i < cfg->nbootstrap; i++)
		free(cfg->bootstrap[i]);
	free(cfg->bootstrap_url);
	free(cfg->bt_adapter);
	free(cfg->network_key_file);
	free(cfg->join_ticket);
	memset(cfg, 0, sizeof *cfg);
}

/* One daemon per data directory: an flock(2) on <datadir>/lock holding our pid. */
static int
node_lock(struct node *n, char **cause)
{
	char *path, buf[32];
	ssize_t r;

	xasprintf(&path, "%s/lock", n->datadir);
	n->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (n->lock_fd == -1) {
		set_cause(cause, "cannot open %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	if (flock(n->lock_fd, LOCK_EX | LOCK_NB) == -1) {
		int e = errno;
		r = pread(n->lock_fd, buf, sizeof buf - 1, 0);
		buf[r > 0 ? r : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		if (e == EWOULDBLOCK)
			set_cause(cause, "another p2p daemon is already running on %s (pid %s)",
			    n->datadir, buf[0] ? buf : "?");
		else
			set_cause(cause, "cannot lock %s: %s", path, strerror(e));
		free(path);
		close(n->lock_fd);
		n->lock_fd = -1;
		return -1;
	}
	free(path);
	snprintf(buf, sizeof buf, "%d\n", (int)getpid());
	if (ftruncate(n->lock_fd, 0) == 0 && pwrite(n->lock_fd, buf, strlen(buf), 0) < 0)
		log_warn("writing the lock file");
	return 0;
}

static void
node_stop(struct node *n, const char *why)
{
	if (n->stopping)
		return;
	n->stopping = 1;
	log_info("%s: stopping", why);
	notify_stopping();
	/* net: GOODBYE to every peer; it ends the loop itself once they are sent */
	if (net_shutdown(n) == 0)
		event_base_loopexit(n->base, NULL);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct node *n = arg;

	(void)what;
	node_stop(n, sig == SIGINT ? "SIGINT" : "SIGTERM");
}

static void
on_sighup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	log_info("SIGHUP ignored: the configuration is read at start; restart to apply changes");
}

static void
on_upload_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	files_expire_uploads(arg);
}

static void
on_notify_timer(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;
	struct db_stats st;

	(void)fd;
	(void)what;
	notify_watchdog_ping();
	if (db_stats(n->db, &st, NULL) == 0)
		notify_status("%llu files, %llu chunks, %u uploads, %u peers",
		    (unsigned long long)st.files, (unsigned long long)st.chunks, n->nuploads,
		    net_connected(n));
}

int
node_run(const struct node_config *cfg)
{
	struct node node, *n = &node;
	struct identity *id = NULL;
	char *cause = NULL;
	int rc = 1, created = 0;
	uint64_t wd;
	struct timeval tv;

	memset(n, 0, sizeof *n);
	n->cfg = cfg;
	n->lock_fd = -1;
	n->started_ms = wall_ms();
	n->db_path = xstrdup(cfg->db_path);
	n->datadir = path_dirname(cfg->db_path);
	xasprintf(&n->sock_path, "%s/api.sock", n->datadir);
	signal(SIGPIPE, SIG_IGN);

	if (mkdir_p(n->datadir, 0700) == -1) {
		log_error("cannot create the data directory %s: %s", n->datadir, strerror(errno));
		goto out;
	}
	if (node_lock(n, &cause) == -1)
		goto fail;
	/* The database first: a damaged or too new one must stop us before anything
	 * (an identity key) is written into the data directory. */
	if (db_open(&n->db, n->db_path, DB_CHECK, &cause) == -1)
		goto fail;
	if (identity_open(&id, n->datadir, &created, &cause) == -1)
		goto fail;
	memcpy(n->node_id, identity_id(id), NODE_ID_LEN);
	snprintf(n->node_hex, sizeof n->node_hex, "%s", identity_hex(id));
	if (created)
		log_info("created node identity %s", identity_short(id));
	if (store_open(&n->store, n->datadir, &cause) == -1)
		goto fail;
	store_set_inline_max(n->store, n->cfg->inline_max);
	if ((n->base = event_base_new()) == NULL) {
		log_error("cannot create the event loop");
		goto out;
	}
	n->sigint = evsignal_new(n->base, SIGINT, on_signal, n);
	n->sigterm = evsignal_new(n->base, SIGTERM, on_signal, n);
	evsignal_add(n->sigint, NULL);
	evsignal_add(n->sigterm, NULL);
	n->sighup = evsignal_new(n->base, SIGHUP, on_sighup, n);
	evsignal_add(n->sighup, NULL);
	if (files_init(n, &cause) == -1)
		goto fail;
	if (api_start(n, &cause) == -1)
		goto fail;
	if (repl_start(n, &cause) == -1) /* replication (repl.c) */
		goto fail;
	if (net_start(n, id, &cause) == -1) /* net: peers (net.c) */
		goto fail;

	n->upload_timer = event_new(n->base, -1, EV_PERSIST, on_upload_timer, n);
	tv.tv_sec = 60;
	tv.tv_usec = 0;
	event_add(n->upload_timer, &tv);
	wd = notify_watchdog_interval_usec();
	n->notify_timer = event_new(n->base, -1, EV_PERSIST, on_notify_timer, n);
	tv.tv_sec = wd ? (time_t)(wd / 2 / 1000000) : 30;
	tv.tv_usec = wd ? (suseconds_t)(wd / 2 % 1000000) : 0;
	event_add(n->notify_timer, &tv);

	log_info("node %s serving %s (api %s)", identity_short(id), n->datadir, n->sock_path);
	notify_ready();
	on_notify_timer(-1, 0, n);
	event_base_dispatch(n->base);
	rc = 0;
	goto out;
fail:
	log_error("%s", cause);
	free(cause);
out:
	n->stopping = 1;
	repl_quiesce(n);
	api_stop(n);
	net_stop(n); /* net */
	if (n->base != NULL)
		files_shutdown(n);
	repl_stop(n); /* after the pools: their last done() callbacks may reach it */
	if (n->upload_timer)
		event_free(n->upload_timer);
	if (n->notify_timer)
		event_free(n->notify_timer);
	if (n->sigint)
		event_free(n->sigint);
	if (n->sigterm)
		event_free(n->sigterm);
	if (n->sighup)
		event_free(n->sighup);
	if (n->base)
		event_base_free(n->base);
	store_close(n->store);
	db_close(n->db);
	identity_free(id);
	if (n->lock_fd != -1)
		close(n->lock_fd);
	if (rc == 0)
		log_info("stopped");
	free(n->db_path);
	free(n->datadir);
	free(n->sock_path);
	return rc;
}
