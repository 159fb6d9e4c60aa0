/* rfcomm.h: the Bluetooth RFCOMM transport, behind the same vtable as TCP (transport.h).
 *
 * Addresses (what parse accepts and format prints):
 *   "bt:AA:BB:CC:DD:EE:FF/7"   a device address and an RFCOMM channel (1..30)
 *   "bt:AA:BB:CC:DD:EE:FF"     the same on RFCOMM_DEFAULT_CHANNEL (7)
 *   "bt:hci1/7", "bt:hci1"     the address of local adapter hci1 (looked up when parsed)
 * Listen addresses (TP_PASSIVE) may also be
 *   "bt:", "bt:/7"             every local adapter (BDADDR_ANY), default channel or 7
 *   ".../0"                    any free channel (the kernel picks; see tp_addr_local)
 * A listen address naming an adapter listens on that adapter only. Hex digits may be
 * either case; format prints upper case and always the channel.
 *
 * Only the kernel socket API is used (no libbluetooth symbols), so this file links
 * without -lbluetooth; building needs the libbluetooth-dev headers. On a host without
 * Bluetooth, rfcomm_available() says why in one line, and the daemon goes on with TCP. */
#ifndef P2P_RFCOMM_H
#define P2P_RFCOMM_H

#include <stdint.h>

#include "p2p/transport.h"

#define RFCOMM_DEFAULT_CHANNEL 7
#define RFCOMM_CHANNEL_MAX 30 /* RFCOMM server channels are 1..30 */
#define RFCOMM_BDADDR_LEN 6
#define RFCOMM_BDADDR_STRLEN 18 /* "AA:BB:CC:DD:EE:FF" + NUL */
#define RFCOMM_PREFIX "bt:"

extern const struct transport transport_rfcomm; /* .name = "rfcomm" */

/* Is RFCOMM usable here: AF_BLUETOOTH + RFCOMM sockets, and at least one adapter that
 * is up? 1 yes (*why untouched); 0 no, with *why set to one line saying why (no
 * Bluetooth in the kernel or blocked by a sandbox, no RFCOMM module, no adapter, every
 * adapter down), for the daemon to log before going on without Bluetooth. */
int rfcomm_available(char **why);

/* The local adapter a node uses: name is "hciN", an adapter address
 * "AA:BB:CC:DD:EE:FF", or NULL for the default (the lowest-numbered adapter that is
 * up). On success *out is the adapter's address (RFCOMM, channel 0), *dev_id its N and
 * 0 is returned; -1 with *why (one line: no Bluetooth, no such adapter, adapter down). */
int rfcomm_adapter_pick(const char *name, struct tp_addr *out, int *dev_id, char **why);

/* "AA:BB:CC:DD:EE:FF" (exactly 17 characters) -> bdaddr in kernel byte order, as
 * str2ba(3) does: out[0] = 0xFF ... out[5] = 0xAA. 0 ok, -1 malformed. */
int rfcomm_bdaddr_parse(const char *s, uint8_t out[RFCOMM_BDADDR_LEN]);
/* The reverse, upper case; out has RFCOMM_BDADDR_STRLEN bytes. */
void rfcomm_bdaddr_format(const uint8_t b[RFCOMM_BDADDR_LEN], char *out);

/* The channel / device address of an RFCOMM tp_addr (parsed, accepted or local);
 * -1 if a is not an RFCOMM address. */
int rfcomm_addr_channel(const struct tp_addr *a);
int rfcomm_addr_bdaddr(const struct tp_addr *a, uint8_t out[RFCOMM_BDADDR_LEN]);
/* Set the channel (0..30) of an RFCOMM tp_addr. 0 ok, -1 not RFCOMM or out of range. */
int rfcomm_addr_set_channel(struct tp_addr *a, int channel);

/* Call on every socket accept(2) returns on an RFCOMM listener: it applies the socket
 * options the transport sets on its own sockets (today a send buffer of RFCOMM_SNDBUF:
 * with the default one, a single write(2) of 16 KiB, one TLS record, blocks forever in
 * the kernel; see rfcomm.c). 0 ok, -1 with *cause. */
#define RFCOMM_SNDBUF (256 * 1024)
int rfcomm_setup_accepted(int fd, char **cause);

/* Like transport_rfcomm.connect_nonblocking, but the link starts from the local
 * adapter `local` (a parsed address; its channel is ignored). local NULL: the kernel
 * picks the adapter. fd or -1 with *cause. */
int rfcomm_connect_from(const struct tp_addr *remote, const struct tp_addr *local,
    char **cause);

#endif
