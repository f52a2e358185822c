"""The public-API boundary: argument errors that slip past explicit validation (a
Python TypeError from a None, numpy's ValueError for ragged data...) come out as
`InvalidArgumentError` naming the op, never as a bare builtin from deep inside."""

from __future__ import annotations

import functools

from .errors import EmberError, InvalidArgumentError


def public(op: str):
    def wrap(f):
        @functools.wraps(f)
        def checked(*args, **kwargs):
            try:
                return f(*args, **kwargs)
            except EmberError:
                raise
            except (TypeError, ValueError, OverflowError, AttributeError, IndexError) as e:
                raise InvalidArgumentError(f"{op}: invalid arguments ({type(e).__name__}: {e})") from e

        return checked

    return wrap
