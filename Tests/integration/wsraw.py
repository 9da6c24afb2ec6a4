"""A minimal raw WebSocket client (RFC 6455) for the tests that must send what a well-behaved library
never would: unmasked frames, invalid UTF-8, a frame claiming 2^63 bytes, fragments with a ping between
them, or a client that never reads."""

import base64
import os
import socket
import struct


class RawWebSocket:
    def __init__(self, port, path, rcvbuf=None, timeout=5):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during handshake")
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ")[1])

    def send_frame(self, opcode, payload=b"", fin=True, mask=True, claimed_length=None):
        first = (0x80 if fin else 0) | opcode
        length = len(payload) if claimed_length is None else claimed_length
        mask_bit = 0x80 if mask else 0
        if length < 126:
            header = struct.pack("!BB", first, mask_bit | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", first, mask_bit | 126, length)
        else:
            header = struct.pack("!BBQ", first, mask_bit | 127, length)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            header += key
        self.sock.sendall(header + payload)

    def send_text(self, text, **kw):
        self.send_frame(0x1, text.encode() if isinstance(text, str) else text, **kw)

    def _read(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def recv_frame(self):
        """Returns (opcode, payload). Raises ConnectionError when the TCP connection closes."""
        b1, b2 = self._read(2)
        length = b2 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8))
        assert not b2 & 0x80, "server frames must not be masked"
        return b1 & 0x0F, self._read(length)

    def recv_until_close(self):
        """Reads frames until a close frame; returns (texts, close_code, reason)."""
        texts = []
        while True:
            opcode, payload = self.recv_frame()
            if opcode == 0x1:
                texts.append(payload.decode())
            elif opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                return texts, code, payload[2:].decode(errors="replace")

    def close(self):
        self.sock.close()
