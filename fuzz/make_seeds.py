#!/usr/bin/env python3
"""Writes the hand-written seeds of fuzz/corpus/ (fuzz/README.md).

Seeds reach deep states the fuzzers would take long to find on their own (a
whole meeting, the shipped scenarios) and replay known defects (the regress-*
inputs). Run from anywhere: python3 fuzz/make_seeds.py. It rewrites only the
files it names (seed-*, regress-* made here); crash inputs the fuzzers found,
saved by hand under their own names, are left alone.
"""
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes(data))


# --- fuzz_frame: [max selector][split mode][split seed: 2][stream] ----------
# max selector indexes {0, 1, 5, 64, 300, 1024, 16 KiB, 64 KiB}; split mode
# mod 5: whole, one byte at a time, short reads, long reads, at boundaries.

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, payload):
    tag = varint(num << 3 | wire)
    if wire == 0:
        return tag + varint(payload)
    return tag + varint(len(payload)) + payload


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def hello(cell, member, token=b"token"):
    body = field(1, 0, 1) + field(3, 0, cell) + field(4, 0, member) + field(5, 2, token)
    return field(10, 2, body)


def heartbeat(seq):
    return field(12, 2, field(1, 0, seq))


def media(n):
    return field(25, 2, field(1, 0, 1) + field(3, 2, b"m" * n))


def frame_seeds():
    hb = frame(heartbeat(7))
    write("fuzz_frame", "seed-hello-then-heartbeats", [7, 0, 0, 1] + list(frame(hello(42, 2)) + hb * 3))
    write("fuzz_frame", "seed-hello-bytewise", [7, 1, 0, 2] + list(frame(hello(9, 3)) + hb))
    write("fuzz_frame", "seed-short-reads", [5, 2, 1, 3] + list(hb * 8 + frame(b"") * 3 + frame(media(200))))
    write("fuzz_frame", "seed-long-reads", [7, 3, 4, 5] + list(frame(media(3000)) * 4 + hb))
    write("fuzz_frame", "seed-not-a-hello", [7, 4, 0, 0] + list(hb + frame(hello(5, 5))))
    write("fuzz_frame", "seed-garbage-payload", [6, 0, 0, 0] + list(frame(b"\xff" * 10) + hb))
    # A frame of exactly the maximum (300), then one byte over it.
    write("fuzz_frame", "seed-maximum-inclusive", [4, 4, 0, 0] + list(struct.pack(">I", 300) + b"p" * 300 + struct.pack(">I", 301)))
    # Regression: a read split right after a too-large header (mode 4 cuts at
    # every header end), after good frames whose views must survive kTooLarge.
    write("fuzz_frame", "regress-split-after-too-large-header",
          [7, 4, 0, 0] + list(frame(media(2000)) + hb + struct.pack(">I", 64 * 1024 + 1) + b"rest"))
    # Regression: a large frame then small reads (the buffer must shrink).
    write("fuzz_frame", "regress-shrink-after-large-frame",
          [7, 3, 0x12, 0x34] + list(frame(media(60 * 1024)) + hb * 40))


# --- fuzz_engine: [settings variant][op]... (fuzz/fuzz_engine.cc) -----------
(CONNECT, HELLO, JOIN, HEARTBEAT, OPEN_MEETING, EXCUSE, ADVANCE, OPEN_VOTE, CLOSE_VOTE,
 BALLOT, REQUEST_FLOOR, GRANT_FLOOR, MEDIA, CLOSE_MEETING, RAW, TIME, DISCONNECT,
 SHUTDOWN, HELLO_RESUME, DATAGRAM) = range(20)
# DATAGRAM: [slot][mode][shape][media_seq][mode's bytes]: mode 0 sealed with
# the slot's session key, 1 sealed then one byte flipped ([index][xor]), 2 raw
# ([n] then n * 5 bytes), 3 the slot's last sealed datagram again; shape & 1 a
# bind, else voice of payload {0, 1, 60, max}[shape / 2 % 4] bytes.
# kWho indexes: 0..9 = cell 1 members 1..10 (0 chair, 4 probationary,
# 5 exempted, 6 suspended, 7 attached elsewhere), 10..13 = cell 2 (10 chair,
# 13 probationary), 14 unknown member, 15 unknown cell.
# Texts: [selector][parameter]: 0 short, 1 around max_text_bytes cut anywhere
# (limit - 4 + p % 9 bytes), 2 same at whole characters, 3 raw (p bytes
# follow), 4 invalid UTF-8, 5 far over the limit, 6 empty, 7 at most p * 8 bytes, whole characters.
SHORT = [0, 5]


