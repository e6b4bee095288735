"""The Pascal VOC reader: a good sample, and every bad input of issue 10, item 2."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from aistudio.datasets.formats.base import Candidate, ObjectsError, ReadResult, SourceError
from aistudio.datasets.formats.boxes import finish_boxes
from aistudio.datasets.formats.registry import FORMATS
from aistudio.datasets.formats.voc import MAX_XML_BYTES, looks_like_voc, read_voc
from tests.datasets.support import image_bytes, write

Obj = tuple[str, tuple[Any, Any, Any, Any]]


def _xml(
    filename: str | None = None,
    objects: list[Obj] | None = None,
    size: tuple[Any, Any] | None = None,
    difficult: set[int] | None = None,
) -> str:
    """A VOC annotation; ``difficult`` holds the 1-based numbers of difficult objects."""
    parts = ["<annotation>", "<folder>VOC2007</folder>"]
    if filename is not None:
        parts.append(f"<filename>{filename}</filename>")
    if size is not None:
        parts.append(f"<size><width>{size[0]}</width><height>{size[1]}</height>")
        parts.append("<depth>3</depth></size>")
    for number, (name, (xmin, ymin, xmax, ymax)) in enumerate(objects or [], 1):
        flag = 1 if number in (difficult or set()) else 0
        parts.append(
            f"<object><name>{name}</name><pose>Left</pose><truncated>0</truncated>"
            f"<difficult>{flag}</difficult><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
            f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>"
        )
    parts.append("</annotation>")
    return "\n".join(parts)


def _annotation(source: Path, stem: str, text: str) -> Path:
    return write(source / "Annotations" / f"{stem}.xml", text.encode())


def _image(source: Path, name: str, size: tuple[int, int] = (40, 32), color: int = 0) -> Path:
    fmt = "JPEG" if name.lower().endswith((".jpg", ".jpeg")) else "PNG"
    return write(source / "JPEGImages" / name, image_bytes(fmt, size, color))


def _voc(tmp_path: Path) -> Path:
    source = tmp_path / "voc"
    (source / "Annotations").mkdir(parents=True)
    (source / "JPEGImages").mkdir()
    return source


def _skips(result: ReadResult) -> dict[str, str]:
    return {s.path: s.reason for s in result.skipped}


def _names(result: ReadResult) -> list[str]:
    return [c.name for c in result.candidates]


def _finished(result: ReadResult, candidate: Candidate, size: tuple[int, int]) -> Any:
    assert candidate.objects is not None
    assert result.classes is not None
    return finish_boxes(candidate.objects(*size), size[0], size[1], result.classes)


# ------------------------------------------------------------------------------ good sample
def test_good_sample_converts_the_corners_and_keeps_difficult_and_negatives(
    tmp_path: Path,
) -> None:
    source = _voc(tmp_path)
    _image(source, "000001.jpg", (40, 32), 1)
    _image(source, "000002.png", (24, 16), 2)
    objects: list[Obj] = [("dog", (1, 1, 10, 20)), ("cat", (5, 6, 40, 32))]
    _annotation(source, "000001", _xml("000001.jpg", objects, (40, 32), difficult={2}))
    _annotation(source, "000002", _xml("000002.png", [], (24, 16)))
    result = read_voc(source)
    assert (result.format, result.target) == ("voc", "boxes")
    assert result.skipped == []
    assert result.classes == ["cat", "dog"]
    assert _names(result) == ["JPEGImages/000001.jpg", "JPEGImages/000002.png"]
    first, negative = result.candidates
    assert first.path == (source / "JPEGImages" / "000001.jpg").resolve()
    assert first.subset is None and first.label is None
    boxes = first.objects(40, 32) if first.objects else ()
    assert [(b.where, b.difficult) for b in boxes] == [
        ("object 1 in Annotations/000001.xml", False),
        ("object 2 in Annotations/000001.xml", True),
    ]
    done = _finished(result, first, (40, 32))
    assert done.refused is None and done.clipped == 0
    assert done.annotation == {
        "kind": "boxes",
        "objects": [
            {"class": "dog", "box": [0.0, 0.0, 10.0, 20.0]},
            {"class": "cat", "box": [4.0, 5.0, 40.0, 32.0], "difficult": True},
        ],
    }
    assert _finished(result, negative, (24, 16)).annotation == {"kind": "boxes", "objects": []}


def test_decimal_coordinates_and_boxes_slightly_out_are_left_to_finish_boxes(
    tmp_path: Path,
) -> None:
    source = _voc(tmp_path)
    _image(source, "a.png")
    _annotation(source, "a", _xml("a.png", [("dog", ("1.5", " 2 ", "41", "20.25"))]))
    result = read_voc(source)
    done = _finished(result, result.candidates[0], (40, 32))
    assert done.clipped == 1
    assert done.annotation == {
        "kind": "boxes",
        "objects": [{"class": "dog", "box": [0.5, 1.0, 40.0, 20.25]}],
    }


def test_parts_and_other_tags_are_not_objects(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    _image(source, "a.png")
    text = (
        "<annotation><filename>a.png</filename><object><name>person</name>"
        "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>20</xmax><ymax>30</ymax></bndbox>"
        "<part><name>hand</name><bndbox><xmin>2</xmin><ymin>2</ymin><xmax>4</xmax>"
        "<ymax>4</ymax></bndbox></part></object></annotation>"
    )
    _annotation(source, "a", text)
    result = read_voc(source)
    assert result.classes == ["person"]
    assert _finished(result, result.candidates[0], (40, 32)).annotation == {
        "kind": "boxes",
        "objects": [{"class": "person", "box": [0.0, 0.0, 20.0, 30.0]}],
    }


def test_difficult_values(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    _image(source, "a.png")
    box = "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox>"
    objects = "".join(
        f"<object><name>o</name>{flag}{box}</object>"
        for flag in ("", "<difficult>0</difficult>", "<difficult> 1 </difficult>")
    )
    _annotation(source, "a", f"<annotation><filename>a.png</filename>{objects}</annotation>")
    result = read_voc(source)
    objects_at = result.candidates[0].objects
    assert objects_at is not None
    assert [b.difficult for b in objects_at(40, 32)] == [False, False, True]


def test_objects_are_picklable_for_process_pools(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    _image(source, "a.png")
    _annotation(source, "a", _xml("a.png", [("dog", (1, 1, 10, 20))], (40, 32)))
    objects_at = read_voc(source).candidates[0].objects
    assert objects_at is not None
    copy = pickle.loads(pickle.dumps(objects_at))
    assert copy(40, 32) == objects_at(40, 32)


def test_the_registry_entry_loads_the_reader_and_the_sniffer(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    _image(source, "a.png")
    _annotation(source, "a", _xml("a.png"))
    spec = FORMATS["voc"]
    assert spec.sniff(source)
    assert _names(spec.read(source, True)) == ["JPEGImages/a.png"]


# ---------------------------------------------------------------------- finding the image
def test_filename_missing_or_absent_falls_back_to_the_stem(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    _image(source, "a.jpg", color=1)
    _image(source, "b.png", color=2)
    _image(source, "sub/c.png", color=3)
    _annotation(source, "a", _xml(None, [("dog", (1, 1, 5, 5))]))
    _annotation(source, "b", _xml("b.jpg"))  # wrong suffix in the XML: b.png is b's image
    _annotation(source, "c", _xml("sub/c.png"))  # a sub-folder of JPEGImages/ is allowed
    result = read_voc(source)
    assert result.skipped == []
    assert _names(result) == ["JPEGImages/a.jpg", "JPEGImages/b.png", "JPEGImages/sub/c.png"]


def test_image_missing_or_ambiguous_is_a_skip(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    _image(source, "d.jpg", color=1)
    _image(source, "d.png", color=2)
    _annotation(source, "a", _xml("a.jpg"))
    _annotation(source, "b", _xml(None))
    _annotation(source, "d", _xml(None))
    result = read_voc(source)
    assert result.candidates == []
    assert result.classes == []
    assert _skips(result) == {
        "Annotations/a.xml": "image not found: <filename> 'a.jpg' is not in JPEGImages/, "
        "and no image JPEGImages/a.*",
        "Annotations/b.xml": "image not found: no <filename>, and no image JPEGImages/b.*",
        "Annotations/d.xml": "image not found: no <filename>, and several images are named "
        "d.*: JPEGImages/d.jpg, JPEGImages/d.png",
    }


def test_filename_escaping_the_source_is_a_skip(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    outside = _image(tmp_path / "elsewhere", "secret.png")
    (source / "JPEGImages" / "link.png").symlink_to(outside)
    _image(source, "a.png", color=1)
    _image(source, "w.png", color=2)
    _annotation(source, "a", _xml("../../etc/passwd"))
    _annotation(source, "b", _xml("/etc/passwd"))
    _annotation(source, "c", _xml("link.png"))
    _annotation(source, "d", _xml("../Annotations/a.xml"))
    _annotation(source, "w", _xml("C:\\data\\w.png"))
    result = read_voc(source)
    assert result.candidates == []
    assert _skips(result) == {
        "Annotations/a.xml": "<filename> '../../etc/passwd' leaves JPEGImages/ (..)",
        "Annotations/b.xml": "<filename> '/etc/passwd' is an absolute path "
        "(it must name a file in JPEGImages/)",
        "Annotations/c.xml": "<filename> 'link.png' resolves outside the source folder "
        "(symbolic link)",
        "Annotations/d.xml": "<filename> '../Annotations/a.xml' leaves JPEGImages/ (..)",
        "Annotations/w.xml": "<filename> 'C:\\\\data\\\\w.png' is an absolute path "
        "(it must name a file in JPEGImages/)",
        # a.png and w.png are not listed again: their XML's skip stands for them
        "JPEGImages/link.png": "symbolic link pointing outside the source folder",
    }


def test_filename_naming_a_file_that_is_not_an_image_is_a_skip(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    write(source / "JPEGImages" / "notes.txt", b"hello")
    _annotation(source, "a", _xml("notes.txt"))
    assert _skips(read_voc(source)) == {
        "Annotations/a.xml": "<filename> 'notes.txt': not an image file (extension .txt)",
        "JPEGImages/notes.txt": "not an image file (extension .txt)",
    }


def test_two_annotations_of_one_image_keep_the_first(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    _image(source, "x.jpg")
    _annotation(source, "a", _xml("x.jpg", [("dog", (1, 1, 10, 10))]))
    _annotation(source, "b", _xml("x.jpg", [("cat", (2, 2, 20, 20))]))
    result = read_voc(source)
    assert _skips(result) == {
        "Annotations/b.xml": "names JPEGImages/x.jpg, already annotated by Annotations/a.xml"
    }
    assert result.classes == ["dog"]
    assert _names(result) == ["JPEGImages/x.jpg"]
    assert _finished(result, result.candidates[0], (40, 32)).annotation == {
        "kind": "boxes",
        "objects": [{"class": "dog", "box": [0.0, 0.0, 10.0, 10.0]}],
    }


def test_images_without_annotation_and_stray_files_are_listed(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    _image(source, "a.png", color=1)
    _image(source, "lonely.jpg", color=2)
    _image(source, "deep/lonely.png", color=3)
    _image(source, ".hidden.png", color=4)
    write(source / "JPEGImages" / "README", b"hello")
    write(source / "Annotations" / "notes.txt", b"hello")
    write(source / "Annotations" / ".a.xml.swp", b"hello")
    (source / "Annotations" / "old").mkdir()
    _annotation(source, "a", _xml("a.png"))
    result = read_voc(source)
    assert _names(result) == ["JPEGImages/a.png"]
    assert [s.path for s in result.skipped] == [  # annotations first, then images
        "Annotations/notes.txt",
        "Annotations/old/",
        "JPEGImages/README",
        "JPEGImages/deep/lonely.png",
        "JPEGImages/lonely.jpg",
    ]
    assert _skips(result) == {
        "Annotations/notes.txt": "not an annotation file (extension .txt; expected .xml)",
        "Annotations/old/": "folder inside Annotations/ (not read)",
        "JPEGImages/README": "not an image file (no extension)",
        "JPEGImages/deep/lonely.png": "no annotation file in Annotations/",
        "JPEGImages/lonely.jpg": "no annotation file in Annotations/",
    }


# ------------------------------------------------------------------------- bad XML files
def test_malformed_xml_and_wrong_root_are_skips(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    _image(source, "a.png", color=1)
    _image(source, "b.png", color=2)
    _image(source, "c.png", color=3)
    _annotation(source, "a", "<annotation><filename>a.png</annotation>")
    _annotation(source, "b", "")
    _annotation(source, "c", "<html><filename>c.png</filename></html>")
    result = read_voc(source)
    assert result.candidates == []
    skips = _skips(result)
    assert skips["Annotations/a.xml"] == "malformed XML (mismatched tag: line 1, column 29)"
    assert skips["Annotations/b.xml"] == "malformed XML (no element found: line 1, column 0)"
    assert skips["Annotations/c.xml"] == (
        "not a VOC annotation: the root element is <html>, not <annotation>"
    )
    assert len(skips) == 3  # the images are not listed again as unannotated


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE annotation [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<annotation><filename>a.png</filename><object><name>&lol9;</name><bndbox><xmin>1</xmin>
<ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<annotation><filename>b.png</filename><object><name>&e;</name><bndbox><xmin>1</xmin>
<ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>
"""

PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY % p SYSTEM "http://example.invalid/evil.dtd"> %p;]>
<annotation><filename>c.png</filename></annotation>
"""


def test_entity_bombs_and_external_entities_are_refused(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    for number, stem in enumerate("abcd"):
        _image(source, f"{stem}.png", color=number)
    _annotation(source, "a", BILLION_LAUGHS)
    _annotation(source, "b", EXTERNAL_ENTITY)
    _annotation(source, "c", PARAMETER_ENTITY)
    # a DOCTYPE alone (no entity) is harmless, and an external DTD is never fetched
    _annotation(
        source,
        "d",
        '<!DOCTYPE annotation SYSTEM "http://example.invalid/voc.dtd">' + _xml("d.png"),
    )
    result = read_voc(source)
    refused = "refused: the XML declares entities (defusedxml)"
    assert _skips(result) == {
        "Annotations/a.xml": refused,
        "Annotations/b.xml": refused,
        "Annotations/c.xml": refused,
    }
    assert _names(result) == ["JPEGImages/d.png"]
    assert result.classes == []


def test_an_xml_file_too_large_is_skipped_unread(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    _image(source, "a.png")
    with (source / "Annotations" / "a.xml").open("wb") as handle:
        handle.truncate(MAX_XML_BYTES + 1)  # sparse: nothing written, and NULs if read
    assert _skips(read_voc(source)) == {
        "Annotations/a.xml": f"larger than 10 MiB ({MAX_XML_BYTES + 1} bytes): not read"
    }


def test_xml_links_leading_out_and_special_entries_are_skips(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    _image(source, "a.png", color=1)
    _image(source, "b.png", color=2)
    _image(source, "c.png", color=3)
    outside = write(tmp_path / "elsewhere" / "a.xml", _xml("a.png").encode())
    (source / "Annotations" / "a.xml").symlink_to(outside)
    (source / "Annotations" / "b.xml").symlink_to(source / "nowhere.xml")
    inside = write(source / "extra" / "c.xml", _xml("c.png").encode())
    (source / "Annotations" / "c.xml").symlink_to(inside)
    result = read_voc(source)
    assert _skips(result) == {
        "Annotations/a.xml": "symbolic link pointing outside the source folder",
        "Annotations/b.xml": "broken symbolic link",
    }
    assert _names(result) == ["JPEGImages/c.png"]


# ------------------------------------------------------------------------- bad objects
@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        (
            "<object><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax>"
            "</bndbox></object>",
            "object 2 has no <name>",
        ),
        ("<object><name>  </name></object>", "object 2 has no <name>"),
        ("<object><name>cat</name></object>", "object 2 (cat) has no <bndbox>"),
        (
            "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax>"
            "</bndbox></object>",
            "object 2 (cat): <bndbox> has no <ymax>",
        ),
        (
            "<object><name>cat</name><bndbox><xmin>one</xmin><ymin>1</ymin><xmax>5</xmax>"
            "<ymax>5</ymax></bndbox></object>",
            "object 2 (cat): <xmin> 'one' is not a number",
        ),
        (
            "<object><name>c&#9;t</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax>"
            "<ymax>5</ymax></bndbox></object>",
            "object 2: invalid class name: label 'c\\tt' contains control characters",
        ),
        (
            f"<object><name>{'x' * 101}</name></object>",
            "object 2: invalid class name: label longer than 100 characters (101)",
        ),
    ],
)
def test_an_object_that_cannot_be_read_skips_the_image(
    tmp_path: Path, obj: str, reason: str
) -> None:
    source = _voc(tmp_path)
    _image(source, "a.png", color=1)
    _image(source, "b.png", color=2)
    good = "<object><name>dog</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax>"
    good += "<ymax>5</ymax></bndbox></object>"
    _annotation(source, "a", f"<annotation><filename>a.png</filename>{good}{obj}</annotation>")
    _annotation(source, "b", _xml("b.png", [("bird", (1, 1, 5, 5))]))
    result = read_voc(source)
    assert _skips(result) == {"Annotations/a.xml": reason}
    assert _names(result) == ["JPEGImages/b.png"]
    assert result.classes == ["bird"]  # names of a skipped file add no class


def test_a_skipped_annotation_still_claims_its_image(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    _image(source, "x.png", color=1)
    _image(source, "a.png", color=2)  # a.xml's stem, but a.xml names x.png
    bad = "<object><name>dog</name></object>"
    _annotation(source, "a", f"<annotation><filename>x.png</filename>{bad}</annotation>")
    _annotation(source, "b", _xml("x.png", [("cat", (1, 1, 5, 5))]))
    result = read_voc(source)
    assert result.candidates == []
    assert _skips(result) == {
        "Annotations/a.xml": "object 1 (dog) has no <bndbox>",
        "Annotations/b.xml": "names JPEGImages/x.png, already annotated by Annotations/a.xml",
        "JPEGImages/a.png": "no annotation file in Annotations/",
    }


def test_class_names_are_stripped(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    _image(source, "a.png")
    _annotation(source, "a", _xml("a.png", [(" dog\n", (1, 1, 5, 5))]))
    result = read_voc(source)
    assert result.classes == ["dog"]
    assert _finished(result, result.candidates[0], (40, 32)).annotation == {
        "kind": "boxes",
        "objects": [{"class": "dog", "box": [0.0, 0.0, 5.0, 5.0]}],
    }


def test_absurd_boxes_are_refused_by_finish_boxes(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    _image(source, "a.png")
    _annotation(source, "a", _xml("a.png", [("dog", (10, 10, 5, 20)), ("dog", (1, 1, 900, 5))]))
    result = read_voc(source)
    done = _finished(result, result.candidates[0], (40, 32))
    assert done.annotation is None
    assert done.refused_count == 2
    assert done.refused == (
        "object 1 in Annotations/a.xml: box [9, 9, 5, 20] has no area (and 1 more)"
    )


# --------------------------------------------------------------------------- <size>
def test_size_that_disagrees_with_the_image_raises_objects_error(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    for number, stem in enumerate("abcd"):
        _image(source, f"{stem}.png", color=number)
    _annotation(source, "a", _xml("a.png", [("dog", (1, 1, 5, 5))], (40, 32)))
    _annotation(source, "b", _xml("b.png", [("dog", (1, 1, 5, 5))], (0, 0)))
    _annotation(source, "c", _xml("c.png", [("dog", (1, 1, 5, 5))]))
    _annotation(source, "d", _xml("d.png", [("dog", (1, 1, 5, 5))], ("", "")))
    result = read_voc(source)
    assert result.skipped == []
    a, b, c, d = (candidate.objects for candidate in result.candidates)
    assert a is not None and b is not None and c is not None and d is not None
    assert len(a(40, 32)) == 1
    with pytest.raises(ObjectsError) as caught:
        a(32, 40)
    assert str(caught.value) == (
        "Annotations/a.xml gives the image's size as 40x32 but the image is 32x40 (upright): "
        "its boxes would be in another frame"
    )
    for objects_at in (b, c, d):  # size 0 or missing: accepted at any size
        assert len(objects_at(32, 40)) == 1


def test_size_that_is_not_a_number_is_a_skip(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    _image(source, "a.png")
    _annotation(source, "a", _xml("a.png", [], ("wide", 32)))
    assert _skips(read_voc(source)) == {
        "Annotations/a.xml": "<size> <width> 'wide' is not a whole number of pixels"
    }


# --------------------------------------------------------------------- the source as a whole
def test_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is not a folder"):
        read_voc(write(tmp_path / "file.xml", b"<annotation/>"))
    (tmp_path / "plain" / "JPEGImages").mkdir(parents=True)
    with pytest.raises(SourceError, match=r"has no Annotations/ folder"):
        read_voc(tmp_path / "plain")
    source = _voc(tmp_path)
    write(source / "Annotations" / "notes.txt", b"hello")
    write(source / "Annotations" / ".hidden.xml", b"<annotation/>")
    with pytest.raises(SourceError, match=r"no annotation file \(\.xml\) in Annotations/"):
        read_voc(source)
    no_images = tmp_path / "no_images"
    _annotation(no_images, "a", _xml("a.png"))
    with pytest.raises(SourceError, match=r"has no JPEGImages/ folder"):
        read_voc(no_images)


def test_a_layout_folder_linking_out_is_a_source_error(tmp_path: Path) -> None:
    source = tmp_path / "voc"
    (source / "JPEGImages").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    _annotation(elsewhere, "a", _xml("a.png"))
    (source / "Annotations").symlink_to(elsewhere / "Annotations")
    with pytest.raises(SourceError, match="symbolic link pointing outside the source folder"):
        read_voc(source)


def test_looks_like_voc(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    assert not looks_like_voc(source)  # no .xml yet
    write(source / "Annotations" / ".hidden.xml", b"")
    write(source / "Annotations" / "notes.txt", b"")
    assert not looks_like_voc(source)
    write(source / "Annotations" / "A.XML", b"not even parsed")
    assert looks_like_voc(source)
    assert not looks_like_voc(tmp_path / "missing")
    assert not looks_like_voc(write(tmp_path / "f.xml", b""))


# -------------------------------------------------------------------- unlabelled, names
def test_unlabelled_takes_every_image_and_parses_no_xml(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    _image(source, "a.png", color=1)
    _image(source, "b.jpg", color=2)
    write(source / "JPEGImages" / "notes.txt", b"hello")
    _annotation(source, "a", BILLION_LAUGHS)
    result = read_voc(source, labelled=False)
    assert (result.target, result.classes) == (None, None)
    assert _names(result) == ["JPEGImages/a.png", "JPEGImages/b.jpg"]
    assert all(c.objects is None for c in result.candidates)
    assert _skips(result) == {"JPEGImages/notes.txt": "not an image file (extension .txt)"}


def test_names_that_are_not_utf8_are_escaped_skips(tmp_path: Path) -> None:
    source = _voc(tmp_path)
    bad_xml = os.fsdecode(b"caf\xe9.xml")
    bad_image = os.fsdecode(b"caf\xe9.png")
    try:
        write(source / "Annotations" / bad_xml, _xml("a.png").encode())
        _image(source, bad_image, color=1)
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    _image(source, "a.png", color=2)
    _annotation(source, "a", _xml("a.png"))
    result = read_voc(source)
    hint = "(shown with \\x escapes; rename it to import it)"
    assert _skips(result) == {
        "Annotations/caf\\xe9.xml": f"file name is not valid UTF-8 {hint}",
        "JPEGImages/caf\\xe9.png": f"file name is not valid UTF-8 {hint}",
    }
    assert _names(result) == ["JPEGImages/a.png"]
    assert all(skip.as_data()["path"] == skip.path for skip in result.skipped)
