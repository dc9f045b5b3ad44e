"""Byte-level mutations shared by the fuzz tests, and the hypothesis strategy that draws them."""

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


def operation_strategy(position, extremes):
    """A hypothesis strategy of one :func:`mutate` operation at ``position`` (a strategy of ints), writing
    integers drawn from ``extremes`` where it writes one."""
    from hypothesis import strategies as st

    return st.one_of(
        st.tuples(st.just("flip"), position, st.integers(0, 7)),
        st.tuples(st.just("byte"), position, st.integers(0, 255)),
        st.tuples(st.just("int"), position, st.sampled_from(extremes), st.sampled_from([2, 4]),
                  st.sampled_from(["big", "little"])),
        st.tuples(st.just("delete"), position, st.integers(1, 64)),
        st.tuples(st.just("duplicate"), position, st.integers(1, 64)),
        st.tuples(st.just("truncate"), position),
    )
