"""The offline sample set of the tests and of ``make demo``: generated images and two broken files.

    python tests/support/samples.py DIR [COUNT]     # what scripts/demo runs
"""

from __future__ import annotations

import sys
from pathlib import Path


def make_samples(dest: Path, count: int = 6, size: tuple[int, int] = (640, 480)) -> list[Path]:
    """Write ``count`` generated images (JPEG, one with EXIF rotation, PNG with alpha, palette GIF), the
    first ``size`` and each next a tenth larger, a file that only pretends to be a JPEG and a truncated
    JPEG. Re-running rewrites the same bytes."""
    from PIL import Image, ImageDraw

    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(count):
        width, height = size[0] + size[0] // 10 * i, size[1] + size[1] // 10 * i
        im = Image.new("RGB", (width, height))
        draw = ImageDraw.Draw(im)
        for y in range(0, height, 8):  # a colour gradient with some structure to compress
            draw.rectangle([0, y, width, y + 8], fill=(40 * i % 256, y * 255 // height, 255 - y * 255 // height))
        draw.ellipse([width // 4, height // 4, 3 * width // 4, 3 * height // 4], fill=(250, 220, 40 * i % 256))
        draw.text((20, 20), f"sample {i}", fill=(255, 255, 255))
        kind = i % 3
        if kind == 0:
            path = dest / f"sample-{i}.jpg"
            exif = Image.Exif()
            exif[0x0112] = 6 if i == 3 else 1  # one image needs rotating upright
            im.save(path, "JPEG", quality=90, exif=exif.tobytes())
        elif kind == 1:
            path = dest / f"sample-{i}.png"
            im.putalpha(200)
            im.save(path, "PNG")
        else:
            path = dest / f"sample-{i}.gif"
            im.convert("P", palette=Image.Palette.ADAPTIVE).save(path, "GIF")
        written.append(path)
    broken = dest / "broken.jpg"  # not an image at all: quarantined when retrieved
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    truncated = dest / "truncated.jpg"  # a valid header, cut-off pixels: quarantined when processed
    full = written[0].read_bytes()
    truncated.write_bytes(full[: len(full) // 2])
    return written + [broken, truncated]


if __name__ == "__main__":
    for written in make_samples(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 6):
        print(written)
