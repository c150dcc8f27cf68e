"""The failure classes every stage shares, imgproxy-style: each says whose fault a failure is, and
so what happens to it. None is a ``ValueError``: catching a library's ``ValueError`` never turns a
bug into one of these by accident. Each is mapped explicitly where it is met:

============== ============================================ ============================================
class          what it means                                what happens (and the way back)
============== ============================================ ============================================
BadImage       the image's fault: it cannot be decoded, it  the image is quarantined with the reason
               breaks the pixel, frame or time limits, its  (``quarantine.kind`` ``image``); Retry (the
               content is refused                           gallery, the form, the CLI) tries it again
RecipeError    the recipe's fault: a parameter found wrong  that recipe's output for that image is
               at run time, a picture it names missing or   recorded as failed with the reason; the
               unreadable, an operation failing on valid    image keeps its other outputs; a new
               pixels                                       version of the recipe, or Redo, tries again
Unavailable    the environment's fault: store, catalog,     the task fails and Airflow retries it;
               network, disk, memory, a model's runtime     nothing is recorded against the image
InvalidRequest the request's fault: what a form's schema    refused before any side effect (the task
               could not check                              fails for good, the API answers 4xx)
(anything      a bug, or a case nobody classified           the image stays pending; the task's log and
else)                                                       the run's summary name it; after
                                                            ``GALLERY_MAX_ATTEMPTS`` attempts it is
                                                            quarantined as "failed N times: ..."
                                                            (``quarantine.kind`` ``unexpected``), and
                                                            tried once more by the next release
============== ============================================ ============================================
"""

from __future__ import annotations

import errno
from typing import Literal

FailureKind = Literal["image", "recipe", "environment", "request", "unexpected"]
KINDS: tuple[FailureKind, ...] = ("image", "recipe", "environment", "request", "unexpected")


class PipelineError(Exception):
    """A classified failure; ``kind`` says whose fault it is. The message is what people read."""

    kind: FailureKind = "unexpected"


class BadImage(PipelineError):
    """The image's fault: the bytes are not an image this pipeline reads, or they break a limit.
    The message is the quarantine reason."""

    kind = "image"


class RecipeError(PipelineError):
    """The recipe's fault: unknown operation, bad parameter, a picture it names that cannot be
    used, an operation that fails on valid pixels. When processing, the message is the failed
    output's reason."""

    kind = "recipe"


class Unavailable(PipelineError):
    """The environment's fault: the store, the catalog, the network, the disk, memory or a model's
    runtime failed. Trying again later (Airflow's retry) is the cure; nothing is the image's fault."""

    kind = "environment"


class InvalidRequest(PipelineError):
    """The request's fault: what a form's schema could not check (an unknown recipe, a bad
    selection, an address that does not parse). Refused before any side effect."""

    kind = "request"


# errno values that say the machine, not the data, is at fault: a full or read-only disk, a quota,
# too many open files, no memory, an I/O error, a network that is down or slow.
ENVIRONMENT_ERRNOS = frozenset(getattr(errno, name) for name in (
    "ENOSPC", "EDQUOT", "EROFS", "EMFILE", "ENFILE", "ENOMEM", "EIO", "EAGAIN", "ETIMEDOUT", "ECONNREFUSED",
    "ECONNRESET", "ECONNABORTED", "EHOSTUNREACH", "ENETUNREACH", "ENETDOWN", "EPIPE", "EBUSY",
) if hasattr(errno, name))


# Exceptions of the backends' drivers that mean the backend failed, by module and name: looked up only
# in modules already imported (a driver that is not loaded raised nothing), so classifying imports none.
# A locked or unreachable SQLite file, any PyMongo failure but a duplicate key (which is a bug here).
DRIVER_FAILURES = (("sqlite3", "OperationalError"), ("pymongo.errors", "ConnectionFailure"),
                   ("pymongo.errors", "ServerSelectionTimeoutError"), ("pymongo.errors", "NotPrimaryError"),
                   ("pymongo.errors", "ExecutionTimeout"), ("pymongo.errors", "WriteConcernError"))


def is_environmental(exc: BaseException) -> bool:
    """Whether a library's exception says the environment failed (rather than the data): an
    :class:`Unavailable`, memory running out, an ``OSError`` whose errno is one of
    :data:`ENVIRONMENT_ERRNOS` (``TimeoutError`` and ``ConnectionError`` included), or a catalog
    driver's failure (:data:`DRIVER_FAILURES`). The store translates its own (:mod:`.storage`)."""
    import sys

    if isinstance(exc, (Unavailable, MemoryError, TimeoutError, ConnectionError)):
        return True
    if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
        return True
    for module, name in DRIVER_FAILURES:
        failure = getattr(sys.modules.get(module), name, None)
        if failure is not None and isinstance(exc, failure):
            return True
    return False


def kind_of(exc: BaseException) -> FailureKind:
    """The class of ``exc``: a :class:`PipelineError`'s own, ``environment`` for what
    :func:`is_environmental` recognises, else ``unexpected``."""
    if isinstance(exc, PipelineError):
        return exc.kind
    return "environment" if is_environmental(exc) else "unexpected"


def describe(exc: BaseException) -> str:
    """One line for a log, a summary or a quarantine reason: the message of a classified failure,
    the type and message of anything else."""
    if isinstance(exc, PipelineError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
