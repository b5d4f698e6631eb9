"""YOLO label-line parsing: property tests (hypothesis) and worked examples."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from fraclab.data.formats.common import source_stem
from fraclab.data.labels import (
    COORD_TOLERANCE,
    Box,
    LabelError,
    parse_label_line,
    parse_label_text,
    polygon_to_box,
)

TOL = 1e-9
# No per-example deadline: the machine is shared and timing is not what these tests check.
relaxed = settings(deadline=None)

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False, allow_infinity=False)
spaces = st.text(alphabet=" \t", min_size=1, max_size=3)
n_classes_st = st.integers(min_value=1, max_value=20)
# Number formats an exporter could plausibly write; all keep far more than 1e-9 precision.
number_format = st.sampled_from([repr, "{:.15e}".format, "{:.17f}".format, "{:.12g}".format])


@st.composite
def valid_boxes(draw, min_size: float = 1e-6):
    """(n_classes, Box) with the box inside the unit square and a positive size."""
    n_classes = draw(n_classes_st)
    cls = draw(st.integers(min_value=0, max_value=n_classes - 1))
    corners = []
    for _ in range(2):
        a, b = sorted([draw(unit), draw(unit)])
        assume(b - a >= min_size)
        corners.append((a, b))
    (x0, x1), (y0, y1) = corners
    return n_classes, Box(cls, (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)


@st.composite
def formatted_line(draw, values: list[str]):
    """Join ``values`` with random whitespace, optionally leading/trailing and a newline."""
    seps = [draw(spaces) for _ in range(len(values) - 1)]
    line = values[0] + "".join(s + v for s, v in zip(seps, values[1:], strict=True))
    lead = draw(st.sampled_from(["", " ", "\t", "  "]))
    trail = draw(st.sampled_from(["", " ", "   ", "\t", " \n", "\r\n", "\n"]))
    return lead + line + trail


def box_values(box: Box, fmt=repr) -> list[str]:
    return [str(box.cls), *(fmt(v) for v in (box.cx, box.cy, box.w, box.h))]


def assert_box_close(actual: Box, expected: Box, tol: float = TOL) -> None:
    assert actual.cls == expected.cls
    for name in ("cx", "cy", "w", "h"):
        assert abs(getattr(actual, name) - getattr(expected, name)) <= tol, name


def assert_box_valid(box: Box, n_classes: int) -> None:
    """Invariants every parsed box must satisfy."""
    assert isinstance(box.cls, int) and 0 <= box.cls < n_classes
    for v in (box.cx, box.cy, box.w, box.h):
        assert math.isfinite(v)
    assert box.w > 0 and box.h > 0
    assert box.cx - box.w / 2 >= -COORD_TOLERANCE and box.cx + box.w / 2 <= 1 + COORD_TOLERANCE
    assert box.cy - box.h / 2 >= -COORD_TOLERANCE and box.cy + box.h / 2 <= 1 + COORD_TOLERANCE


# --- boxes -----------------------------------------------------------------------------------


@relaxed
@given(valid_boxes(), number_format, st.data())
def test_box_line_round_trips(nb, fmt, data):
    n_classes, box = nb
    line = data.draw(formatted_line(box_values(box, fmt)))
    parsed = parse_label_line(line, n_classes)
    assert_box_close(parsed, box)
    assert_box_valid(parsed, n_classes)


@relaxed
@given(valid_boxes(min_size=1e-5))
def test_box_to_line_round_trips_within_six_decimals(nb):
    n_classes, box = nb
    line = box.to_line()
    assert len(line.split()) == 5
    assert_box_close(parse_label_line(line, n_classes), box, tol=5e-7 + 1e-12)


def test_box_line_example():
    assert parse_label_line("1 0.5 0.25 0.2 0.1", 2) == Box(1, 0.5, 0.25, 0.2, 0.1)
    assert parse_label_line("  0\t0.5  0.5 1 1  \n", 1) == Box(0, 0.5, 0.5, 1.0, 1.0)


@pytest.mark.parametrize("line", ["0 0.5 0.5 0 0.2", "0 0.5 0.5 0.2 0", "0 0 0 0 0"])
def test_zero_size_box_raises(line):
    with pytest.raises(LabelError, match="zero width or height"):
        parse_label_line(line, 1)


@pytest.mark.parametrize("line", ["0 0.9 0.5 0.4 0.2", "0 0.1 0.5 0.4 0.2",
                                  "0 0.5 0.95 0.2 0.2", "0 0.5 0.05 0.2 0.2", "0 0.5 0.5 1 1.01"])
def test_box_extending_outside_image_raises(line):
    with pytest.raises(LabelError, match="outside"):
        parse_label_line(line, 1)


# --- polygons --------------------------------------------------------------------------------


@relaxed
@given(n_classes_st, st.data(), st.lists(st.tuples(unit, unit), min_size=3, max_size=12))
def test_polygon_gives_enclosing_box(n_classes, data, points):
    cls = data.draw(st.integers(0, n_classes - 1))
    values = [str(cls), *(repr(c) for p in points for c in p)]
    line = data.draw(formatted_line(values))
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    if min(xs) == max(xs) or min(ys) == max(ys):
        with pytest.raises(LabelError, match="zero width or height"):
            parse_label_line(line, n_classes)
        return
    box = parse_label_line(line, n_classes)
    assert box.cls == cls
    assert box.w >= 0 and box.h >= 0
    left, right = box.cx - box.w / 2, box.cx + box.w / 2
    top, bottom = box.cy - box.h / 2, box.cy + box.h / 2
    assert abs(left - min(xs)) <= TOL and abs(right - max(xs)) <= TOL
    assert abs(top - min(ys)) <= TOL and abs(bottom - max(ys)) <= TOL
    for x, y in points:
        assert left - TOL <= x <= right + TOL
        assert top - TOL <= y <= bottom + TOL
    assert_box_valid(box, n_classes)


@relaxed
@given(st.lists(st.tuples(unit, unit), min_size=1, max_size=12))
def test_polygon_to_box_sizes_are_non_negative(points):
    box = polygon_to_box(0, [c for p in points for c in p])
    assert box.w >= 0 and box.h >= 0
    for x, y in points:
        assert box.cx - box.w / 2 - TOL <= x <= box.cx + box.w / 2 + TOL
        assert box.cy - box.h / 2 - TOL <= y <= box.cy + box.h / 2 + TOL


@relaxed
@given(valid_boxes(), st.integers(0, 3), st.booleans())
def test_rectangle_polygon_gives_that_rectangle(nb, start, clockwise):
    n_classes, box = nb
    x0, x1 = box.cx - box.w / 2, box.cx + box.w / 2
    y0, y1 = box.cy - box.h / 2, box.cy + box.h / 2
    # Clamp rounding slop so the polygon's corners are inside the unit square exactly.
    x0, x1, y0, y1 = (min(max(v, 0.0), 1.0) for v in (x0, x1, y0, y1))
    assume(x1 > x0 and y1 > y0)
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    if clockwise:
        corners.reverse()
    corners = corners[start:] + corners[:start]
    line = " ".join([str(box.cls), *(repr(c) for p in corners for c in p)])
    expected = Box(box.cls, (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)
    assert_box_close(parse_label_line(line, n_classes), expected)


def test_rectangle_polygon_example():
    line = "1 0.1 0.2 0.5 0.2 0.5 0.6 0.1 0.6"
    assert_box_close(parse_label_line(line, 2), Box(1, 0.3, 0.4, 0.4, 0.4))


def test_triangle_polygon_example():
    line = "0 0.2 0.8 0.6 0.8 0.4 0.3"
    assert_box_close(parse_label_line(line, 1), Box(0, 0.4, 0.55, 0.4, 0.5))


# --- malformed lines -------------------------------------------------------------------------

bad_counts = st.integers(0, 41).filter(lambda n: n != 5 and (n < 7 or n % 2 == 0))


@relaxed
@given(bad_counts, st.data())
def test_wrong_value_count_raises(count, data):
    values = data.draw(st.lists(st.sampled_from(["0", "0.5", "0.25", "1"]),
                                min_size=count, max_size=count))
    line = " ".join(values)
    with pytest.raises(LabelError, match=rf"expected 5 values .* got {count}$"):
        parse_label_line(line, 2)


@pytest.mark.parametrize("count", [4, 6, 8])
def test_wrong_value_count_examples(count):
    line = " ".join(["0"] + ["0.5"] * (count - 1))
    with pytest.raises(LabelError, match=f"got {count}"):
        parse_label_line(line, 1)


def _not_a_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return True
    return False


garbage_token = (
    st.text(st.characters(exclude_categories=("Z", "C")), min_size=1, max_size=8)
    .filter(lambda t: t.split() == [t])
    .filter(_not_a_float)
)


@relaxed
@given(garbage_token, st.integers(0, 4))
@example("abc", 2)
@example("0.5x", 1)
@example("1,5", 3)
@example("x", 0)
def test_non_numeric_token_raises(token, position):
    values = ["0", "0.5", "0.5", "0.2", "0.2"]
    values[position] = token
    with pytest.raises(LabelError, match="non-numeric"):
        parse_label_line(" ".join(values), 1)


def test_non_numeric_in_polygon_raises():
    with pytest.raises(LabelError, match="non-numeric"):
        parse_label_line("0 0.1 0.1 0.5 0.1 0.5 zero", 1)


@relaxed
@given(n_classes_st, st.data())
def test_class_id_outside_names_raises(n_classes, data):
    cls = data.draw(st.one_of(st.integers(n_classes, 10**6), st.integers(-(10**6), -1)))
    with pytest.raises(LabelError, match=rf"class id {cls} not in names \(0\.\.{n_classes - 1}\)"):
        parse_label_line(f"{cls} 0.5 0.5 0.2 0.2", n_classes)


@pytest.mark.parametrize("cls", ["1.5", "0.1", "-0.5", "1e-3"])
def test_non_integer_class_id_raises(cls):
    with pytest.raises(LabelError, match="not an integer"):
        parse_label_line(f"{cls} 0.5 0.5 0.2 0.2", 3)


@pytest.mark.parametrize("cls", ["nan", "inf", "-inf"])
def test_non_finite_class_id_raises(cls):
    with pytest.raises(LabelError):
        parse_label_line(f"{cls} 0.5 0.5 0.2 0.2", 3)


outside = st.one_of(
    st.floats(min_value=1 + 10 * COORD_TOLERANCE, max_value=1e6),
    st.floats(min_value=-1e6, max_value=-10 * COORD_TOLERANCE),
)


@relaxed
@given(outside, st.integers(1, 4))
@example(1.5, 1)
@example(-0.1, 2)
@example(1.00001, 3)
def test_box_coordinate_outside_unit_raises(value, position):
    values = ["0", "0.5", "0.5", "0.2", "0.2"]
    values[position] = repr(value)
    with pytest.raises(LabelError, match=r"outside \[0, 1\]"):
        parse_label_line(" ".join(values), 1)


@relaxed
@given(outside, st.integers(1, 8))
def test_polygon_coordinate_outside_unit_raises(value, position):
    values = ["0", "0.1", "0.1", "0.5", "0.1", "0.5", "0.6", "0.1", "0.6"]
    values[position] = repr(value)
    with pytest.raises(LabelError, match=r"outside \[0, 1\]"):
        parse_label_line(" ".join(values), 1)


@pytest.mark.parametrize("token", ["nan", "NaN", "inf", "-inf", "Infinity", "-Infinity"])
@pytest.mark.parametrize("position", [1, 3])
def test_non_finite_coordinate_raises(token, position):
    values = ["0", "0.5", "0.5", "0.2", "0.2"]
    values[position] = token
    with pytest.raises(LabelError, match=r"outside \[0, 1\]"):
        parse_label_line(" ".join(values), 1)


@relaxed
@given(st.floats(min_value=0, max_value=COORD_TOLERANCE, exclude_min=True))
def test_tiny_excursions_are_clipped(excess):
    # Polygon corners a hair outside the unit square are clipped to it.
    line = (f"0 {-excess!r} {-excess!r} {1 + excess!r} {-excess!r} "
            f"{1 + excess!r} {1 + excess!r} {-excess!r} {1 + excess!r}")
    assert parse_label_line(line, 1) == Box(0, 0.5, 0.5, 1.0, 1.0)
    # A full-image box whose size rounds to a hair over 1.
    box = parse_label_line(f"0 0.5 0.5 {1 + excess!r} {1 + excess!r}", 1)
    assert box == Box(0, 0.5, 0.5, 1.0, 1.0)


def test_tiny_excursion_example():
    box = parse_label_line("0 0.3 -0.0000005 0.6 -0.0000004 0.6 0.4", 1)
    assert box.cy - box.h / 2 == 0.0
    assert abs(box.h - 0.4) <= TOL


# --- whole files -----------------------------------------------------------------------------


def test_empty_text_gives_no_boxes():
    assert parse_label_text("", 2) == []
    assert parse_label_text("\n\n", 2) == []
    assert parse_label_text("  \n\t\n \r\n", 2) == []


box_lines = st.lists(valid_boxes(), min_size=1, max_size=6)


@relaxed
@given(box_lines, st.data())
def test_text_parses_lines_in_order_ignoring_blanks(nbs, data):
    n_classes = max(n for n, _ in nbs)
    boxes = [b for _, b in nbs]
    lines = [" ".join(box_values(b)) for b in boxes]
    plain = "\n".join(lines)
    parsed = parse_label_text(plain, n_classes)
    assert len(parsed) == len(boxes)
    for got, want in zip(parsed, boxes, strict=True):
        assert_box_close(got, want)
    # A trailing newline, CRLF endings and blank lines change nothing.
    assert parse_label_text(plain + "\n", n_classes) == parsed
    assert parse_label_text("\r\n".join(lines) + "\r\n", n_classes) == parsed
    blanks = data.draw(st.lists(st.text(" \t", max_size=3), min_size=len(lines) + 1,
                                max_size=len(lines) + 1))
    padded = blanks[0] + "\n" + "".join(f"{line}\n{blank}\n"
                                        for line, blank in zip(lines, blanks[1:], strict=True))
    assert parse_label_text(padded, n_classes) == parsed


def test_text_without_trailing_newline_example():
    text = "0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.3 0.1 0.3 0.4"
    expected = [Box(0, 0.5, 0.5, 0.2, 0.2), polygon_to_box(1, [0.1, 0.1, 0.3, 0.1, 0.3, 0.4])]
    assert parse_label_text(text, 2) == expected
    assert parse_label_text(text + "\n", 2) == expected


def test_error_names_line_number():
    text = "0 0.5 0.5 0.2 0.2\n\n0 0.5 oops 0.2 0.2\n0 0.5 0.5 0.2 0.2\n"
    with pytest.raises(LabelError, match=r"^line 3: non-numeric"):
        parse_label_text(text, 1)


@relaxed
@given(st.integers(0, 6), st.lists(st.booleans(), min_size=7, max_size=7),
       st.sampled_from(["0 0.5 0.5 0.2", "0 2 0.5 0.2 0.2", "5 0.5 0.5 0.2 0.2", "0 a b c d"]))
def test_error_line_number_counts_blank_lines(bad_at, blank_flags, bad_line):
    physical = []
    for i in range(7):
        if blank_flags[i]:
            physical.append("  ")
        physical.append(bad_line if i == bad_at else "0 0.5 0.5 0.2 0.2")
    number = physical.index(bad_line) + 1
    with pytest.raises(LabelError, match=rf"^line {number}: "):
        parse_label_text("\n".join(physical), 1)


# --- fuzz: every failure is a LabelError ----------------------------------------------------

token = st.one_of(
    st.sampled_from(["0", "1", "2", "-1", "0.5", "1.0", "1.5", "nan", "inf", "-inf", "1e308",
                     "1e999", "-0", "0x1", "1_0", "", "٣", "0.9999999", "1.0000001", "-1e-7"]),
    st.floats().map(repr),
    st.integers(-3, 3).map(str),
    st.text(max_size=4),
)
token_line = st.lists(token, max_size=12).map(" ".join)


@relaxed
@given(st.one_of(st.text(), token_line), st.integers(1, 5))
def test_parse_label_line_fails_only_with_label_error(line, n_classes):
    try:
        box = parse_label_line(line, n_classes)
    except LabelError:
        return
    assert_box_valid(box, n_classes)


@relaxed
@given(st.lists(st.one_of(st.text(max_size=20), token_line), max_size=5).map("\n".join),
       st.integers(1, 5))
def test_parse_label_text_fails_only_with_label_error(text, n_classes):
    try:
        boxes = parse_label_text(text, n_classes)
    except LabelError as err:
        assert str(err).startswith("line ")
        return
    for box in boxes:
        assert_box_valid(box, n_classes)


# --- source stems ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "stem"), [
    ("image1_1026_png.rf.37fe3a6ce92876f7d4176aaba328b54f.jpg", "image1_1026"),
    ("distal-humeral-fractures-2-_JPEG.rf.39ba3f53047ecb4064613850a1c76fc1.jpg",
     "distal-humeral-fractures-2-"),
    ("P00012_wrist_lat.png", "P00012_wrist_lat"),
    ("scan_jpeg.rf.ABCDEF0123.jpg", "scan"),
    ("scan.rf.abc123.png", "scan"),
    ("my_png_notes.png", "my_png_notes"),
    ("image1_1026_png.rf.37fe3a6ce92876f7d4176aaba328b54f.txt", "image1_1026"),
])
def test_source_stem(name, stem):
    assert source_stem(name) == stem


def test_augmented_copies_share_a_source_stem():
    a = source_stem("img7_jpg.rf.0123456789abcdef0123456789abcdef.jpg")
    b = source_stem("img7_jpg.rf.fedcba9876543210fedcba9876543210.jpg")
    c = source_stem("img70_jpg.rf.fedcba9876543210fedcba9876543210.jpg")
    assert a == b == "img7"
    assert c != a
