"""``impasto info``: versions, providers (available and in effect), the processor and its peak, model files.

What a bug report or a deployment check needs, in one command (``--json`` for machines)."""

from __future__ import annotations

import argparse
import platform

from impasto.runtime.cli.args import add_json, print_json


def add_info(commands) -> None:
    parser = commands.add_parser("info", help="versions, providers, processor and model files")
    add_json(parser)
    parser.set_defaults(run=run_info)


def _providers_in_effect() -> dict[str, list[str] | str]:
    """Per available provider, the providers a session of the first shipped net actually runs with."""
    from impasto.runtime.core.errors import ImpastoError
    from impasto.runtime.core.providers import available_providers
    from impasto.runtime.core.registry import TRANSFORMER, default_name, resolve
    from impasto.runtime.core.session_config import SessionConfig
    from impasto.runtime.core.sessions import open_session

    try:
        path = resolve(default_name(TRANSFORMER), TRANSFORMER).path
    except ImpastoError as error:
        return {provider: f"not checked: {error}" for provider in available_providers()}
    in_effect: dict[str, list[str] | str] = {}
    for provider in available_providers():
        try:
            in_effect[provider] = open_session(path, SessionConfig(provider=provider)).get_providers()
        except Exception as error:  # noqa: BLE001 — a provider that fails to start is reported, not fatal
            in_effect[provider] = f"failed: {str(error).strip().splitlines()[0][:200] if str(error) else error!r}"
    return in_effect


def gather() -> dict:
    """Everything ``impasto info`` reports, as one document."""
    import numpy
    import onnxruntime

    import impasto.runtime
    from impasto.runtime.core.machine import cpu_description, gpu_description
    from impasto.runtime.core.providers import available_providers
    from impasto.runtime.core.registry import all_entries, search_folders

    versions = {"impasto": impasto.runtime.__version__, "python": platform.python_version(),
                "onnxruntime": onnxruntime.__version__, "numpy": numpy.__version__}  # fmt: skip
    for module in ("onnx", "cv2", "scipy", "fastapi", "ray", "torch"):
        versions[module] = _version_of(module)
    return {
        "versions": versions,
        "platform": platform.platform(),
        "providers": {"available": available_providers(), "in_effect": _providers_in_effect()},
        "cpu": cpu_description(),
        "gpu": gpu_description(),
        "model_folders": [str(folder) for folder in search_folders()],
        "models": [
            {"name": e.name, "kind": e.kind, "files": {k: str(e.folder / v) for k, v in e.files.items()}}
            for e in all_entries()
        ],
    }


def _version_of(module: str) -> str | None:
    """The installed distribution's version, found without importing the module (torch takes seconds)."""
    from importlib import metadata

    distribution = {"cv2": "opencv-python-headless"}.get(module, module)
    for name in (distribution, "opencv-python") if module == "cv2" else (distribution,):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def run_info(args: argparse.Namespace) -> int:
    document = gather()
    if args.json:
        print_json(document)
        return 0
    versions = ", ".join(f"{name} {version}" for name, version in document["versions"].items() if version)
    print(f"versions:   {versions}")
    print(f"platform:   {document['platform']}")
    cpu = document["cpu"]
    peak = f"{cpu['peak_fp32_gflops']:g} GFLOP/s fp32 peak" if cpu["peak_fp32_gflops"] else "peak unknown"
    print(f"processor:  {cpu['name']}, {cpu['cores']} cores, {cpu['vector']} ({cpu['microarchitecture']}); {peak}")
    gpu = document["gpu"]
    print(f"gpu:        {gpu['name'] + ', ' + gpu['memory'] if gpu else 'none'}")
    print(f"providers:  available {', '.join(document['providers']['available'])}")
    for provider, effect in document["providers"]["in_effect"].items():
        print(f"            {provider}: {', '.join(effect) if isinstance(effect, list) else effect}")
    print(f"models in:  {', '.join(document['model_folders'])}")
    for model in document["models"]:
        print(f"  {model['name']:<24} {model['kind']:<14} {', '.join(model['files'].values())}")
    return 0
