"""Copy the committed results (book/results/*.json) into the package, so that Colab's install carries them.

`python tools/ship_results.py` copies; `--check` only reports the files that differ and exits 1 if any do.
See mtl_utils/evidence/shipped_results.py for why and for the checks made on the copies.
"""
import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE, TARGET = ROOT / "book" / "results", ROOT / "mtl_utils" / "book_results"


def differences() -> list[str]:
    """Names of the files that are not identical in the two folders (missing on either side included)."""
    names = {p.name for p in SOURCE.glob("*.json")} | {p.name for p in TARGET.glob("*.json")}
    return sorted(n for n in names if not ((SOURCE / n).is_file() and (TARGET / n).is_file()
                                           and (SOURCE / n).read_bytes() == (TARGET / n).read_bytes()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report differences instead of copying")
    args = parser.parse_args()
    if args.check:
        diff = differences()
        print("shipped results are the committed ones" if not diff else f"differ: {', '.join(diff)}")
        return 1 if diff else 0
    TARGET.mkdir(exist_ok=True)
    for stale in TARGET.glob("*.json"):
        stale.unlink()
    for path in sorted(SOURCE.glob("*.json")):
        shutil.copyfile(path, TARGET / path.name)
    print(f"copied {len(list(SOURCE.glob('*.json')))} results files to {TARGET.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
