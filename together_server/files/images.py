"""Images with Pillow (issue 10): the pixel limit before decoding, metadata stripped while
keeping the orientation, width/height, and a small thumbnail.

All functions are synchronous and CPU/disk bound: call them through ``trio.to_thread``.
A decompression bomb is refused from the header (:func:`probe_image`) before any pixel is
decoded; every Pillow failure becomes :class:`ImageRefused`, never an unhandled error.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import attrs
from PIL import Image, ImageOps

THUMB_PX = 400
# Formats we re-encode to drop metadata (EXIF with GPS, XMP, text chunks). GIF and BMP
# carry no EXIF and are stored as they came.
REENCODE = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
PILLOW_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP",
                  "image/bmp": "BMP", "image/avif": "AVIF"}
_EXIF_ORIENTATION = 0x0112


class ImageRefused(ValueError):
    """The image cannot be accepted; ``str(error)`` says why (for ``errors.files``)."""


@attrs.frozen
class ImageInfo:
    """What the header says: Pillow ``format`` (``PNG``), ``width``/``height`` in pixels
    as stored (before EXIF orientation), and the EXIF ``orientation`` (1–8, 1 = upright)."""

    format: str
    width: int
    height: int
    orientation: int = 1


def probe_image(path: str | Path, max_pixels: int, *, expect: str | None = None) -> ImageInfo:
    """Read only the header of the image at ``path``: its format and size.

    Raises :class:`ImageRefused` when Pillow cannot read it, when its format is not
    ``expect`` (a Pillow format name such as ``"PNG"``, if given), or when
    width × height exceeds ``max_pixels`` — before any pixel is decoded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                fmt, (w, h) = im.format or "", im.size
                orientation = 1
                if fmt in ("JPEG", "WEBP", "PNG"):
                    try:
                        orientation = int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
                    except Exception:  # noqa: BLE001 - a broken EXIF block is no orientation
                        orientation = 1
    except Image.DecompressionBombError:
        raise ImageRefused(f"the image has more than {max_pixels} pixels") from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad files
        raise ImageRefused(f"the image cannot be read ({type(exc).__name__})") from None
    if expect is not None and fmt != expect:
        raise ImageRefused(f"the file is not a {expect} image")
    if w < 1 or h < 1:
        raise ImageRefused("the image has no pixels")
    if w * h > max_pixels:
        raise ImageRefused(f"the image has {w * h} pixels; at most {max_pixels} are allowed")
    return ImageInfo(fmt, w, h, orientation if 1 <= orientation <= 8 else 1)


@attrs.frozen
class PreparedImage:
    """The result of :func:`prepare_image`: ``path`` of the bytes to store (the input or a
    re-encoded copy), ``width``/``height`` as displayed, and ``thumb_path`` (a WebP or JPEG
    of at most :data:`THUMB_PX` px, or ``None`` when the image is already that small)."""

    path: Path
    width: int
    height: int
    thumb_path: Path | None


def _has_metadata(im: Image.Image) -> bool:
    if "exif" in im.info or "xmp" in im.info or "XML:com.adobe.xmp" in im.info:
        return True
    try:
        if len(im.getexif()):
            return True
    except Exception:  # noqa: BLE001
        return True
    # PNG text chunks (tEXt/iTXt/zTXt) may hold anything, GPS included
    return im.format == "PNG" and any(isinstance(v, str) for k, v in im.info.items() if k not in ("icc_profile",))


def prepare_image(path: Path, info: ImageInfo, work_dir: Path, *, thumbnail: bool = True) -> PreparedImage:
    """Decode the image at ``path`` (already checked by :func:`probe_image`), drop its
    metadata while keeping how it looks (the EXIF orientation is applied to the pixels),
    and make a thumbnail. New files are written into ``work_dir`` (same filesystem as the
    blob store) and fsynced; the caller owns them. Raises :class:`ImageRefused`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return _prepare(path, im, info, work_dir, thumbnail)
    except ImageRefused:
        raise
    except (Exception, Image.DecompressionBombError) as exc:  # noqa: BLE001 - truncated/corrupt data
        raise ImageRefused(f"the image cannot be decoded ({type(exc).__name__})") from None


def _prepare(path: Path, im: Image.Image, info: ImageInfo, work_dir: Path, thumbnail: bool) -> PreparedImage:
    out_path, width, height = path, info.width, info.height
    animated = bool(getattr(im, "is_animated", False))
    if info.format in REENCODE and not animated and (_has_metadata(im) or info.orientation != 1):
        im.load()
        upright = ImageOps.exif_transpose(im) if info.orientation != 1 else im
        width, height = upright.size
        out_path = _temp(work_dir, ".img")
        params: dict[str, object] = {}
        if info.format == "JPEG":
            # "keep" re-uses the original quantisation (no quality loss) when the pixels
            # were not turned; after a turn the tables no longer apply.
            params = {"quality": "keep"} if upright is im else {"quality": 92}
            if upright.mode not in ("RGB", "L", "CMYK"):
                upright = upright.convert("RGB")
        elif info.format == "WEBP":
            params = {"lossless": bool(im.info.get("lossless")), "quality": 90}
        if "icc_profile" in im.info:  # colours, not metadata about the person
            params["icc_profile"] = im.info["icc_profile"]
        _save(upright, out_path, info.format, params)
    elif info.orientation in (5, 6, 7, 8):
        width, height = height, width
    thumb_path = None
    if thumbnail and max(width, height) > THUMB_PX:
        thumb_path = make_thumbnail(out_path, work_dir)
    return PreparedImage(out_path, width, height, thumb_path)


def make_thumbnail(path: Path, work_dir: Path) -> Path:
    """A WebP (JPEG if Pillow lacks WebP) of at most :data:`THUMB_PX` px a side of the first
    frame of the image at ``path``, upright, without metadata; returns its path in
    ``work_dir``. JPEGs are decoded at a reduced scale (``draft``), which is most of the
    speed for large photos."""
    with Image.open(path) as im:
        if im.format == "JPEG":
            im.draft("RGB", (THUMB_PX * 2, THUMB_PX * 2))
        im.seek(0)
        frame = ImageOps.exif_transpose(im)
        frame.thumbnail((THUMB_PX, THUMB_PX), Image.Resampling.LANCZOS)
        webp = _webp_ok()
        alpha = frame.mode in ("RGBA", "LA", "PA") or "transparency" in frame.info
        mode = "RGBA" if alpha and webp else "RGB"
        if frame.mode != mode:
            frame = frame.convert(mode)
        out = _temp(work_dir, ".thumb")
        _save(frame, out, "WEBP" if webp else "JPEG", {"quality": 80})
    return out


def thumbnail_type() -> str:
    """The MIME type :func:`make_thumbnail` writes."""
    return "image/webp" if _webp_ok() else "image/jpeg"


def _webp_ok() -> bool:
    from PIL import features

    return bool(features.check("webp"))


def _temp(work_dir: Path, suffix: str) -> Path:
    fd, name = _mkstemp(work_dir, suffix)
    os.close(fd)
    return Path(name)


def _mkstemp(work_dir: Path, suffix: str) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(prefix="up-", suffix=suffix, dir=work_dir)


def _save(im: Image.Image, out: Path, fmt: str, params: dict[str, object]) -> None:
    with open(out, "wb") as f:
        im.save(f, format=fmt, **params)
        f.flush()
        os.fsync(f.fileno())
