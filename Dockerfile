# crmbot in a container: `docker compose up` (docker-compose.yml) runs it with PostgreSQL.
# The image holds the code and its dependencies; configuration comes from the environment
# (docs/configuration.md). Not built in this project's CI: its machine has no container
# runtime (docs/operations.md, "Containers").
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    CRMBOT_HTTP_HOST=0.0.0.0 CRMBOT_HTTP_PORT=8080
WORKDIR /app
RUN useradd --create-home --uid 10001 crmbot
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY knowledge ./knowledge
COPY storage ./storage
COPY bot.py ./
RUN pip install --no-cache-dir . && mkdir -p /app/data && chown crmbot /app/data
USER crmbot
EXPOSE 8080
VOLUME ["/app/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=4).status != 200)"
# Migrations first (a no-op when the schema is current), then serve.
CMD ["sh", "-c", "crmbot db upgrade && exec crmbot run"]
