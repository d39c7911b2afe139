# SPDX-License-Identifier: LGPL-2.1-or-later
"""slidepipe's exceptions: one class per code of libslidepipe's SpError."""

# SpError in include/slidepipe/slidepipe.h
SP_ERROR_FAILED = 0
SP_ERROR_USAGE = 1
SP_ERROR_IO = 2
SP_ERROR_FORMAT = 3
SP_ERROR_REGION = 4


class Error(Exception):
    """An error libslidepipe reported (a GError in its SP_ERROR domain).

    Attributes:
        code (int): the SpError code: 0 FAILED, 1 USAGE, 2 IO, 3 FORMAT,
            4 REGION (the module's SP_ERROR_* constants).
        message (str): the library's message, which names the operation,
            the file and the reason.
    """

    code = SP_ERROR_FAILED

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class FailedError(Error):
    """SP_ERROR_FAILED: libvips, libtiff or the OS failed at run time."""

    code = SP_ERROR_FAILED


class UsageError(Error, ValueError):
    """SP_ERROR_USAGE: an argument out of range or of the wrong kind (a level
    the slide lacks, a size below 1), or a closed slide. Also a ValueError."""

    code = SP_ERROR_USAGE


class FileError(Error, OSError):
    """SP_ERROR_IO: a file could not be opened, read or written. Also an
    OSError."""

    code = SP_ERROR_IO

    def __str__(self):
        # OSError's own formatting would show the bare tuple of args
        return self.message


class FormatError(Error):
    """SP_ERROR_FORMAT: no reader understands the file, or it lacks what was
    asked of it (an associated image), or its samples are not 8-bit where
    RGBA is asked for. OpenSlide's OpenSlideUnsupportedFormatError."""

    code = SP_ERROR_FORMAT


class RegionError(Error, ValueError):
    """SP_ERROR_REGION: a region lies (partly) outside its image."""

    code = SP_ERROR_REGION


_BY_CODE = {
    SP_ERROR_FAILED: FailedError,
    SP_ERROR_USAGE: UsageError,
    SP_ERROR_IO: FileError,
    SP_ERROR_FORMAT: FormatError,
    SP_ERROR_REGION: RegionError,
}


def error_from_code(code, message):
    """The exception for SpError `code` (int) with `message` (str); codes
    the library may add later become a plain Error carrying the code."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return Error(message, code)
    return cls(message)
