from pathlib import Path

import yaml


def write_yaml(d: Path, doc: dict, name: str = "g.yaml") -> Path:
    p = Path(d) / name
    p.write_text(yaml.safe_dump(doc))
    return p
