"""The model registry: what is shipped (or trained), where its files are, what kind and precision each file is.

One source for these facts: a folder's ``manifest.json`` (names, kinds, files per precision, checksums, summaries,
copied from the files' own ``metadata_props`` when they were exported) and the ONNX files' metadata itself. Both are
read here and only here; every command, the server, the benchmark and the exporters resolve "a name or a path"
through :func:`resolve`.

A name is looked up in the shipped ``impasto/models/manifest.json``, then in the folders of ``IMPASTO_MODELS``
(``os.pathsep``-separated; a folder ``impasto train -o DIR`` wrote, say). A path to an ``.onnx`` file is taken as it
is; its precision variants are found through the manifest beside it, when there is one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from impasto.runtime.core.errors import ImpastoError

MANIFEST = "manifest.json"
MODELS_PATH_VARIABLE = "IMPASTO_MODELS"
PRECISIONS = ("fp32", "fp16", "int8")
PSNR_GOAL_DB = 30.0  # a precision variant ships only this close to its fp32 net (PSNR of the stylised photos)
TRANSFORMER, LOSS, FEATURES, OTHER = "transformer", "gatys-loss", "gatys-features", "onnx"
KIND_NAMES = {TRANSFORMER: "a transformer net", LOSS: "a Gatys loss graph", FEATURES: "a Gatys features graph"}


def shipped_models_dir() -> Path:
    """The installed ``impasto.models`` folder (manifest, ONNX files, weights and sample images)."""
    import impasto.models

    return Path(impasto.models.__file__).parent


def sample_path(relative: str) -> Path:
    """A shipped sample image, e.g. ``images/chelsea.png`` (see ``models/images/SOURCES.md``)."""
    return shipped_models_dir() / relative


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def onnx_metadata(path: str | Path) -> dict[str, str]:
    """An ONNX file's ``metadata_props`` (read without its external weights; cached per file version).

    Raises ImpastoError for a file that is missing or is not an ONNX model."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as error:
        raise ImpastoError(f"{path}: no such model file") from error
    return dict(_metadata(str(path.resolve()), stat.st_mtime_ns, stat.st_size))


@cache
def _metadata(path: str, mtime: int, size: int) -> tuple[tuple[str, str], ...]:
    import onnx

    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as error:  # noqa: BLE001 — onnx raises DecodeError, ValueError, … for a file that is not a model
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise ImpastoError(f"{path}: not a loadable ONNX model ({reason})") from error
    return tuple((prop.key, prop.value) for prop in model.metadata_props)


@dataclass(frozen=True)
class ModelEntry:
    """One manifest record: a named model, its kind and its files (per precision for nets; ``loss`` and
    ``features`` for Gatys graphs), relative to ``folder``."""

    name: str
    kind: str
    folder: Path
    files: dict[str, str]
    sha256: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    metadata: dict = field(default_factory=dict)
    record: dict = field(default_factory=dict)  # the whole manifest record, for what only some commands show
    styles: list[str] = field(default_factory=list)  # a net of several styles: their names, in input order

    @property
    def precisions(self) -> list[str]:
        """The precision variants this entry ships, in PRECISIONS order."""
        return [p for p in PRECISIONS if p in self.files]

    def file(self, key: str) -> Path:
        """The file of ``key`` (a precision, ``loss`` or ``features``); ImpastoError when it has none."""
        if key not in self.files:
            raise ImpastoError(f"model {self.name!r} has no {key} file (it has {', '.join(self.files)})")
        return self.folder / self.files[key]

    def key_of(self, path: Path) -> str | None:
        """Which of this entry's files ``path`` is (its precision or role), or None."""
        for key, name in self.files.items():
            if (self.folder / name).resolve() == path.resolve():
                return key
        return None

    def verify(self) -> list[str]:
        """File names whose SHA-256 differs from the manifest's (empty when all match)."""
        return [name for name, digest in self.sha256.items() if sha256_file(self.folder / name) != digest]


