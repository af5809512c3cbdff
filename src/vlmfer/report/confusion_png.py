"""``confusion_matrix.png``: the confusion matrix of counts, drawn with Pillow.

The run folder's PNG is drawn from the cells of :func:`vlmfer.report.figures.heat_map`, so
it has the report's numbers and colours: gold rows with their support, the label columns
in blue, the non-answer columns in orange behind a dark bar, the diagonal outlined. The
text is Pillow's built-in font: no matplotlib, no font file to find, and the same bytes
for the same metrics. A character the font lacks is drawn as a box; no label can make the
drawing fail.
"""

from __future__ import annotations

import io
import math
from functools import cache
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

from vlmfer.report.figures import (
    DIAGONAL,
    INK,
    NON_ANSWER,
    SEPARATOR,
    HeatMap,
    clip_label,
    heat_map,
    rgb,
)

if TYPE_CHECKING:
    from vlmfer.report.context import Confusion

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

_CW, _CH, _PAD, _GAP = 54, 32, 12, 12
_ANGLE = 40
_SIN, _COS = math.sin(math.radians(_ANGLE)), math.cos(math.radians(_ANGLE))


def confusion_png(confusion: Confusion, *, title: str = "Confusion matrix: counts") -> bytes:
    """The heat map of counts of a report's confusion matrix, as PNG bytes."""
    buf = io.BytesIO()
    draw_heat_map(heat_map(confusion, title=title)).save(buf, format="PNG")
    return buf.getvalue()


@cache
def _font(size: int) -> Font:
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError):  # Pillow built without FreeType: its bitmap font
        return ImageFont.load_default()


def _safe(text: str, font: Font) -> str:
    """``text`` as the font can take it: the bitmap font knows Latin-1 only."""
    try:
        font.getbbox(text)
    except (UnicodeError, ValueError, OSError):
        return text.encode("ascii", "replace").decode("ascii")
    return text


def _width(text: str, font: Font) -> int:
    left, _, right, _ = font.getbbox(text)
    return math.ceil(right - left)


def _line_box(font: Font) -> tuple[float, float]:
    """The top and bottom of a line of text drawn at y = 0, for vertical centring."""
    _, top, _, bottom = font.getbbox("Hg")
    return top, bottom


def _text(draw: ImageDraw.ImageDraw, x: float, cy: float, text: str, font: Font, fill: str,
          align: str = "left") -> None:
    """``text`` centred on the height ``cy``, starting at ``x`` (or ending, or centred)."""
    left, _, right, _ = font.getbbox(text)
    top, bottom = _line_box(font)
    if align == "right":
        x -= right
    elif align == "centre":
        x -= (left + right) / 2
    draw.text((round(x), round(cy - (top + bottom) / 2)), text, font=font, fill=fill)


def _mask(text: str, font: Font) -> Image.Image:
    left, _, right, _ = font.getbbox(text)
    top, bottom = _line_box(font)
    mask = Image.new("L", (math.ceil(right - left) + 2, math.ceil(bottom - top) + 2), 0)
    ImageDraw.Draw(mask).text((1 - left, 1 - top), text, font=font, fill=255)
    return mask


def _slanted(img: Image.Image, x: float, y: float, text: str, font: Font, fill: str) -> None:
    """``text`` ending at (x, y) and running down-left at 40°, as a column label."""
    mask = _mask(text, font)
    w = mask.width
    turned = mask.rotate(_ANGLE, resample=Image.Resampling.BICUBIC, expand=True)
    # rotate() turns about the centre: the end of the text lands here in the turned mask.
    end_x = turned.width / 2 + (w / 2) * _COS
    end_y = turned.height / 2 - (w / 2) * _SIN
    img.paste(rgb(fill), (round(x - end_x), round(y - end_y)), turned)


