"""The kit's pins (versions.env, the one source of truth) and the component versions a run is rendered for."""

from __future__ import annotations

from checks.errors import CheckError
from kitlib.errata import is_version
from kitlib.profile import ROOT

PINS = ROOT / "versions.env"


def pins() -> dict[str, str]:
    out = {}
    for no, line in enumerate(PINS.read_text().splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            if "=" not in line:
                raise CheckError("versions.env: a line that is not NAME=value", where=f"{PINS}:{no}", found=line)
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def component_versions(modelopt_ref: str, modelopt_version: str | None = None) -> dict[str, str | None]:
    """What the errata are selected by: ModelOpt from MODELOPT_VERSION, else MODELOPT_REF when it is a
    version (a tag); the others from the pins. None where unknown (errata that need it then stop)."""
    p = pins()
    mo = modelopt_version or (modelopt_ref if is_version(modelopt_ref) else None)
    if modelopt_version and not is_version(modelopt_version):
        raise CheckError(f"MODELOPT_VERSION={modelopt_version!r} is not a version", expected="e.g. 0.47.0")
    return {"modelopt": mo, "megatron_bridge": p.get("MEGATRON_BRIDGE_VERSION"), "vllm": p.get("VLLM_VERSION"),
            "nemo_evaluator_launcher": p.get("NEMO_EVALUATOR_LAUNCHER_VERSION")}
