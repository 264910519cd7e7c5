import io

import numpy as np
import pytest
from PIL import Image

from ssl_core.data import load_image
from ssl_core.errors import UserError


def encoded(img: Image.Image, fmt="PNG", **kw) -> bytes:
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


@pytest.mark.parametrize("img, fmt", [
    (Image.new("CMYK", (20, 10), (0, 255, 255, 0)), "JPEG"),  # red in CMYK
    (Image.new("P", (20, 10), 0), "PNG"),
    (Image.new("L", (20, 10), 128), "PNG"),
    (Image.new("RGB", (20, 10), (1, 2, 3)), "WEBP"),
])
def test_modes_become_rgb(img, fmt):
    if img.mode == "P":
        img.putpalette([255, 0, 0] * 256)
    out, note = load_image(encoded(img, fmt))
    assert out.mode == "RGB" and out.size == (20, 10) and note is None
    if img.mode in ("CMYK", "P"):
        r, g, b = out.getpixel((5, 5))
        assert r > 200 and g < 60 and b < 60


def test_sixteen_bit_is_stretched_not_clipped(tmp_path):
    a = (np.arange(32 * 32).reshape(32, 32) * 60).astype(np.uint16)  # 0 .. 61,380
    Image.fromarray(a).save(tmp_path / "deep.png")
    out, _ = load_image(tmp_path / "deep.png")
    px = np.asarray(out)
    assert out.mode == "RGB" and px[0, 0, 0] == 0 and px[-1, -1, 0] == 255 and 100 < px[16, 0, 0] < 160
    i32 = Image.fromarray(a.astype(np.int32), "I")
    assert load_image(encoded(i32, "TIFF"))[0].mode == "RGB"


def test_transparency_goes_on_white():
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    assert load_image(encoded(rgba))[0].getpixel((0, 0)) == (255, 255, 255)
    la = Image.new("LA", (10, 10), (0, 255))
    assert load_image(encoded(la))[0].getpixel((0, 0)) == (0, 0, 0)


def test_exif_orientation_is_honoured():
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = img.getexif()
    exif[0x0112] = 6  # stored sideways: display rotated a quarter turn
    out, _ = load_image(encoded(img, "JPEG", exif=exif.tobytes()))
    assert out.size == (20, 40)


def test_large_images_are_downscaled_with_a_note(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (3000, 1200), (9, 9, 9)).save(path)
    out, note = load_image(str(path), max_side=500)
    assert out.size == (500, 200) and "3000x1200" in note


@pytest.mark.parametrize("data", [b"garbage bytes", b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_non_images_are_one_line_errors(data):
    with pytest.raises(UserError) as e:
        load_image(data)
    assert str(e.value).startswith("not an image I can read") and "\n" not in str(e.value)


def test_decompression_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(UserError) as e:
        load_image(encoded(Image.new("RGB", (40, 40))))
    assert "decompression bomb" in str(e.value)


def test_tiny_images_and_missing_files_are_refused(tmp_path):
    with pytest.raises(UserError, match="at least 8 px"):
        load_image(encoded(Image.new("RGB", (7, 30))))
    with pytest.raises(UserError, match="no file"):
        load_image(tmp_path / "nope.png")
