# gradserve: PyTorch's autograd over HTTP, in one container.
#   docker build -t gradserve . && docker run --rm -p 8000:8000 gradserve
# Settings are GRADSERVE_* environment variables (service/settings.py); see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

# Runtime dependencies in their own layer: it only depends on pyproject.toml, so editing the
# source does not reinstall them. The list is [project].dependencies, read with tomllib;
# the optional extras (dev, cuda) are never installed.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install --no-cache-dir --requirement /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The source, then the package itself (its dependencies are already there).
COPY README.md ./
COPY engine/ engine/
COPY api_schema/ api_schema/
COPY service/ service/
COPY client/ client/
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf build ./*.egg-info

# An unprivileged user, by number so that runAsNonRoot-style checks can verify it.
RUN groupadd --system --gid 10001 gradserve \
    && useradd --system --uid 10001 --gid gradserve --no-create-home \
        --shell /usr/sbin/nologin gradserve
USER 10001:10001

EXPOSE 8000

# slim has no curl: ask /healthz with the standard library (urlopen raises on a non-2xx).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["gradserve", "serve", "--host", "0.0.0.0", "--port", "8000"]
