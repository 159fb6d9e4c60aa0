/* get.c: `p2p get <key> [--out F|-]`: a file from the daemon to a file (temp file +
 * fsync + rename, so a failed get leaves nothing behind) or to standard output. With
 * --out the temp file is handed to the daemon (fd.sock, cmd/fdpass.h), whose workers
 * write the verified chunks into it: GET /v1/files/KEY?fd=TOKEN answers JSON once every
 * byte is written. Otherwise (standard output, or a daemon without fd.sock) the content
 * streams through the HTTP body. */
#include "cmd/client.h"
#include "cmd/fdpass.h"
#include "cmd/hasher.h"
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "cmd/tempnode.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmd_get_exec(int argc, char **argv);

const struct cmd_entry cmd_get_entry = {
	.name = "get",
	.alias = NULL,
	.usage = "<key> [--out FILE|-] [--verify] [--quiet] [--db PATH | --bootstrap ADDR "
	    "(--join TICKET | --network-key FILE)]",
	.summary = "fetch a file by key",
	.help =
	    "Fetch the current version of KEY from the running node and write it to FILE, or\n"
	    "to standard output without --out (or with --out -).\n"
	    "\n"
	    "FILE is written safely: the bytes go to a temporary file in FILE's directory,\n"
	    "which is synced and renamed over FILE only when the whole content arrived with\n"
	    "the length the node announced. A failed get leaves no partial file and does not\n"
	    "touch an existing FILE. The temporary file is handed to the node, which writes\n"
	    "the verified chunks into it (P2P_FDPASS=0: the bytes come over the control API).\n"
	    "\n"
	    "The node checks every chunk against its SHA-256 before sending a byte of it and\n"
	    "cuts the transfer short (so the get fails) rather than send a corrupt chunk.\n"
	    "--verify also re-hashes the whole content here and compares it with the file's\n"
	    "SHA-256 (an end-to-end check; costs one more pass over the bytes).\n"
	    "\n"
	    "Options:\n"
	    "  -o, --out FILE  write to FILE (\"-\": standard output); its directory must exist\n"
	    "  --verify        also check the whole content's SHA-256 on this side\n"
	    "  -q, --quiet     no progress line\n"
	    "  --db PATH       the node's database (its folder holds the daemon's api.sock)\n"
	    "  --bootstrap ADDR  no local node: join the network through ADDR (host:port,\n"
	    "                    or bt:AA:BB:CC:DD:EE:FF[/channel] over Bluetooth)\n"
	    "                  with a temporary client node, fetch, leave\n"
	    "  --join TICKET, --network-key FILE  the network's key, with --bootstrap\n"
	    "\n"
	    "Exit status: 0 ok; 1 not found, no daemon, or write error; 2 usage error or bad\n"
	    "key.\n"
	    "\n"
	    "Examples:\n"
	    "  p2p get notes.txt --out ./notes.txt\n"
	    "  p2p get backups/photos.tar | tar x\n",
	.exec = cmd_get_exec,
};

#define GET_HASH_BUF (1u << 20)

struct download {
	const char *key;
	const char *out;       /* NULL: standard output */
	int fd;
	char *tmp;             /* temp file path while it exists */
	struct hasher *sha;    /* end-to-end check, on its own thread */
	uint8_t *bufs[2];      /* what the hasher reads: curl's buffer lives one call only */
	size_t fill;           /* bytes in bufs[cur] */
	int cur;
	int verify;            /* --verify: whole-content SHA-256 here too */
	uint64_t written, synced; /* for early writeback of --out */
	struct progress prog;
	int fdsock;            /* fd.sock connection while the daemon writes d.fd */
};

