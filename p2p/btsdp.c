/* btsdp.c: our SDP record, the SDP search for a peer's RFCOMM channel, and inquiry;
 * see btsdp.h. libbluetooth (HAVE_BLUEZ) does the SDP encoding; without it, stubs. */
#include "p2p/btsdp.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_BLUEZ

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bluetooth/bluetooth.h>
#include <bluetooth/hci.h>
#include <bluetooth/hci_lib.h>
#include <bluetooth/sdp.h>
#include <bluetooth/sdp_lib.h>

struct btsdp {
	sdp_session_t *sess; /* bluetoothd drops our record when this closes */
	sdp_record_t *rec;
};

static const uint8_t our_uuid[16] = BTSDP_UUID_BYTES;

int
btsdp_built_in(void)
{
	return 1;
}

struct btsdp *
btsdp_register(const uint8_t local[6], int channel, const char *netid, char **why)
{
	uuid_t svc, root, l2cap, rfcomm;
	sdp_list_t *classes = NULL, *roots = NULL, *l2cap_l = NULL, *rfcomm_l = NULL;
	sdp_list_t *proto = NULL, *access = NULL;
	sdp_data_t *ch = NULL;
	uint8_t chan = (uint8_t)channel;
	bdaddr_t dev;
	struct btsdp *s;
	int ok = 0;

	s = xcalloc(1, sizeof *s);
	s->sess = sdp_connect(BDADDR_ANY, BDADDR_LOCAL, SDP_RETRY_IF_BUSY);
	if (s->sess == NULL) {
		set_cause(why, "no SDP: cannot reach bluetoothd's local SDP socket (%s): "
		    "bluetoothd is not running, or runs without --compat (-C)", strerror(errno));
		free(s);
		return NULL;
	}
	s->rec = sdp_record_alloc();
	sdp_uuid128_create(&svc, our_uuid);
	sdp_set_service_id(s->rec, svc);
	classes = sdp_list_append(NULL, &svc);
	sdp_set_service_classes(s->rec, classes);
	sdp_uuid16_create(&root, PUBLIC_BROWSE_GROUP);
	roots = sdp_list_append(NULL, &root);
	sdp_set_browse_groups(s->rec, roots);
	sdp_uuid16_create(&l2cap, L2CAP_UUID);
	l2cap_l = sdp_list_append(NULL, &l2cap);
	proto = sdp_list_append(NULL, l2cap_l);
	sdp_uuid16_create(&rfcomm, RFCOMM_UUID);
	ch = sdp_data_alloc(SDP_UINT8, &chan);
	rfcomm_l = sdp_list_append(NULL, &rfcomm);
	sdp_list_append(rfcomm_l, ch);
	sdp_list_append(proto, rfcomm_l);
	access = sdp_list_append(NULL, proto);
	if (s->rec != NULL && classes != NULL && roots != NULL && access != NULL &&
	    ch != NULL && sdp_set_access_protos(s->rec, access) == 0) {
		sdp_set_info_attr(s->rec, BTSDP_NAME, BTSDP_NAME, netid);
		memcpy(dev.b, local, sizeof dev.b);
		/* bound to our adapter: bluetoothd shows it to searches on that one only */
		if (sdp_device_record_register(s->sess, &dev, s->rec, 0) == 0)
			ok = 1;
		else
			set_cause(why, "no SDP: bluetoothd refused our record: %s",
			    strerror(errno));
	} else {
		set_cause(why, "no SDP: cannot build our record");
	}
	sdp_data_free(ch);
	sdp_list_free(rfcomm_l, NULL);
	sdp_list_free(l2cap_l, NULL);
	sdp_list_free(proto, NULL);
	sdp_list_free(access, NULL);
	sdp_list_free(roots, NULL);
	sdp_list_free(classes, NULL);
	if (!ok) {
		btsdp_free(s);
		return NULL;
	}
	return s;
}

void
btsdp_free(struct btsdp *s)
{
	if (s == NULL)
		return;
	if (s->sess != NULL)
		sdp_close(s->sess);
	if (s->rec != NULL)
		sdp_record_free(s->rec);
	free(s);
}

