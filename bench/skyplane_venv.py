"""Side virtualenv with Skyplane 0.3.2, the peer planner the benchmark compares against.

Skyplane 0.3.2 needs NumPy 1.x (its pyarrow<11 pin), which cannot live in the project venv, so
it gets its own venv under ``.tools/skyplane-venv``. Creating it is idempotent: a marker file
records the pins it was built with, and a venv with the same pins is reused as is.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".tools" / "skyplane-venv"
# The pins the reference script documents: skyplane's pyarrow<11 wheel is built for NumPy 1.x,
# and cvxpy>=1.8 / pandas>=2.3 / scipy>=1.15 need NumPy 2.
PINS = ["skyplane==0.3.2", "numpy<2", "pandas<2.3", "cvxpy<1.8", "scipy<1.15", "highspy"]
MARKER = VENV / ".sky-pins"


def python() -> Path:
    return VENV / "bin" / "python"


def _base_python() -> str:
    """Skyplane 0.3.2 wheels and pins are known to work on Python 3.11."""
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    found = shutil.which("python3.11")
    if not found:
        raise SystemExit("The Skyplane side venv needs Python 3.11: install python3.11 and retry")
    return found


def ensure() -> Path:
    """Create or reuse the side venv; return its interpreter."""
    wanted = "\n".join(PINS)
    if MARKER.exists() and MARKER.read_text() == wanted and python().exists():
        return python()
    if VENV.exists():
        shutil.rmtree(VENV)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([_base_python(), "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python()), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PINS], check=True)
    subprocess.run([str(python()), "-c", "import skyplane, cvxpy, highspy"], check=True)
    MARKER.write_text(wanted)
    return python()


if __name__ == "__main__":
    print(ensure())
