#!/usr/bin/python3
# shimai WAN test bed: a userspace per-packet relay between two interfaces, adding one-way
# delay and seeded random loss. This kernel has no netem (no loadable modules), so delay and
# loss are made here, on AF_PACKET sockets, and TCP between the two end namespaces meets real
# delay and real loss. Rate limiting is the kernel's (tc tbf on the interfaces this relay
# writes to: AF_PACKET sends go through the qdisc).
#
# Usage: relay.py IF1 IF2 ONE_WAY_DELAY_MS LOSS_PER_MILLE SEED
# Prints "ready" once both sockets are bound; runs until killed.
import heapq
import random
import select
import socket
import sys
import time

ETH_P_ALL = 3
PACKET_OUTGOING = 4


def main():
    if len(sys.argv) != 6:
        sys.exit("usage: relay.py IF1 IF2 ONE_WAY_DELAY_MS LOSS_PER_MILLE SEED")
    ifs = sys.argv[1:3]
    delay = float(sys.argv[3]) / 1000.0
    loss = int(sys.argv[4])
    rng = random.Random(int(sys.argv[5]))
    socks = []
    for name in ifs:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        s.bind((name, 0))
        s.setblocking(False)
        socks.append(s)
    queue = []  # (due, seq, out index, frame)
    seq = 0
    print("ready", flush=True)
    while True:
        now = time.monotonic()
        timeout = max(0.0, queue[0][0] - now) if queue else 1.0
        ready, _, _ = select.select(socks, [], [], timeout)
        for i, s in enumerate(socks):
            if s not in ready:
                continue
            while True:
                try:
                    frame, addr = s.recvfrom(65535)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue  # our own sends, seen on the way out
                if loss and rng.randrange(1000) < loss:
                    continue
                seq += 1
                heapq.heappush(queue, (time.monotonic() + delay, seq, 1 - i, frame))
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, out, frame = heapq.heappop(queue)
            try:
                socks[out].send(frame)
            except OSError:
                pass  # qdisc full (ENOBUFS): the rate limit drops it, as a router would


main()
