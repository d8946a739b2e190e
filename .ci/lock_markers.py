"""stdin: `pip freeze` lines -> stdout: requirements.lock, torch's Linux-only CUDA wheels given torch's markers."""

import re
import sys

HEADER = """\
# Exact versions of the stack the tests and the demo ran on; `make install` installs these (`make lock` rewrites
# this file from .venv after a pyproject.toml change). torch's CUDA runtime wheels (nvidia-*, cuda-*, triton)
# carry torch's own Linux-only markers, so the file also installs where they do not exist; CPU runs do not use them.
# Made with Python 3.11 on Linux x86_64; other Python versions may need other wheels.
"""
LINUX = re.compile(r"^(nvidia-|cuda-)", re.IGNORECASE)

sys.stdout.write(HEADER)
for line in sys.stdin.read().splitlines():
    name = line.split("==")[0].strip().lower()
    if LINUX.match(name):
        line += ' ; platform_system == "Linux"'
    elif name == "triton":
        line += ' ; platform_system == "Linux" and python_version < "3.15"'
    sys.stdout.write(line + "\n")