/* An SDP session with remote, paging it for at most BTSDP_CONNECT_MS. */
static sdp_session_t *
connect_remote(const uint8_t local[6], const uint8_t remote[6], char **cause)
{
	bdaddr_t src, dst;
	sdp_session_t *sess;
	struct pollfd pfd;
	socklen_t len = sizeof(int);
	int rc, err = 0;

	memcpy(src.b, local, sizeof src.b);
	memcpy(dst.b, remote, sizeof dst.b);
	if ((sess = sdp_connect(&src, &dst, SDP_NON_BLOCKING)) == NULL) {
		set_cause(cause, "SDP connect: %s", strerror(errno));
		return NULL;
	}
	memset(&pfd, 0, sizeof pfd);
	pfd.fd = sdp_get_socket(sess);
	pfd.events = POLLOUT;
	do
		rc = poll(&pfd, 1, BTSDP_CONNECT_MS);
	while (rc == -1 && errno == EINTR);
	if (rc == 0)
		err = ETIMEDOUT;
	else if (rc == -1)
		err = errno;
	else if (getsockopt(pfd.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		set_cause(cause, "SDP connect: %s", strerror(err));
		sdp_close(sess);
		return NULL;
	}
	return sess;
}

int
btsdp_find(const uint8_t local[6], const uint8_t remote[6], int *channel, char *desc,
    char **cause)
{
	sdp_session_t *sess;
	sdp_list_t *search, *attrs, *rsp = NULL, *r;
	uint32_t range = 0x0000ffff;
	uuid_t svc;
	int found = 0;

	desc[0] = '\0';
	if ((sess = connect_remote(local, remote, cause)) == NULL)
		return -1;
	sdp_uuid128_create(&svc, our_uuid);
	search = sdp_list_append(NULL, &svc);
	attrs = sdp_list_append(NULL, &range);
	if (search == NULL || attrs == NULL ||
	    sdp_service_search_attr_req(sess, search, SDP_ATTR_REQ_RANGE, attrs, &rsp) < 0) {
		set_cause(cause, "SDP search: %s", strerror(errno));
		found = -1;
	}
	for (r = rsp; r != NULL; r = r->next) {
		sdp_record_t *rec = r->data;
		sdp_list_t *protos = NULL, *p;
		int ch;

		if (found == 0 && sdp_get_access_protos(rec, &protos) == 0) {
			ch = sdp_get_proto_port(protos, RFCOMM_UUID);
			if (ch >= 1 && ch <= 30) {
				*channel = ch;
				found = 1;
				if (sdp_get_service_desc(rec, desc, BTSDP_DESC_MAX) != 0)
					desc[0] = '\0';
			}
			for (p = protos; p != NULL; p = p->next)
				sdp_list_free(p->data, NULL);
			sdp_list_free(protos, NULL);
		}
		sdp_record_free(rec);
	}
	sdp_list_free(rsp, NULL);
	sdp_list_free(search, NULL);
	sdp_list_free(attrs, NULL);
	sdp_close(sess);
	return found;
}

int
btsdp_inquiry(int dev_id, int secs, uint8_t (*out)[6], int max, char **cause)
{
	inquiry_info *ii = NULL;
	int n, len;

	if (secs < 1)
		secs = 1;
	if (secs > 30)
		secs = 30;
	len = (secs * 100 + 127) / 128; /* in units of 1.28 s */
	n = hci_inquiry(dev_id, len, max, NULL, &ii, IREQ_CACHE_FLUSH);
	if (n < 0) {
		set_cause(cause, "inquiry on hci%d: %s", dev_id, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n && i < max; i++)
		memcpy(out[i], ii[i].bdaddr.b, 6);
	bt_free(ii);
	return n < max ? n : max;
}

#else /* !HAVE_BLUEZ */

#define NOT_BUILT "no SDP: built without libbluetooth (pkg-config bluez)"

int
btsdp_built_in(void)
{
	return 0;
}

struct btsdp *
btsdp_register(const uint8_t local[6], int channel, const char *netid, char **why)
{
	set_cause(why, NOT_BUILT);
	return NULL;
}

void
btsdp_free(struct btsdp *s)
{
	(void)s;
}

int
btsdp_find(const uint8_t local[6], const uint8_t remote[6], int *channel, char *desc,
    char **cause)
{
	desc[0] = '\0';
	return set_cause(cause, NOT_BUILT);
}

int
btsdp_inquiry(int dev_id, int secs, uint8_t (*out)[6], int max, char **cause)
{
	return set_cause(cause, "inquiry: built without libbluetooth (pkg-config bluez)");
}

#endif /* HAVE_BLUEZ */
