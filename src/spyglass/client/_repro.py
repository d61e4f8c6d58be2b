"""What a run records about where it came from, without being asked.

git commit and dirty state, Python version and implementation, the entry point, and the
installed packages. Tags use MLflow's names where MLflow has one (``mlflow.source.*``), so the
MLflow UI and clients read them too. Never raises: a missing git just leaves the git tags out.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

SOURCE_NAME = "mlflow.source.name"
SOURCE_TYPE = "mlflow.source.type"
GIT_COMMIT = "mlflow.source.git.commit"
GIT_BRANCH = "mlflow.source.git.branch"
GIT_REPO = "mlflow.source.git.repoURL"
GIT_DIRTY = "spyglass.source.git.dirty"
PYTHON_VERSION = "spyglass.python.version"
PACKAGES_DIGEST = "spyglass.packages.sha256"
PACKAGES_ARTIFACT = "environment/requirements.txt"


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def entry_point() -> str:
    """The script or module the program was started with (``sys.argv[0]``), absolute."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "<interactive>"
    path = Path(argv0)
    return str(path.resolve()) if path.exists() else argv0


def installed_packages() -> list[str]:
    """``name==version`` for every installed distribution, sorted, one per line's worth."""
    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() not in seen:
            seen[name.lower()] = f"{name}=={dist.version}"
    return sorted(seen.values(), key=str.lower)


def capture(cwd: Path | None = None) -> tuple[dict[str, str], str]:
    """Run tags describing this process, and the requirements text to store as an artifact."""
    source = entry_point()
    where = cwd or (Path(source).parent if Path(source).exists() else Path.cwd())
    tags = {
        SOURCE_NAME: source,
        SOURCE_TYPE: "LOCAL",
        PYTHON_VERSION: f"{platform.python_implementation()} {platform.python_version()}",
    }
    commit = _git(["rev-parse", "HEAD"], where)
    if commit:
        tags[GIT_COMMIT] = commit
        status = _git(["status", "--porcelain", "--untracked-files=no"], where)
        tags[GIT_DIRTY] = "true" if status else "false"
        branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], where)
        if branch:
            tags[GIT_BRANCH] = branch
        remote = _git(["config", "--get", "remote.origin.url"], where)
        if remote:
            tags[GIT_REPO] = remote
    requirements = "\n".join(installed_packages()) + "\n"
    tags[PACKAGES_DIGEST] = hashlib.sha256(requirements.encode()).hexdigest()
    return tags, requirements
