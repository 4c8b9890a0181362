"""Workers' sums over TCP connections of their own.

With two workers the sum of a buffer is one exchange: each sends its buffer
whole and adds what comes back; with 4, 8, ... recursive halving and
doubling exchange halves with one partner after another. Over GLOO's point-to-point calls that took
0.5-0.8 ms for 1.4 MB on loopback at the median but 4-6 ms in one exchange
out of four to ten (measured on a 2-vCPU KVM machine, with and without
compute between the exchanges, pinned or not), while the same bytes over a
plain socket never took more than 0.9 ms. So workers open TCP
connections of their own (:class:`PairLink`): two workers one between them,
4, 8, ... one to each partner of the recursive halving (:func:`partners`),
found through the GLOO group they already share; GLOO stays for the group
itself and for worker counts that are not a power of two.

Same bits as the tree: in a pair both ranks compute ``b_low + b_high`` with
the lower rank's operand first (IEEE addition is commutative; the order keeps
NaN payloads equal too).
A peer that dies closes the connection: the next exchange raises
ConnectionError ("connection closed by peer"), and one that stops answering
raises TimeoutError after the group's timeout; either way before any update.
"""
import select
import socket
import struct
from typing import Dict, List, Tuple

import numpy

CHUNK = 1 << 18  # bytes a send or receive call handles at most


class PairLink:
    """A TCP connection between two ranks that exchanges and sums buffers.

    sock: the connected socket; rank, peer: this end's rank and the other's
    (the lower rank's operand comes first in a sum); timeout_s: how long an
    exchange may wait for the peer. Made by :func:`connect_links`."""

    def __init__(self, sock: socket.socket, rank: int, peer: int, timeout_s: float) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        self._sock = sock
        self.rank = rank
        self.peer = peer
        self.timeout_s = float(timeout_s)
        self._scratch = numpy.empty(0, dtype="uint8")

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def scratch(self, n: int, dtype: numpy.dtype) -> numpy.ndarray:
        """A buffer of `n` values of `dtype` kept for receiving (the same memory
        each call: a sum's incoming half or whole, valid until the next call)."""
        nbytes = n * numpy.dtype(dtype).itemsize
        if self._scratch.nbytes < nbytes:
            self._scratch = numpy.empty(nbytes, dtype="uint8")
        return self._scratch[:nbytes].view(dtype)

    def exchange(self, out: numpy.ndarray, into: numpy.ndarray) -> None:
        """Send the contiguous array `out` to the peer while receiving what
        it sends (exactly ``into.nbytes`` bytes) into the contiguous `into`."""
        if not (out.flags.c_contiguous and into.flags.c_contiguous):
            raise ValueError("PairLink.exchange needs contiguous arrays")
        self._exchange(memoryview(out.reshape(-1)).cast("B"), memoryview(into.reshape(-1)).cast("B"))

    def allreduce(self, buf: numpy.ndarray) -> None:
        """``buf = b_low + b_high`` in place on both ranks, the lower rank's
        operand first (a contiguous array of the same dtype and length on both)."""
        if not buf.flags.c_contiguous:
            raise ValueError("PairLink.allreduce needs a contiguous array")
        theirs = self.scratch(buf.size, buf.dtype)
        self._exchange(memoryview(buf.reshape(-1)).cast("B"),
                       memoryview(theirs).cast("B"))
        theirs = theirs.reshape(buf.shape)
        if self.rank < self.peer:
            numpy.add(buf, theirs, out=buf)
        else:
            numpy.add(theirs, buf, out=buf)

    def _exchange(self, out: memoryview, into: memoryview) -> None:
        """Send `out` whole while filling `into` with what the peer sends."""
        sock = self._sock
        sent = got = 0
        to_send, to_get = len(out), len(into)
        poller = select.poll()  # not select(): a worker may hold more than 1024 descriptors
        wait_ms = max(1, int(self.timeout_s * 1000))
        mask = -1
        trouble = select.POLLHUP | select.POLLERR | select.POLLNVAL
        while sent < to_send or got < to_get:
            want = (select.POLLIN if got < to_get else 0) | (select.POLLOUT if sent < to_send else 0)
            if want != mask:
                (poller.register if mask == -1 else poller.modify)(sock, want)
                mask = want
            events = poller.poll(wait_ms)
            if not events:
                raise TimeoutError(f"the other worker (rank {self.peer}) sent nothing for "
                                   f"{self.timeout_s:.0f} s ({got} of {to_get} bytes received)")
            flags = events[0][1]
            readable = got < to_get and flags & (select.POLLIN | trouble)
            writable = sent < to_send and flags & (select.POLLOUT | trouble)
            if not readable and not writable and flags & trouble:
                raise ConnectionError("connection closed by peer (the other worker is gone)")
            if writable:
                try:
                    sent += sock.send(out[sent:sent + CHUNK])
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as err:
                    raise ConnectionError(f"connection closed by peer while sending: {err}") \
                        from err
            if readable:
                try:
                    n = sock.recv_into(into[got:got + CHUNK])
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as err:
                    raise ConnectionError(f"connection closed by peer while receiving: {err}") \
                        from err
                if n == 0:
                    raise ConnectionError("connection closed by peer (the other worker is gone)")
                got += n


def partners(rank: int, workers: int) -> List[int]:
    """The ranks `rank` exchanges with in recursive halving: ``rank ^ 1``,
    ``rank ^ 2``, ``rank ^ 4``, ... (`workers` a power of two)."""
    out, d = [], 1
    while d < workers:
        out.append(rank ^ d)
        d *= 2
    return out


def connect_links(rank: int, workers: int, address: str, timeout_s: float) -> Dict[int, PairLink]:
    """Every rank of a power-of-two group calls this (inside the default
    torch.distributed group they share): one TCP connection to each of its
    :func:`partners`, as ``{partner: PairLink}``. Each rank listens on
    `address` (its node's IPv4 address, a free port); the addresses are
    gathered over the group; the higher rank of each pair connects and says
    who it is, the lower accepts."""
    import torch
    import torch.distributed as dist

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind((address, 0))
        listener.listen(len(partners(rank, workers)))
        listener.settimeout(timeout_s)
        mine = torch.tensor(list(split_address(address)) + [listener.getsockname()[1]],
                            dtype=torch.int64)
        every = [torch.zeros(5, dtype=torch.int64) for _ in range(workers)]
        dist.all_gather(every, mine)
        links: Dict[int, PairLink] = {}
        for peer in partners(rank, workers):
            if peer < rank:  # connect to the lower rank, and say who we are
                host = ".".join(str(int(p)) for p in every[peer][:4])
                sock = socket.create_connection((host, int(every[peer][4])), timeout=timeout_s)
                sock.sendall(struct.pack("<i", rank))
                links[peer] = PairLink(sock, rank, peer, timeout_s)
        while len(links) < len(partners(rank, workers)):
            sock, _ = listener.accept()
            sock.settimeout(timeout_s)
            peer = struct.unpack("<i", _receive_exactly(sock, 4))[0]
            if peer not in partners(rank, workers) or peer in links:
                sock.close()
                raise ConnectionError(f"rank {rank}: unexpected connection from rank {peer}")
            links[peer] = PairLink(sock, rank, peer, timeout_s)
        return links
    finally:
        listener.close()


def _receive_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed by peer while connecting")
        data += chunk
    return data


def split_address(address: str) -> Tuple[int, int, int, int]:
    """The four numbers of an IPv4 address."""
    parts = tuple(int(p) for p in address.split("."))
    if len(parts) != 4:
        raise ValueError(f"not an IPv4 address: {address!r}")
    return parts  # type: ignore[return-value]
