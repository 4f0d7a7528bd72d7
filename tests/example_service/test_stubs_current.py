"""The committed gRPC stubs match the .proto files: regenerate into a temporary directory and compare."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "src" / "example_service" / "gen"

# The tool versions stamped into the stubs: a newer grpcio-tools is not a stale proto.
_VERSION_STAMPS = [
    (re.compile(r"^# Protobuf Python Version: .*$", re.M), "# Protobuf Python Version: X"),
    (
        re.compile(r"ValidateProtobufRuntimeVersion\(\s*([^,]+),\s*\d+,\s*\d+,\s*\d+,"),
        r"Validate(\1, X, X, X,",
    ),
    (re.compile(r"^GRPC_GENERATED_VERSION = .*$", re.M), "GRPC_GENERATED_VERSION = X"),
]


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts" / "gen_protos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _normalized(path: Path) -> str:
    text = path.read_text()
    for pattern, replacement in _VERSION_STAMPS:
        text = pattern.sub(replacement, text)
    return text


def _files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in root.rglob("*") if p.suffix in (".py", ".pyi")}


def test_committed_stubs_are_current(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the dev extra) regenerates the stubs")
    _load_generator().generate(tmp_path)
    fresh, committed = _files(tmp_path), _files(COMMITTED)
    assert sorted(fresh) == sorted(committed), "stub files differ: run python scripts/gen_protos.py"
    stale = [name for name in fresh if _normalized(fresh[name]) != _normalized(committed[name])]
    assert not stale, f"stale stubs {stale}: run python scripts/gen_protos.py and commit the result"


def test_a_changed_proto_is_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above can fail: a proto with one more field gives different stubs."""
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the dev extra) regenerates the stubs")
    generator = _load_generator()
    protos = tmp_path / "proto"
    source = generator.PROTO_ROOT / "suppression" / "v1" / "suppression.proto"
    target = protos / "suppression" / "v1" / "suppression.proto"
    target.parent.mkdir(parents=True)
    target.write_text(
        source.read_text().replace("message DeleteResponse {}", "message DeleteResponse { bool x = 1; }")
    )
    monkeypatch.setattr(generator, "PROTO_ROOT", protos)
    out = tmp_path / "gen"
    generator.generate(out)
    name = "suppression/v1/suppression_pb2.py"
    assert _normalized(out / name) != _normalized(COMMITTED / name)


def test_the_stubs_import_as_part_of_the_package() -> None:
    from example_service.gen.suppression.v1 import suppression_pb2, suppression_pb2_grpc

    assert suppression_pb2_grpc.suppression_dot_v1_dot_suppression__pb2 is suppression_pb2
    assert set(suppression_pb2.DESCRIPTOR.services_by_name["SuppressionService"].methods_by_name) == {
        "Add",
        "Get",
        "List",
        "Delete",
        "Export",
    }
