# The bot in a container: slim Python, non-root user, package installed, `python -m bot run`.
FROM python:3.11-slim

# PYTHONMALLOC=malloc: a bot that trades for weeks stays flat in memory (README, "Memory over weeks").
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONMALLOC=malloc \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 aplus
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY core ./core
COPY cogs ./cogs
RUN pip install ".[postgres]"

COPY data ./data
RUN chown -R aplus:aplus /app/data
USER aplus

# The SQLite file lives in /app/data; mount a volume there (or set DATABASE_URL) to keep it.
VOLUME ["/app/data"]
CMD ["python", "-m", "bot", "run"]
