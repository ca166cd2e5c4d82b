"""A stand-in for one of Microsoft's samples in test_vs_sample.py: started
with a sample's command line (its port as -e:PORT or -e PORT among its other
options), it is one of

  ours EXE   our Winsock server EXE under Wine on that port (a sample that works);
  corrupt    an echo server that changes the first byte of everything it echoes;
  refuse     a listener that takes one connection (the readiness probe), then
             closes, so that every later connection is refused;
  serial     an echo server that serves one client at a time, as simples
             does: it accepts a connection and echoes it until it closes,
             while the later ones wait in the listen queue.

Each runs until SIGINT (how the measurement stops a sample)."""
import os
import socket
import sys
import threading
import time
from pathlib import Path

WINE_RUN = Path(__file__).resolve().parents[2] / "scripts" / "wine-run"


def port_of(args):
    """The port of a sample's command line: -e:PORT (iocpserver) or -e PORT (the others)."""
    for index, arg in enumerate(args):
        if arg.startswith("-e:"):
            return int(arg[3:])
        if arg == "-e":
            return int(args[index + 1])
    raise SystemExit(f"sample_standin: no -e in {args}")


def listener(port):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(128)
    return server


def echo_corrupted(connection):
    with connection:
        while data := connection.recv(4096):
            connection.sendall(bytes([data[0] ^ 0xFF]) + data[1:])


def corrupt(port):
    server = listener(port)
    while True:
        connection, _ = server.accept()
        threading.Thread(target=echo_corrupted, args=(connection,), daemon=True).start()


def serial(port):
    server = listener(port)
    while True:
        connection, _ = server.accept()
        with connection:
            try:
                while data := connection.recv(4096):
                    connection.sendall(data)
            except OSError:  # a client that gave up waiting may reset: on to the next
                pass


def refuse(port):
    server = listener(port)
    probe, _ = server.accept()
    server.close()
    probe.close()
    while True:
        time.sleep(1)


def main(mode, *rest):
    if mode == "ours":
        exe, *args = rest
        os.execv(str(WINE_RUN), [str(WINE_RUN), exe, "--port", str(port_of(args)), "--no-stdin-stop"])
    try:
        {"corrupt": corrupt, "refuse": refuse, "serial": serial}[mode](port_of(rest))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main(*sys.argv[1:])
