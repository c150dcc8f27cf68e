"""The pictures a recipe names (``watermark``'s ``image``, ``remove_background``'s ``image``,
``style_transfer``'s ``style_image``): one resolver, so every parameter naming a picture is confined
alike whoever asks (a recipe file, a saved recipe, the editor's preview, check and save).

A picture is either a gallery image, ``sha256:<hex>`` (or the bare hash), or a regular file under
the recipes' folders (``config/recipes``, then ``GALLERY_RECIPES_DIR``; a recipe file's own folder
first, so a picture beside its recipe keeps working), named relative to them. Anything else (an
absolute path, a ``..``, a symlink leading out of its folder, a device, a FIFO, a socket, a
directory, a file that is not there) is refused with :data:`REFUSED`, the same words whatever the
reason: a refusal never tells whether a path exists on the machine. A refused path is never opened:
it is only looked at through ``realpath`` and ``lstat``.

A recipe keeps each picture as a :class:`PictureRef` (the name as written and the folders it may be
in) and :func:`open_picture` resolves it again on the machine that runs it, right before opening:
a recipe saved on the API server names a picture the workers find in their own folders, and a
picture missing there fails that recipe's output (:class:`RecipeError`) rather than every recipe.
The file is opened without following a final symlink and without blocking (a FIFO swapped in after
the check is refused, never waited on), and checked to be a regular file before a byte is read.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Iterable

from PIL import Image, UnidentifiedImageError

from image_pipeline.core.errors import BadImage, RecipeError, Unavailable, is_environmental

if TYPE_CHECKING:
    from image_pipeline.process.operations.base import Context

REFUSED = "a picture is a gallery image (sha256:<hex>) or a file in the recipes' folders"
GALLERY_REF = re.compile(r"^(?:sha256:)?([0-9a-f]{64})$")
CACHED_PICTURES = 8  # decoded picture files kept per process (a watermark is laid on every image of a batch)


def _in_folders(value: str, folders: Iterable[str | Path]) -> str | None:
    """The real path of the regular file ``value`` names under one of ``folders`` (the first that
    holds it), or None. Looks (realpath, lstat) but never opens."""
    if not value or "\x00" in value:
        return None
    name = PurePosixPath(value)
    if name.is_absolute() or ".." in name.parts:
        return None
    for folder in folders:
        if not str(folder):  # "" would be the working directory
            continue
        root = os.path.realpath(folder)
        candidate = os.path.realpath(os.path.join(root, value))
        if os.path.commonpath([root, candidate]) != root:  # a symlink led out of the folder
            continue
        try:
            mode = os.lstat(candidate).st_mode
        except OSError:  # missing, a name too long, a folder one may not enter: not here
            continue
        if stat.S_ISREG(mode):  # realpath resolved every link: this is the file itself
            return candidate
    return None


def resolve_picture(value: str, folders: Iterable[str | Path], where: str = "picture") -> str:
    """``sha256:<hex>`` for a gallery image (the bare hash too), else the real path of the regular
    file ``value`` names under ``folders``; :class:`RecipeError` ``"<where>: "`` + :data:`REFUSED`
    otherwise, whatever the reason."""
    ref = GALLERY_REF.match(value.strip().lower())
    if ref:
        return f"sha256:{ref[1]}"
    found = _in_folders(value, folders)
    if found is None:
        raise RecipeError(f"{where}: {REFUSED}")
    return found


@dataclass(frozen=True)
class PictureRef:
    """A picture a recipe names: the name as written (what the fingerprint and the recipe's YAML
    hold), the folders it may be found in, and the parameter naming it (for messages)."""

    written: str
    folders: tuple[str, ...] = ()
    param: str = "picture"

    def __str__(self) -> str:
        return self.written

    def resolve(self) -> str:
        return resolve_picture(self.written, self.folders, self.param)


def picture_ref(value: str, folders: Iterable[str | Path], operation: str, param: str, *,
                check: bool = True) -> PictureRef:
    """``value``, ``operation``'s parameter ``param``, as a :class:`PictureRef`; with ``check``
    resolved now too (the refusal raised before anything runs), else only when used. Folders are
    kept as absolute paths: a worker changing directory still finds them."""
    ref = PictureRef(value, tuple(os.path.abspath(f) for f in folders if str(f)), param)
    if check:
        resolve_picture(value, ref.folders, f"{operation} {param}")
    return ref


def gallery_sha256(ref: PictureRef | str) -> str | None:
    """The sha256 of the gallery image ``ref`` names, or None when it names a file."""
    found = GALLERY_REF.match(str(ref).strip().lower())
    return found[1] if found else None


_cache: OrderedDict[tuple, Image.Image] = OrderedDict()
_cache_lock = threading.Lock()


def _unreadable(param: str, path: str, exc: BaseException) -> Exception:
    """A picture file that resolved but cannot be read: the environment's fault (a disk error, too
    many open files) or the recipe's (gone since, unreadable, not an image). The path is the
    server's: only its name is told."""
    if is_environmental(exc):
        return Unavailable(f"{param}: cannot read the picture {os.path.basename(path)}: {exc}")
    if isinstance(exc, UnidentifiedImageError):
        reason = "not an image"
    elif isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror
    else:
        reason = str(exc) or type(exc).__name__
    return RecipeError(f"{param}: the picture {os.path.basename(path)} cannot be read ({reason})")


