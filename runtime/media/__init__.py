"""Images and video in and out: decoding, resizing, colour spaces, output paths, atomic writes.

Every image inside Impasto is float32 H×W×3, RGB, 0–255.
"""

import warnings

import pillow_heif
from PIL import Image

MAX_PIXELS = 1 << 26  # 67 M pixels (a 50-MP phone photo passes, 9000×9000 does not): --max-pixels' default
PIXEL_CEILING = 1 << 30  # what --max-pixels may be raised to: 1 G pixels, 12 GiB as float32 RGB

# Our reader checks every header against the caller's limit before decoding; Pillow's own guard stays, at the
# ceiling, for code that opens images elsewhere, and its warning below the ceiling would only repeat ours.
Image.MAX_IMAGE_PIXELS = PIXEL_CEILING
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
# Pillow warns on stderr about metadata it cannot parse (a corrupt EXIF block, a TIFF tag past the file's end);
# the photo is still read (unrotated, as browsers show it), and the CLI's stderr is for one line per bad file
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
pillow_heif.register_heif_opener()  # HEIC/HEIF (iPhone photos) through Image.open
