"""Small blocking and non-blocking echo clients for the conformance tests.
Every socket has a timeout; every loop is bounded by its data."""
import os
import selectors
import socket
import struct
import threading
import time

IO_TIMEOUT = 60.0


def connect(port, host="127.0.0.1", timeout=IO_TIMEOUT, buffers=None):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if buffers:
        # Small client buffers so the kernel cannot hide a server that never
        # pushes back: only the server's own buffers are left to fill.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffers)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffers)
    sock.settimeout(timeout)
    sock.connect((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def random_payload(size):
    """Random bytes that always include 0x00 and 0xFF when there is room."""
    data = bytearray(os.urandom(size))
    if size >= 2:
        data[0], data[-1] = 0x00, 0xFF
    return bytes(data)


def recv_exact(sock, size):
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(min(size - got, 1 << 20))
        if not chunk:
            raise ConnectionError(f"server closed after {got} of {size} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def echo(sock, payload):
    """Sends payload while reading the echo on this thread, so a payload
    larger than the kernel buffers cannot deadlock; returns what came back."""
    failure = []

    def send_all():
        try:
            sock.sendall(payload)
        except OSError as error:
            failure.append(error)

    sender = threading.Thread(target=send_all, daemon=True)
    sender.start()
    received = recv_exact(sock, len(payload))
    sender.join(IO_TIMEOUT)
    if failure:
        raise failure[0]
    return received


def read_until_eof(sock):
    chunks = []
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def reset(sock):
    """Closes with an RST instead of a FIN (SO_LINGER on, zero timeout)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class ManyClients:
    """Holds many non-blocking connections in one thread: each sends its own
    payload and checks that exactly that payload comes back."""

    def __init__(self, port, count, host="127.0.0.1"):
        self.port, self.count, self.host = port, count, host
        self.sockets = []

    def connect_all(self, deadline_s=IO_TIMEOUT * 2):
        deadline = time.monotonic() + deadline_s
        for _ in range(self.count):
            while True:
                try:
                    self.sockets.append(connect(self.port, self.host, timeout=10))
                    break
                except (ConnectionRefusedError, TimeoutError, socket.timeout):
                    # A full backlog may refuse or drop a SYN; retry within the deadline.
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        return self

    def echo_all(self, payloads, deadline_s=IO_TIMEOUT * 2):
        assert len(payloads) == len(self.sockets)
        selector = selectors.DefaultSelector()
        state = {}
        for sock, payload in zip(self.sockets, payloads):
            sock.setblocking(False)
            state[sock] = {"out": memoryview(payload), "in": bytearray(), "want": len(payload)}
            selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
        pending = len(self.sockets)
        deadline = time.monotonic() + deadline_s
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{pending} of {len(self.sockets)} clients still waiting for their echo")
            for key, events in selector.select(timeout=1.0):
                sock, st = key.fileobj, state[key.fileobj]
                if events & selectors.EVENT_WRITE and st["out"]:
                    sent = sock.send(st["out"])
                    st["out"] = st["out"][sent:]
                if events & selectors.EVENT_READ:
                    chunk = sock.recv(1 << 16)
                    if not chunk:
                        raise ConnectionError(f"server closed a client after {len(st['in'])} bytes")
                    st["in"] += chunk
                wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if st["out"] else 0)
                if len(st["in"]) >= st["want"]:
                    selector.unregister(sock)
                    pending -= 1
                elif wanted != key.events:
                    selector.modify(sock, wanted)
        selector.close()
        return [bytes(state[s]["in"]) for s in self.sockets]

    def close(self):
        for sock in self.sockets:
            sock.close()
        self.sockets = []
