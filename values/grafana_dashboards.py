"""The JupyterHub community dashboards (jupyterhub/grafana-dashboards) at a pinned commit, compiled into
Grafana's dashboard provisioning folder.

It runs as an init container of the Grafana pod, from a standard Python image with go-jsonnet's Python
binding (PyPI `gojsonnet`, the implementation that project's README asks for), so every start of Grafana
loads exactly the pinned dashboards and nothing of that project is copied into this repository:

    python grafana_dashboards.py <commit> <folder>

The tests compile the same sources from a local copy with `compile_all`.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

ARCHIVE = "https://codeload.github.com/jupyterhub/grafana-dashboards/tar.gz/{commit}"


def fetch(commit: str, into: Path) -> Path:
    """Download and unpack the sources of `commit`; the folder that holds `dashboards/` and `vendor/`."""
    with urllib.request.urlopen(ARCHIVE.format(commit=commit), timeout=120) as response:
        data = response.read()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        archive.extractall(into, filter="data")  # refuses absolute paths, `..` and links out of `into`
    (root,) = [p for p in into.iterdir() if p.is_dir()]
    return root


def compile_all(root: Path, out: Path) -> list[Path]:
    """Every `dashboards/*.jsonnet` compiled to JSON in `out`, with a stable uid per dashboard file."""
    import _gojsonnet  # the go-jsonnet binding, installed where this runs

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted((root / "dashboards").glob("*.jsonnet")):
        dashboard = json.loads(_gojsonnet.evaluate_file(str(source), jpathdir=[str(root / "vendor")]))
        if not dashboard:
            raise ValueError(f"{source.name} compiled to an empty dashboard")
        # Stable across restarts, so links and stars survive; one per file, as upstream's deploy.py does.
        dashboard["uid"] = hashlib.sha256(source.name.encode()).hexdigest()[:16]
        dashboard.pop("id", None)
        target = out / f"{source.stem}.json"
        target.write_text(json.dumps(dashboard))
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    commit, out = argv
    root = fetch(commit, Path(out).parent / "sources")
    for path in compile_all(root, Path(out)):
        print(f"compiled {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
