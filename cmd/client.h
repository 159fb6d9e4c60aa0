/* client.h: the CLI's side of the control API (docs/API.md): libcurl over the Unix
 * socket <datadir>/api.sock, one CURL handle per client so that requests reuse one
 * keep-alive connection. */
#ifndef P2P_CMD_CLIENT_H
#define P2P_CMD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct client;

/* client_open/client_do results besides 0 and -1. */
#define CLIENT_NODAEMON 1

/* client_open flags */
#define CLIENT_QUIET_NODAEMON 0x1 /* do not print the "no daemon" line (files list) */

/* Prepare a client for the node whose database is db_path. 0 ok; CLIENT_NODAEMON when the
 * socket does not exist (after printing "no p2p daemon is running for DIR ..." unless
 * CLIENT_QUIET_NODAEMON); -1 on other errors (printed). */
int client_open(struct client **out, const char *db_path, int flags);
void client_free(struct client *c); /* NULL ok */

struct client_req {
	const char *method;      /* "GET", "HEAD", "POST", "PUT", "DELETE" */
	const char *path;        /* "/v1/...", segments already percent-encoded */
	const void *body;        /* POST/PUT body (NULL with len 0 for an empty body) */
	size_t len;
	/* Where a 2xx body goes; NULL to collect it (bounded) and parse it as JSON into
	 * reply->json. Returns 0 to go on, -1 to abort (after printing why). */
	int (*sink)(void *arg, const void *p, size_t n);
	void *sink_arg;
	/* Called now and then with the body bytes sent (PUT/POST) or received so far, and
	 * the expected total (0 if unknown). */
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
	int uninterruptible;     /* ignore cmd_interrupted (cleanup requests) */
	int quiet;               /* print nothing on transport errors (best-effort cleanup) */
};

struct client_reply {
	long status;             /* HTTP status */
	json_t *json;            /* parsed body (collected bodies and error replies), or NULL */
	int64_t content_length;  /* -1 if none */
	uint64_t received;       /* body bytes given to the sink */
	char sha256[65];         /* X-P2P-SHA256, "" if absent */
	char version[17];        /* X-P2P-Version, "" if absent */
};

/* Send one request. 0: a reply arrived (any status: check r->status); CLIENT_NODAEMON:
 * the daemon refused the connection (line printed unless CLIENT_QUIET_NODAEMON); -1:
 * transport failure, interruption or sink failure (printed). Free r with
 * client_reply_free() in every case. */
int client_do(struct client *c, const struct client_req *q, struct client_reply *r);
void client_reply_free(struct client_reply *r);

/* Print "p2p: <error>: <detail>" for a non-2xx reply. Returns EXIT_FAIL. */
int client_print_error(const struct client_reply *r);

/* One request whose 200 reply is a JSON object, the daemon's usual answer: open a
 * client for db_path (flags as client_open), send METHOD PATH without a body, and check
 * the reply: status 200 (else the error is printed) and, when field is not NULL, a
 * member `field` of JSON type `type`. 0: *out is the whole reply object (json_decref
 * it); CLIENT_NODAEMON (see client_open); -1: an error, printed. */
int client_call_json(const char *db_path, int flags, const char *method, const char *path,
    const char *field, json_type type, json_t **out);

/* Percent-encode one path segment or query value (every byte but A-Za-z0-9-._~).
 * Free with free(). */
char *client_escape(struct client *c, const char *s);

/* The data directory / socket this client talks to. */
const char *client_datadir(const struct client *c);

#endif