class Prog:
    def __init__(self, variant=0):
        self.b = [variant]

    def op(self, *xs):
        for x in xs:
            if isinstance(x, (list, tuple, bytes)):
                self.b.extend(x)
            else:
                self.b.append(x)
        return self

    def member(self, slot, who, split=0):
        return self.op(HELLO, slot, who, 0, split).op(JOIN, slot, 0)

    def open_meeting(self, slot=0, taker=1, agenda=3, guests=2, reason=SHORT, item=SHORT, guest=SHORT, split=0):
        return self.op(OPEN_MEETING, slot, taker, agenda, guests, 1, reason, item, guest, split)

    def ballot(self, slot, vote, choice, ballot_id=1, split=0):
        return self.op(BALLOT, slot, vote, choice, ballot_id, split)

    def data(self):
        return bytes(self.b)


def quorate(p, variant_chair=0):
    # Chair, four officials, the probationary member: quorate (5 of D = 6).
    p.member(0, 0).member(1, 1).member(2, 2).member(3, 3).member(4, 8).member(5, 4)
    return p


def engine_seeds():
    # A whole meeting: attendance, an excuse, the agenda, a resolution (with a
    # probationary ballot refused, a duplicate and a changed resend), the
    # floor and media, a secret election, heartbeats and time, the close.
    p = quorate(Prog())
    p.op(EXCUSE, 0, 9, SHORT, 0)
    p.open_meeting()
    p.op(ADVANCE, 0, 0)
    p.op(OPEN_VOTE, 0, 1, 1, 0, SHORT, 0)
    for s in range(4):
        p.ballot(s, 1, 1)
    p.ballot(4, 1, 2)          # member 9
    p.ballot(5, 1, 1)          # probationary: refused
    p.ballot(1, 1, 1)          # the same again: acknowledged as a duplicate
    p.ballot(1, 1, 2)          # same ballot id, another choice: refused
    p.op(CLOSE_VOTE, 0, 1, 0)
    p.op(REQUEST_FLOOR, 1, SHORT, 0).op(GRANT_FLOOR, 0, 1, 0)
    for seq in range(5):
        p.op(MEDIA, 1, seq, 2, 0)
    p.op(TIME, 0, 3)
    for s in range(6):
        p.op(HEARTBEAT, s, s, 0)
    p.op(ADVANCE, 0, 0)
    p.op(OPEN_VOTE, 0, 2, 2, 1, SHORT, 0)
    for s in range(5):
        p.ballot(s, 2, 1 + s % 3, 2)
    p.op(CLOSE_VOTE, 0, 2, 0)
    p.op(ADVANCE, 0, 0).op(CLOSE_MEETING, 0, 0)
    write("fuzz_engine", "seed-whole-meeting", p.data())

    # Voice as datagrams: every member binds, the floor holder's voice is
    # relayed, a member without the floor is refused, a flipped byte, a
    # replay and raw bytes are dropped; a reconnect takes a new session key.
    p = quorate(Prog())
    p.open_meeting()
    for s in range(6):
        p.op(DATAGRAM, s, 0, 1, 0)
    p.op(REQUEST_FLOOR, 1, SHORT, 0).op(GRANT_FLOOR, 0, 1, 0)
    for seq in range(6):
        p.op(DATAGRAM, 1, 0, 4, seq)
    p.op(DATAGRAM, 2, 0, 4, 0)            # no floor
    p.op(DATAGRAM, 1, 1, 4, 7, 30, 0x40)  # a flipped byte
    p.op(DATAGRAM, 1, 3, 0, 0)            # a replay
    p.op(DATAGRAM, 1, 2, 0, 0, 4, list(range(20)))  # raw bytes
    p.op(DATAGRAM, 1, 0, 6, 8)            # the largest payload
    p.op(DISCONNECT, 3).op(HELLO, 3, 3, 0, 0).op(JOIN, 3, 0).op(DATAGRAM, 3, 0, 1, 0)
    p.op(DATAGRAM, 1, 0, 4, 9)
    p.op(TIME, 0, 5).op(DATAGRAM, 1, 0, 4, 10)
    p.op(ADVANCE, 0, 0).op(CLOSE_MEETING, 0, 0)
    write("fuzz_engine", "seed-voice-datagrams", p.data())

    # The same meeting sent in awkward splits (held-back tails coalesce frames).
    p = Prog()
    for s, who in enumerate([0, 1, 2, 3, 8, 4]):
        p.op(HELLO, s, who, 0, 130 + s).op(JOIN, s, 70 + s)
    p.open_meeting(split=150).op(ADVANCE, 0, 200)
    p.op(OPEN_VOTE, 0, 3, 3, 0, SHORT, 140)
    for s in range(5):
        p.ballot(s, 3, 1, 1, 160 + s)
    p.op(CLOSE_VOTE, 0, 3, 100).op(CLOSE_MEETING, 0, 0)
    write("fuzz_engine", "seed-meeting-split-reads", p.data())

    # A cell 2 meeting, a reconnect with the resume token, liveness timeouts.
    p = Prog(2)
    p.member(0, 10).member(1, 11).member(2, 12).member(3, 13)
    p.open_meeting(taker=11)
    p.op(OPEN_VOTE, 0, 1, 4, 0, SHORT, 0).ballot(1, 1, 1).ballot(2, 1, 1)
    p.op(DISCONNECT, 1).op(HELLO_RESUME, 1, 11, 0).op(JOIN, 1, 0).ballot(1, 1, 1)
    for _ in range(3):
        p.op(TIME, 0, 2)
        for s in range(4):
            p.op(HEARTBEAT, s, 1, 0)
    p.op(CLOSE_VOTE, 0, 1, 0).op(CLOSE_MEETING, 0, 0)
    p.op(TIME, 0, 5)  # 31 s without a frame: liveness timeouts
    write("fuzz_engine", "seed-cell2-resume-timeout", p.data())

    # Bad handshakes: expired, someone else's, another cell's, a bad MAC, an
    # unknown version, an unknown member and cell, a frame before Hello.
    p = Prog()
    for i, variant in enumerate([8, 9, 10, 11, 12, 13, 14]):
        p.op(HELLO, i % 6, i, variant, 0)
    p.op(HELLO, 0, 14, 0, 0).op(HELLO, 1, 15, 0, 0).op(JOIN, 2, 0)
    p.op(HELLO, 3, 0, 0, 0).op(HELLO, 3, 0, 0, 0)  # a second Hello
    write("fuzz_engine", "seed-bad-handshakes", p.data())

    # Regression: text fields at and over max_text_bytes (1024) in valid
    # Vietnamese whose cut at the limit lands inside a character (selector 2:
    # 1020 + p % 9 bytes, shifted by p / 9 % 4 ASCII bytes in front; selector
    # 5: four times the limit, shifted by p % 4): agenda titles, guests, the
    # reason, excuses, a vote subject and floor topics. A server that cuts
    # texts bytewise sends frames that do not parse (invalid UTF-8). Also cut
    # anywhere (selector 1), which is invalid UTF-8 on the way in.
    p = quorate(Prog())
    p.op(EXCUSE, 0, 9, [2, 8 + 9 * 2], 0)
    p.op(EXCUSE, 0, 9, [5, 1], 0)
    p.op(EXCUSE, 0, 9, [1, 5], 0)
    p.open_meeting(agenda=8, guests=8, reason=[5, 2], item=[2, 7 + 9 * 1], guest=[5, 3])
    p.op(ADVANCE, 0, 0)
    p.op(OPEN_VOTE, 0, 1, 1, 0, [1, 6], 0)
    p.op(OPEN_VOTE, 0, 1, 1, 0, [5, 1], 0)
    for s, (sel, par) in enumerate([(2, 5 + 9), (2, 6 + 18), (2, 8 + 27), (5, 2), (5, 3), (1, 7)]):
        p.op(REQUEST_FLOOR, s, [sel, par], 0)
    p.op(CLOSE_VOTE, 0, 1, 0).op(CLOSE_MEETING, 0, 0)
    write("fuzz_engine", "regress-viet-text-at-limit", p.data())

    # Regression: invalid UTF-8 in every text field, and raw bytes as text.
    p = quorate(Prog())
    p.op(EXCUSE, 0, 9, [4, 1], 0)
    p.open_meeting(reason=[4, 2], item=[4, 3], guest=[3, 3, 0xE1, 0xBB, 0x8B])
    p.op(OPEN_VOTE, 0, 1, 1, 0, [4, 4], 0)
    p.op(REQUEST_FLOOR, 1, [4, 5], 0)
    p.op(REQUEST_FLOOR, 2, [3, 2, 0xC3, 0x28], 0)
    p.op(CLOSE_MEETING, 0, 0)
    write("fuzz_engine", "regress-invalid-utf8-texts", p.data())

    # Regression: maximal media frames from the floor holder (the relay adds
    # the sender's id): payloads at the media bound and near the frame bound.
    for variant in (0, 1):
        p = quorate(Prog(variant))
        p.open_meeting()
        p.op(REQUEST_FLOOR, 1, SHORT, 0).op(GRANT_FLOOR, 0, 1, 0)
        for sel in (3, 4, 5, 6, 7, 0x84, 4 + 8):
            p.op(MEDIA, 1, sel, sel, 0)
        p.op(MEDIA, 2, 1, 4, 0)   # not the floor holder
        p.op(CLOSE_MEETING, 0, 0)
        write("fuzz_engine", "regress-max-media-frames-v%d" % variant, p.data())

    # Regression: many agenda items and guests (over the bounds, and with
    # 8 KiB frames so the MeetingState and minutes must be cut to fit), then
    # members joining late.
    # With 8 KiB frames, 64-byte items and guests (over the bounds of 64, then at them).
    p = Prog(1)
    p.member(0, 0).member(1, 1)
    p.open_meeting(agenda=71, guests=40, reason=[7, 8], item=[7, 8], guest=[7, 8])
    p.open_meeting(agenda=64, guests=50, reason=[7, 8], item=[7, 8], guest=[7, 8])
    p.member(2, 2).member(3, 3).member(4, 8)
    for _ in range(3):
        p.op(ADVANCE, 0, 0)
    p.op(CLOSE_MEETING, 0, 0)
    write("fuzz_engine", "regress-many-agenda-items-guests", p.data())
    # With 64 KiB frames, 62 items of 1024 bytes: the OpenMeeting frame fits,
    # the MeetingState and the minutes (items, attendees, ...) must be cut.
    p = Prog(0)
    p.member(0, 0).member(1, 1)
    p.open_meeting(agenda=62, guests=0, reason=[2, 4], item=[2, 4], guest=SHORT)
    p.member(2, 2).member(3, 3).member(4, 8)
    p.op(ADVANCE, 0, 0).op(CLOSE_MEETING, 0, 0)
    write("fuzz_engine", "regress-agenda-filling-the-frame", p.data())

    # Regression: an excuse during an open vote (of someone absent, of someone
    # present, of a voter who then leaves).
    p = quorate(Prog())
    p.open_meeting()
    p.op(OPEN_VOTE, 0, 1, 1, 0, SHORT, 0)
    p.ballot(1, 1, 1).ballot(2, 1, 1)
    p.op(EXCUSE, 0, 9, SHORT, 0).op(EXCUSE, 0, 2, SHORT, 0)
    p.op(DISCONNECT, 2).op(EXCUSE, 0, 2, SHORT, 0)
    p.ballot(3, 1, 2)
    p.op(CLOSE_VOTE, 0, 1, 0).op(CLOSE_MEETING, 0, 0)
    write("fuzz_engine", "regress-excuse-during-open-vote", p.data())

    # Regression: a resent ballot with a different choice (public and secret).
    p = quorate(Prog())
    p.open_meeting()
    p.op(OPEN_VOTE, 0, 1, 1, 0, SHORT, 0)
    p.ballot(1, 1, 1, 3).ballot(1, 1, 2, 3).ballot(1, 1, 1, 3).ballot(1, 1, 3, 2)
    p.op(CLOSE_VOTE, 0, 1, 0)
    p.op(OPEN_VOTE, 0, 2, 2, 1, SHORT, 0)
    p.ballot(2, 2, 1, 3).ballot(2, 2, 2, 3).ballot(2, 2, 1, 3).ballot(2, 2, 3, 1)
    p.op(CLOSE_VOTE, 0, 2, 0).op(CLOSE_MEETING, 0, 0)
    write("fuzz_engine", "regress-resent-ballot-other-choice", p.data())

    # Regression: a frame split right after a too-large header, before and
    # after the Hello (raw bytes, split at the header's end).
    p = Prog()
    p.op(RAW, 0, 8, [0, 1, 0, 1, 0x41, 0x41, 0x41, 0x41], 64 + 2)
    p.member(1, 0)
    p.op(RAW, 1, 4, [0xFF, 0xFF, 0xFF, 0xFF], 0).op(RAW, 1, 3, [1, 2, 3], 0)
    p.op(RAW, 2, 5, [0, 0, 0, 3, 0xFF], 0)   # a frame that does not parse
    write("fuzz_engine", "regress-split-after-too-large-header", p.data())


# --- fuzz_scenario: the scenario text ----------------------------------------

def scenario_seeds():
    src = os.path.join(ROOT, "scenarios")
    for name in sorted(os.listdir(src)) + ["test/tiny.textproto"]:
        path = os.path.join(src, name)
        if name.endswith(".textproto") and os.path.isfile(path):
            shutil.copyfile(path, os.path.join(CORPUS, "fuzz_scenario", "seed-" + os.path.basename(name)))
    with open(os.path.join(src, "test", "tiny.textproto"), "rb") as f:
        tiny = f.read()
    write("fuzz_scenario", "seed-empty", b"")
    write("fuzz_scenario", "seed-syntax-error", tiny[: len(tiny) // 2])
    write("fuzz_scenario", "seed-unknown-field", tiny + b"\nno_such_field: 1\n")
    write("fuzz_scenario", "seed-invalid-utf8", tiny.replace(b"\"", b"\"\xc3\x28", 1))
    write("fuzz_scenario", "seed-deep-nesting", b"cell_types {" * 200 + b"}" * 200)


if __name__ == "__main__":
    os.makedirs(os.path.join(CORPUS, "fuzz_scenario"), exist_ok=True)
    frame_seeds()
    engine_seeds()
    scenario_seeds()