def _read_file(path: str, mode: str, param: str) -> Image.Image:
    from image_pipeline.process.decode import DECODE_ERRORS

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise _unreadable(param, path, exc) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped for a FIFO or a device since it was resolved
            raise RecipeError(f"{param}: {REFUSED}")
        key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, mode)
        with _cache_lock:
            if key in _cache:
                _cache.move_to_end(key)
                return _cache[key]
        try:
            with open(fd, "rb", closefd=False) as file, Image.open(file) as opened:
                picture = opened.convert(mode)
        except DECODE_ERRORS as exc:  # what Pillow raises on a file it cannot decode (and OSError reading)
            raise _unreadable(param, path, exc) from None
        with _cache_lock:
            _cache[key] = picture
            while len(_cache) > CACHED_PICTURES:
                _cache.popitem(last=False)
        return picture
    finally:
        os.close(fd)


def open_picture(ref: PictureRef | str, ctx: Context, mode: str = "RGB") -> Image.Image:
    """The pixels (in ``mode``) of the picture ``ref`` names, resolved again here (a plain string is
    taken with no folder: only a gallery image is found). :class:`RecipeError` when it is refused,
    missing, unreadable or not an image; :class:`Unavailable` when the machine fails reading it.
    A file's pixels are cached per process while it is unchanged: do not modify them."""
    if not isinstance(ref, PictureRef):
        ref = PictureRef(ref)
    resolved = ref.resolve()
    if not resolved.startswith("sha256:"):
        return _read_file(resolved, mode, ref.param)
    from image_pipeline.core.storage import ObjectNotFound

    if ctx.gallery_image is None:
        raise RecipeError(f"{ref.param}: {resolved}: a gallery image can be used only when processing the gallery")
    sha256 = resolved.removeprefix("sha256:")
    try:  # the picture the recipe names failing is the recipe's fault, not the processed image's
        picture = ctx.gallery_image(sha256)
    except BadImage as exc:
        raise RecipeError(f"{ref.param}: {exc}") from None
    except ObjectNotFound:
        raise RecipeError(f"{ref.param}: the gallery image {sha256} is not in the store") from None
    return picture.convert(mode)


def named_pictures(steps: Iterable[tuple[str, dict]]) -> Iterable[tuple[str, PictureRef]]:
    """(operation, picture) for each picture a recipe's ``steps`` name."""
    for operation, params in steps:
        for value in params.values():
            if isinstance(value, PictureRef):
                yield operation, value
