#!/usr/bin/env python3
"""Writes the seed corpora of the fuzzers (tests/fuzz/corpus/{parser,recover}/).

The seeds are small and readable on purpose: the fuzzers find the rest. Run from anywhere:
    tests/fuzz/make_corpus.py
The input formats are described at the top of parser_fuzz.cc and recover_fuzz.cc.
"""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# --- parser_fuzz: two control bytes (split seed, shape) and the stream a client sends. -----------

TINY = 0x10  # shape bit: tiny limits (max_line 48, max_value 64, max_key 12)

PARSER_STREAMS = [
    # (seed, shape, stream)
    (0, 0, b"get foo\r\n"),
    (7, 3, b"set foo 0 0 3\r\nbar\r\nget foo\r\n"),
    (9, 2, b"set a 1 2 5 noreply\r\nhello\r\nadd b 0 0 1\r\nx\r\nreplace a 0 0 0\r\n\r\n"),
    (3, 4, b"append k 0 0 2\r\nab\r\nprepend k 0 0 2\r\ncd\r\ngets k\r\n"),
    (5, 5, b"cas k 0 0 1 12345\r\nz\r\ncas k 0 0 1 1 noreply\r\ny\r\n"),
    (11, 1, b"incr n 1\r\ndecr n 18446744073709551615\r\nincr n 1 noreply\r\n"),
    (13, 6, b"delete k\r\ndelete k 0\r\ndelete k noreply\r\ndelete k 0 noreply\r\ndelete k 1\r\n"),
    (17, 3, b"touch k 10\r\ngat 100 a b c\r\ngats -1 a\r\ngat\r\ngat x a\r\n"),
    (19, 2, b"flush_all\r\nflush_all 10\r\nflush_all noreply\r\nflush_all 0 noreply\r\n"),
    (23, 4, b"version\r\nverbosity 1\r\nverbosity 1 noreply\r\nstats\r\nstats items\r\n"),
    (29, 2, b"stats slabs\r\nstats reset\r\nstats   settings  \r\nquit\r\nget after_quit\r\n"),
    (31, 8, b"get " + b" ".join(b"key%d" % i for i in range(400)) + b"\r\n"),
    (37, 9, b"gets " + b" ".join(b"k%04d" % i for i in range(500)) + b"\r\nversion\r\n"),
    (41, 3, b"get a " + b"x" * 251 + b" b\r\nversion\r\n"),
    (43, 2, b"set " + b"k" * 251 + b" 0 0 1\r\nx\r\n"),
    (47, 4, b"set big 0 0 2000000\r\n" + b"v" * 64 + b"\r\nget big\r\n"),
    (53, 5, b"set k 0 0 3\r\nabcde\r\nget k\r\n"),
    (59, 2, b"set k abc 0 1\r\nx\r\nset k 0 0 -1\r\nset k 0 0 4294967297\r\nx\r\n"),
    (61, 3, b"set k +5 \t0 1\r\nx\r\nset k 0 0 1 extra\r\nx\r\n"),
    (67, 2, b"foo\r\n\r\nGET x\r\n" + b"a" * 3000 + b"\r\nversion\r\n"),
    (71, 1, b"get a\x00b c\r\nget d\r\n"),
    (73, 6, b"get a\nget b\rget c\r\n\nset k 0 0 1\nx\r\n"),
    (79, 2, b"incr k abc\r\nincr k -1\r\nincr\r\ntouch k abc\r\ntouch k\r\nverbosity x\r\n"),
    (83, 3, b"set k 0 0 5\r\nab\r\nx\r\nget k\r\n"),
    (89, 4, b"set k 0 0 1\r\n"),  # data never arrives
    (97, 2, b"get " + b"k" * 4000),  # a long get line, still open
    (101, 5, b"version " + b"v" * 3000 + b"\r\n"),
    (103, 0, b"\x00\x01\x02\xff\xfe garbage \x80\x81\r\nget k\r\n"),
    (107, TINY | 3, b"get aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj\r\nversion\r\n"),
    (109, TINY | 2, b"set k 0 0 100\r\n" + b"x" * 100 + b"\r\nget k\r\n"),
    (113, TINY | 4, b"get abcdefghijklmnop q\r\ngat 10 aaaa bbbb cccc dddd eeee ffff\r\n"),
    (127, TINY | 1, b"version " + b"z" * 60 + b"\r\nget k\r\n"),
    (131, TINY | 5, b"set k 0 0 10\r\n0123456789\r\nappend k 0 0 70\r\n" + b"y" * 70 + b"\r\n"),
    (137, 2, b"set k 0 0 10 noreply\r\n0123456789\r\nget k k k k\r\nquit\r\n"),
    (139, 7, b"gat 0 a\r\ngats 2592000 b c\r\ngat 2592001 d\r\ngat -5 e\r\n"),
    (149, 3, b"cas k 0 0 1\r\nx\r\ncas k 0 0 1 abc\r\nx\r\ncas k 0 0 1 18446744073709551615\r\nx\r\n"),
    (151, 2, b"   get   a    b   \r\n  set k 0 0 1  \r\nx\r\n"),
    (157, 4, b"get a\r\n" * 200),
    (163, 1, b"mn\r\nmg k v\r\nms k 2 T0 F5\r\nhi\r\nmd k q\r\nma k D2\r\nme k\r\n"),
]

