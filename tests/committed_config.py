"""Print _config.yml with execution turned off, so that a build uses the notebooks' committed outputs.

The copy lives elsewhere (under _build/), so paths to local Sphinx extensions are made absolute.
"""
import sys
from pathlib import Path

import yaml

root = Path(__file__).resolve().parent.parent
config = yaml.safe_load((root / "_config.yml").read_text())
config["execute"]["execute_notebooks"] = "off"
local = config.get("sphinx", {}).get("local_extensions") or {}
for name, path in local.items():
    local[name] = str(root / path)
yaml.safe_dump(config, sys.stdout, sort_keys=False)
