"""The one compiled part: the fan-out's inner loop (wschat/server/_fanout.c), optional.

Everything else is in pyproject.toml. Where there is no C compiler (Windows without build
tools, a bare macOS) or no POSIX sockets, the build skips it and wschat uses the pure-Python
loop that gives the same bytes (wschat.server.writer.put_each_py).
"""

import os

from setuptools import Extension, setup

extensions = []
if os.name == "posix":
    extensions.append(
        Extension("wschat.server._fanout", ["wschat/server/_fanout.c"], optional=True)
    )

setup(ext_modules=extensions)
