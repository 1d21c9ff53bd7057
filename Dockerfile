# leadrelay: one image for the API, the workers and the CRM sandbox.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY connector connector
COPY adapters adapters
COPY worker worker
COPY leadrelay leadrelay
COPY sandbox sandbox
COPY mappings mappings
COPY rules rules
COPY samples samples
RUN uv sync --frozen --no-dev
ENV PATH="/app/.venv/bin:$PATH" LEADRELAY_CONFIG_DIR=/app
EXPOSE 8000
CMD ["leadrelay", "serve", "--host", "0.0.0.0", "--port", "8000"]
