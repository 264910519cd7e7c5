"""One click per photo on photographs other than the Weizmann horses, with masks drawn by hand.

    python bench/segment_photos.py                          # golf balls, the shipped Look model, 224 and 128 px
    python bench/segment_photos.py --checkpoint CKPT --sizes 224
    python bench/segment_photos.py --sheet /tmp/golf.png    # also draw each mask's outline over its photo

The masks are ellipses (`bench/masks/*.json`: the bounding box of the object in each photo, drawn by eye) over photos
in ../shared/data. This writes the photos (as links) and the masks into a temporary folder and runs the real CLI on
it: `segment-eval`, one click at the most interior pixel of each mask, the model beside the colour-and-position
baseline and a random-init network of the same shape, with the fixed, Otsu and best-possible thresholds.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from common import ROOT, cli

DATA = ROOT.parent / "shared" / "data"
RULES = ("jaccard_fixed", "jaccard_otsu", "jaccard_best")
ROWS = ("model", "colour_position", "random_init")


def write_pairs(spec: dict, out: Path) -> tuple[Path, Path]:
    """Each annotated photo (a link) and its mask (an ellipse filled with 255 on 0, the photo's size) under `out`."""
    images, masks = out / "images", out / "masks"
    images.mkdir(parents=True)
    masks.mkdir()
    src = DATA / spec["images"]
    for name, box in spec["ellipses"].items():
        (images / name).symlink_to(src / name)
        with Image.open(src / name) as im:
            mask = Image.new("L", im.size, 0)
        ImageDraw.Draw(mask).ellipse(box, fill=255)
        mask.save(masks / f"{Path(name).stem}.png")
    return images, masks


def draw_sheet(spec: dict, path: str, side: int = 384, cols: int = 6) -> None:
    """Every photo, `side` px square, with its ellipse drawn over it, in one picture, to check them by eye."""
    names = list(spec["ellipses"])
    sheet = Image.new("RGB", (cols * side, -(-len(names) // cols) * side), "white")
    for i, name in enumerate(names):
        with Image.open(DATA / spec["images"] / name) as im:
            fx, fy = side / im.width, side / im.height
            photo = im.convert("RGB").resize((side, side), Image.BICUBIC)
        x0, y0, x1, y1 = spec["ellipses"][name]
        ImageDraw.Draw(photo).ellipse([x0 * fx, y0 * fy, x1 * fx, y1 * fy], outline=(0, 255, 255), width=2)
        sheet.paste(photo, ((i % cols) * side, (i // cols) * side))
    sheet.save(path)
    print(f"wrote {path}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--masks", default=str(ROOT / "bench" / "masks" / "golf_balls.json"), help="the ellipses (JSON)")
    p.add_argument("--checkpoint", default=str(ROOT / "assets" / "checkpoints" / "default.safetensors"))
    p.add_argument("--sizes", type=int, nargs="+", default=[224, 128], help="input sizes in pixels")
    p.add_argument("--sheet", help="also write the photos with their ellipses to this PNG")
    args = p.parse_args()
    spec = json.loads(Path(args.masks).read_text())
    if not (DATA / spec["images"]).is_dir():
        sys.exit(f"{DATA / spec['images']} not found: this benchmark needs ../shared/data")
    if args.sheet:
        draw_sheet(spec, args.sheet)
    with tempfile.TemporaryDirectory() as tmp:
        images, masks = write_pairs(spec, Path(tmp))
        results = [cli(["segment-eval", "--checkpoint", args.checkpoint, "--images", images, "--masks", masks,
                        "--size", size]) for size in args.sizes]
    skipped = results[0]["skipped"]  # photos or masks that could not be read: the same at every size
    print(f"\n{results[0]['n_images']} photos of {spec['images']}, one click each" + (f" ({len(skipped)} skipped: "
          f"{'; '.join(skipped)})" if skipped else "") + "; mean Jaccard (fixed 0.5 / Otsu / best)\n")
    print("| input size | " + " | ".join(ROWS) + " | all foreground |")
    print("|---|" + "---|" * (len(ROWS) + 1))
    for r in results:
        cells = [" / ".join(f"{r[row][rule]:.3f}" for rule in RULES) for row in ROWS]
        print(f"| {r['size']} px | " + " | ".join(cells) + f" | {r['all_foreground']['jaccard']:.3f} |")
    for r in results:
        margin = r["model"]["jaccard_otsu"] - r["colour_position"]["jaccard_otsu"]
        print(f"{r['size']} px: the model {margin:+.3f} over colour and position (Otsu)")


if __name__ == "__main__":
    main()
