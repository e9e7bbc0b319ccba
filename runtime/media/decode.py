"""The one image reader: every command, the server, batch and training decode images here, through Pillow.

What phones and cameras make is read as it looks: EXIF orientation applied (JPEG, WebP, PNG, TIFF, HEIC, AVIF),
colour profiles (Display-P3, Adobe RGB, …) converted to sRGB through ImageCms (and HEIF's primaries-only nclx
tags, ``primaries.py``), data after the image's end (Motion
Photos carry a video there) ignored, HEIC/HEIF through pillow-heif. The size is read from the header before a pixel
is decoded, so an image over the pixel limit costs nothing; truncation is told by the decoder itself. Nothing here
touches process-wide state per call (no stderr swap), so servers may decode in threads.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media import MAX_PIXELS, PIXEL_CEILING
from impasto.runtime.media.primaries import nclx_to_srgb

MIN_SIDE = 16
# Formats read (multi-picture JPEGs come with JPEG), each declaring its size in its header; others (PSD, EPS, ICO,
# …) are refused unopened.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF", "AVIF", "TIFF", "BMP", "GIF")
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class ImageTooLarge(ImpastoError):
    """The header declares more pixels than allowed; nothing was decoded (a server answers 413)."""

    def __init__(self, name: str, width: int, height: int, limit: int, pixels: int | None = None) -> None:
        claim = f"{width}×{height} = {width * height:,} pixels" if width else f"{pixels or 0:,} pixels"
        super().__init__(f"{name}: its header claims {claim}, more than the {limit:,} allowed (--max-pixels)")
        self.width, self.height, self.limit = width, height, limit
        self.pixels = width * height if width else pixels


def read_image(path: str | Path, min_side: int = MIN_SIDE, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode the file at ``path`` into an H×W×3 float32 RGB array in 0–255, upright and in sRGB.

    ImpastoError with one line naming the file for a missing, empty, truncated or undecodable file, a side under
    ``min_side`` pixels; ``ImageTooLarge`` when its header declares more than ``max_pixels`` (checked before
    decoding).
    """
    path = Path(path)
    if not path.exists():
        raise ImpastoError(f"{path}: no such file")
    if not path.is_file():
        raise ImpastoError(f"{path}: not a file")
    try:
        handle = path.open("rb")
    except OSError as error:
        raise ImpastoError(f"{path}: cannot read ({error.strerror or error})") from error
    with handle:
        return _decode(handle, str(path), min_side, max_pixels)