def read_manifest(folder: Path | None = None) -> dict:
    """The raw manifest document of ``folder`` (default: the shipped models); an empty one where there is none."""
    folder = folder or shipped_models_dir()
    path = folder / MANIFEST
    if not path.is_file():
        return {"format": 1, "models": []}
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ImpastoError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from error
    models = manifest.get("models") if isinstance(manifest, dict) else None
    if not isinstance(models, list) or not all(
        isinstance(m, dict) and isinstance(m.get("name"), str) and isinstance(m.get("files"), dict) for m in models
    ):
        raise ImpastoError(f'{path}: not an Impasto manifest (expected {{"models": [{{"name", "files", …}}]}})')
    return manifest


def entries(folder: Path | None = None) -> list[ModelEntry]:
    """Every model of one folder's manifest, in its order."""
    folder = folder or shipped_models_dir()
    found = []
    for record in read_manifest(folder)["models"]:
        found.append(
            ModelEntry(
                name=record["name"], kind=record.get("kind", OTHER), folder=folder, files=dict(record["files"]),
                sha256=dict(record.get("sha256", {})), summary=record.get("summary", ""),
                metadata=dict(record.get("metadata", {})), record=record, styles=list(record.get("styles", [])),
            )
        )  # fmt: skip
    return found


def search_folders() -> list[Path]:
    """Where names are looked up: the shipped models, then each folder of ``IMPASTO_MODELS``."""
    extra = [Path(p) for p in os.environ.get(MODELS_PATH_VARIABLE, "").split(os.pathsep) if p]
    for folder in extra:
        if not folder.is_dir():
            raise ImpastoError(f"{MODELS_PATH_VARIABLE}: {folder} is not a folder")
    return [shipped_models_dir(), *extra]


def all_entries(kind: str | None = None) -> list[ModelEntry]:
    """Entries of every searched folder (a name found earlier hides a later one), optionally of one kind."""
    seen: dict[str, ModelEntry] = {}
    for folder in search_folders():
        for entry in entries(folder):
            seen.setdefault(entry.name, entry)
    return [e for e in seen.values() if kind is None or e.kind == kind]


def names(kind: str | None = None) -> list[str]:
    """Model names, optionally of one kind (``TRANSFORMER``, ``LOSS``)."""
    return [entry.name for entry in all_entries(kind)]


def find(name: str) -> ModelEntry:
    """The entry called ``name``; ImpastoError listing what there is when none is."""
    for entry in all_entries():
        if entry.name == name:
            return entry
    known = ", ".join(names() + style_names()) or "none"
    raise ImpastoError(f"no model named {name!r} (known: {known}; a file path works too)")


def style_names() -> list[str]:
    """The styles inside nets of several styles (each usable as a model name)."""
    return [style for entry in all_entries(TRANSFORMER) for style in entry.styles]


def parse_style_blend(text: str) -> list[tuple[str, float]]:
    """``starry-night:0.7,great-wave:0.3`` → [(name, weight), …]; a plain name → [(name, 1.0)].

    ImpastoError for a weight that is not a finite number ≥ 0, or weights that add up to 0."""
    parts = []
    for item in str(text).split(","):
        name, _, weight = item.strip().partition(":")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise ImpastoError(f"{text!r}: {weight!r} is not a weight (use NAME:W,NAME:W)") from None
        if not (value >= 0 and value != float("inf")):
            raise ImpastoError(f"{text!r}: weights must be finite numbers ≥ 0")
        parts.append((name.strip(), value))
    if sum(value for _, value in parts) <= 0:
        raise ImpastoError(f"{text!r}: the weights add up to 0")
    return parts


def find_styles(text: str) -> tuple[ModelEntry, tuple[float, ...]] | None:
    """The net of several styles holding every style ``text`` names (``a`` or ``a:0.7,b:0.3``) and the weights of
    its ``style_weights`` input (normalised to sum 1), or None when ``text`` names no such style. ImpastoError when
    the styles are in different nets."""
    blend = parse_style_blend(text)
    nets = all_entries(TRANSFORMER)
    # the first net (search order) holding them all: a net grown by --add-style holds its base's styles too
    entry = next((e for e in nets if all(name in e.styles for name, _ in blend)), None)
    if entry is None:
        holders = {}
        for name, _ in blend:
            holder = next((e for e in nets if name in e.styles), None)
            if holder is None:
                if len(blend) == 1:
                    return None
                raise ImpastoError(f"{name!r} is not a style of a net of several styles (see `impasto models`)")
            holders[holder.name] = holder
        raise ImpastoError(f"{text!r}: these styles are in different nets ({', '.join(holders)}); blend within one")
    total = sum(weight for _, weight in blend)
    weights = [0.0] * len(entry.styles)
    for name, weight in blend:
        weights[entry.styles.index(name)] += weight / total
    return entry, tuple(weights)


