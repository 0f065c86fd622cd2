# Optimizer Explorer as a container: one app server on port 8501.
#
#   docker build -t optimizer-explorer .
#   docker run --rm -p 8501:8501 -e STREAMLIT_SERVER_COOKIE_SECRET="$(openssl rand -base64 32)" optimizer-explorer
#
# Several containers behind one address need cookie stickiness and one shared cookie secret:
# see deploy/kubernetes.yaml and docs/hosting.md. The server flags in CMD are the ones
# deploy/replicas.py gives its replicas (tests/test_replicas.py compares them).
FROM python:3.11-slim

# Debian's Chromium for the still exports (PNG/SVG/PDF through kaleido, which finds
# /usr/bin/chromium by itself; it starts it with --no-sandbox and without /dev/shm). About
# 300 MB of image and ~350 MB of memory while a still is rendered; build with
# --build-arg WITH_CHROMIUM=0 to leave it out (the export menu then says what is missing).
ARG WITH_CHROMIUM=1
# Not version-pinned: Debian's Chromium gets security updates that replace the old package.
# hadolint ignore=DL3008
RUN if [ "$WITH_CHROMIUM" = "1" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends chromium fonts-liberation \
        && rm -rf /var/lib/apt/lists/*; \
    fi

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/optimizer-explorer

# PyTorch first, from its CPU wheel index: from PyPI, torch==2.13.0 on Linux pulls several GB of
# CUDA libraries. The pin is pyproject's (the `torch` extra); pip then finds it satisfied.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "$TORCH_INDEX" "torch==2.13.0"

# The app and its dependencies, with the torch extra (Live Training).
COPY pyproject.toml README.md ./
COPY optim_core ./optim_core
COPY app ./app
COPY .streamlit ./.streamlit
# "." is this project: its dependencies are pinned or bounded in pyproject.toml.
# Then a user that is not root, with a numeric UID so that Kubernetes can check runAsNonRoot.
# hadolint ignore=DL3013
RUN pip install ".[torch]" \
    && useradd --uid 10001 --create-home --shell /usr/sbin/nologin app
USER 10001:10001
ENV HOME=/home/app

EXPOSE 8501

# Streamlit answers "ok" on /_stcore/health once it serves (about 1 s after start; imports
# take longer on a cold container). No curl in the slim image: Python asks.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=2).read() != b'ok')"]

# Headless (no browser, and Streamlit's file-writing "install skills" request refused);
# browser.serverAddress set, so the server does not ask an outside service for its address at
# start; XSRF protection on (as in every replica); no agent API; upload requests of at most
# 16 MiB: Live Training's checkpoint bound, CHECKPOINT_MAX_BYTES in app/budget.py, plus the
# multipart framing, in Streamlit's whole MiB (deploy/replicas.py: UPLOAD_MAX_MB;
# tests/test_replicas.py checks they agree). The cookie secret comes from the environment
# (STREAMLIT_SERVER_COOKIE_SECRET), never from the image.
CMD ["python", "-m", "streamlit", "run", "app/main.py", \
     "--server.headless", "true", \
     "--browser.serverAddress", "127.0.0.1", \
     "--browser.gatherUsageStats", "false", \
     "--server.fileWatcherType", "none", \
     "--server.runOnSave", "false", \
     "--server.enableXsrfProtection", "true", \
     "--server.enableAgentApi", "false", \
     "--server.maxUploadSize", "16", \
     "--client.toolbarMode", "minimal", \
     "--global.disableWidgetStateDuplicationWarning", "true", \
     "--server.address", "0.0.0.0", \
     "--server.port", "8501"]
