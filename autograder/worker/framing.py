"""Messages on a socket: a length header, then the data-only encoding of :mod:`wire`."""

from __future__ import annotations

import socket
import struct
from typing import Any

from autograder.worker import wire

HEADER = struct.Struct("!Q")


def send(sock: socket.socket, message: Any) -> None:
    data = wire.dumps(message)
    sock.sendall(HEADER.pack(len(data)) + data)


def recv(sock: socket.socket) -> Any:
    (size,) = HEADER.unpack(_recv_exactly(sock, HEADER.size))
    if size > wire.MAX_MESSAGE_BYTES:
        raise wire.WireError("message over the size limit")
    return wire.loads(_recv_exactly(sock, size))


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError("peer closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
