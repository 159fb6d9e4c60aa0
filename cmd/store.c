/* store.c: `p2p store <key> <file|->`. A regular file is handed to the daemon
 * (fd.sock, cmd/fdpass.h), which reads it itself: PUT /v1/files/KEY?fd=TOKEN. Otherwise
 * (standard input, or a daemon without fd.sock) the bytes are streamed through an upload
 * session (POST /v1/uploads, PUT each part in order, commit), one chunk in memory. */
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
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmd_store_exec(int argc, char **argv);

const struct cmd_entry cmd_store_entry = {
	.name = "store",
	.alias = NULL,
	.usage = "<key> <file|-> [--verify] [--quiet] [--json] [--db PATH | --bootstrap ADDR "
	    "(--join TICKET | --network-key FILE)]",
	.summary = "store a file (or standard input) under a key",
	.help =
	    "Send FILE (or standard input for \"-\") to the running node, which splits it into\n"
	    "chunks and records it under KEY. Storing a key again makes a new version; the\n"
	    "older one goes away. Any size works: the file is streamed one chunk at a time\n"
	    "(a regular file is handed to the node, which reads it itself; P2P_FDPASS=0 in\n"
	    "the environment sends its bytes over the control API instead).\n"
	    "\n"
	    "A key is a name, not a path: 1..1024 bytes of UTF-8 without control characters\n"
	    "(\"photos/2024/cat.jpg\" and \"../x\" are both fine). A bad key is a usage error.\n"
	    "\n"
	    "Options:\n"
	    "  -q, --quiet   no progress line and no summary line\n"
	    "  --json        print the stored file's JSON object instead of the summary\n"
	    "  --verify      also hash the content here and compare it with the SHA-256 the\n"
	    "                node computed (an end-to-end check; one more pass over the bytes)\n"
	    "  --bootstrap ADDR  no local node: join the network through ADDR (host:port,\n"
	    "                    or bt:AA:BB:CC:DD:EE:FF[/channel] over Bluetooth)\n"
	    "                with a temporary client node, store, wait until --replicas\n"
	    "                nodes hold every chunk, leave (needs --join or --network-key)\n"
	    "  --join TICKET, --network-key FILE  the network's key, with --bootstrap\n"
	    "  --db PATH     the node's database (its folder holds the daemon's api.sock)\n"
	    "\n"
	    "On success it prints: stored KEY: SIZE bytes, N chunks, sha256 HEX\n"
	    "A progress line is drawn on stderr when it is a terminal.\n"
	    "\n"
	    "Exit status: 0 stored; 1 file unreadable, no daemon, or the daemon refused;\n"
	    "2 usage error or bad key.\n"
	    "\n"
	    "Examples:\n"
	    "  p2p store notes.txt ./notes.txt\n"
	    "  tar c photos | p2p store backups/photos.tar -\n",
	.exec = cmd_store_exec,
};

struct upload {
	struct client *c;
	const char *key;
	const char *file;      /* for messages: the path or "standard input" */
	int fd;
	char *id;              /* upload session id (escaped for paths) */
	uint32_t chunk_size;
	uint8_t *buf;
	uint64_t sent;         /* bytes of finished parts */
	uint64_t parts;
	struct hasher *sha;     /* end-to-end check, on its own thread */
	uint8_t *bufs[2];       /* double buffer: one hashed and sent while the next is read */
	struct progress prog;
	char token[33];         /* the file went through fd.sock under this token ("" no) */
	int fdsock;             /* its connection: progress lines */
};

/* Read up to n bytes; fewer only at end of file. -1 on error (errno set). */
static ssize_t
read_full(int fd, uint8_t *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);

		if (r == 0)
			break;
		if (r == -1) {
			if (errno == EINTR && !cmd_interrupted)
				continue;
			return -1;
		}
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static void
part_progress(void *arg, uint64_t done, uint64_t total)
{
	(void)total; /* of this part; the bar shows the whole file */
	struct upload *u = arg;

	progress_update(&u->prog, u->sent + done);
}

/* Check a reply's status; print the API error otherwise. */
static int
want_status(const struct client_reply *r)
{
	if (r->status >= 200 && r->status < 300)
		return 0;
	client_print_error(r);
	return -1;
}

static int
upload_begin(struct upload *u)
{
	struct client_req q = { .method = "POST", .path = "/v1/uploads" };
	struct client_reply r;
	const char *id;
	json_int_t cs;
	int rc = -1;

	if (client_do(u->c, &q, &r) != 0 || want_status(&r) == -1)
		goto out;
	id = json_string_value(json_object_get(r.json, "upload"));
	cs = json_integer_value(json_object_get(r.json, "chunk_size"));
	if (id == NULL || *id == '\0' || cs < CHUNK_SIZE_MIN || cs > CHUNK_SIZE_MAX) {
		cmd_err("POST /v1/uploads: unexpected reply from the daemon");
		goto out;
	}
	u->id = client_escape(u->c, id);
	u->chunk_size = (uint32_t)cs;
	rc = 0;
out:
	client_reply_free(&r);
	return rc;
}

