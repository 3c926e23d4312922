"""Import compatibility before launch (checks.drift.imports) on real upstream files: the four distill.py import
blocks (tests/fixtures/upstream/Model-Optimizer/<ref>/) against trimmed extracts of the wheels the image pins
(tests/fixtures/upstream/packages/, PROVENANCE.md there). From ModelOpt 0.46.0 distill.py imports
ValidationConfig from megatron.bridge.training.config, which Megatron-Bridge 0.3.0 (nemo:26.02) lacks."""

import textwrap
import zipfile

import pytest

from checks.drift import imports as I
from conftest import ROOT

UPSTREAM = ROOT / "tests" / "fixtures" / "upstream"
PKG = UPSTREAM / "packages"
DISTILL = "examples/megatron_bridge/distill.py"


def packages(bridge="0.3.0"):
    return {"megatron.bridge": I.Package("megatron-bridge", bridge, PKG / "megatron-bridge" / bridge),
            "megatron.core": I.Package("megatron-core", "0.16.0", PKG / "megatron-core" / "0.16.0")}


def check(ref, bridge="0.3.0", newer=True):
    src = (UPSTREAM / "Model-Optimizer" / ref / DISTILL).read_text()
    later = {"megatron.bridge": [I.Package("megatron-bridge", "0.4.0", PKG / "megatron-bridge" / "0.4.0")]} if newer else {}
    return I.check_script("distill", "Model-Optimizer", DISTILL, src, packages(bridge), later)


@pytest.mark.parametrize("ref", ["0.44.0", "0.45.0"])
def test_distill_imports_resolve_against_the_image_up_to_0_45(ref):
    found = {f.id: f for f in check(ref)}
    assert {f.status for f in found.values()} == {"SAME", "SKIP"}, [(f.id, f.status, f.note) for f in found.values()]
    assert found[f"{DISTILL} imports megatron.bridge"].measured.endswith("imports resolve")
    assert found[f"{DISTILL} imports megatron.core"].status == "SAME"
    assert found[f"{DISTILL} imports transformers"].status == "SKIP"  # no transformers sources given: not judged


@pytest.mark.parametrize("ref,line", [("0.46.0", 43), ("main", 44)])
def test_from_0_46_distill_imports_a_name_megatron_bridge_0_3_0_lacks(ref, line):
    found = check(ref)
    (m,) = [f for f in found if f.status == "MISSING"]
    assert m.id == f"{DISTILL}:{line} from megatron.bridge.training.config import ValidationConfig"
    assert m.where == f"Model-Optimizer:{DISTILL}:{line}" and m.measured == "megatron-bridge 0.3.0"
    assert m.expected == "megatron-bridge 0.4.0" and "megatron-bridge 0.4.0 is the first later version that has it" in m.note
    assert "would die at import" in m.note and "What to do" in m.note
    # everything else it imports from Megatron-Bridge and megatron-core is there at 0.3.0 / 0.16.0
    assert [f.status for f in found if "imports megatron.core" in f.id] == ["SAME"]
    # with Megatron-Bridge 0.4.0 in the image, nothing in config.py is missing
    assert not [f for f in I.check_script("distill", "Model-Optimizer", DISTILL,
                                          (UPSTREAM / "Model-Optimizer" / ref / DISTILL).read_text(), packages("0.4.0"))
                if f.status == "MISSING" and "training.config" in f.id]


def test_no_later_version_checked_is_said():
    (m,) = [f for f in check("0.46.0", newer=False) if f.status == "MISSING"]
    assert "no later version was checked" in m.note and m.expected.startswith("from megatron.bridge")


def test_module_names_reads_what_binds_at_module_level():
    src = textwrap.dedent('''
        import os, a.b as ab
        from x import (
            One,  # comment
            two as Two,
        )
        from .sibling import *
        try:
            from fast import Impl
        except ImportError:
            Impl = None
        class Cls(Base):
            inner = 1
            def method(self):
                hidden = 2
        def func(): pass
        CONST: int = 3
        if x == 1:
            pass
    ''')
    n = I.module_names(src)
    assert n.names == {"os", "ab", "One", "Two", "Impl", "Cls", "func", "CONST"} and n.stars == [".sibling"]
    assert not n.dynamic and I.module_names("def __getattr__(name):\n    return 1\n").dynamic


def test_script_imports_skip_relative_and_guarded_imports_and_name_the_line():
    src = "import a.b\nfrom c import (\n    d,\n    e as f,\n)\nfrom . import g\nwith contextlib.suppress(ImportError):\n    import opt\ntry:\n    import maybe\nexcept ImportError:\n    pass\nimport after\n"
    assert [(i.module, i.name, i.line) for i in I.script_imports(src)] == [
        ("a.b", None, 1), ("c", "d", 3), ("c", "e", 4), ("after", None, 13)]


def test_a_wheel_reads_like_its_extract(tmp_path):
    """Package() reads a wheel (zip) as it reads a tree: a module, a package's __init__, a star import, a submodule."""
    whl = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("megatron/bridge/__init__.py", "from .impl import *\n")
        z.writestr("megatron/bridge/impl.py", "class AutoBridge:\n    pass\n")
        z.writestr("megatron/bridge/training/__init__.py", "")
    pkg = I.Package("megatron-bridge", "1.0", whl)
    ok = I.Import("megatron.bridge", "AutoBridge", 1)
    assert I.resolve(ok, pkg) is None and I.resolve(I.Import("megatron.bridge", "training", 2), pkg) is None
    assert I.resolve(I.Import("megatron.bridge", "Nope", 3), pkg) == "megatron.bridge has no name Nope"
    assert I.resolve(I.Import("megatron.bridge.gone", None, 4), pkg) == "no module megatron.bridge.gone"
