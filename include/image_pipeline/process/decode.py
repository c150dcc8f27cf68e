"""Decoding: the header checks (pixels, frames) before any pixel is read, the one decode at the
smallest scale the recipes allow (JPEG DCT scaling, else an integer reduce), the normalisation of odd
modes, and the conversion to sRGB.

Its face is :func:`open_source` (a file opened for its header, a :class:`SourceImage`) and
:meth:`SourceImage.decode`; the rest of the module is how the decode is made fast."""

from __future__ import annotations

import io
import math
import struct
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms

from image_pipeline.core.errors import BadImage, is_environmental
from image_pipeline.process import jpeg, webp
from image_pipeline.process.limits import Limits

# What Pillow's plugins raise on malformed files; IndexError, KeyError and struct.error were found by
# fuzzing (a GIF whose frames cannot be counted raises IndexError: tests/unit/fuzz/crashers).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError, ZeroDivisionError,
                 IndexError, KeyError, struct.error)
# What Pillow's EXIF reader raises on a block that is not TIFF: a header it does not know ("not a TIFF
# file") or one cut short (struct.error); found by fuzzing. Past the header it skips what it cannot read.
EXIF_ERRORS = (SyntaxError, struct.error)
# What a colour profile littleCMS cannot read or use raises: OSError reading it ("cannot open profile
# from string": bytes in memory, never the machine's), PyCMSError from everything ImageCms does with it.
PROFILE_ERRORS = (ImageCms.PyCMSError, OSError)


def open_source(path: str | Path) -> "SourceImage":
    """``path`` opened for its header only. A file no decoder recognises is the image's fault
    (:class:`BadImage`, "not a readable image"), unless the machine's (too many open files, an I/O
    error: raised as it is, for the task to be retried)."""
    try:
        header = _still_webp_header(path)
        return SourceImage(Path(path), header, Image.open(path) if header is None else None)
    except DECODE_ERRORS as exc:  # Pillow's words for a malformed file
        if is_environmental(exc):
            raise
        raise BadImage(f"not a readable image: {exc}") from None


def _still_webp_header(path: str | Path) -> webp.Header | None:
    """A still WebP's header from its chunks, or None: Pillow's opener decides (another format, an
    animation, a file :mod:`.webp` does not recognise, or more pixels than Pillow accepts without
    a word: its decompression-bomb warning and error are its own)."""
    with open(path, "rb") as fp:
        header = webp.read_header(fp)
    if header is None or Image.MAX_IMAGE_PIXELS and header.size[0] * header.size[1] > Image.MAX_IMAGE_PIXELS:
        return None
    return header


