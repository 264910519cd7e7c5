import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssl_core.data import load_image
from ssl_core.data.images import DATASET_MAX_PIXELS, decode, original_size, read_mask
from ssl_core.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def huge_png(path: Path, width: int, height: int) -> Path:
    """A real, valid 1-bit PNG of width x height black pixels in a few KB (13000x13000: 21 KB). The rows
    are streamed into zlib, never held whole, so the test itself costs no memory; decoding it costs
    width x height bytes or more."""
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte, then the packed bits
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def peak_rss_mb(code: str) -> tuple[float, object]:
    """Run `code` (which sets `result`) in a fresh Python after importing the engine; (MB of peak resident
    memory it added, result)."""
    script = ("import json, resource, warnings\nimport ssl_core.data\nwarnings.simplefilter('ignore')\n"
              "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n" + code +
              "\nprint(json.dumps([(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024, result]))")
    p = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       check=False)
    assert p.returncode == 0, p.stderr
    return tuple(json.loads(p.stdout.splitlines()[-1]))


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


def test_a_12000_px_png_is_decoded_and_downscaled_in_bounded_memory(tmp_path):
    """Issue 14 item 10: a 12000x12000 PNG was "not an image I can read". PNG cannot decode at a reduced
    scale; the image is shrunk in its own mode (here 1 byte a pixel, 144 MB) before it becomes RGB."""
    path = huge_png(tmp_path / "big.png", 12000, 12000)
    img, note = load_image(path)
    assert img.size == (1024, 1024) and img.mode == "RGB" and note == "downscaled from 12000x12000 to 1024x1024"
    assert original_size(path.read_bytes()) == (12000, 12000)
    added, size = peak_rss_mb(f"from ssl_core.data import load_image\nresult = load_image({str(path)!r})[0].size")
    assert size == [1024, 1024] and added < 400, f"decoding took {added:.0f} MB"


def test_an_image_claiming_too_many_pixels_is_refused_from_its_header(tmp_path):
    path = huge_png(tmp_path / "bomb.png", 20000, 20000)  # 400 megapixels in 49 KB
    with pytest.raises(UserError) as e:
        load_image(path)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("bomb.png is 400 megapixels, more than the 300") and "scale it down" in msg
    with pytest.raises(UserError, match="400 megapixels"):
        load_image(path.read_bytes())


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # PIL warns; the engine refuses
def test_dataset_files_claiming_too_many_pixels_are_never_decoded(tmp_path):
    """Issue 15: a 21 KB PNG claiming 13000x13000 cost about 1 GB to decode in every folder path."""
    path = huge_png(tmp_path / "bomb.png", 13000, 13000)
    assert path.stat().st_size < 30_000 and 13000 * 13000 > DATASET_MAX_PIXELS
    with pytest.raises(UserError, match="13000x13000 px, 169 megapixels"):
        decode(path, 64)
    added, _ = peak_rss_mb(f"from ssl_core.data.images import decode\ntry:\n    decode({str(path)!r}, 64)\n"
                           "except Exception as e:\n    result = str(e)")
    assert added < 50, f"refusing took {added:.0f} MB"


def test_large_jpegs_in_a_folder_decode_at_a_reduced_scale(tmp_path):
    """The dataset bound counts the pixels a JPEG really decodes after its draft, not its header's."""
    path = tmp_path / "wide.jpg"
    Image.new("RGB", (10000, 7000), (200, 30, 30)).save(path, quality=50)  # 70 megapixels
    px = decode(path, 64)
    assert px.shape == (3, 64, 64) and px[0].mean() > 180


def test_decode_turns_phone_photos_upright(tmp_path):
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 20, 20))  # the left half red, as stored
    exif = img.getexif()
    exif[0x0112] = 6  # shown turned a quarter clockwise: the red half on top
    img.save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    px = decode(tmp_path / "phone.jpg", 20).transpose(1, 2, 0).astype(int)
    assert px[:5, :, 0].mean() > 200 and px[-5:, :, 2].mean() > 200


def test_uploaded_masks_are_read_from_bytes():
    m = np.zeros((10, 20), np.uint8)
    m[:, 10:] = 255
    fg = read_mask(encoded(Image.fromarray(m)), 40, 20, "horse.png")
    assert fg.shape == (20, 40) and fg[:, 25:].all() and not fg[:, :15].any()
    with pytest.raises(UserError, match="cannot read the mask horse.png"):
        read_mask(b"not a png", 40, 20, "horse.png")


def test_tiny_images_and_missing_files_are_refused(tmp_path):
    with pytest.raises(UserError, match="at least 8 px"):
        load_image(encoded(Image.new("RGB", (7, 30))))
    with pytest.raises(UserError, match="no file"):
        load_image(tmp_path / "nope.png")
