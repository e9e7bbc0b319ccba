"""A video file's audio, copied packet for packet (never re-encoded) into an output being written.

The source is opened a second time for its audio alone, so the reader of video frames stays a plain frame source;
packets are handed to the muxer up to the time of the video frame just written, so the output stays interleaved.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import av

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media.video_ffmpeg import quiet_ffmpeg, reason

HOLDERS = {".mkv": "matroska", ".mov": "mov", ".mp4": "mp4", ".avi": "avi"}  # what may be suggested instead


def unfit_reason(stream: av.audio.stream.AudioStream, muxer: str) -> str | None:
    """Why FFmpeg's ``muxer`` cannot hold ``stream``'s audio as it is (None: it can). Its codec list is not enough
    (it lists Opus for .mov, whose header then fails), so a header is written, into memory."""
    quiet_ffmpeg()
    with av.open(io.BytesIO(), "w", format=muxer) as probe:
        try:
            probe.add_stream_from_template(stream, opaque=True)
            probe.start_encoding()
        except av.FFmpegError as error:  # before ValueError: FFmpeg's EINVAL (ArgumentError) is one too
            return reason(error)
        except ValueError as error:  # PyAV's own refusal, from the format's codec list
            return str(error)
    return None


def unfit_audio_error(source: Path, target: Path, stream: av.audio.stream.AudioStream, detail: str) -> ImpastoError:
    """The one line for audio the output's container cannot hold, naming the suffixes that can."""
    others = [s for s, muxer in HOLDERS.items() if s != target.suffix.lower() and unfit_reason(stream, muxer) is None]
    advice = f"; write {' or '.join(others)} instead" if others else ""
    return ImpastoError(
        f"{target}: a {target.suffix} file cannot hold the {stream.codec_context.name} audio of {source} "
        f"({detail}){advice}"
    )


def check_audio_fits(container: av.container.InputContainer, source: Path, target: Path, muxer: str) -> None:
    """ImpastoError when FFmpeg's ``muxer`` cannot hold one of ``container``'s audio streams as they are."""
    for stream in container.streams.audio:
        if (detail := unfit_reason(stream, muxer)) is not None:
            raise unfit_audio_error(source, target, stream, detail)


class AudioCopy:
    """Every audio stream of ``source`` added to ``output`` (before its header is written) and copied into it by
    :meth:`copy_until`. ImpastoError (before any work) when the container cannot hold one of the codecs."""

    def __init__(self, source: str | Path, output: av.container.OutputContainer, target: Path) -> None:
        quiet_ffmpeg()
        self.source = Path(source)
        self.output = output
        try:
            self.input = av.open(str(self.source), metadata_errors="replace")
        except (av.FFmpegError, OSError) as error:
            raise ImpastoError(f"{self.source}: cannot read its audio ({reason(error)})") from None
        self.streams = {}
        try:
            for stream in self.input.streams.audio:
                try:
                    self.streams[stream.index] = output.add_stream_from_template(stream, opaque=True)
                except ValueError as error:  # the format's codec list (av.FFmpegError is a ValueError too)
                    raise unfit_audio_error(self.source, target, stream, reason(error)) from None
        except BaseException:
            self.input.close()
            raise
        self._packets: Iterator[av.Packet] = self.input.demux(*self.input.streams.audio) if self.streams else iter(())
        self._held: av.Packet | None = None

    def copy_until(self, seconds: float | None) -> None:
        """Mux every packet that starts before ``seconds`` (None: all the rest). Errors reading the source are
        ImpastoError here; errors writing (av.FFmpegError, OSError) are the caller's, who knows the output."""
        while (packet := self._held or self._next()) is not None:
            self._held = None
            if packet.dts is None and packet.pts is None:  # the demuxer's end-of-stream marker
                continue
            time = packet.pts if packet.pts is not None else packet.dts
            if seconds is not None and time * packet.time_base >= seconds:
                self._held = packet
                return
            packet.stream = self.streams[packet.stream.index]
            self.output.mux(packet)

    def _next(self) -> av.Packet | None:
        try:
            return next(self._packets, None)
        except (av.FFmpegError, OSError) as error:
            raise ImpastoError(f"{self.source}: cannot read its audio ({reason(error)})") from None

    def close(self) -> None:
        self.input.close()
