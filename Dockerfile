# policywatch daemon: checks every source on its schedule, serves /healthz and
# /metrics on port 9300, and keeps its state on the /data volume.
#
#   docker build -t policywatch .
#   docker run -d --name policywatch \
#     -v "$PWD/catalog:/etc/policywatch:ro" \
#     -v policywatch-state:/data \
#     -e POLICYWATCH_NOTIFY="$POLICYWATCH_NOTIFY" \
#     -p 127.0.0.1:9300:9300 policywatch
FROM python:3.11-slim

RUN useradd --system --uid 10001 --user-group --create-home policywatch \
    && mkdir -p /data /etc/policywatch && chown policywatch:policywatch /data

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir ".[postgres]" && rm -rf /src

ENV POLICYWATCH_SOURCES=/etc/policywatch/sources.toml \
    POLICYWATCH_STATE=/data/state \
    POLICYWATCH_SNAPSHOTS=/data/snapshots \
    POLICYWATCH_REPORTS=/data/reports \
    PYTHONUNBUFFERED=1

VOLUME ["/data"]
USER policywatch
WORKDIR /data
EXPOSE 9300

# 503 (stalled, every source failing, stopping) or no answer marks it unhealthy.
HEALTHCHECK --interval=60s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:9300/healthz', timeout=4)"]

# docker stop sends SIGTERM and waits 10 s: checks in flight get 8 s of it.
STOPSIGNAL SIGTERM
CMD ["policywatch", "--log-json", "--log-level", "INFO", "daemon", \
     "--listen", "0.0.0.0:9300", "--grace", "8s"]
