/* btsdp.h: Bluetooth service discovery for the RFCOMM transport (rfcomm.h): our SDP
 * record, the search for a peer's RFCOMM channel, and an inquiry scan.
 *
 * Built on libbluetooth's sdp_* and hci_inquiry() when pkg-config finds `bluez`
 * (HAVE_BLUEZ); without it every function says "not built in" and the daemon uses fixed
 * channels. Registering a record needs bluetoothd's local SDP socket (bluetoothd run
 * with --compat, -C); searching a peer needs the peer's bluetoothd (its SDP server on
 * L2CAP PSM 1). Every call here may block for seconds (paging a device, an inquiry):
 * the daemon runs them on a thread of their own, never on its loop.
 *
 * The record (docs/PROTOCOL.md, "Bluetooth"): service class and service ID
 * BTSDP_UUID, protocol list L2CAP + RFCOMM(channel), public browse group, service name
 * "p2p", provider "p2p", description = the 16-hex network identifier. */
#ifndef P2P_BTSDP_H
#define P2P_BTSDP_H

#include <stdint.h>

#define BTSDP_UUID "3a9d6f0e-52c4-4b8e-9f1a-7c2e5d84b613"
#define BTSDP_UUID_BYTES { 0x3a, 0x9d, 0x6f, 0x0e, 0x52, 0xc4, 0x4b, 0x8e, \
	0x9f, 0x1a, 0x7c, 0x2e, 0x5d, 0x84, 0xb6, 0x13 }
#define BTSDP_NAME "p2p"
#define BTSDP_DESC_MAX 64          /* the description we read back (network id: 16) */
#define BTSDP_CONNECT_MS 5000      /* paging a peer's SDP server */
#define BTSDP_INQUIRY_MAX 16       /* devices one inquiry reports at most */

struct btsdp;

/* 1 if built with libbluetooth. */
int btsdp_built_in(void);

/* Register our record for adapter `local` (kernel byte order) with the local
 * bluetoothd; it stays registered until btsdp_free. NULL with *why when SDP is not
 * available here (bluetoothd not running, or without --compat; not built in). */
struct btsdp *btsdp_register(const uint8_t local[6], int channel, const char *netid,
    char **why);
void btsdp_free(struct btsdp *s); /* NULL ok */

/* Ask remote's SDP server, from adapter local, for a record with our UUID. 1 found:
 * *channel (1..30) and desc (the record's description, "" if none; BTSDP_DESC_MAX
 * bytes); 0 the device has no such record; -1 with *cause (unreachable, no SDP server,
 * not built in). */
int btsdp_find(const uint8_t local[6], const uint8_t remote[6], int *channel, char *desc,
    char **cause);

/* Inquiry from adapter hci<dev_id> for about secs seconds (1..30): the addresses heard
 * (kernel byte order) go to out. Count (>= 0) or -1 with *cause. */
int btsdp_inquiry(int dev_id, int secs, uint8_t (*out)[6], int max, char **cause);

#endif