# --- recover_fuzz ops (see recover_fuzz.cc) ----------------------------------------------------


def raw(disk, off, data):
    return struct.pack("<BBHB", 0, disk, off, len(data)) + data


def header(disk, piece, cls, seq, used, mode=0, fill=None, big=False):
    code = 0x81 if big else 0x01
    out = struct.pack("<BBBB", code, disk, piece, cls)
    out += struct.pack("<Q", seq) if big else struct.pack("<B", seq)
    out += struct.pack("<HB", used, mode | (1 if fill is not None else 0))
    if fill is not None:
        out += struct.pack("<B", fill)
    return out


def key_sel(key):
    if isinstance(key, int):
        return struct.pack("<B", key)  # "k<key % 16>"
    return struct.pack("<B", 0x80 | len(key)) + key


def item(which, chunk, key, vlen, wseq, flags=0, tomb=False, exp=0, exptime=None, bad_crc=False,
         bad_seq=False):
    mode = (1 if tomb else 0) | (exp << 1) | (8 if bad_crc else 0) | (16 if bad_seq else 0)
    out = struct.pack("<BBH", 2, which, chunk) + key_sel(key) + struct.pack("<HB", vlen, mode)
    if exp == 3:
        out += struct.pack("<I", exptime)
    return out + struct.pack("<HB", wseq, flags)


def store(key, vlen):
    return struct.pack("<B", 3) + key_sel(key) + struct.pack("<H", vlen)


RECOVER_SEEDS = [
    # One slab of class 3 (104-byte chunks) with three items, a tombstone and an expired item.
    bytes([0]) + header(0, 0, 3, 5, 6)
    + item(0, 0, 1, 50, 1, flags=7) + item(0, 1, 2, 10, 2) + item(0, 2, 3, 20, 3)
    + item(0, 3, 3, 0, 4, tomb=True) + item(0, 4, 4, 5, 5, exp=1) + item(0, 5, 5, 5, 6, exp=2),
    # Two partly filled slabs packed in one disk slab, the same key in both (newest wseq wins),
    # and a stale piece of an earlier use of the disk slab (another fill id).
    bytes([2]) + header(1, 0, 3, 7, 2) + header(1, 1, 3, 8, 2) + header(1, 2, 3, 9, 1, fill=3)
    + item(0, 0, 1, 30, 10) + item(1, 0, 1, 31, 11) + item(1, 1, 2, 1, 12) + item(2, 0, 6, 9, 13),
    # flush_all recorded in the superblock: slabs before seq 6 are gone.
    bytes([1, 6]) + header(0, 0, 0, 5, 1) + header(2, 0, 0, 9, 1)
    + item(0, 0, 1, 4, 1) + item(1, 0, 2, 4, 2),
    # Stores after recovery: large values seal slabs and evict recovered disk slabs.
    bytes([0]) + header(3, 0, 10, 20, 4) + item(0, 0, 1, 400, 1) + item(0, 1, 2, 400, 2)
    + b"".join(store(i, 60000) for i in range(20)) + store(1, 100) + store(b"custom", 7),
    # Corrupt and mismatched headers: wrong epoch, version, chunk size, CRC, class, seq 0.
    bytes([4]) + header(0, 0, 3, 5, 1, mode=2) + header(1, 0, 3, 6, 1, mode=4)
    + header(2, 0, 3, 7, 1, mode=8) + header(3, 0, 3, 8, 1, mode=16) + header(4, 0, 200, 9, 1)
    + header(5, 0, 3, 0, 1) + header(6, 0, 3, 10, 5000) + item(6, 0, 1, 10, 1),
    # Items that must not verify: bad CRC, wrong slab sequence; a full slab of the largest class.
    bytes([0]) + header(7, 0, 3, 11, 3) + item(0, 0, 1, 10, 1, bad_crc=True)
    + item(0, 1, 2, 10, 2, bad_seq=True) + item(0, 2, b"\x00\xffbinary", 10, 3, exp=3,
                                                     exptime=4000000000)
    + header(8, 0, 32, 12, 1) + item(1, 0, 9, 65000, 4),
    # Huge sequence numbers (the next slab id wraps) and stores on top.
    bytes([6]) + header(9, 0, 3, 2**64 - 1, 1, big=True) + header(10, 0, 3, 2**63, 1, big=True)
    + item(0, 0, 1, 3, 1) + item(1, 0, 2, 3, 2) + b"".join(store(i, 30000) for i in range(8)),
    # Raw bytes over a valid header and items (torn slab).
    bytes([0]) + header(11, 0, 5, 13, 4) + item(0, 0, 1, 50, 1) + item(0, 1, 2, 50, 2)
    + raw(11, 64 + 176 + 10, b"\xde\xad\xbe\xef" * 8) + raw(11, 0, b"SSLB"),
]


def write(directory, blobs):
    os.makedirs(directory, exist_ok=True)
    for old in os.listdir(directory):
        os.remove(os.path.join(directory, old))
    for blob in blobs:
        name = hashlib.sha1(blob).hexdigest()
        with open(os.path.join(directory, name), "wb") as f:
            f.write(blob)


def main():
    write(os.path.join(HERE, "corpus", "parser"),
          [bytes([seed, shape]) + stream for seed, shape, stream in PARSER_STREAMS])
    write(os.path.join(HERE, "corpus", "recover"), RECOVER_SEEDS)


if __name__ == "__main__":
    main()
