"""`tcpwrap report --html`, looked at in a real browser: headless Chromium renders the page of
the paper's logs to a PNG, and the pixels of the timeline picture are checked: the marks are
there, in the local host's colour, in the right remote host's row, refused ones outlined.

Needs Debian's `chromium` (scripts/install puts it there). Without it the test is skipped with
the reason, except under TCPWRAP_E2E=required, where it fails.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from tcpwrap.cli import main
from tcpwrap.report.render_html import COUNT_COLOR, LABEL_W, host_colors

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "report"
WIDTH, HEIGHT = 1200, 620
STRIPE = (0xF4, 0xF4, 0xF4)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    reason = "Debian's chromium is not installed (scripts/install installs it)"
    if os.environ.get("TCPWRAP_E2E") == "required":
        pytest.fail(f"TCPWRAP_E2E=required but {reason}", pytrace=False)
    pytest.skip(reason)


def screenshot(html: Path, png: Path) -> None:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
               "--force-device-scale-factor=1", "--hide-scrollbars",
               f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}", html.as_uri()]
        done = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert png.exists(), f"chromium wrote no screenshot: {done.stderr.decode()[-2000:]}"


def decode_png(data: bytes) -> tuple[int, int, list[list[tuple[int, int, int]]]]:
    """A small PNG reader (8-bit RGB/RGBA, not interlaced): what Chromium writes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _c, _f, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and color in (2, 6), (depth, color, interlace)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = width * channels
    prev = bytearray(stride)
    rows: list[list[tuple[int, int, int]]] = []
    for y in range(height):
        start = y * (stride + 1)
        ftype, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if ftype == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif ftype == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif ftype == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b = prev[i]
                c = prev[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append([(line[i], line[i + 1], line[i + 2]) for i in range(0, stride, channels)])
        prev = line
    return width, height, rows


def rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def near(a: tuple[int, int, int], b: tuple[int, int, int], tol: int = 3) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def rendered() -> Iterator[tuple[int, int, list[list[tuple[int, int, int]]]]]:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        html, png = d / "report.html", d / "report.png"
        fig5 = FIXTURES / "paper_fig5.log"
        status = main(["report", "--tz", "UTC", "--year", "1991", "--year", f"{fig5}=1990",
                       "--html", str(html), str(fig5), str(FIXTURES / "paper_fig7.log"),
                       str(FIXTURES / "paper_tftp.log")])
        assert status == 0
        screenshot(html, png)
        yield decode_png(png.read_bytes())


def stripe_bands(rows: list[list[tuple[int, int, int]]]) -> list[tuple[int, int]]:
    """y ranges of the grey row stripes of the picture (even rows: 1st, 3rd, ... remote)."""
    ys = [y for y, row in enumerate(rows)
          if sum(1 for px in row[LABEL_W + 20 : LABEL_W + 420] if px == STRIPE) > 300]
    bands: list[tuple[int, int]] = []
    for y in ys:
        if bands and y == bands[-1][1] + 1:
            bands[-1] = (bands[-1][0], y)
        else:
            bands.append((y, y))
    return bands


def pixels(rows: list[list[tuple[int, int, int]]], color: str, y0: int, y1: int,
           x0: int = LABEL_W) -> list[tuple[int, int]]:
    """Pixels of `color` in rows y0..y1-1, right of the row labels (or of x0)."""
    want = rgb(color)
    return [(x, y) for y in range(max(y0, 0), min(y1, len(rows)))
            for x in range(x0, len(rows[y])) if near(rows[y][x], want)]


def test_page_renders_at_the_requested_size(
        rendered: tuple[int, int, list[list[tuple[int, int, int]]]]) -> None:
    width, height, _ = rendered
    assert (width, height) == (WIDTH, HEIGHT)


def test_picture_rows_are_drawn(
        rendered: tuple[int, int, list[list[tuple[int, int, int]]]]) -> None:
    _, _, rows = rendered
    bands = stripe_bands(rows)
    assert len(bands) >= 5  # 10 remote hosts on screen: 5 striped rows
    heights = {b - a + 1 for a, b in bands}
    assert all(18 <= h <= 22 for h in heights), heights


def test_marks_in_host_colours_in_the_right_rows(
        rendered: tuple[int, int, list[list[tuple[int, int, int]]]]) -> None:
    _, _, rows = rendered
    bands = stripe_bands(rows)
    top, bottom = bands[0][0], bands[-1][1] + 22
    colors = host_colors(["svin01", "svin02", "trf.urb", "tuegate", "tuewsd", "tuewse",
                          "tuewso"])
    # Row 1 (striped) is guzzle.Stanford.EDU, the top suspect: svin01's blue marks.
    guzzle = pixels(rows, colors["svin01"], bands[0][0], bands[0][1] + 1)
    assert len(guzzle) >= 60
    # Row 2 (white, between stripes 1 and 2) is E40-008-8.MIT.EDU: svin02's orange tftp marks
    # and nothing orange anywhere else in the picture.
    e40_rows = (bands[0][1] + 1, bands[1][0])
    orange = pixels(rows, colors["svin02"], top, bottom)
    assert len(orange) >= 6 * 20
    assert all(e40_rows[0] <= y < e40_rows[1] for _, y in orange)
    # ... six separate marks, 77 s apart: six clusters of orange along x
    xs = sorted({x for x, _ in orange})
    clusters = 1 + sum(1 for a, b in pairwise(xs) if b - a > 2)
    assert clusters == 6
    # refused: each orange mark has a dark outline
    dark = pixels(rows, "#000000", *e40_rows)
    assert len(dark) >= 6 * 10
    # tuewso (purple) only for HAWAII-EMH1 and RICHARKE-TCACCIS, rows 3 and 4
    purple = pixels(rows, colors["tuewso"], top, bottom)
    assert purple and all(bands[1][0] <= y < bands[2][0] for _, y in purple)
    # trf.urb (red) once: monk.rutgers.edu, row 6
    red = pixels(rows, colors["trf.urb"], top, bottom)
    assert red and all(bands[2][1] < y < bands[3][0] for _, y in red)


def test_legend_and_picture_use_the_same_colours(
        rendered: tuple[int, int, list[list[tuple[int, int, int]]]]) -> None:
    _, _, rows = rendered
    bands = stripe_bands(rows)
    colors = host_colors(["svin01", "svin02", "trf.urb", "tuegate", "tuewsd", "tuewse",
                          "tuewso"])
    for host, color in colors.items():
        above = pixels(rows, color, 0, bands[0][0] - 30, x0=0)  # the legend swatch
        inside = pixels(rows, color, bands[0][0], bands[-1][1] + 22)
        assert len(above) >= 50, host
        assert len(inside) >= 15, host


LONG = "a-very-long-dynamic-pool-name-198-51-100-7.customers.region.isp.example.net"


@pytest.fixture(scope="module")
def crowded() -> Iterator[tuple[int, int, list[list[tuple[int, int, int]]]]]:
    """11 connections in one second from one host, a very long host name, many suspects."""
    lines = [f"Mar  3 10:00:0{i // 6} gw in.fingerd[{i}]: connect from stack.example.test "
             f"(198.51.100.5)" for i in range(11)]
    lines += [f"Mar  3 10:2{k}:00 gw in.telnetd[{100 + k}]: connect from {LONG} (198.51.100.7)"
              for k in range(3)]
    lines += [f"Mar  3 1{1 + i // 10}:{(i % 10) * 5 + k:02d}:00 gw in.ftpd[{200 + 3 * i + k}]: "
              f"refused connect from 203.0.113.{i} (203.0.113.{i})"
              for i in range(30) for k in range(3)]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        log, html, png = d / "crowded.log", d / "crowded.html", d / "crowded.png"
        log.write_text("\n".join(sorted(lines, key=lambda x: x[:15])) + "\n")
        assert main(["report", "--tz", "UTC", "--year", "2026", "--html", str(html),
                     str(log)]) == 0
        text = html.read_text()
        assert '<details class="more">' in text  # more than 20 suspects: folded
        screenshot(html, png)
        yield decode_png(png.read_bytes())


def test_a_stack_of_marks_shows_its_count(
        crowded: tuple[int, int, list[list[tuple[int, int, int]]]]) -> None:
    _, _, rows = crowded
    bands = stripe_bands(rows)
    assert bands
    top, bottom = bands[0][0] - 22, bands[-1][1] + 22
    count = pixels(rows, COUNT_COLOR, top, bottom, x0=LABEL_W)
    assert len(count) >= 10  # the digits "11" next to the one finger mark
    ys = {y for _, y in count}
    assert max(ys) - min(ys) < 20  # in one row only


def test_long_host_names_stay_in_the_label_column(
        crowded: tuple[int, int, list[list[tuple[int, int, int]]]]) -> None:
    # Labels end at the plot (right-aligned, LABEL_W - 8): a long name must not run off the
    # left edge, where it would lose its start.
    _, _, rows = crowded
    bands = stripe_bands(rows)
    top, bottom = bands[0][0], bands[-1][1] + 22
    label_ink = [(x, y) for x, y in pixels(rows, "#222222", top, bottom, x0=0)
                 if x < LABEL_W - 6]
    assert label_ink, "row labels are drawn"
    assert min(x for x, _ in label_ink) >= 3
