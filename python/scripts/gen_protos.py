#!/usr/bin/env python3
"""Generates the gRPC stubs in src/stalk/v1 from the repository's proto/ (messages, their .pyi
type stubs, and the service stubs). CI runs it with ``--check``: the committed stubs must be
what the protos give, so the two cannot drift.

Needs the pinned grpcio-tools (``pip install 'grpcio-tools==1.85.1'``): another version
writes other headers and requires another protobuf runtime.
"""
import filecmp
import pathlib
import sys
import tempfile

from grpc_tools import protoc

HERE = pathlib.Path(__file__).resolve().parent.parent
PROTO = HERE.parent / "proto"
OUT = HERE / "src"
INIT = '"""Generated from proto/stalk/v1 by scripts/gen_protos.py: do not edit."""\n'


def generate(out: pathlib.Path) -> list:
    files = sorted(str(p.relative_to(PROTO)) for p in (PROTO / "stalk" / "v1").glob("*.proto"))
    code = protoc.main(
        ["protoc", f"-I{PROTO}", f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}"]
        + files
    )
    if code != 0:
        sys.exit(f"protoc failed ({code})")
    (out / "stalk" / "v1" / "__init__.py").write_text(INIT)
    return sorted(p.name for p in (out / "stalk" / "v1").iterdir())


def main() -> None:
    if sys.argv[1:] == ["--check"]:
        with tempfile.TemporaryDirectory() as tmp:
            names = generate(pathlib.Path(tmp))
            committed = sorted(p.name for p in (OUT / "stalk" / "v1").iterdir() if p.name != "__pycache__")
            _, mismatch, errors = filecmp.cmpfiles(
                pathlib.Path(tmp) / "stalk" / "v1", OUT / "stalk" / "v1", names, shallow=False
            )
            stale = mismatch + errors + sorted(set(committed) - set(names))
            if stale:
                sys.exit(
                    f"python/src/stalk/v1 differs from proto/ in {stale}: run python/scripts/gen_protos.py"
                )
        print("python/src/stalk/v1 matches proto/")
        return
    generate(OUT)


if __name__ == "__main__":
    main()