static int
get_sink(void *arg, const void *p, size_t n)
{
	struct download *d = arg;
	const char *s = p;
	size_t left = n, k;

	while (d->verify && left > 0) {
		k = left < GET_HASH_BUF - d->fill ? left : GET_HASH_BUF - d->fill;
		memcpy(d->bufs[d->cur] + d->fill, (const uint8_t *)p + (n - left), k);
		d->fill += k;
		left -= k;
		if (d->fill == GET_HASH_BUF) {
			hasher_feed(d->sha, d->bufs[d->cur], d->fill);
			d->cur ^= 1;
			d->fill = 0;
		}
	}
	d->written += n;
	/* Start writeback every 8 MiB so the final fsync has little left to do. */
	if (d->out != NULL && d->written - d->synced >= (8u << 20)) {
		(void)sync_file_range(d->fd, (off64_t)d->synced, (off64_t)(d->written - d->synced),
		    SYNC_FILE_RANGE_WRITE);
		d->synced = d->written;
	}
	while (n > 0) {
		ssize_t w = write(d->fd, s, n);

		if (w == -1) {
			if (errno == EINTR && !cmd_interrupted)
				continue;
			/* A closed pipe (`p2p get k | head`) is the reader's choice: quietly. */
			if (!(errno == EPIPE && d->out == NULL))
				cmd_err("write %s: %s", d->out ? d->out : "standard output",
				    strerror(errno));
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* GET ?fd=: the daemon writes the file; its progress lines come on fd.sock. */
static void
fd_progress(void *arg, uint64_t done, uint64_t total)
{
	struct download *d = arg;
	uint64_t bytes = d->written;

	(void)done;
	(void)total;
	fdpass_poll(d->fdsock, &bytes);
	d->written = bytes;
	progress_update(&d->prog, bytes);
}

static void
get_progress(void *arg, uint64_t done, uint64_t total)
{
	struct download *d = arg;

	if (total > 0)
		d->prog.total = total;
	progress_update(&d->prog, done);
}

/* Check --out before contacting the daemon. */
static int
check_out(const char *out, char **dirp)
{
	struct stat st;
	char *dir = path_dirname(out);

	*dirp = NULL;
	if (stat(dir, &st) == -1) {
		cmd_err("cannot write %s: directory %s: %s", out, dir, strerror(errno));
		goto fail;
	}
	if (!S_ISDIR(st.st_mode)) {
		cmd_err("cannot write %s: %s is not a directory", out, dir);
		goto fail;
	}
	if (access(dir, W_OK | X_OK) == -1) {
		cmd_err("cannot write %s: directory %s: %s", out, dir, strerror(errno));
		goto fail;
	}
	if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) {
		cmd_err("cannot write %s: it is a directory", out);
		goto fail;
	}
	*dirp = dir;
	return 0;
fail:
	free(dir);
	return -1;
}

static int
make_temp(struct download *d, const char *dir)
{
	const char *base = strrchr(d->out, '/');
	mode_t mask;

	base = base != NULL ? base + 1 : d->out;
	xasprintf(&d->tmp, "%s/.%s.p2p-XXXXXX", dir, base);
	if ((d->fd = mkstemp(d->tmp)) == -1) {
		cmd_err("cannot create a temporary file in %s: %s", dir, strerror(errno));
		free(d->tmp);
		d->tmp = NULL;
		return -1;
	}
	/* mkstemp makes 0600; give the file the mode a plain create would. */
	mask = umask(0);
	umask(mask);
	(void)fchmod(d->fd, 0666 & ~mask);
	return 0;
}

static int
cmd_get_exec(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "verify", no_argument, NULL, 'V' },
		CMD_OPT_QUIET, CMD_OPT_DB,
		{ "bootstrap", required_argument, NULL, 'B' },
		{ "join", required_argument, NULL, 'J' },
		{ "network-key", required_argument, NULL, 'K' },
		CMD_OPT_END,
	};
	const struct cmd_entry *e = &cmd_get_entry;
	struct tempnode tn;
	struct tempnode_opts to;
	struct cmd_common co;
	struct download d;
	struct client *c = NULL;
	struct client_req q = { .method = "GET" };
	struct client_reply r;
	char *db = NULL, *dir = NULL, *ekey = NULL, *path = NULL;
	char local[HASH_HEX], token[33];
	uint8_t md[HASH_LEN];
	int ch, rc = EXIT_FAIL;

	memset(&d, 0, sizeof d);
	memset(&tn, 0, sizeof tn);
	memset(&to, 0, sizeof to);
	d.fd = -1;
	d.fdsock = -1;
	memset(&r, 0, sizeof r);
	cmd_common_init(&co);
	cmd_getopt_begin();
	while ((ch = getopt_long(argc, argv, ":o:q", opts, NULL)) != -1) {
		if (cmd_common_opt(&co, ch, optarg))
			continue;
		if (ch == 'o') {
			d.out = optarg;
			continue;
		}
		if (ch == 'V') {
			d.verify = 1;
			continue;
		}
		if (ch == 'B' || ch == 'J' || ch == 'K') {
			*(ch == 'B' ? &to.bootstrap : ch == 'J' ? &to.join : &to.network_key) = optarg;
			continue;
		}
		return cmd_bad_option(e, argv, ch);
	}
	if ((to.join != NULL || to.network_key != NULL) && to.bootstrap == NULL)
		return cmd_usage(e, "--join and --network-key go with --bootstrap");
	if (argc - optind < 1)
		return cmd_usage(e, "expected a key");
	if (argc - optind > 1)
		return cmd_usage(e, "unexpected argument '%s'", argv[optind + 1]);
	if ((rc = cmd_check_key(argv[optind])) != 0)
		return rc;
	rc = EXIT_FAIL;
	d.key = argv[optind];
	if (d.out != NULL && (strcmp(d.out, "-") == 0 || *d.out == '\0')) {
		if (*d.out == '\0')
			return cmd_usage(e, "--out needs a file name");
		d.out = NULL;
	}
	if (d.out != NULL && check_out(d.out, &dir) == -1)
		return EXIT_FAIL;

	if (to.bootstrap != NULL) {
		/* a short-lived client node joins the network for this get */
		to.wait_key = d.key;
		if (tempnode_start(&tn, &to) == -1)
			goto out;
		db = xstrdup(tn.db);
	} else if ((db = cmd_db_resolve(co.db)) == NULL)
		goto out;
	if (client_open(&c, db, 0) != 0)
		goto out;
	cmd_signals_begin();
	if (d.out != NULL) {
		if (make_temp(&d, dir) == -1)
			goto out;
	} else {
		fflush(stdout);
		d.fd = STDOUT_FILENO;
	}
	ekey = client_escape(c, d.key);
	if (d.out != NULL && fdpass_send(client_datadir(c), d.fd, token, &d.fdsock) == 0) {
		/* the daemon writes the temp file; the reply is JSON */
		xasprintf(&path, "/v1/files/%s?fd=%s", ekey, token);
		q.progress = fd_progress;
	} else {
		if (d.verify) {
			d.sha = hasher_new();
			d.bufs[0] = xmalloc(GET_HASH_BUF);
			d.bufs[1] = xmalloc(GET_HASH_BUF);
		}
		xasprintf(&path, "/v1/files/%s", ekey);
		q.sink = get_sink;
		q.sink_arg = &d;
		q.progress = get_progress;
	}
	q.path = path;
	q.progress_arg = &d;
	/* No progress line over a terminal we are writing the content to. */
	progress_begin(&d.prog, progress_wanted(co.quiet) &&
	    (d.out != NULL || !isatty(STDOUT_FILENO)), 0);
	if (client_do(c, &q, &r) != 0)
		goto out;
	progress_end(&d.prog);
	if (r.status == 404) {
		cmd_err("not found: %s", d.key);
		goto out;
	}
	if (r.status != 200) {
		client_print_error(&r);
		goto out;
	}
	if (d.fdsock != -1) {
		/* every byte is in d.fd: the size the node announced, and --verify reads it */
		json_t *sz = json_object_get(r.json, "size");
		const char *sha = json_string_value(json_object_get(r.json, "sha256"));
		struct stat st;

		if (!json_is_integer(sz) || sha == NULL || strlen(sha) != 64) {
			cmd_err("GET %s: unexpected reply from the daemon", d.key);
			goto out;
		}
		if (fstat(d.fd, &st) == -1 || (uint64_t)st.st_size !=
		    (uint64_t)json_integer_value(sz)) {
			cmd_err("short transfer of %s: %s has %lld of %lld bytes", d.key, d.tmp,
			    (long long)st.st_size, (long long)json_integer_value(sz));
			goto out;
		}
		memcpy(r.sha256, sha, 65);
		if (d.verify) {
			d.sha = hasher_new_file(d.fd);
			hasher_final(d.sha, md);
			if (hasher_error(d.sha) != 0) {
				cmd_err("read %s: %s", d.tmp, strerror(hasher_error(d.sha)));
				goto out;
			}
		}
	} else if (r.content_length >= 0 && (uint64_t)r.content_length != r.received) {
		cmd_err("short transfer of %s: got %llu of %lld bytes", d.key,
		    (unsigned long long)r.received, (long long)r.content_length);
		goto out;
	}
	if (d.verify) {
		if (d.fdsock == -1) {
			if (d.fill > 0)
				hasher_feed(d.sha, d.bufs[d.cur], d.fill);
			hasher_final(d.sha, md);
		}
		hex_encode(md, HASH_LEN, local);
		if (r.sha256[0] == '\0' || strcasecmp(r.sha256, local) != 0) {
			cmd_err("content of %s does not match its sha256 (got %s, expected %s)",
			    d.key, local, r.sha256[0] ? r.sha256 : "none announced");
			goto out;
		}
	}
	if (d.out != NULL) {
		if (fsync(d.fd) == -1) {
			cmd_err("fsync %s: %s", d.tmp, strerror(errno));
			goto out;
		}
		if (close(d.fd) == -1) {
			d.fd = -1;
			cmd_err("close %s: %s", d.tmp, strerror(errno));
			goto out;
		}
		d.fd = -1;
		if (rename(d.tmp, d.out) == -1) {
			cmd_err("rename %s to %s: %s", d.tmp, d.out, strerror(errno));
			goto out;
		}
		free(d.tmp);
		d.tmp = NULL;
		if (fsync_dir(dir) == -1)
			cmd_err("warning: fsync %s: %s", dir, strerror(errno));
	}
	rc = EXIT_OK;
out:
	progress_end(&d.prog);
	if (d.tmp != NULL) {
		unlink(d.tmp);
		free(d.tmp);
	}
	hasher_free(d.sha); /* before closing d.fd: a file hasher reads it */
	if (d.fdsock != -1)
		close(d.fdsock);
	if (d.fd > STDERR_FILENO)
		close(d.fd);
	cmd_signals_end();
	free(d.bufs[0]);
	free(d.bufs[1]);
	client_reply_free(&r);
	client_free(c);
	tempnode_stop(&tn);
	free(path);
	free(ekey);
	free(dir);
	free(db);
	return rc;
}
