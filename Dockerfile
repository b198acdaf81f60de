# Passerelle: the web app (default command), `passerelle migrate` and `passerelle worker` all run
# from this one image; docker-compose.yml wires them to PostgreSQL.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ENVIRONMENT=production

RUN groupadd --system passerelle \
 && useradd --system --gid passerelle --home-dir /app --no-create-home --shell /usr/sbin/nologin passerelle

WORKDIR /app

# The package and what it reads at run time (templates/, migrations/), laid out as in a checkout.
COPY pyproject.toml README.md ./
COPY crm ./crm
COPY channels ./channels
COPY campaigns ./campaigns
COPY migrations ./migrations
COPY templates ./templates

# The package and its runtime dependencies only (no dev extras). PYTHONPATH=/app makes the code
# run from /app, so paths relative to the source tree (templates/, locales) resolve as in a checkout.
RUN pip install --no-cache-dir . \
 && python -c "import crm, migrations" \
 && chown -R root:root /app && chmod -R a+rX /app
ENV PYTHONPATH=/app

USER passerelle

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

CMD ["passerelle", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--no-worker"]
