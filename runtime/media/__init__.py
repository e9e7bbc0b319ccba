"""Images and video in and out: decoding, resizing, colour spaces, output paths, atomic writes.

Every image inside Impasto is float32 H×W×3, RGB, 0–255.
"""

import os

MAX_PIXELS = 1 << 28  # 268 M pixels: a 16 000 × 16 000 image; anything larger is refused before decoding
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))  # read once, when cv2 is first imported
