"""Small blocking and non-blocking echo clients for the conformance tests.
Every socket has a timeout; every loop is bounded by its data."""
import os
from pathlib import Path
import selectors
import socket
import struct
import threading
import time

IO_TIMEOUT = 60.0
PROC_NET_TCP = Path("/proc/net/tcp")


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


def tcp_queues(proc_net_tcp=PROC_NET_TCP):
    """{(local port, remote port): (send queue, receive queue)} of every IPv4
    TCP socket of this machine, in bytes, from Linux's /proc/net/tcp (the
    send queue: written, not yet acknowledged; the receive queue: arrived,
    not yet read); None where there is no such file (Windows)."""
    try:
        lines = proc_net_tcp.read_text().splitlines()[1:]
    except FileNotFoundError:
        return None
    queues = {}
    for line in lines:
        fields = line.split()
        local, remote = (int(address.rsplit(":", 1)[1], 16) for address in fields[1:3])
        queues[(local, remote)] = tuple(int(size, 16) for size in fields[4].split(":"))
    return queues


def bytes_in_kernels(sock, queues):
    """What the two ends of a loopback connection hold in their kernels'
    queues (both ends' send and receive queues), from tcp_queues()."""
    here, there = sock.getsockname()[1], sock.getpeername()[1]
    return sum(queues[(here, there)]) + sum(queues[(there, here)])


def write_until_stalled(sock, payload, quiet_s, deadline_s=IO_TIMEOUT, chunk=64 * 1024):
    """Writes payload without reading until the socket has taken nothing for
    quiet_s: TCP flow control holds the writer, the server having stopped
    reading. Returns the bytes written: exactly what send() took, so the
    caller knows where the stream stands; len(payload) if the server took
    it all. Bounded by the payload and deadline_s (an AssertionError then)."""
    view, written, quiet_since = memoryview(payload), 0, None
    deadline = time.monotonic() + deadline_s
    sock.setblocking(False)
    try:
        while written < len(view):
            if time.monotonic() > deadline:
                raise AssertionError(f"neither stalled nor done writing after {deadline_s:g} s: {written} bytes")
            try:
                written += sock.send(view[written:written + chunk])
                quiet_since = None
            except BlockingIOError:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= quiet_s:
                    break
                time.sleep(0.02)
    finally:
        sock.settimeout(IO_TIMEOUT)
    return written


def held_by_server(sock, written, deadline_s=10.0, interval_s=0.1):
    """What the server holds itself (in its own buffers) of the `written`
    bytes sent on sock, a loopback connection whose client has read
    nothing: written less what the kernels' four queues hold. Read once two
    readings interval_s apart agree, nothing being in flight between the
    queues and the server; None where the queues cannot be read (not Linux).
    Raises AssertionError if they never settle within deadline_s."""
    deadline = time.monotonic() + deadline_s
    previous = None
    while time.monotonic() < deadline:
        queues = tcp_queues()
        if queues is None:
            return None
        in_kernels = bytes_in_kernels(sock, queues)
        if in_kernels == previous:
            return written - in_kernels
        previous = in_kernels
        time.sleep(interval_s)
    raise AssertionError(f"the connection's kernel queues kept changing for {deadline_s:g} s (last: {previous})")


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


def echo(sock, payload, unechoed=0):
    """Sends payload while reading the echo on this thread, so a payload
    larger than the kernel buffers cannot deadlock; returns what came back:
    the echo of the `unechoed` bytes sent before on sock and not read yet,
    then payload's."""
    failure = []

    def send_all():
        try:
            sock.sendall(payload)
        except OSError as error:
            failure.append(error)

    sender = threading.Thread(target=send_all, daemon=True)
    sender.start()
    received = recv_exact(sock, unechoed + len(payload))
    sender.join(IO_TIMEOUT)
    if failure:
        raise failure[0]
    return received


