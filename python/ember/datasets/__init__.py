"""Real datasets read from local files (never downloaded at run time)."""

from . import fashion_mnist, mnist, shakespeare
from ._files import DatasetNotFoundError

__all__ = ["mnist", "fashion_mnist", "shakespeare", "DatasetNotFoundError"]
