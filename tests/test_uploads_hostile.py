r"""Hostile zips (issue 9, item 7): whatever :mod:`zipfile` raises on a forged or damaged archive
is a refusal with a one-line reason, and nothing of the upload is left on disk.

The archives are forged by hand: a normal zip is written, then bytes of its local headers and
central directory are patched (an entry flagged UTF-8, general purpose bit 11, whose name holds
invalid UTF-8 bytes; an unknown compression method; an empty name; random damage).
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
from pathlib import Path

import pytest

from aistudio.uploads import UploadError, extract_zip
from aistudio.workspace import Workspace
from tests.test_uploads import LIMITS, assert_refused, leftovers, make_zip, receive

UTF8_FLAG = 0x800
LOCAL = b"PK\x03\x04"
CENTRAL = b"PK\x01\x02"


def _headers(data: bytes | bytearray, signature: bytes) -> list[tuple[int, int, int]]:
    """``(offset, flags offset, name offset)`` of each local or central header."""
    flags_at, name_len_at, name_at = (6, 26, 30) if signature == LOCAL else (8, 28, 46)
    found: list[tuple[int, int, int]] = []
    pos = data.find(signature)
    while pos != -1:
        (name_len,) = struct.unpack_from("<H", data, pos + name_len_at)
        found.append((pos + flags_at, pos + name_at, name_len))
        pos = data.find(signature, pos + 4)
    return found


def forge(
    payload: bytes,
    good: bytes,
    bad: bytes,
    *,
    local: bool = True,
    central: bool = True,
    flag: bool = True,
) -> bytes:
    """``payload`` with the entry name ``good`` replaced by ``bad`` (same length) in the local
    header and/or the central directory, its UTF-8 flag set where ``flag``."""
    assert len(good) == len(bad)
    data = bytearray(payload)
    for signature, wanted in ((LOCAL, local), (CENTRAL, central)):
        for flags_at, name_at, name_len in _headers(data, signature):
            if bytes(data[name_at : name_at + name_len]) != good:
                continue
            if flag:
                (flags,) = struct.unpack_from("<H", data, flags_at)
                struct.pack_into("<H", data, flags_at, flags | UTF8_FLAG)
            if wanted:
                data[name_at : name_at + name_len] = bad
    return bytes(data)


def set_method(payload: bytes, method: int) -> bytes:
    """``payload`` with every entry's compression method set to ``method``."""
    data = bytearray(payload)
    for signature, method_at in ((LOCAL, 8), (CENTRAL, 10)):
        pos = data.find(signature)
        while pos != -1:
            struct.pack_into("<H", data, pos + method_at, method)
            pos = data.find(signature, pos + 4)
    return bytes(data)


PNG = b"\x89PNG not really, but bytes"
ENTRIES = {"set/blue/ok.png": PNG, "set/blue/cafe.png": PNG * 2}


def test_entry_flagged_utf8_holding_invalid_bytes_is_refused(workspace: Workspace) -> None:
    payload = forge(make_zip(ENTRIES), b"set/blue/cafe.png", b"set/blue/caf\xe9.png")
    with pytest.raises(UnicodeDecodeError):
        zipfile.ZipFile(io.BytesIO(payload))  # what zipfile itself does with it
    assert_refused(workspace, payload, "set/blue/caf\\xe9.png")
    assert_refused(workspace, payload, "marked as UTF-8 but is not valid UTF-8")


def test_local_header_flagged_utf8_holding_invalid_bytes_is_refused(
    workspace: Workspace,
) -> None:
    """The central directory is valid UTF-8, the local header is not: zipfile finds out only
    while unpacking, after the first file was written; that one is removed too."""
    good = "set/blue/café.png".encode()
    bad = b"set/blue/caf\xe9\xe9.png"
    entries = {"set/blue/ok.png": PNG, "set/blue/café.png": PNG * 2}
    payload = forge(make_zip(entries), good, bad, central=False)
    assert_refused(workspace, payload, "set/blue/caf\\xe9\\xe9.png")


def test_unsupported_compression_method_is_refused(workspace: Workspace) -> None:
    payload = set_method(make_zip(ENTRIES, compression=zipfile.ZIP_STORED), 98)  # PPMd
    assert_refused(workspace, payload, "uses a compression this app cannot read")


def test_corrupt_lzma_data_is_refused(workspace: Workspace) -> None:
    payload = bytearray(make_zip({"a/1.png": bytes(range(256)) * 40}, compression=14))
    [(_, name_at, name_len)] = _headers(payload, LOCAL)
    start = name_at + name_len + 20  # inside the LZMA stream, past its properties
    payload[start : start + 16] = b"\xff" * 16
    assert_refused(workspace, bytes(payload), "is damaged")


def test_entry_with_an_empty_name_does_not_crash(workspace: Workspace) -> None:
    data = bytearray(make_zip({"x": PNG}))  # the one-byte name is cut out below
    for signature in (LOCAL, CENTRAL):
        name_len_at = 26 if signature == LOCAL else 28
        pos = data.find(signature)
        struct.pack_into("<H", data, pos + name_len_at, 0)
        name_at = pos + (30 if signature == LOCAL else 46)
        del data[name_at : name_at + 1]
    # The central directory moved and shrank by one byte: fix the end record.
    end = data.rfind(b"PK\x05\x06")
    size, offset = struct.unpack_from("<II", data, end + 12)
    struct.pack_into("<II", data, end + 12, size - 1, offset - 1)
    assert zipfile.ZipFile(io.BytesIO(bytes(data))).namelist() == [""]
    with pytest.raises(UploadError) as caught:
        receive(workspace, bytes(data))
    assert "\n" not in str(caught.value)
    assert leftovers(workspace) in ([], [".incoming"])


def _variants() -> list[bytes]:
    entries = {"d/a.png": b"hello world " * 40, "d/b.png": bytes(range(256)) * 8}
    made = [make_zip(entries, compression=m) for m in (0, 8, 12, 14)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            with zf.open(name, "w", force_zip64=True) as out:
                out.write(data)
    return [*made, buf.getvalue()]


@pytest.mark.parametrize("variant", range(5))
def test_damaged_archives_are_refused_or_unpacked_never_crash(tmp_path: Path, variant: int) -> None:
    """Seeded damage to every part of an archive (headers, sizes, offsets, names, flags, data):
    each one unpacks or raises UploadError with one line, and a refused one leaves nothing."""
    base = _variants()[variant]
    rng = random.Random(variant)
    values = [0, 1, 0x800, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
    for trial in range(250):
        data = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(data) - 8)
            kind = rng.random()
            if kind < 0.35:
                struct.pack_into("<I", data, pos, rng.choice(values))
            elif kind < 0.55:
                struct.pack_into("<H", data, pos, rng.choice(values) & 0xFFFF)
            elif kind < 0.65:
                struct.pack_into("<Q", data, pos, rng.choice([2**63 - 1, 2**64 - 1, 2**40]))
            else:
                data[pos] = rng.randrange(256)
        if rng.random() < 0.15:
            del data[rng.randrange(len(data)) :]
        archive = tmp_path / f"{trial}.zip"
        archive.write_bytes(bytes(data))
        dest = tmp_path / f"out-{trial}"
        try:
            extract_zip(archive, dest, LIMITS)
        except UploadError as exc:
            assert "\n" not in str(exc) and str(exc)
            assert not dest.exists()
        archive.unlink()
    left = [p.name for p in tmp_path.iterdir() if not p.name.startswith("out-")]
    assert left in ([], [".incoming"]), left
    assert not left or not any((tmp_path / ".incoming").iterdir())