def echo_once_admitted(port, message, deadline_s, retry_s=0.2):
    """The echo of message from the first new client the server serves: one
    it refuses (closed at once, --max-connections) is retried every retry_s
    until deadline_s, then the refusal is raised. What the served client got
    back is returned, right or wrong, for the caller to check."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with connect(port) as sock:
                return echo(sock, message)
        except OSError as refused:  # refused: a reset or an end of stream (ConnectionError)
            if time.monotonic() > deadline:
                raise AssertionError(f"no new client was served within {deadline_s:g} s: {refused!r}") from None
        time.sleep(retry_s)


def read_until_eof(sock, limit):
    """What comes until the end of stream; a server that sends more than
    limit bytes is cut off there (just past it, so the caller sees too much)."""
    chunks, got = [], 0
    while got <= limit:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def echo_then_half_close(port, payload):
    """Sends payload (from a thread, so a large one cannot deadlock against the
    echo), shuts down the sending side, and returns everything the server sent
    back until its end of stream. A reset instead of a FIN raises here; a
    server that closed early (a refusal) makes the sending fail, which then
    shows as a short echo."""
    sock = connect(port)

    def send_then_shut():
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server ended the connection: what came back says how

    sender = threading.Thread(target=send_then_shut, daemon=True)
    sender.start()
    try:
        return read_until_eof(sock, limit=len(payload))
    finally:
        sender.join(IO_TIMEOUT)
        sock.close()


def end_of(sock):
    """What a readable non-blocking connection had: "fin", "reset", "bytes",
    or None (nothing after all)."""
    try:
        return "bytes" if sock.recv(1 << 16) else "fin"
    except ConnectionResetError:
        return "reset"
    except BlockingIOError:
        return None


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

    def wait_until_all_ended(self, deadline_s):
        """After the server stopped: waits until every connection has seen its
        end (a FIN or a reset); returns how they ended, {"fin": n, "reset": m,
        "open": k (still open at the deadline)}, plus "bytes": j when j reads
        found something first (idle connections, all echoed, should not)."""
        selector = selectors.DefaultSelector()
        for sock in self.sockets:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        ends = {"fin": 0, "reset": 0, "open": len(self.sockets)}
        deadline = time.monotonic() + deadline_s
        while ends["open"] and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                how = end_of(key.fileobj)
                if how == "bytes":
                    ends["bytes"] = ends.get("bytes", 0) + 1
                elif how:
                    selector.unregister(key.fileobj)
                    ends[how] += 1
                    ends["open"] -= 1
        selector.close()
        return ends

    def close(self):
        for sock in self.sockets:
            sock.close()
        self.sockets = []


class StreamingClients:
    """Many connections in one thread, each streaming its own repeating
    message for as long as the server echoes: the load a stop must cut.
    Every byte that comes back is checked against the stream sent. A
    connection keeps at most `window` bytes unechoed, like a pipelined
    client, so the clients' memory stays bounded."""

    def __init__(self, port, count, size, window=8, host="127.0.0.1"):
        self.selector = selectors.DefaultSelector()
        self.streams = []
        for _ in range(count):
            sock = connect(port, host, timeout=10)
            sock.setblocking(False)
            stream = {"sock": sock, "message": random_payload(size), "sent": 0, "echoed": 0, "end": None}
            self.streams.append(stream)
            self.selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, stream)
        self.window = window * size
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.failure = None

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        try:
            while not self._stop.is_set() and any(s["end"] is None for s in self.streams):
                for key, events in self.selector.select(timeout=0.2):
                    self._serve(key.data, events)
        except Exception as error:  # reported by the test, not lost in a thread
            self.failure = error

    def _serve(self, stream, events):
        sock, message = stream["sock"], stream["message"]
        try:
            if events & selectors.EVENT_READ:
                data = sock.recv(1 << 16)
                if not data:
                    return self._ended(stream, "fin")
                self._check(stream, data)
            if events & selectors.EVENT_WRITE and stream["sent"] - stream["echoed"] < self.window:
                offset = stream["sent"] % len(message)
                stream["sent"] += sock.send(message[offset:])
        except ConnectionResetError:
            self._ended(stream, "reset")
        except BlockingIOError:
            pass
        except OSError as error:  # e.g. EPIPE after the server's FIN
            self._ended(stream, type(error).__name__)

    def _check(self, stream, data):
        message, size = stream["message"], len(stream["message"])
        got = 0
        while got < len(data):
            offset = (stream["echoed"] + got) % size
            piece = data[got:got + size - offset]
            if piece != message[offset:offset + len(piece)]:
                raise AssertionError(f"wrong echo at byte {stream['echoed'] + got} of a stream")
            got += len(piece)
        stream["echoed"] += len(data)

    def _ended(self, stream, how):
        stream["end"] = how
        self.selector.unregister(stream["sock"])

    def wait_until_each_echoed(self, at_least, deadline_s=IO_TIMEOUT):
        deadline = time.monotonic() + deadline_s
        while min(s["echoed"] for s in self.streams) < at_least:
            if self.failure or time.monotonic() > deadline or not self._thread.is_alive():
                raise AssertionError(f"streams did not get going: {self.failure or self.summary()}")
            time.sleep(0.05)

    def wait_until_all_ended(self, deadline_s):
        self._thread.join(deadline_s)
        return not self._thread.is_alive()

    def summary(self):
        ends = {}
        for s in self.streams:
            ends[s["end"]] = ends.get(s["end"], 0) + 1
        return ends

    def echoed_total(self):
        return sum(s["echoed"] for s in self.streams)

    def close(self):
        self._stop.set()
        self._thread.join(5)
        for s in self.streams:
            s["sock"].close()
        self.selector.close()
