"""The C heap of the show's process, kept from creeping over weeks (glibc's malloc, i.e. Linux; elsewhere a no-op).

What the soak benchmark shows: between the middle and the end of a run the show's Python objects barely change
(tracemalloc, `soak --trace`), while its resident memory keeps rising; what rises is glibc's heap (`soak` prints
it, from mallinfo2(3)). Every batch of tiles arrives as a pickled buffer of a few MB, is unpacked into numpy arrays
and freed a moment later, while pygame allocates tile surfaces in between, from the render thread and the
generation thread alike. Two defaults of glibc's malloc (mallopt(3)) make that pattern keep memory it no longer uses:
  - the mmap threshold is dynamic: once a large block served by mmap is freed, blocks of that size come from the
    heap from then on, where freed memory is kept rather than given back, and is fragmented by the small blocks
    allocated between them;
  - each thread that allocates may get an arena of its own (up to 8 per core), each keeping its own free memory.
So `tune()` fixes the threshold (large blocks always come from mmap and go back to the system when freed) and
allows two arenas, and `trim()`, called every few seconds, gives free heap pages back (malloc_trim(3)).
"""
import ctypes
import ctypes.util
import sys

M_ARENA_MAX = -8                # <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 1024     # bytes: a tile batch's buffers are far above, a 256 px tile's 64-bit row far below
ARENAS = 2                      # the render thread and the generation thread


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim       # musl (Alpine) has neither: nothing to tune there
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _glibc()


def tune():
    """Call once, early in the show's process. Returns True if the settings took (glibc), False otherwise."""
    if _LIBC is None:
        return False
    return bool(_LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(_LIBC.mallopt(M_ARENA_MAX, ARENAS))


def trim():
    """Give the heap's free pages back to the system (a few ms at most for a heap of ~100 MB)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def usage():
    """(bytes in use, bytes free but kept) of the C heap, every arena and mmap'd block; None without glibc >= 2.33."""
    if _LIBC is None or not hasattr(_LIBC, "mallinfo2"):
        return None
    _LIBC.mallinfo2.restype = _MallInfo2
    info = _LIBC.mallinfo2()
    return info.uordblks + info.hblkhd, info.fordblks
