"""Byte-level mutations shared by the fuzz tests (the strategies that draw them live in each test)."""

from __future__ import annotations


def mutate(data: bytes, operations: list[tuple]) -> bytes:
    """Apply ``(kind, position, ...)`` operations: flip a bit, set a byte, write an integer, delete,
    duplicate or truncate. Positions wrap around the current length (negative ones count from the end)."""
    buf = bytearray(data)
    for op in operations:
        if not buf:
            break
        kind, pos = op[0], op[1] % len(buf)
        if kind == "flip":
            buf[pos] ^= 1 << op[2]
        elif kind == "byte":
            buf[pos] = op[2]
        elif kind == "int":
            value, width, order = op[2], op[3], op[4]
            buf[pos : pos + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, order)
        elif kind == "delete":
            del buf[pos : pos + op[2]]
        elif kind == "duplicate":
            buf[pos:pos] = buf[pos : pos + op[2]]
        elif kind == "truncate":
            del buf[pos:]
    return bytes(buf)