static int
upload_part(struct upload *u, size_t n)
{
	struct client_req q = { .method = "PUT", .body = u->buf, .len = n,
		.progress = part_progress, .progress_arg = u };
	struct client_reply r;
	char *path;
	int rc;

	xasprintf(&path, "/v1/uploads/%s/%llu", u->id, (unsigned long long)u->parts);
	q.path = path;
	rc = client_do(u->c, &q, &r);
	if (rc == 0)
		rc = want_status(&r);
	else
		rc = -1;
	client_reply_free(&r);
	free(path);
	if (rc == 0) {
		u->parts++;
		u->sent += n;
		progress_update(&u->prog, u->sent);
	}
	return rc;
}

static void
upload_abort(struct upload *u)
{
	struct client_req q = { .method = "DELETE", .uninterruptible = 1, .quiet = 1 };
	struct client_reply r;
	char *path;

	xasprintf(&path, "/v1/uploads/%s", u->id);
	q.path = path;
	(void)client_do(u->c, &q, &r); /* best effort: the daemon drops idle sessions too */
	client_reply_free(&r);
	free(path);
}

/* The daemon reads the file itself: its progress lines come on fd.sock. */
static void
fd_progress(void *arg, uint64_t done, uint64_t total)
{
	struct upload *u = arg;
	uint64_t bytes = u->sent;

	(void)done;
	(void)total;
	fdpass_poll(u->fdsock, &bytes);
	u->sent = bytes;
	progress_update(&u->prog, bytes);
}