class SourceImage:
    """An image file opened for its header: what the limits and the decode's planning need (format,
    size, mode, frames, EXIF, colour profile); the pixels are read once, by :meth:`decode`.

    A still WebP's header is read from its RIFF chunks (:mod:`.webp`), not by Pillow: Pillow's opener
    reads the whole file and creates libwebp's animation decoder, which allocates the canvas, only to
    tell the size, the mode and the metadata chunks (about 4 ms an image on the corpus), and the pixels
    are OpenCV's anyway. Pillow opens it only when OpenCV cannot decode it. Every other file is
    Pillow's, opened here."""

    def __init__(self, path: Path, webp_header: webp.Header | None, image: Image.Image | None):
        self.path = path
        self._webp = webp_header
        self._image = image
        # As the header tells them (a JPEG's draft decode changes Pillow's image's size and mode).
        self.format: str | None = "WEBP" if webp_header is not None else self.image.format
        self.size: tuple[int, int] = webp_header.size if webp_header is not None else self.image.size
        self.mode: str = ("RGBA" if webp_header.alpha else "RGB") if webp_header is not None else self.image.mode

    @property
    def image(self) -> Image.Image:
        """Pillow's image of the file (a still WebP's opened now, by Pillow's own opener)."""
        if self._image is None:
            self._image = Image.open(self.path)
        return self._image

    @property
    def info(self) -> dict[str, Any]:
        """The metadata Pillow's opener gives (for a still WebP: its ICC, EXIF and XMP chunks)."""
        return self._webp.info if self._webp is not None else self.image.info

    @property
    def frames(self) -> int:
        return 1 if self._webp is not None else getattr(self.image, "n_frames", 1)

    @property
    def icc(self) -> bytes | None:
        """The colour profile to convert from; none for CMYK (its profile is used up converting to RGB)."""
        return None if self.mode == "CMYK" else self.info.get("icc_profile")

    def check(self, limits: Limits) -> dict[str, Any]:
        """The source's facts (format, mode, width, height, frames); :class:`BadImage` when they break
        ``limits`` (read from the header: nothing is decoded)."""
        width, height = self.size
        if width < 1 or height < 1:
            raise BadImage(f"empty image ({width}x{height})")
        if width * height > limits.max_pixels:
            raise BadImage(f"too many pixels: {width}x{height} is over the limit of {limits.max_pixels:,}")
        frames = self.frames
        if frames > limits.max_frames:
            raise BadImage(f"too many frames: {frames} is over the limit of {limits.max_frames}")
        return {"format": self.format, "mode": self.mode, "width": width, "height": height, "frames": frames}

    def exif(self) -> Image.Exif:
        """The EXIF the header holds. For PNG only an eXIf chunk before the pixels counts: Pillow's
        own ``getexif`` would decode the whole image to look for one after them. A block that is not
        TIFF reads as no EXIF: it is the image's own metadata, and the pixels are still the image
        (Pillow's JPEG plugin does the same when it opens a file)."""
        try:
            if self._webp is not None:  # Pillow's reading of the same chunks (an XMP orientation included)
                holder = Image.new("1", (1, 1))
                holder.info.update(self._webp.info)
                return holder.getexif()
            if self.format != "PNG":
                return self.image.getexif()
            exif = Image.Exif()
            if "exif" in self.info:
                exif.load(self.info["exif"])
            return exif
        except EXIF_ERRORS:  # an EXIF block that is not TIFF: none kept, the image goes on
            return Image.Exif()

    def decode(self, scale: float, gray: bool, background: tuple[int, int, int] | None = None) -> Image.Image:
        """The first frame at ``scale`` of the source's resolution or a little more (the DCT scale, then
        the largest integer box reduce that keeps ``scale``), as L, LA, RGB or RGBA; only luma when
        ``gray``; transparency laid on ``background`` when given (see :func:`_decode`). Raises
        :data:`DECODE_ERRORS` for a file whose pixels cannot be read."""
        return _reduce(_normalise(_decode(self, scale, gray, background)), self.size, scale)  # the header's size

    def close(self) -> None:
        """Closing frees the pixels decoded into Pillow's image: after the last use of the decode."""
        if self._image is not None:
            self._image.close()

    def __enter__(self) -> "SourceImage":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _decode(source: SourceImage, scale: float, gray: bool,
            background: tuple[int, int, int] | None = None) -> Image.Image:
    """The first frame, decoded by the fastest decoder for its format.

    - JPEG: libjpeg's DCT scaling (``Image.draft``): only 1/2, 1/4 or 1/8 of the pixels are ever
      produced, the smallest that still covers ``scale``, and only luma when ``gray``.
      Luma-only JPEGs go through OpenCV's libjpeg-turbo (the same DCT scaling, read at once
      instead of in Pillow's chunks: about 1.1x faster), progressive ones without their chroma
      scans (:mod:`.jpeg`), unless the file does not end as a JPEG does (a truncated file: Pillow
      then refuses it, where libjpeg would only warn).
    - PNG and WebP in plain 8-bit modes: libspng (through pyvips, when installed; else OpenCV's
      libpng) and OpenCV's libwebp, without Pillow's detours (on the corpus libspng decodes about
      1.3x faster than libpng, OpenCV's WebP 1.5x faster than Pillow's), the box reduce and the
      luma on the packed pixels. An alpha channel that is opaque everywhere is dropped, as it changes
      nothing but would cost every later step a fourth channel (and transparent handling).
      With ``background`` (every output is laid on it), transparent pixels are laid on it at once:
      compositing on a flat colour commutes with the box reduce and the resize that follow, so the
      outputs are the same, and no step pays for the alpha channel (premultiplying, unpremultiplying).
    - anything else (palettes, 16-bit gray, CMYK, animations...): Pillow.
    """
    path = source.path
    if source.format in ("JPEG", "MPO"):
        im = source.image
        want = (max(1, math.ceil(im.width * scale)), max(1, math.ceil(im.height * scale))) if scale < 1.0 else im.size
        denominator = dct_denominator(im.size, want)
        if gray and im.format == "JPEG" and im.mode in ("RGB", "L"):
            decoded = _opencv_jpeg_luma(path, denominator, bool(im.info.get("progressive")))
            if decoded is not None:
                return decoded
        if scale < 1.0:
            # Pillow picks the largest scale whose floor-divided size still covers what it is asked
            # for; asked for the floor-divided size at our denominator, it picks that denominator.
            im.draft("L" if gray and im.mode in ("RGB", "L") else None,
                     (max(1, im.width // denominator), max(1, im.height // denominator)))
        elif gray and im.mode == "RGB":
            im.draft("L", im.size)  # full size, but luma only
    elif source.format in OPENCV_FORMATS and source.mode in OPENCV_MODES and "transparency" not in source.info \
            and source.frames == 1:
        factor = math.floor(1.0 / scale) if scale > 0 else 1
        decoded = _opencv_decode(path, source.mode, gray, background, factor, source.format)
        if decoded is not None:
            return decoded
    im = source.image
    im.load()
    return im


def dct_denominator(size: tuple[int, int], want: tuple[int, int]) -> int:
    """The JPEG DCT scale (1/8, 1/4, 1/2 or 1) giving the fewest pixels that still cover ``want``.
    libjpeg rounds a scaled size up, so 1203 rows at 1/2 give 602: a side that does not divide
    exactly still halves (floor division, as Pillow's draft does it, would decode it whole)."""
    return next(d for d in (8, 4, 2, 1) if -(-size[0] // d) >= want[0] and -(-size[1] // d) >= want[1])


def _opencv_jpeg_luma(path: Path, denominator: int, progressive: bool) -> Image.Image | None:
    """A JPEG's luma at 1/``denominator`` of its size (DCT scaling), decoded by OpenCV, a progressive
    one without its chroma scans (:mod:`.jpeg`); None when the file does not end with the EOI marker
    (truncated, or data after it: Pillow decides) or OpenCV cannot read it."""
    import cv2
    import numpy as np

    flag = {1: cv2.IMREAD_GRAYSCALE, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
            8: cv2.IMREAD_REDUCED_GRAYSCALE_8}[denominator] | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        with open(path, "rb") as f:
            if progressive:
                data = f.read()
                ending = data[-2:]
            else:
                f.seek(-2, 2)
                ending = f.read(2)
    except OSError:
        return None
    if ending != b"\xff\xd9":
        return None
    if progressive:
        pixels = cv2.imdecode(np.frombuffer(jpeg.luma_scans(data) or data, np.uint8), flag)
    else:
        pixels = cv2.imread(str(path), flag)
    return None if pixels is None else Image.fromarray(pixels, "L")


OPENCV_FORMATS = ("PNG", "WEBP")
OPENCV_MODES = ("L", "RGB", "RGBA")  # 16-bit colour PNGs open as RGB(A) too: the high byte is kept


def _opencv_decode(path: Path, mode: str, gray: bool, background: tuple[int, int, int] | None = None,
                   factor: int = 1, fmt: str = "WEBP") -> Image.Image | None:
    """``path`` decoded as L, RGB or RGBA (None when it cannot be: Pillow then tries), shrunk
    ``factor`` times by a box filter (OpenCV's area resize on the packed pixels, before Pillow
    copies them into its four bytes a pixel). PNG through libspng (pyvips: about 1.3x libpng's
    speed on the corpus) when pyvips is installed, else libpng; WebP through OpenCV's libwebp."""
    import cv2

    pixels = _spng_pixels(path) if fmt == "PNG" else None
    if pixels is not None:
        order = "RGB"
    else:
        order = "BGR"
        flags = cv2.IMREAD_IGNORE_ORIENTATION  # orientation is the recipes' auto_orient, as for every format
        if mode in ("L", "RGB"):
            luma = gray or mode == "L"
            pixels = cv2.imread(str(path), flags | (cv2.IMREAD_GRAYSCALE if luma else cv2.IMREAD_COLOR_RGB))
            return None if pixels is None else Image.fromarray(_box(pixels, factor), "L" if luma else "RGB")
        pixels = cv2.imread(str(path), flags | cv2.IMREAD_UNCHANGED)
        if pixels is None:
            return None
    bands = 1 if pixels.ndim == 2 else pixels.shape[2]
    if pixels.dtype != "uint8":  # 16 bits a channel: the high byte, as Pillow reads them
        pixels = (pixels >> 8).astype("uint8")
    if bands == 1:
        return Image.fromarray(_box(pixels.reshape(pixels.shape[:2]), factor), "L")
    if bands == 3:  # reduced first, then to luma: a third of the bytes through the box filter
        small = _box(pixels, factor)
        if gray:
            luma = cv2.COLOR_RGB2GRAY if order == "RGB" else cv2.COLOR_BGR2GRAY
            return Image.fromarray(cv2.cvtColor(small, luma), "L")
        return Image.fromarray(small if order == "RGB" else cv2.cvtColor(small, cv2.COLOR_BGR2RGB), "RGB")
    if bands != 4:
        return None
    if order == "BGR":
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA)
    if background is not None:  # laid on it: an opaque image comes out as its colour, unchanged
        return _flatten(pixels, background, gray, factor)
    if cv2.minMaxLoc(cv2.extractChannel(pixels, 3))[0] == 255:  # opaque everywhere: the alpha says nothing
        small = _box(cv2.cvtColor(pixels, cv2.COLOR_RGBA2RGB), factor)
        return Image.fromarray(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), "L") if gray else Image.fromarray(small, "RGB")
    return Image.fromarray(pixels, "RGBA")


def _spng_pixels(path: Path):
    """A PNG's pixels as an array (RGB order; 8 or 16 bits) decoded by libvips' libspng loader, or
    None without pyvips or when it refuses the file (Pillow's or OpenCV's decoders then decide)."""
    vips = _pyvips()
    if vips is None:
        return None
    try:
        return vips.Image.pngload(str(path), access="sequential", fail_on="error").numpy()
    except vips.Error:
        return None


@lru_cache(maxsize=1)
def _pyvips():
    """pyvips, set up once: no operation cache (it would keep decoded images alive) and one thread
    (one image at a time per process; the CLI's workers are the parallelism)."""
    try:
        import pyvips
    except (ImportError, OSError):  # not installed, or libvips missing
        return None
    pyvips.cache_set_max(0)
    pyvips.concurrency_set(1)
    return pyvips


def _box(pixels, factor: int):
    """``pixels`` (an array) shrunk ``factor`` times by averaging ``factor`` x ``factor`` boxes; the
    last partial row and column of boxes are left out (the recipes' sizes are rounded down)."""
    import cv2

    height, width = pixels.shape[0] // factor, pixels.shape[1] // factor
    if factor < 2 or width < 1 or height < 1:
        return pixels
    return cv2.resize(pixels[:height * factor, :width * factor], (width, height), interpolation=cv2.INTER_AREA)


def _flatten(rgba, background: tuple[int, int, int], gray: bool, factor: int = 1) -> Image.Image:
    """RGBA pixels laid on ``background`` and shrunk ``factor`` times: L (the luma of the colour
    result) or RGB. Premultiplied (colour x alpha) before the box filter, so that a box averages
    what each pixel shows on the background; the rest (laying on it, the luma) on the reduced
    pixels. Each term rounded: off by one at most."""
    import cv2

    small = _box(cv2.cvtColor(rgba, cv2.COLOR_RGBA2mRGBA), factor)
    colour = cv2.cvtColor(small, cv2.COLOR_RGBA2RGB)
    uncovered = cv2.bitwise_not(cv2.extractChannel(small, 3))  # 255 - alpha: how much background shows
    # colour * a / 255 (already premultiplied) + background * (255 - a) / 255
    laid = cv2.add(colour, cv2.multiply(cv2.merge([uncovered, uncovered, uncovered]), (*background, 0),
                                        scale=1 / 255))
    return Image.fromarray(cv2.cvtColor(laid, cv2.COLOR_RGB2GRAY) if gray else laid, "L" if gray else "RGB")


def _normalise(im: Image.Image) -> Image.Image:
    """L, LA, RGB or RGBA, whatever the file held."""
    mode = im.mode
    if mode in ("L", "RGB") and "transparency" not in im.info or mode in ("LA", "RGBA"):
        return im
    if mode == "CMYK":
        icc = im.info.get("icc_profile")
        if icc:
            try:
                return ImageCms.profileToProfile(im, ImageCms.ImageCmsProfile(io.BytesIO(icc)), _SRGB,
                                                 outputMode="RGB")
            except PROFILE_ERRORS:  # a broken profile: Pillow's plain conversion below (see to_srgb)
                pass
        return im.convert("RGB")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        import numpy as np

        arr = np.asarray(im)
        peak = 65535 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255
        return Image.fromarray((np.clip(arr, 0, peak) * (255 / peak)).round().astype("uint8"), "L")
    if mode in ("P", "PA") or "transparency" in im.info:
        has_alpha = mode == "PA" or "transparency" in im.info
        if mode == "P" and not has_alpha:
            return im.convert("RGB")
        return im.convert("RGBA")
    if mode == "1":
        return im.convert("L")
    if mode in ("RGBa", "La"):
        return im.convert("RGBA" if mode == "RGBa" else "LA")
    return im.convert("RGB")  # YCbCr, LAB, HSV...


def _reduce(im: Image.Image, original: tuple[int, int], scale: float) -> Image.Image:
    """Shrink by the largest integer factor that keeps ``scale`` of the original's resolution (a
    box filter: exact and cheap), premultiplying alpha so transparent pixels do not bleed."""
    current = im.width / original[0]
    factor = math.floor(current / scale) if scale > 0 else 1
    return box_reduce(im, factor) if factor >= 2 else im


def box_reduce(im: Image.Image, factor: int) -> Image.Image:
    """``im`` shrunk ``factor`` times by a box filter, alpha premultiplied."""
    premultiplied = im.mode in ("RGBA", "LA")
    if premultiplied:
        im = im.convert("RGBa" if im.mode == "RGBA" else "La")
    im = im.reduce(factor)
    if premultiplied:
        im = im.convert("RGBA" if im.mode == "RGBa" else "LA")
    return im


_SRGB = ImageCms.createProfile("sRGB")


def to_srgb(im: Image.Image, icc: bytes) -> Image.Image:
    """``im`` converted from its embedded profile to sRGB, unchanged when that cannot be done. A profile
    that cannot be read or used is the image's own metadata, and the pixels are fine: they are taken as
    sRGB, as browsers take them, rather than quarantining an image that decodes or failing a recipe
    that did nothing wrong. (An output that keeps the source's profile keeps it as it was.)"""
    if im.mode not in ("RGB", "RGBA"):
        return im
    transform = _srgb_transform(icc, im.mode)
    if transform is None:
        return im
    try:
        return ImageCms.applyTransform(im, transform)
    except ImageCms.PyCMSError:  # littleCMS refused to apply it: the pixels taken as sRGB
        return im


@lru_cache(maxsize=32)
def _srgb_transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """The transform from ``icc`` to sRGB, built once per profile (building one costs more than
    applying it to a thumbnail; a gallery's photos share a few profiles). None: sRGB already, or
    a profile that cannot be used."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in (ImageCms.getProfileDescription(profile) or "").lower():
            return None
        return ImageCms.buildTransform(profile, _SRGB, mode, mode)
    except PROFILE_ERRORS:  # a profile littleCMS cannot read or use: the pixels taken as sRGB (to_srgb)
        return None
