"""How much memory this process may still take, and a check to run before allocating.

A size read from a flag or a file header (``--n-hidden 1000000000000``, an IDX header
announcing two million images, an ``.npy`` header claiming 10^12 elements) is checked here
before anything that large is allocated, so it ends in one clear line instead of a
``MemoryError`` (or the machine swapping) half-way.
"""
import os

try:
    import resource
except ImportError:  # not on Windows
    resource = None

__all__ = ["LIMIT_ENV_VAR", "MemoryLimitError", "available_bytes", "describe", "check_fits"]

#: Environment variable that caps what :func:`available_bytes` reports (tests, small machines).
LIMIT_ENV_VAR = "DLTUT_MEMORY_LIMIT"


class MemoryLimitError(ValueError):
    """Something would need more memory than this process can have."""


def available_bytes():
    """Bytes this process can still allocate: the smaller of the memory the system reports
    available (``MemAvailable`` on Linux) and the address-space limit (``ulimit -v``), and of
    ``$DLTUT_MEMORY_LIMIT`` when set; None when none of them is known."""
    limits = []
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        try:
            limits.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            pass
    if resource is not None:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            limits.append(soft)
    text = os.environ.get(LIMIT_ENV_VAR)
    if text:
        try:
            limits.append(int(float(text)))
        except ValueError:
            pass
    return min(limits) if limits else None


def describe(n_bytes):
    """``n_bytes`` in a readable unit: "512 B", "3.1 GB", "7.3 TB"."""
    value = float(n_bytes)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if value < 1000 or unit == "PB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (value, unit)
        value /= 1000.0
    return "%d B" % n_bytes


def check_fits(n_bytes, what, fix):
    """Raise :class:`MemoryLimitError` if ``n_bytes`` exceed what :func:`available_bytes`
    reports; the message names ``what`` needs them and ends with ``fix``."""
    available = available_bytes()
    if available is not None and n_bytes > available:
        raise MemoryLimitError("%s would need %s of memory, more than the %s available; %s"
                               % (what, describe(n_bytes), describe(available), fix))
