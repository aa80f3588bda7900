"""Check the built sdist and wheel: LICENSE in both, every package file and ``py.typed`` in the wheel."""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        wheel_names = archive.namelist()
    with tarfile.open(sdist) as archive:
        sdist_names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    problems = []
    if not any(name.endswith(".dist-info/licenses/LICENSE") for name in wheel_names):
        problems.append(f"{wheel.name} has no LICENSE in its .dist-info/licenses")
    if "LICENSE" not in sdist_names:
        problems.append(f"{sdist.name} has no LICENSE")
    package = ROOT / "airflow_provider_dub"
    expected = {
        path.relative_to(ROOT).as_posix()
        for path in package.rglob("*")
        if path.is_file() and path.suffix in (".py", ".typed") and "__pycache__" not in path.parts
    }
    missing = sorted(expected - set(wheel_names))
    if missing:
        problems.append(f"{wheel.name} lacks {missing}")
    if problems:
        sys.exit("\n".join(problems))
    print(f"    {wheel.name}: {len(expected)} package files, LICENSE; {sdist.name}: LICENSE")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
