/* peer_bt.c: Bluetooth discovery for the peer network (see net.h, "Bluetooth"): SDP
 * searches for a peer's RFCOMM channel and inquiry scans (p2p/btsdp.h). Both block for
 * seconds (paging, inquiry), so they run on a one-thread pool of their own ("p2p-bt");
 * the results come back on the loop. One job at a time: a caller that finds the pool
 * busy tries again at its next tick. */
#include "node/net.h"
#include "node/work.h"
#include "lib/log.h"
#include "lib/util.h"
#include "p2p/btsdp.h"
#include "p2p/rfcomm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BT_LOOKUP, BT_SCAN };

struct netbt {
	struct pool *pool;
	int dev_id;
	uint8_t local[RFCOMM_BDADDR_LEN];
	char netid[32];
	int busy;      /* a job is queued or running */
	int stopping;  /* netbt_free: done() callbacks only free their job */
};

struct btjob {
	struct job j;
	struct netbt *b;
	int kind;
	void *arg;
	/* lookup */
	uint8_t remote[RFCOMM_BDADDR_LEN];
	int channel;
	char why[256];
	void (*lookup_done)(void *arg, int channel, const char *why);
	/* scan */
	uint8_t (*skip)[RFCOMM_BDADDR_LEN];
	size_t nskip;
	int heard;
	int nfound;
	char found[BTSDP_INQUIRY_MAX][NET_ADDR_LEN];
	int nother;    /* devices offering our service for another network */
	void (*found_cb)(void *arg, const char *addr);
};

static void
cause_copy(char *dst, size_t len, char *cause)
{
	snprintf(dst, len, "%s", cause != NULL ? cause : "failed");
	free(cause);
}

static void
lookup_run(struct btjob *bj)
{
	char desc[BTSDP_DESC_MAX], *cause = NULL;
	int rc;

	rc = btsdp_find(bj->b->local, bj->remote, &bj->channel, desc, &cause);
	if (rc == 1)
		return;
	bj->channel = 0;
	if (rc == 0)
		snprintf(bj->why, sizeof bj->why, "no p2p service in its SDP records");
	else
		cause_copy(bj->why, sizeof bj->why, cause);
}

static void
scan_run(struct btjob *bj)
{
	uint8_t heard[BTSDP_INQUIRY_MAX][RFCOMM_BDADDR_LEN];
	char *cause = NULL, desc[BTSDP_DESC_MAX], a[RFCOMM_BDADDR_STRLEN];
	int n, i, ch;
	size_t k;

	n = btsdp_inquiry(bj->b->dev_id, NET_BT_SCAN_S, heard, BTSDP_INQUIRY_MAX, &cause);
	if (n < 0) {
		cause_copy(bj->why, sizeof bj->why, cause);
		return;
	}
	bj->heard = n;
	for (i = 0; i < n; i++) {
		for (k = 0; k < bj->nskip; k++)
			if (memcmp(bj->skip[k], heard[i], RFCOMM_BDADDR_LEN) == 0)
				break;
		if (k < bj->nskip)
			continue; /* connected already */
		if (btsdp_find(bj->b->local, heard[i], &ch, desc, &cause) != 1) {
			free(cause);
			cause = NULL;
			continue;
		}
		if (strcmp(desc, bj->b->netid) != 0) {
			bj->nother++;
			continue;
		}
		rfcomm_bdaddr_format(heard[i], a);
		snprintf(bj->found[bj->nfound++], NET_ADDR_LEN, "%s%s/%d", RFCOMM_PREFIX, a, ch);
	}
}

static void
job_run(struct job *j, void *ctx)
{
	struct btjob *bj = (struct btjob *)j;

	(void)ctx;
	if (bj->kind == BT_LOOKUP)
		lookup_run(bj);
	else
		scan_run(bj);
}

static void
job_done(struct job *j)
{
	struct btjob *bj = (struct btjob *)j;
	struct netbt *b = bj->b;

	b->busy = 0;
	if (!b->stopping) {
		if (bj->kind == BT_LOOKUP) {
			bj->lookup_done(bj->arg, bj->channel, bj->why);
		} else if (bj->why[0] != '\0') {
			log_info("bluetooth scan: %s", bj->why);
		} else {
			log_debug("bluetooth scan: %d device(s) heard, %d offer this network, %d "
			    "another one", bj->heard, bj->nfound, bj->nother);
			for (int i = 0; i < bj->nfound; i++)
				bj->found_cb(bj->arg, bj->found[i]);
		}
	}
	free(bj->skip);
	free(bj);
}

struct netbt *
netbt_new(struct event_base *base, int dev_id, const uint8_t local[6], const char *netid,
    char **cause)
{
	static const struct pool_ops ops; /* no context, no idle work */
	struct netbt *b;

	b = xcalloc(1, sizeof *b);
	b->dev_id = dev_id;
	memcpy(b->local, local, RFCOMM_BDADDR_LEN);
	snprintf(b->netid, sizeof b->netid, "%s", netid);
	if ((b->pool = pool_new(base, "p2p-bt", 1, 0, &ops, cause)) == NULL) {
		free(b);
		return NULL;
	}
	return b;
}

static struct btjob *
job_new(struct netbt *b, int kind, void *arg)
{
	struct btjob *bj = xcalloc(1, sizeof *bj);

	bj->j.run = job_run;
	bj->j.done = job_done;
	bj->b = b;
	bj->kind = kind;
	bj->arg = arg;
	return bj;
}

int
netbt_lookup(struct netbt *b, const uint8_t remote[6],
    void (*done)(void *arg, int channel, const char *why), void *arg)
{
	struct btjob *bj;

	if (b == NULL || b->busy || b->stopping)
		return -1;
	bj = job_new(b, BT_LOOKUP, arg);
	memcpy(bj->remote, remote, RFCOMM_BDADDR_LEN);
	bj->lookup_done = done;
	b->busy = 1;
	pool_submit(b->pool, &bj->j);
	return 0;
}

int
netbt_scan(struct netbt *b, const uint8_t (*skip)[6], size_t nskip,
    void (*found)(void *arg, const char *addr), void *arg)
{
	struct btjob *bj;

	if (b == NULL || b->busy || b->stopping)
		return -1;
	bj = job_new(b, BT_SCAN, arg);
	if (nskip > 0) {
		bj->skip = xcalloc(nskip, sizeof *bj->skip);
		memcpy(bj->skip, skip, nskip * sizeof *bj->skip);
		bj->nskip = nskip;
	}
	bj->found_cb = found;
	b->busy = 1;
	pool_submit(b->pool, &bj->j);
	return 0;
}

int
netbt_busy(const struct netbt *b)
{
	return b != NULL && b->busy;
}

void
netbt_free(struct netbt *b)
{
	if (b == NULL)
		return;
	b->stopping = 1;
	pool_free(b->pool); /* waits for a search or scan under way (seconds at most) */
	free(b);
}
