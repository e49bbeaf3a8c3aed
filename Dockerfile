# policywatch as a long-running daemon, its state on a volume.
FROM python:3.11-slim

RUN useradd --create-home --uid 10001 policywatch
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir '.[postgres]'
COPY sources.toml /app/sources.toml

ENV POLICYWATCH_SOURCES=/app/sources.toml \
    POLICYWATCH_STATE=/data/state \
    POLICYWATCH_SNAPSHOTS=/data/snapshots \
    POLICYWATCH_REPORTS=/data/reports
VOLUME ["/data"]
RUN mkdir -p /data && chown policywatch /data
USER policywatch

CMD ["policywatch", "--log-json", "--log-level", "INFO", "daemon"]
