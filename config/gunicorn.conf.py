"""gunicorn settings for yaynay: ``gunicorn --config config/gunicorn.conf.py service.wsgi:app``.

The settings live in the package (service/gunicorn_conf.py), so that an installed wheel
serves too; this file runs that one. It finds the package without importing it (which
would import Flask into the master): installed, or the service/ directory beside this one.
"""

import importlib.util
import runpy
from pathlib import Path

_found = importlib.util.find_spec("service")
_package = Path(_found.origin).parent if _found and _found.origin else Path(__file__).resolve().parents[1] / "service"
globals().update(
    {
        name: value
        for name, value in runpy.run_path(str(_package / "gunicorn_conf.py")).items()
        if not name.startswith("__")
    }
)
