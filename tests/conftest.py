"""Test setup: find the shared datasets next to the repository when GANKIT_DATA is unset."""
import os
from pathlib import Path

_shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "GANKIT_DATA" not in os.environ and _shared.is_dir():
    os.environ["GANKIT_DATA"] = str(_shared)
