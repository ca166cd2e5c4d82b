"""Makes `harness` (the package under test) and `synthetic` (the run-folder
builder next to this file) importable however pytest is started."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE.parents[1], HERE):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
