"""The WSGI entry point for gunicorn: ``service.wsgi:app``."""

from service import create_app

app = create_app()


def end_streams() -> None:
    """End this worker's live tally streams: it is shutting down (service/gunicorn_conf.py)."""
    app.extensions["yaynay"].changes.close_streams()
