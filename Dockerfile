# emotrace service image: API, workers and migrations (one image, three commands).
# CPU only and slim: serving runs ONNX Runtime, so the image carries no TensorFlow (`pip install .`
# without the `train` extra). The `s3` extra adds boto3 for MinIO / S3 recording storage.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY emotrace emotrace
COPY ml ml
COPY api api
COPY worker worker
COPY migrations migrations
# Exact versions of every package from the lock (pip-audit checks the same file), then the
# project itself with nothing left to resolve.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install -r requirements.lock \
    && /opt/venv/bin/pip install --no-deps ".[s3]"

FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    EMOTRACE_HOME=/data
RUN useradd --system --uid 10001 --create-home --home-dir /home/emotrace emotrace \
    && mkdir -p /data && chown emotrace:emotrace /data
COPY --from=build /opt/venv /opt/venv
USER emotrace
WORKDIR /home/emotrace
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
ENTRYPOINT ["emotrace"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