def _upright(img: Image.Image, cx: float, cy: float, text: str, font: Font) -> None:
    """``text`` turned a quarter to read upwards, centred on (cx, cy): the y-axis title."""
    turned = _mask(text, font).transpose(Image.Transpose.ROTATE_90)
    img.paste(rgb(INK), (round(cx - turned.width / 2), round(cy - turned.height / 2)), turned)


def draw_heat_map(heat: HeatMap) -> Image.Image:
    """The heat map as an RGB image: row labels left, column labels below at 40°."""
    font, small, big = _font(13), _font(12), _font(15)
    line = math.ceil(_line_box(font)[1] - _line_box(font)[0])
    title = _safe(heat.title, big)
    title_h = line + 12 if title else 0
    if heat.empty:
        img = Image.new("RGB", (360, _PAD * 2 + title_h + line), "white")
        draw = ImageDraw.Draw(img)
        if title:
            _text(draw, _PAD, _PAD + line / 2, title, big, INK)
        _text(draw, _PAD, _PAD + title_h + line / 2, "No confusion matrix in metrics.json.",
              font, INK)
        return img
    rows = [_safe(f"{clip_label(r)} (n={s})", font)
            for r, s in zip(heat.rows, heat.support, strict=True)]
    cols = [_safe(clip_label(c), font) for c in heat.columns]
    split = 0 < heat.n_labels < len(cols)
    gap = _GAP if split else 0

    def col_x(j: int) -> int:  # left edge of column j, from the grid's left edge
        return j * _CW + (gap if split and heat.non_answer[j] else 0)

    left = _PAD + line + 10 + max(_width(r, font) for r in rows) + 10
    for j, c in enumerate(cols):  # a long column label runs down-left: keep it in
        left = max(left, math.ceil(_PAD + _width(c, font) * _COS + line * _SIN
                                   - col_x(j) - _CW / 2))
    top = _PAD + title_h + (line + 8 if split else 0)
    grid_w = col_x(len(cols) - 1) + _CW
    grid_h = _CH * len(rows)
    drop = max(_width(c, font) * _SIN + line * _COS for c in cols)
    height = math.ceil(top + grid_h + 10 + drop + 12 + line + _PAD)
    width = max(left + grid_w + _PAD, _PAD + _width(title, big) + _PAD)
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    if title:
        _text(draw, _PAD, _PAD + line / 2, title, big, INK)
    for i, row in enumerate(heat.cells):
        y = top + i * _CH
        for j, cell in enumerate(row):
            x = left + col_x(j)
            draw.rectangle((x, y, x + _CW - 2, y + _CH - 2), fill=cell.fill)
            _text(draw, x + (_CW - 1) / 2, y + (_CH - 1) / 2, _safe(cell.text, small), small,
                  cell.ink, align="centre")
        _text(draw, left - 10, y + _CH / 2, rows[i], font, INK, align="right")
    for i, row in enumerate(heat.cells):
        for j, cell in enumerate(row):
            if cell.diagonal:
                x, y = left + col_x(j), top + i * _CH
                draw.rectangle((x - 1, y - 1, x + _CW - 1, y + _CH - 1), outline=DIAGONAL,
                               width=2)
    if split:
        sx = left + heat.n_labels * _CW + gap // 2 - 1
        draw.line((sx, top - 4, sx, top + grid_h + 2), fill=SEPARATOR, width=2)
        first = left + col_x(heat.n_labels)
        _text(draw, (first + left + grid_w) / 2, top - 4 - line / 2 - 2, "non-answers", font,
              NON_ANSWER, align="centre")
    for j, (c, na) in enumerate(zip(cols, heat.non_answer, strict=True)):
        _slanted(img, left + col_x(j) + _CW / 2 + 4, top + grid_h + 8, c, font,
                 NON_ANSWER if na else INK)
    _text(draw, left + grid_w / 2, height - _PAD - line / 2, "predicted", font, INK,
          align="centre")
    _upright(img, _PAD + line / 2, top + grid_h / 2, "gold", font)
    return img