def decode_image(data: bytes, name: str, min_side: int = MIN_SIDE, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes (``name`` says what they are, in errors) as :func:`read_image` decodes a file."""
    return _decode(io.BytesIO(data), name, min_side, max_pixels)


def read_size(data: bytes, name: str) -> tuple[int, int]:
    """(width, height) from the header, nothing decoded. ImpastoError when the bytes are no accepted image."""
    with _open(io.BytesIO(data), name, PIXEL_CEILING) as image:
        return _upright_size(image)


# what each accepted format's first bytes are, to tell a damaged file of a known kind from one of no known kind
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF8", "GIF"), (b"BM", "BMP"),
    (b"II*\0", "TIFF"), (b"MM\0*", "TIFF"),
)  # fmt: skip
HEIF_STILL_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"mif1", b"avif")  # a photo (the video reader refuses it)
_HEIF_BRANDS = (*HEIF_STILL_BRANDS, b"hevc", b"hevx", b"msf1", b"avis")  # and image sequences


def _kind(head: bytes) -> str | None:
    """The accepted format these first bytes announce, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "AVIF" if head[8:12] in (b"avif", b"avis") else "HEIF"
    return next((kind for signature, kind in _SIGNATURES if head.startswith(signature)), None)


def _damaged(name: str, error: BaseException | str) -> ImpastoError:
    reason = str(error).strip() or type(error).__name__
    return ImpastoError(f"{name}: cannot decode image: the file is truncated or corrupt ({reason[:200]})")


def _open(source: BinaryIO, name: str, max_pixels: int) -> Image.Image:
    head = source.read(16)
    if head == b"":
        raise ImpastoError(f"{name}: empty file (0 bytes)")
    source.seek(0)
    try:
        return Image.open(source, formats=ACCEPTED_FORMATS)  # reads the header only
    except Image.DecompressionBombError as error:  # over Pillow's own guard, set at our ceiling (media/__init__.py)
        pixels = re.search(r"\((\d+) pixels\)", str(error))  # Pillow says the count, not the sides
        raise ImageTooLarge(name, 0, 0, max_pixels, int(pixels.group(1)) if pixels else None) from None
    except UnidentifiedImageError:
        kind = _kind(head)
        if kind:  # a JPEG, HEIC, … whose header its decoder could not get through
            raise _damaged(name, f"a {kind} file its decoder cannot open") from None
        kinds = "JPEG, PNG, WebP, HEIC, AVIF, TIFF, BMP, GIF"
        raise ImpastoError(f"{name}: cannot decode image: not an image in a format read here ({kinds})") from None
    except Exception as error:  # a header its plugin recognised but could not parse; the decoders' types vary
        raise _damaged(name, error) from None


def _upright_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) as displayed, from the header. Pillow's TIFF reader (and pillow-heif) report and decode
    upright already."""
    width, height = image.size
    turned = image.format != "TIFF" and _orientation(image, decoded=False) in (5, 6, 7, 8)
    return (height, width) if turned else (width, height)


def _orientation(image: Image.Image, decoded: bool) -> int:
    """The EXIF orientation (1: as stored). Before decoding, a PNG's is read only from an eXIf chunk ahead of the
    image data: Pillow's ``getexif`` would decode the whole image to look for one after it."""
    try:
        if image.format == "PNG" and not decoded:
            raw = image.info.get("exif")
            if not raw:
                return 1
            exif = Image.Exif()
            exif.load(raw)
            return int(exif.get(0x0112, 1))
        return int(image.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block is not a broken image: read it unrotated
        return 1


def _decode(source: BinaryIO, name: str, min_side: int, max_pixels: int) -> np.ndarray:
    with _open(source, name, max_pixels) as image:
        width, height = image.size  # the stored size: the pixel count and the shorter side do not turn
        if width * height > max_pixels:
            raise ImageTooLarge(name, *_upright_size(image), max_pixels)
        if min(width, height) < min_side:
            width, height = _upright_size(image)
            raise ImpastoError(
                f"{name}: image is {width}×{height} pixels; at least {min_side} pixels per side are needed"
            )
        try:
            image.load()
            upright = _transposed(image)
            pixels = _to_rgb_float(_in_srgb(upright))
        except MemoryError:
            raise
        except Exception as error:  # the decoder's own word on the data (OSError, SyntaxError, RuntimeError, …)
            raise _damaged(name, error) from None
        return nclx_to_srgb(pixels, image.info.get("nclx_profile"))


def _transposed(image: Image.Image) -> Image.Image:
    if _orientation(image, decoded=True) == 1:
        return image
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # an orientation tag that cannot be applied: keep the pixels as stored
        return image


def _in_srgb(image: Image.Image) -> Image.Image:
    """The image converted from its embedded ICC profile to sRGB (perceptual intent); unchanged without one, with an
    sRGB one, or with one LittleCMS cannot use (read as sRGB, as browsers do)."""
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("P", "PA"):  # a palette's colours are in the profile's space too
        image = image.convert("RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK", "L", "LA"):
        return image
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if ImageCms.getProfileDescription(profile).strip().lower().startswith("srgb"):
            return image
        if image.mode in ("LA", "RGBA"):
            alpha = image.getchannel("A")
            colour = ImageCms.profileToProfile(image.convert(image.mode[:-1]), profile, _SRGB, outputMode="RGB")
            colour.putalpha(alpha)
            return colour
        return ImageCms.profileToProfile(image, profile, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image


def _to_rgb_float(image: Image.Image) -> np.ndarray:
    """float32 RGB 0–255: 16-bit and integer modes scaled, float modes taken as 0–1, alpha composited on white."""
    mode = image.mode
    if mode.startswith("I"):  # 16- or 32-bit grey
        grey = np.asarray(image, dtype=np.float32) / 257.0
        return np.repeat(np.clip(grey, 0.0, 255.0)[:, :, None], 3, axis=2)
    if mode == "F":
        grey = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0) * 255.0
        return np.repeat(grey[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
        alpha = rgba[:, :, 3:4] / 255.0
        return np.ascontiguousarray(rgba[:, :, :3] * alpha + 255.0 * (1.0 - alpha))  # composite on white
    return np.asarray(image.convert("RGB"), dtype=np.float32).copy()
