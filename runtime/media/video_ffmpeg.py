"""FFmpeg (through PyAV) kept off stderr, and its errors made one line.

PyAV's default drops FFmpeg's log, and with it the reason an error carries ("moov atom not found"). At ERROR
level the reason is kept on the exception; a NullHandler on PyAV's ``libav`` logger stops Python's last-resort
handler from printing those lines too, while an application that configures logging still receives them.
"""

from __future__ import annotations

import logging

import av

_quiet = False


def quiet_ffmpeg() -> None:
    """FFmpeg's messages at ERROR and above reach exceptions (and configured loggers), never bare stderr."""
    global _quiet
    if not _quiet:
        av.logging.set_level(av.logging.ERROR)
        logging.getLogger("libav").addHandler(logging.NullHandler())
        _quiet = True


def reason(error: BaseException) -> str:
    """One line for an FFmpeg (or OS) error: what failed and, when FFmpeg said, why ("Invalid data found when
    processing input; moov atom not found")."""
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    log = getattr(error, "log", None)
    if log and len(log) == 3 and str(log[2]).strip():
        text = f"{text}; {str(log[2]).strip()}"
    return " ".join(text.split())[:240]