def default_name(kind: str = TRANSFORMER) -> str:
    """What commands use without ``--model``: for transformer nets the shipped manifest's ``"default"`` (a net or
    one of its styles) where it names one, else the first shipped model of ``kind`` (the manifest's order)."""
    shipped = [entry for entry in entries() if entry.kind == kind]
    if not shipped:
        raise ImpastoError(f"no {KIND_NAMES.get(kind, kind)} is shipped in {shipped_models_dir()}; name one")
    chosen = read_manifest().get("default") if kind == TRANSFORMER else None
    if chosen in [entry.name for entry in shipped] + [style for entry in shipped for style in entry.styles]:
        return chosen
    return shipped[0].name


def entry_beside(path: Path) -> ModelEntry | None:
    """The manifest entry, in the file's own folder, that lists ``path`` among its files (None without one)."""
    for entry in entries(path.parent):
        if entry.key_of(path) is not None:
            return entry
    return None


@dataclass(frozen=True)
class ResolvedModel:
    """What a "name or path" came to: the file to open, its manifest entry (None for a lone file) and the key
    (precision, ``loss`` or ``features``) of that file."""

    path: Path
    entry: ModelEntry | None
    key: str
    style_weights: tuple[float, ...] | None = None  # a style (or blend) of a net of several styles


def _is_path(model: str | Path) -> bool:
    return isinstance(model, Path) or str(model).endswith(".onnx") or os.sep in str(model) or Path(model).exists()


def resolve(model: str | Path, kind: str | None = TRANSFORMER, key: str | None = None) -> ResolvedModel:
    """A name or an ``.onnx`` path → the file to open.

    ``key`` is a precision (``fp32``/``fp16``/``int8``) for nets, ``loss``/``features`` for Gatys graphs; None
    means the entry's first file (fp32 for nets). For a path, ``key`` picks the matching variant through the manifest
    beside the file, and is refused when that cannot be done — never ignored. ``kind`` (None: any) is checked
    against the manifest; a lone file's kind is checked when it is opened (its metadata).
    """
    if _is_path(model):
        path = Path(model)
        if not path.is_file():
            raise ImpastoError(f"{path}: no such model file")
        entry = entry_beside(path)
        if entry is None:
            if key not in PRECISIONS:  # nothing to check: the file is opened (and judged) as it is
                return ResolvedModel(path, None, key or "fp32")
            own = onnx_metadata(path).get("impasto.precision", "fp32")
            if key != own:
                raise ImpastoError(
                    f"{path} is a single {own} file that no manifest beside it lists with variants; "
                    f"--precision {key} cannot be honoured (name the {key} file itself, or drop --precision)"
                )
            return ResolvedModel(path, None, own)
        own_key = entry.key_of(path) or "fp32"
        if key is None or key == own_key:
            return ResolvedModel(path, entry, own_key)
        if key in PRECISIONS and own_key not in PRECISIONS:
            raise ImpastoError(f"{path} is the {own_key} file of {entry.name!r}, which has no precision variants")
        if key not in entry.files:
            have = ", ".join(entry.precisions or list(entry.files))
            raise ImpastoError(f"{entry.name!r} ({path.parent / MANIFEST}) has no {key} variant (it has {have})")
        return ResolvedModel(entry.file(key), entry, key)
    styled = find_styles(str(model)) if kind in (None, TRANSFORMER) and str(model) not in names() else None
    entry, weights = styled if styled else (find(str(model)), None)
    if kind is not None and entry.kind != kind:
        raise ImpastoError(f"model {entry.name!r} is a {entry.kind}, not {KIND_NAMES.get(kind, kind)}")
    chosen = key or next(iter(entry.files))
    if chosen not in entry.files:
        have = ", ".join(entry.precisions or list(entry.files))
        raise ImpastoError(f"model {entry.name!r} has no {chosen} variant (it has {have})")
    return ResolvedModel(entry.file(chosen), entry, chosen, weights)
