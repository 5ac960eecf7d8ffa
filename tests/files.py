"""Small real files for the attachment tests: a PNG (with a text chunk, so that a test can look for its
content wherever it might leak), a PDF, and files that only claim to be one."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(text: str = "", size: int = 8) -> bytes:
    """A valid grey `size` x `size` PNG; `text` (UTF-8, in an iTXt chunk) is in its bytes as it is."""
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes([128]) * size for _ in range(size))
    itxt = b"Comment\x00\x00\x00\x00\x00" + text.encode()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + (_chunk(b"iTXt", itxt) if text else b"")
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n%%EOF\n"


GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
    b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
# An HTML page named and labelled as a PNG: what a browser would run if it were served as sent.
HTML_AS_PNG = b"<!doctype html><script>alert(1)</script>"
