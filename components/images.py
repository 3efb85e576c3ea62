"""Images the program's own pods run (pinned; README, Pinned versions), one place for each."""

# The pause image the jupyterhub chart uses: warm seats and image pullers only hold a place or wait.
PAUSE = "registry.k8s.io/pause:3.10.1"
# In-cluster Python steps (dashboards compiler, usage exporter, home report): a plain interpreter that
# installs its few packages at start.
PYTHON = "public.ecr.aws/docker/library/python:3.12-slim"
# Packages for those steps, wheels only (never built from source on a node), into /tmp/py.
PIP = "pip install --quiet --no-cache-dir --only-binary=:all: --target /tmp/py"
