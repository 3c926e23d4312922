"""The CLI's stdout when its reader may go away early (`checks verify RUN | head`)."""

from __future__ import annotations


class PipeSafe:
    """stdout that survives its reader going away (`checks verify ... | head`): once the pipe is closed, further
    output is dropped and the command runs on to its end, so files it writes are written and its exit code is the
    verdict's, whatever the pipe did. Everything else is the real stream's."""

    def __init__(self, stream) -> None:
        self._stream, self.broken = stream, False

    def _closed(self) -> None:
        import os

        self.broken = True
        try:  # the interpreter flushes stdout at exit: point fd 1 at /dev/null so that flush has nowhere to fail
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._closed()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._closed()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)
