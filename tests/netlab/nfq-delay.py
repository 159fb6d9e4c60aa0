#!/usr/bin/env python3
"""nfq-delay.py QUEUE DELAY_MS [JITTER_MS]: hold packets, then let them go.

netlab's stand-in for `tc netem delay` on kernels built without sch_netem. It binds
NFQUEUE number QUEUE in the current network namespace, and gives each queued packet
the verdict ACCEPT DELAY_MS (+/- a uniform JITTER_MS) after it arrived. netlab steers a
host's packets here with nft `queue num QUEUE bypass` rules on input and output of eth0.

Talks nfnetlink directly (struct layouts from linux/netfilter/nfnetlink_queue.h), so it
needs nothing beyond python3. Prints "nfq-delay: ready ..." once bound; stops on SIGTERM.
"""
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NFNL_SUBSYS_QUEUE = 3
MSG_PACKET, MSG_VERDICT, MSG_CONFIG = 0, 1, 2
CFG_CMD, CFG_PARAMS, CFG_QUEUE_MAXLEN, CFG_MASK, CFG_FLAGS = 1, 2, 3, 4, 5
CMD_BIND = 1
COPY_META = 1            # the packet id is all we need, not the payload
F_FAIL_OPEN = 1          # queue full: accept rather than drop
ATTR_PACKET_HDR, ATTR_VERDICT_HDR = 1, 2
NF_ACCEPT = 1
NLHDR = struct.Struct("=IHHII")   # len, type, flags, seq, portid (host order)


class Queue:
    def __init__(self, num):
        self.num = num
        self.seq = 0
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((0, 0))

    @staticmethod
    def attr(kind, data):
        raw = struct.pack("=HH", 4 + len(data), kind) + data
        return raw + bytes(-len(raw) % 4)

    def send(self, mtype, attrs, flags=NLM_F_REQUEST):
        self.seq += 1
        # nfgenmsg: family, version 0, resource id (queue number, big-endian)
        body = struct.pack("!BBH", socket.AF_UNSPEC, 0, self.num) + b"".join(attrs)
        hdr = NLHDR.pack(NLHDR.size + len(body), (NFNL_SUBSYS_QUEUE << 8) | mtype, flags, self.seq, 0)
        self.sock.send(hdr + body)

    def configure(self, attrs):
        self.send(MSG_CONFIG, attrs, NLM_F_REQUEST | NLM_F_ACK)
        reply = self.sock.recv(65536)
        _, mtype, _, _, _ = NLHDR.unpack_from(reply)
        if mtype == NLMSG_ERROR:
            (err,) = struct.unpack_from("=i", reply, NLHDR.size)
            if err:
                sys.exit("nfq-delay: queue %d: %s" % (self.num, os.strerror(-err)))

    def bind(self):
        self.configure([self.attr(CFG_CMD, struct.pack("!BxH", CMD_BIND, 0))])
        self.configure([
            self.attr(CFG_PARAMS, struct.pack("!IB", 0, COPY_META)),
            self.attr(CFG_QUEUE_MAXLEN, struct.pack("!I", 10000)),
            self.attr(CFG_MASK, struct.pack("!I", F_FAIL_OPEN)),
            self.attr(CFG_FLAGS, struct.pack("!I", F_FAIL_OPEN)),
        ])

    def accept(self, packet_id):
        self.send(MSG_VERDICT, [self.attr(ATTR_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, packet_id))])

    def packet_ids(self, data):
        """Yield the ids of the queued packets in one recv() worth of netlink messages."""
        off = 0
        while off + NLHDR.size <= len(data):
            length, mtype, _, _, _ = NLHDR.unpack_from(data, off)
            if length < NLHDR.size or off + length > len(data):
                return
            if mtype == (NFNL_SUBSYS_QUEUE << 8) | MSG_PACKET:
                a = off + NLHDR.size + 4            # attributes follow nfgenmsg
                while a + 4 <= off + length:
                    alen, kind = struct.unpack_from("=HH", data, a)
                    if alen < 4:
                        break
                    if kind & 0x3FFF == ATTR_PACKET_HDR:
                        yield struct.unpack_from("!I", data, a + 4)[0]
                        break
                    a += (alen + 3) & ~3
            off += (length + 3) & ~3


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.strip().splitlines()[0])
    num = int(sys.argv[1])
    delay = float(sys.argv[2]) / 1000
    jitter = float(sys.argv[3]) / 1000 if len(sys.argv) == 4 else 0.0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    q = Queue(num)
    q.bind()
    print("nfq-delay: ready: queue %d, delay %g ms, jitter %g ms, pid %d"
          % (num, delay * 1000, jitter * 1000, os.getpid()), flush=True)
    due = []        # heap of (release time, arrival order, packet id)
    order = 0
    while True:
        now = time.monotonic()
        while due and due[0][0] <= now:
            q.accept(heapq.heappop(due)[2])
        wait = max(0.0, due[0][0] - now) if due else None
        if not select.select([q.sock], [], [], wait)[0]:
            continue
        try:
            data = q.sock.recv(1 << 20)
        except OSError:     # ENOBUFS: the kernel lost messages (fail-open); go on
            continue
        arrived = time.monotonic()
        for pid in q.packet_ids(data):
            hold = delay + (random.uniform(-jitter, jitter) if jitter else 0.0)
            order += 1
            heapq.heappush(due, (arrived + max(0.0, hold), order, pid))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
