"""Uploaded zips: good archives are unpacked; unsafe, oversized, bomb-like and corrupt ones are
refused with a clear message, and nothing of a refused upload is left on disk."""

from __future__ import annotations

import io
import os
import stat
import time
import zipfile
from pathlib import Path

import pytest

from aistudio.uploads import (
    UploadedFolder,
    UploadError,
    UploadLimits,
    UploadTooLargeError,
    check_members,
    extract_zip,
    format_size,
    import_source,
    prune_uploads,
    receive_zip,
    safe_member_path,
    upload_dir,
    uploads_dir,
)
from aistudio.workspace import Workspace

LIMITS = UploadLimits(max_upload_bytes=1_000_000, max_uncompressed_bytes=4_000_000, max_entries=50)


def make_zip(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip archive holding ``entries`` (name -> content)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def zip_with_info(info: zipfile.ZipInfo, data: bytes) -> bytes:
    """A zip archive with one entry described by ``info`` (for odd names and modes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(info, data)
    return buf.getvalue()


def receive(workspace: Workspace, payload: bytes, **kwargs: object) -> UploadedFolder:
    return receive_zip(
        workspace,
        io.BytesIO(payload),
        filename=str(kwargs.pop("filename", "data.zip")),
        content_length=kwargs.pop("content_length", len(payload)),  # type: ignore[arg-type]
        limits=kwargs.pop("limits", LIMITS),  # type: ignore[arg-type]
    )


def leftovers(workspace: Workspace) -> list[str]:
    """Everything under the uploads folder (relative paths)."""
    root = uploads_dir(workspace)
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def assert_refused(workspace: Workspace, payload: bytes, fragment: str, **kwargs: object) -> None:
    with pytest.raises(UploadError) as info:
        receive(workspace, payload, **kwargs)
    message = str(info.value)
    assert fragment in message, message
    assert "\n" not in message
    assert leftovers(workspace) in ([], [".incoming"]), leftovers(workspace)


# ---------------------------------------------------------------------- good archives
def test_good_zip_is_unpacked_and_its_only_folder_is_the_source(workspace: Workspace) -> None:
    payload = make_zip(
        {
            "digits/0/a.png": b"zero",
            "digits/1/b.png": b"one" * 10,
            "digits/": b"",
            "__MACOSX/digits/0/._a.png": b"resource fork",
            "digits/.DS_Store": b"finder",
        }
    )
    uploaded = receive(workspace, payload, filename="C:\\Users\\me\\digits.zip")
    assert uploaded.upload_id.startswith("upl-")
    assert uploaded.folder == upload_dir(workspace, uploaded.upload_id)
    assert uploaded.source == uploaded.folder / "digits"
    assert uploaded.filename == "digits.zip"
    assert (uploaded.files, uploaded.unpacked_bytes, uploaded.archive_bytes) == (
        2,
        4 + 30,
        len(payload),
    )
    assert (uploaded.source / "0" / "a.png").read_bytes() == b"zero"
    assert (uploaded.source / "1" / "b.png").read_bytes() == b"one" * 10
    assert not (uploaded.folder / "__MACOSX").exists()
    assert not (uploaded.source / ".DS_Store").exists()
    assert leftovers(workspace) == sorted(
        [
            ".incoming",
            uploaded.upload_id,
            f"{uploaded.upload_id}/digits",
            f"{uploaded.upload_id}/digits/0",
            f"{uploaded.upload_id}/digits/0/a.png",
            f"{uploaded.upload_id}/digits/1",
            f"{uploaded.upload_id}/digits/1/b.png",
        ]
    )


def test_zip_with_files_at_its_root_is_imported_from_its_root(workspace: Workspace) -> None:
    uploaded = receive(workspace, make_zip({"labels.csv": b"filename,label\n", "a.png": b"x"}))
    assert uploaded.source == uploaded.folder
    assert import_source(uploaded.folder) == uploaded.folder


def test_windows_separators_and_dot_components_are_normalised(workspace: Workspace) -> None:
    uploaded = receive(workspace, make_zip({"set\\cat\\1.png": b"c", "./set/dog/./2.png": b"d"}))
    assert (uploaded.source / "cat" / "1.png").read_bytes() == b"c"
    assert (uploaded.source / "dog" / "2.png").read_bytes() == b"d"


def test_stored_zip64_and_many_uploads_get_distinct_folders(workspace: Workspace) -> None:
    first = receive(workspace, make_zip({"a/1.png": b"1"}, compression=zipfile.ZIP_STORED))
    second = receive(workspace, make_zip({"a/1.png": b"1"}))
    assert first.folder != second.folder
    assert first.folder.is_dir() and second.folder.is_dir()


# ---------------------------------------------------------------------- zip-slip
@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("../evil.png", "points outside it"),
        ("good/../../evil.png", "points outside it"),
        ("..\\..\\evil.png", "points outside it"),
        ("/etc/evil.png", "absolute path"),
        ("\\evil.png", "absolute path"),
        ("C:/Windows/evil.png", "absolute path"),
        ("c:evil.png", "absolute path"),
        ("bad\nname.png", "control characters"),
        ("bad\x1bname.png", "control characters"),
    ],
)
def test_zip_slip_entries_are_refused(workspace: Workspace, name: str, fragment: str) -> None:
    info = zipfile.ZipInfo("placeholder.png")
    info.filename = name  # ZipInfo's constructor would clean some of these names
    payload = zip_with_info(info, b"x")
    assert_refused(workspace, payload, fragment)
    assert not (workspace.root.parent / "evil.png").exists()
    assert not (workspace.root / "evil.png").exists()


def test_symlink_entries_are_refused(workspace: Workspace) -> None:
    info = zipfile.ZipInfo("data/link.png")
    info.create_system = 3  # unix
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    assert_refused(workspace, zip_with_info(info, b"/etc/passwd"), "symbolic link")


def test_special_files_are_refused(workspace: Workspace) -> None:
    info = zipfile.ZipInfo("data/fifo")
    info.create_system = 3
    info.external_attr = (stat.S_IFIFO | 0o644) << 16
    assert_refused(workspace, zip_with_info(info, b""), "special file")


def test_encrypted_entries_are_refused(workspace: Workspace) -> None:
    payload = bytearray(make_zip({"data/a.png": b"secret"}, compression=zipfile.ZIP_STORED))
    # Set the "encrypted" flag bit in the local and the central directory headers.
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = payload.find(signature)
        payload[at + offset] |= 0x1
    assert_refused(workspace, bytes(payload), "encrypted")


def test_safe_member_path() -> None:
    assert str(safe_member_path("a/./b//c.png")) == "a/b/c.png"
    assert safe_member_path("./") is None
    with pytest.raises(UploadError, match="outside"):
        safe_member_path("a/../../b")


# ---------------------------------------------------------------------- size limits
def test_oversize_upload_is_refused_from_its_declared_length(workspace: Workspace) -> None:
    small = UploadLimits(max_upload_bytes=100, max_uncompressed_bytes=1000, max_entries=10)
    payload = make_zip({"a/1.png": os.urandom(500)}, compression=zipfile.ZIP_STORED)
    with pytest.raises(UploadTooLargeError, match="limited to 100 bytes"):
        receive(workspace, payload, limits=small)
    assert leftovers(workspace) == []


def test_oversize_upload_without_length_is_cut_while_streaming(workspace: Workspace) -> None:
    small = UploadLimits(max_upload_bytes=100, max_uncompressed_bytes=1000, max_entries=10)
    payload = make_zip({"a/1.png": os.urandom(500)}, compression=zipfile.ZIP_STORED)
    with pytest.raises(UploadTooLargeError, match="more than"):
        receive(workspace, payload, limits=small, content_length=None)
    assert leftovers(workspace) == [".incoming"]


def test_too_many_entries_are_refused(workspace: Workspace) -> None:
    payload = make_zip({f"a/{i}.png": b"x" for i in range(LIMITS.max_entries + 1)})
    assert_refused(workspace, payload, "entries, more than the 50 allowed")


def test_zip_bomb_is_refused_from_its_declared_size(workspace: Workspace) -> None:
    # 8 MB of zeros deflate to about 8 KB: far under the upload limit, far over the unpacked one.
    payload = make_zip({"bomb/zeros.png": bytes(8_000_000)})
    assert len(payload) < 20_000
    assert_refused(workspace, payload, "would unpack to 7.6 MB")


def test_entry_lying_about_its_size_is_refused_and_nothing_is_kept(workspace: Workspace) -> None:
    """An entry whose header declares fewer bytes than its data unpacks to (a forged bomb)."""
    payload = bytearray(make_zip({"a/ok.png": b"fine", "a/lie.png": bytes(100_000)}))
    # Patch the declared uncompressed size (central directory) of the second entry to 10.
    central = payload.find(b"PK\x01\x02", payload.find(b"PK\x01\x02") + 4)
    payload[central + 24 : central + 28] = (10).to_bytes(4, "little")
    with pytest.raises(UploadError) as info:
        receive(workspace, bytes(payload))
    assert "a/lie.png" in str(info.value) or "damaged" in str(info.value)
    assert leftovers(workspace) == [".incoming"]


# ---------------------------------------------------------------------- damage
def test_not_a_zip_is_refused(workspace: Workspace) -> None:
    assert_refused(workspace, b"this is not a zip archive at all", "not a zip archive")


def test_truncated_zip_is_refused(workspace: Workspace) -> None:
    payload = make_zip({"a/1.png": os.urandom(5000)})
    assert_refused(workspace, payload[: len(payload) // 2], "not a zip archive or is damaged")


def test_bad_crc_is_refused_and_nothing_is_half_written(workspace: Workspace) -> None:
    payload = bytearray(
        make_zip({"a/1.png": b"first file", "a/2.png": b"B" * 400}, compression=zipfile.ZIP_STORED)
    )
    at = payload.find(b"B" * 400)
    payload[at + 10] = ord("C")
    assert_refused(workspace, bytes(payload), "Bad CRC-32")


def test_empty_upload_and_zip_without_files_are_refused(workspace: Workspace) -> None:
    assert_refused(workspace, b"", "is empty")
    assert_refused(workspace, make_zip({"only/": b"", "__MACOSX/x": b"y"}), "holds no file")


def test_duplicate_entries_are_refused(workspace: Workspace) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("a/1.png", b"one")
        zf.writestr("a/1.png", b"two")
    assert_refused(workspace, buf.getvalue(), "twice")


def test_file_and_folder_of_the_same_name_fail_cleanly(workspace: Workspace) -> None:
    assert_refused(workspace, make_zip({"a/x": b"file", "a/x/y.png": b"inside"}), "could not")


# ---------------------------------------------------------------------- helpers
def test_extract_zip_refuses_an_existing_destination(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    archive.write_bytes(make_zip({"a.png": b"x"}))
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(UploadError, match="already exists"):
        extract_zip(archive, dest, LIMITS)


def test_check_members_lists_files_only() -> None:
    buf = io.BytesIO(make_zip({"a/": b"", "a/1.png": b"1", "a/b/2.png": b"22"}))
    with zipfile.ZipFile(buf) as zf:
        members = check_members(zf.infolist(), LIMITS)
    assert [str(path) for _, path in members] == ["a/1.png", "a/b/2.png"]


def test_invalid_upload_ids_are_refused(workspace: Workspace) -> None:
    for bad in ("../x", "upl-xyz", "upl-0123456789abcdef/..", ""):
        with pytest.raises(UploadError):
            upload_dir(workspace, bad)


def test_old_uploads_are_pruned(workspace: Workspace) -> None:
    old = receive(workspace, make_zip({"a/1.png": b"1"}))
    new = receive(workspace, make_zip({"a/1.png": b"1"}))
    past = time.time() - 8 * 24 * 3600
    os.utime(old.folder, (past, past))
    assert prune_uploads(workspace) == [old.upload_id]
    assert not old.folder.exists()
    assert new.folder.is_dir()


def test_limits_follow_the_settings() -> None:
    from aistudio.settings import Settings

    limits = UploadLimits.from_settings(Settings(max_upload_mb=2))
    assert limits.max_upload_bytes == 2 * 2**20
    assert limits.max_uncompressed_bytes == 16 * 2**20


def test_format_size() -> None:
    assert format_size(512) == "512 bytes"
    assert format_size(1536) == "1.5 KB"
    assert format_size(1024 * 2**20) == "1.0 GB"
