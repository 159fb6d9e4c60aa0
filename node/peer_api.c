/* peer_api.c: the control API's peer endpoints (docs/API.md): GET /v1/peers,
 * POST /v1/peers/cleanup?older_than=SECONDS, GET /v1/invite. */
#include "node/api.h"
#include "node/daemon.h"
#include "node/net.h"
#include "lib/util.h"

#include <stdlib.h>

#include <event2/http.h>

json_t *net_peers_array(struct node *n); /* net.c */

void
net_api_peers(struct node *n, struct evhttp_request *req)
{
	api_json(req, 200, json_pack("{s:o,s:I,s:I}", "peers", net_peers_array(n),
	    "connected", (json_int_t)net_connected(n), "known", (json_int_t)net_known(n)));
}

void
net_api_cleanup(struct node *n, struct evhttp_request *req, const char *older_than)
{
	const char *errstr = NULL;
	long long secs = 24 * 3600;
	uint64_t removed = 0;
	char *cause = NULL;
	int64_t cutoff;

	if (older_than != NULL) {
		secs = parse_num(older_than, 0, 100LL * 365 * 86400, &errstr);
		if (errstr != NULL) {
			api_error(req, 400, "bad query parameter", "older_than=%s is %s (seconds)",
			    older_than, errstr);
			return;
		}
	}
	cutoff = wall_ms() - (int64_t)secs * 1000;
	if (net_cleanup(n, cutoff, &removed, &cause) == -1) {
		api_error(req, 500, "database error", "%s", cause ? cause : "?");
		free(cause);
		return;
	}
	api_json(req, 200, json_pack("{s:I,s:I}", "removed", (json_int_t)removed,
	    "older_than", (json_int_t)secs));
}

void
net_api_invite(struct node *n, struct evhttp_request *req)
{
	json_t *addrs = NULL;
	char *cause = NULL, *t;

	if ((t = net_ticket(n, &addrs, &cause)) == NULL) {
		json_decref(addrs);
		api_error(req, 503, "no network", "%s", cause ? cause : "?");
		free(cause);
		return;
	}
	api_json(req, 200, json_pack("{s:s,s:o}", "ticket", t, "addresses", addrs));
	free(t);
}
