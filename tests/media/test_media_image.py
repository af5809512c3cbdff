"""``prepare_media(..., as_="image")``: orientation, colour, resize, encode, pixel cap, errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from vlmfer.errors import MediaError
from vlmfer.media import MediaSpec, prepare_inline, prepare_media
from vlmfer.types import Media


def _decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def test_real_face_photo(shared_data: Path) -> None:
    path = shared_data / "london_faces" / "Neutral" / "001.jpg"
    prepared = prepare_media(Media.from_path(path), MediaSpec(), as_="image")
    (part,) = prepared.parts
    assert part.kind == "image" and part.mime_type == "image/jpeg"
    assert (part.width, part.height) == (320, 320)
    assert part.frame_index is None and part.crop_box is None
    assert _decode(part.data).size == (320, 320)
    assert prepared.record["source"]["width"] == 320
    assert "resize" not in prepared.record  # never enlarged
    # A 320x320 baseline JPEG with no metadata needs no change: its own bytes are sent.
    assert prepared.record["encode"]["passthrough"] is True
    assert part.data == path.read_bytes()
    again = prepare_media(Media.from_path(path), MediaSpec(reencode="always"), as_="image")
    assert again.record["encode"]["quality"] == 90
    assert again.parts[0].data != path.read_bytes()


def test_jpegs_that_need_a_change_are_re_encoded(tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    Image.new("RGB", (1600, 900), (90, 120, 30)).save(big, quality=95)
    tagged = tmp_path / "tagged.jpg"
    exif = Image.Exif()
    exif[0x8825] = {1: "N"}  # a GPS block: never sent on as it is
    Image.new("RGB", (100, 100), (9, 9, 9)).save(tagged, exif=exif)
    grey = tmp_path / "grey.jpg"
    Image.new("L", (100, 100), 128).save(grey)
    truncated = tmp_path / "cut.jpg"
    Image.new("RGB", (100, 100), (9, 9, 9)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:-40])
    for path in (big, tagged, grey):
        out = prepare_media(Media.from_path(path), MediaSpec(), as_="image")
        assert "passthrough" not in out.record["encode"], path.name
        assert out.parts[0].data != path.read_bytes()
    with pytest.raises(MediaError, match=r"cut\.jpg"):
        prepare_media(Media.from_path(truncated), MediaSpec(), as_="image")


def test_same_file_and_spec_give_the_same_bytes(shared_data: Path) -> None:
    media = Media.from_path(shared_data / "london_faces" / "Happy" / "003.jpg")
    spec = MediaSpec(max_side=200, quality=70)
    a = prepare_media(media, spec, as_="image")
    b = prepare_media(media, spec, as_="image")
    assert a.parts[0].data == b.parts[0].data
    c = prepare_media(media, MediaSpec(max_side=200, quality=71), as_="image")
    assert c.parts[0].data != a.parts[0].data


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    img = Image.new("RGB", (60, 30), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 10, 30))  # a blue left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    prepared = prepare_media(Media.from_path(path), MediaSpec(), as_="image")
    out = _decode(prepared.parts[0].data)
    assert out.size == (30, 60)
    assert prepared.record["source"]["exif_orientation"] == 6
    pixel = out.getpixel((15, 3))  # the blue edge is now on top
    assert isinstance(pixel, tuple)
    r, _, b = pixel
    assert b > 200 and r < 60


def test_transparency_is_flattened_onto_white(tmp_path: Path) -> None:
    path = tmp_path / "alpha.png"
    Image.new("RGBA", (20, 20), (0, 0, 0, 0)).save(path)
    prepared = prepare_media(Media.from_path(path), MediaSpec(image_format="png"), as_="image")
    out = _decode(prepared.parts[0].data)
    assert out.mode == "RGB" and out.getpixel((5, 5)) == (255, 255, 255)
    assert prepared.parts[0].mime_type == "image/png"
    grey = tmp_path / "grey.png"
    Image.new("L", (20, 10), 128).save(grey)
    out = _decode(prepare_media(Media.from_path(grey), MediaSpec(), as_="image").parts[0].data)
    assert out.mode == "RGB"


def test_resize_to_max_side_of_a_1280x720_still(tmp_path: Path) -> None:
    path = tmp_path / "still.jpg"
    Image.new("RGB", (1280, 720), (10, 120, 200)).save(path, quality=90)
    prepared = prepare_media(Media.from_path(path), MediaSpec(max_side=768), as_="image")
    assert (prepared.parts[0].width, prepared.parts[0].height) == (768, 432)
    assert prepared.record["resize"]["to"] == [768, 432]
    big = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), (200, 10, 10)).save(big, quality=80)
    prepared = prepare_media(Media.from_path(big), MediaSpec(max_side=512), as_="image")
    assert _decode(prepared.parts[0].data).size == (512, 384)
    # libjpeg decoded it at reduced scale: far fewer pixels touched.
    assert prepared.record["source"]["decoded_at"] == [1000, 750]


def test_pixel_cap_refuses_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.new("RGB", (2000, 1000)).save(path)
    with pytest.raises(MediaError, match=r"2000x1000 = 2000000 pixels is over the pixel cap "
                                         r"max_pixels=1000000") as info:
        prepare_media(Media.from_path(path), MediaSpec(max_pixels=1_000_000), as_="image")
    assert info.value.path == path


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.jpg", r"file is empty \(0 bytes\)"),
        ("text.jpg", "not an image file Pillow can read"),
        ("truncated.jpg", "truncated image"),
        ("corrupt.png", "cannot decode image|not an image file"),
    ],
)
def test_broken_images_raise_media_error(broken: dict[str, Path], name: str, reason: str) -> None:
    with pytest.raises(MediaError, match=reason) as info:
        prepare_media(Media.from_path(broken[name]), MediaSpec(), as_="image")
    assert str(broken[name]) in str(info.value)


def test_missing_image(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="file does not exist"):
        prepare_media(Media.from_path(tmp_path / "gone.png"), MediaSpec(), as_="image")


def test_prepare_inline_answers_only_what_needs_no_decoding(
    shared_data: Path, tmp_path: Path
) -> None:
    # A small JPEG passed through as it is skips the worker thread; it is the same answer.
    path = shared_data / "london_faces" / "Neutral" / "001.jpg"
    inline = prepare_inline(Media.from_path(path), MediaSpec(), as_="image")
    assert inline is not None
    assert inline == prepare_media(Media.from_path(path), MediaSpec(), as_="image")
    # Anything that needs a change, a bad file, a missing one or a video: None, and the
    # threaded prepare_media does the work (and reports the error).
    big = tmp_path / "big.jpg"
    Image.new("RGB", (1600, 900), (90, 120, 30)).save(big, quality=95)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(path.read_bytes()[:-40])
    for media in (Media.from_path(big), Media.from_path(cut), Media.from_path(path)):
        spec = MediaSpec(reencode="always") if media.path == path else MediaSpec()
        assert prepare_inline(media, spec, as_="image") is None, media.path
    assert prepare_inline(Media.from_path(path), MediaSpec(), as_="frames") is None
    gone = Media.from_path(path).model_copy(update={"path": tmp_path / "gone.jpg"})
    assert prepare_inline(gone, MediaSpec(), as_="image") is None
