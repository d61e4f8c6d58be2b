# Spyglass server image. Data lives in /data (embedded store) unless SPYGLASS_STORE_URL points
# at a ClickHouse server. The container listens on all interfaces, so it refuses to start
# without SPYGLASS_BASIC_AUTH_USERNAME / SPYGLASS_BASIC_AUTH_PASSWORD (or --insecure-no-auth).
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir '.[server]' \
    && useradd --system --uid 10001 --home-dir /data spyglass \
    && mkdir -p /data && chown spyglass /data

USER spyglass
ENV SPYGLASS_HOST=0.0.0.0 \
    SPYGLASS_PORT=6006 \
    SPYGLASS_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 6006
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:6006/readyz', timeout=2)"]
ENTRYPOINT ["spyglass", "server"]