static int
upload_commit(struct upload *u, int json, int quiet)
{
	struct client_req q = { .method = "PUT", .body = NULL, .len = 0 };
	struct client_reply r;
	char *ekey, *path, local[HASH_HEX];
	uint8_t md[HASH_LEN];
	const char *sha;
	json_int_t chunks;
	int rc = -1;

	local[0] = '\0';
	ekey = client_escape(u->c, u->key);
	if (u->token[0] != '\0') {
		xasprintf(&path, "/v1/files/%s?fd=%s", ekey, u->token);
		q.progress = fd_progress;
		q.progress_arg = u;
	} else
		xasprintf(&path, "/v1/files/%s?upload=%s", ekey, u->id);
	q.path = path;
	if (client_do(u->c, &q, &r) != 0 || want_status(&r) == -1)
		goto out;
	if (u->token[0] != '\0') {
		u->sent = (uint64_t)json_integer_value(json_object_get(r.json, "size"));
		u->parts = (uint64_t)json_integer_value(json_object_get(r.json, "chunks"));
	}
	if (u->sha != NULL) {
		/* the file's hash here: computed while the daemon stored it */
		hasher_final(u->sha, md);
		hex_encode(md, HASH_LEN, local);
		if (hasher_error(u->sha) != 0) {
			cmd_err("read %s: %s", u->file, strerror(hasher_error(u->sha)));
			rc = 1; /* committed: no abort */
			goto out;
		}
	}
	sha = json_string_value(json_object_get(r.json, "sha256"));
	if (u->sha != NULL && (sha == NULL || strcasecmp(sha, local) != 0)) {
		cmd_err("the daemon stored %s with sha256 %s but %s has sha256 %s", u->key, sha,
		    u->file, local);
		rc = 1; /* committed, but not what we sent: no abort */
		goto out;
	}
	rc = 0;
	if (json) {
		json_dumpf(r.json, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	} else if (!quiet) {
		chunks = json_integer_value(json_object_get(r.json, "chunks"));
		if (json_object_get(r.json, "chunks") == NULL)
			chunks = (json_int_t)u->parts;
		printf("stored %s: %llu bytes, %lld chunks, sha256 %s\n", u->key,
		    (unsigned long long)u->sent, (long long)chunks, sha != NULL ? sha : local);
		{
			/* replication: where the copies went, and any warning */
			json_t *rep = json_object_get(r.json, "replicas"), *pl, *e;
			const char *w = json_string_value(json_object_get(r.json, "warning"));
			size_t i;

			if ((pl = json_object_get(r.json, "placed")) != NULL) {
				printf("copies: %lld (this node", (long long)json_integer_value(
				    json_object_get(rep, "have")));
				json_array_foreach(pl, i, e)
					printf(", %.8s: %lld chunks", json_string_value(
					    json_object_get(e, "node")), (long long)json_integer_value(
					    json_object_get(e, "chunks")));
				printf("); the rest replicates in the background\n");
			}
			if (w != NULL)
				fprintf(stderr, "p2p: warning: %s\n", w);
		}
	}
out:
	client_reply_free(&r);
	free(path);
	free(ekey);
	return rc;
}

static int
cmd_store_exec(int argc, char **argv)
{
	static const struct option opts[] = {
		CMD_OPT_QUIET, CMD_OPT_JSON, CMD_OPT_DB,
		{ "bootstrap", required_argument, NULL, 'B' },
		{ "join", required_argument, NULL, 'J' },
		{ "network-key", required_argument, NULL, 'K' },
		{ "verify", no_argument, NULL, 'V' },
		CMD_OPT_END,
	};
	const struct cmd_entry *e = &cmd_store_entry;
	struct tempnode tn;
	struct tempnode_opts to;
	struct cmd_common co;
	struct upload u;
	struct stat st;
	char *db = NULL;
	int ch, rc = EXIT_FAIL, started = 0, crc, verify = 0;

	memset(&tn, 0, sizeof tn);
	memset(&to, 0, sizeof to);
	cmd_common_init(&co);
	cmd_getopt_begin();
	while ((ch = getopt_long(argc, argv, ":q", opts, NULL)) != -1) {
		if (cmd_common_opt(&co, ch, optarg))
			continue;
		if (ch == 'V') {
			verify = 1;
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
	if (argc - optind < 2)
		return cmd_usage(e, "expected a key and a file");
	if (argc - optind > 2)
		return cmd_usage(e, "unexpected argument '%s'", argv[optind + 2]);
	if ((rc = cmd_check_key(argv[optind])) != 0)
		return rc;
	rc = EXIT_FAIL;

	memset(&u, 0, sizeof u);
	u.key = argv[optind];
	u.file = argv[optind + 1];
	u.fd = -1;
	u.fdsock = -1;
	if (strcmp(u.file, "-") == 0) {
		u.fd = STDIN_FILENO;
		u.file = "standard input";
	} else if ((u.fd = open(u.file, O_RDONLY | O_CLOEXEC)) == -1) {
		cmd_err("cannot open %s: %s", u.file, strerror(errno));
		return EXIT_FAIL;
	}
	if (fstat(u.fd, &st) == -1) {
		cmd_err("cannot stat %s: %s", u.file, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		cmd_err("cannot store %s: it is a directory", u.file);
		goto out;
	}
	if (to.bootstrap != NULL) {
		/* a short-lived client node joins the network for this store */
		to.store = 1;
		if (tempnode_start(&tn, &to) == -1)
			goto out;
		db = xstrdup(tn.db);
	} else if ((db = cmd_db_resolve(co.db)) == NULL)
		goto out;
	if (client_open(&u.c, db, 0) != 0)
		goto out;

	cmd_signals_begin();
	if (S_ISREG(st.st_mode) &&
	    fdpass_send(client_datadir(u.c), u.fd, u.token, &u.fdsock) == 0) {
		/* The daemon reads the file itself; if we go away (Ctrl-C), our fd.sock
		 * connection closes and that aborts the store. */
		if (verify)
			u.sha = hasher_new_file(u.fd);
		progress_begin(&u.prog, progress_wanted(co.quiet), (uint64_t)st.st_size);
		crc = upload_commit(&u, co.json, co.quiet);
		rc = crc == 0 ? EXIT_OK : EXIT_FAIL;
		goto out;
	}
	if (upload_begin(&u) == -1)
		goto out;
	started = 1;
	u.bufs[0] = xmalloc(u.chunk_size);
	u.bufs[1] = xmalloc(u.chunk_size);
	if (verify)
		u.sha = hasher_new();
	progress_begin(&u.prog, progress_wanted(co.quiet), S_ISREG(st.st_mode) ?
	    (uint64_t)st.st_size : 0);
	for (;;) {
		ssize_t n;

		u.buf = u.bufs[u.parts & 1];
		n = read_full(u.fd, u.buf, u.chunk_size);

		if (n == -1) {
			if (errno == EINTR)
				cmd_err("interrupted");
			else
				cmd_err("read %s: %s", u.file, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (u.sha != NULL)
			hasher_feed(u.sha, u.buf, (size_t)n);
		if (upload_part(&u, (size_t)n) == -1)
			goto out;
		if ((size_t)n < u.chunk_size)
			break;
	}
	progress_end(&u.prog);
	crc = upload_commit(&u, co.json, co.quiet);
	if (crc == 0 || crc == 1)
		started = 0; /* committed: nothing to abort */
	rc = crc == 0 ? EXIT_OK : EXIT_FAIL;
out:
	progress_end(&u.prog);
	if (started)
		upload_abort(&u);
	client_free(u.c);
	u.c = NULL;
	tempnode_stop(&tn);
	cmd_signals_end();
	hasher_free(u.sha); /* before closing u.fd: a file hasher reads it */
	u.sha = NULL;
	if (u.fdsock != -1)
		close(u.fdsock);
	if (u.fd > STDIN_FILENO)
		close(u.fd);
	free(u.bufs[0]);
	free(u.bufs[1]);
	free(u.id);
	client_free(u.c);
	free(db);
	return rc;
}
