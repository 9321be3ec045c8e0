"""The app's extensions, each created here and bound with ``init_app`` in ``create_app``."""

from __future__ import annotations

from flask import Flask, current_app
from flask_smorest import Api

from service.schemas import ErrorSchema
from service.store import Store


class YaynayApi(Api):
    """flask-smorest's Api, documenting errors with yaynay's one error shape."""

    ERROR_SCHEMA = ErrorSchema


class StoreExtension:
    """Gives views the current app's ``Store``: ``store.polls.get(...)``."""

    extension_name = "yaynay.store"

    def init_app(self, app: Flask) -> None:
        app.extensions[self.extension_name] = Store.from_settings(app.config)

    def __getattr__(self, name: str):
        return getattr(current_app.extensions[self.extension_name], name)


api = YaynayApi()
store = StoreExtension()
