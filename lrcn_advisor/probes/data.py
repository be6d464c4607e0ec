"""Probe data: a folder of class folders of videos, an .npz file, or generated clips.

Every source is split once into a training and a held-out validation part, the same
for every variant and seed.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v"}
MAX_BYTES = 1 << 30          # in-memory data, train and validation together
VAL_FRACTION = 0.25
SPLIT_SEED = 0
GENERATOR_VERSION = 1
NOISE = 0.3                  # background noise amplitude of generated clips
PATTERN_SEED = 1234

GENERATED_CAVEAT = (
    "Generated data: shapes moving over noise, where paired classes differ only in the direction of "
    "motion (so only the recurrent part can tell them apart) and the pairs differ in the shape. A verdict "
    "on it says whether the change helps this architecture learn such motion and appearance cues from few "
    "clips within the budget; it does not predict accuracy on your videos, whose cues, resolution, class "
    "count and amount of data differ. Pass --data to probe on your own clips.")
REAL_CAVEAT = (
    "Verdicts come from short training runs on {train} clips of this data, validated on {val} held-out "
    "clips; they rank the variants under this budget, which can differ from their ranking after full "
    "training.")


class DataError(Exception):
    """The probe data cannot be used; the message says why."""


@dataclass(frozen=True)
class DataSpec:
    """Where the data comes from: picklable, so that any worker can load it."""

    source: str               # generated | npz | videos
    path: str | None
    shape: tuple              # one clip: (T, H, W, C), or the model's per-sample input shape
    classes: int


@dataclass
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    description: str
    caveat: str
    fingerprint: str

    def as_dict(self, source: str) -> dict:
        return {"source": source, "description": self.description, "caveat": self.caveat}


def data_spec(path: Path | None, shape: tuple, classes: int) -> DataSpec:
    if path is None:
        return DataSpec("generated", None, tuple(shape), classes)
    path = Path(path)
    if path.is_dir():
        return DataSpec("videos", str(path), tuple(shape), classes)
    if path.suffix.lower() == ".npz":
        return DataSpec("npz", str(path), tuple(shape), classes)
    raise DataError(f"{path}: --data takes a folder with one sub-folder of videos per class, or an .npz file "
                    "with arrays x and y")


def load_dataset(spec: DataSpec, frames: int | None = None) -> Dataset:
    """The data for `spec` (loaded once per process), its clips resampled to `frames` time steps
    when given."""
    if frames is None or frames == spec.shape[0]:
        return _load(spec)
    return _resampled(spec, frames)


def even_indices(available: int, wanted: int) -> np.ndarray:
    """`wanted` frame indices spread evenly over `available` frames."""
    return np.linspace(0, available - 1, wanted).round().astype(int)


_PRELOADED: dict[DataSpec, Dataset] = {}


def preload(spec: DataSpec, data: Dataset) -> None:
    """Use `data` for `spec` in this process (a cluster worker gets it from the object store)."""
    _PRELOADED[spec] = data


@functools.lru_cache(maxsize=2)
def _load(spec: DataSpec) -> Dataset:
    if spec in _PRELOADED:
        return _PRELOADED[spec]
    loaders = {"generated": _generated, "npz": _npz, "videos": _videos}
    return loaders[spec.source](spec)


@functools.lru_cache(maxsize=2)
def _resampled(spec: DataSpec, frames: int) -> Dataset:
    data = _load(spec)
    index = even_indices(data.x_train.shape[1], frames)
    return replace(data, x_train=data.x_train[:, index], x_val=data.x_val[:, index],
                   description=f"{data.description}; {frames} frames per clip, sampled evenly")


# ---- generated clips -------------------------------------------------------

def _generated(spec: DataSpec) -> Dataset:
    if len(spec.shape) != 4 or spec.shape[3] not in (1, 3) or min(spec.shape[1:3]) < 8:
        raise DataError(f"generated data needs video clips (frames, height >= 8, width >= 8, 1 or 3 channels); "
                        f"the model takes {spec.shape}: pass --data")
    classes = max(spec.classes, 2)
    clip_bytes = 4 * int(np.prod(spec.shape))
    # as many held-out clips as training clips: the validation score's sampling noise is a large
    # part of a short run's seed-to-seed spread, and generated clips cost nothing to hold out
    n_train = min(max(256, 32 * classes), int(MAX_BYTES / clip_bytes / 2))
    n_val = n_train
    if n_train < 4 * classes:
        raise DataError(f"clips of {spec.shape} are too large to generate {4 * classes} of them in memory; "
                        "pass --data")
    x_train, y_train = generate_clips(n_train, spec.shape, classes, seed=1)
    x_val, y_val = generate_clips(n_val, spec.shape, classes, seed=2)
    motion = 2 * (classes // 2)
    description = (f"generated clips: {n_train} train / {n_val} validation, {classes} classes of shapes "
                   f"moving over noise ({motion} differ only in motion direction, in pairs)")
    key = f"generated-v{GENERATOR_VERSION}-{spec.shape}-{classes}-{n_train}-{n_val}"
    return Dataset(x_train, y_train, x_val, y_val, description, GENERATED_CAVEAT, _digest(key))


def generate_clips(n: int, shape: tuple, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Clips of a shape crossing the frame. Class c shows pattern c // 2 moving right (c even)
    or left (c odd); the last class of an odd count moves either way."""
    frames, height, width, channels = shape
    rng = np.random.default_rng(seed)
    size = max(3, min(height, width) // 5)
    bank = _patterns((classes + 1) // 2, size)
    labels = rng.permutation(np.arange(n) % classes)
    x = rng.uniform(0.0, NOISE, size=(n, frames, height, width, channels)).astype(np.float32)
    for clip, label in zip(x, labels):
        pattern = bank[label // 2][..., None] * rng.uniform(0.6, 1.0, size=channels).astype(np.float32)
        paired = (label // 2) * 2 + 1 < classes
        direction = label % 2 if paired else rng.integers(2)
        travel = rng.uniform(0.5, 1.0) * (width - size)
        start = rng.uniform(0, width - size - travel)
        row = rng.integers(0, height - size + 1)
        for t in range(frames):
            step = t if direction == 0 else frames - 1 - t
            col = int(round(start + travel * step / max(frames - 1, 1)))
            patch = clip[t, row:row + size, col:col + size]
            np.maximum(patch, pattern, out=patch)
    return x, labels.astype(np.int64)


def _patterns(count: int, size: int) -> list[np.ndarray]:
    """A full and a half-size square, bars of four orientations, then random blobs."""
    r, c = np.indices((size, size))
    mid, half = (size - 1) / 2, max(size // 6, 0) + 0.5
    bank = [np.ones((size, size), bool), (np.abs(r - mid) < size / 4) & (np.abs(c - mid) < size / 4),
            np.abs(c - mid) < half, np.abs(r - mid) < half, np.abs(r - c) < half,
            np.abs(r + c - (size - 1)) < half]
    rng = np.random.default_rng(PATTERN_SEED)
    while len(bank) < count:
        bank.append(rng.random((size, size)) < 0.5)
    return [pattern.astype(np.float32) for pattern in bank[:count]]


# ---- .npz -----------------------------------------------------------------

def _npz(spec: DataSpec) -> Dataset:
    path = Path(spec.path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in ("x", "y", "x_val", "y_val") if key in archive.files}
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: cannot read as .npz ({error})") from None
    if "x" not in arrays or "y" not in arrays:
        raise DataError(f"{path}: needs arrays 'x' (clips) and 'y' (labels); it has {', '.join(arrays) or 'none'}")
    x, y = _clips(arrays["x"], spec, path), _labels(arrays["y"], len(arrays["x"]), spec, path)
    if "x_val" in arrays and "y_val" in arrays:
        x_val = _clips(arrays["x_val"], spec, path)
        y_val = _labels(arrays["y_val"], len(arrays["x_val"]), spec, path)
        split = "its own validation arrays"
    else:
        train, val = _split(y)
        x, y, x_val, y_val = x[train], y[train], x[val], y[val]
        split = f"{VAL_FRACTION:.0%} held out per class"
    description = f"{path.name}: {len(y)} train / {len(y_val)} validation clips ({split})"
    return Dataset(x, y, x_val, y_val, description,
                   REAL_CAVEAT.format(train=len(y), val=len(y_val)), _file_digest(path))


def _clips(x: np.ndarray, spec: DataSpec, path: Path) -> np.ndarray:
    if x.ndim != len(spec.shape) + 1:
        raise DataError(f"{path}: clips have shape {x.shape[1:]}, the model takes {spec.shape}")
    if len(spec.shape) >= 3 and x.shape[1] != spec.shape[0]:
        x = x[:, even_indices(x.shape[1], spec.shape[0])]
    if tuple(x.shape[2:]) != tuple(spec.shape[1:]):
        raise DataError(f"{path}: clips have shape {x.shape[1:]}, the model takes {spec.shape}")
    return (x.astype(np.float32) / 255.0) if x.dtype == np.uint8 else x.astype(np.float32)


def _labels(y: np.ndarray, count: int, spec: DataSpec, path: Path) -> np.ndarray:
    if y.ndim == 2:
        y = y.argmax(axis=1)
    whole = np.issubdtype(y.dtype, np.integer) or (y.ndim == 1 and np.all(y == np.round(y)))
    if y.ndim != 1 or len(y) != count or not whole:
        raise DataError(f"{path}: labels must be {count} integers (or one-hot rows), one per clip")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= max(spec.classes, 2):
        raise DataError(f"{path}: labels run from {y.min()} to {y.max()}, the model has {spec.classes} outputs")
    return y


def _split(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/validation indices, the same on every call."""
    rng = np.random.default_rng(SPLIT_SEED)
    train, val = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        cut = max(1, round(len(members) * VAL_FRACTION)) if len(members) > 1 else 0
        val.extend(members[:cut])
        train.extend(members[cut:])
    if not val:
        raise DataError("too few clips to hold out a validation split (need at least 2 per class)")
    return np.sort(train), np.sort(val)


# ---- video folders ----------------------------------------------------------

def _videos(spec: DataSpec) -> Dataset:
    root = Path(spec.path)
    if len(spec.shape) != 4 or spec.shape[3] not in (1, 3):
        raise DataError(f"{root}: video data needs a model that takes (frames, height, width, 1 or 3 channels), "
                        f"not {spec.shape}")
    cv2 = _opencv()
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if len(folders) < 2:
        raise DataError(f"{root}: expected one sub-folder of videos per class, found {len(folders)}")
    if len(folders) > max(spec.classes, 2):
        raise DataError(f"{root}: {len(folders)} class folders, but the model has {spec.classes} outputs")
    clips, labels, unreadable = [], [], []
    limit = MAX_BYTES // (4 * int(np.prod(spec.shape)))
    for label, folder in enumerate(folders):
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES):
            if len(clips) >= limit:
                raise DataError(f"{root}: more than {limit} clips do not fit in memory; use fewer or an .npz")
            clip = _read_clip(cv2, path, spec.shape)
            if clip is None:
                unreadable.append(path.name)
            else:
                clips.append(clip)
                labels.append(label)
    if not clips:
        raise DataError(f"{root}: no readable video ({', '.join(sorted(VIDEO_SUFFIXES))}) in the class folders")
    x, y = np.stack(clips), np.asarray(labels, np.int64)
    train, val = _split(y)
    names = ", ".join(f.name for f in folders)
    description = (f"{root.name}: {len(train)} train / {len(val)} validation clips in {len(folders)} classes "
                   f"({names}), frames sampled evenly and resized to {spec.shape[1]}x{spec.shape[2]}")
    if unreadable:
        description += f"; {len(unreadable)} unreadable file(s) skipped: {', '.join(unreadable[:5])}"
    return Dataset(x[train], y[train], x[val], y[val], description,
                   REAL_CAVEAT.format(train=len(train), val=len(val)), _folder_digest(root, spec))


def _opencv():
    try:
        import cv2
    except ImportError:
        raise DataError("reading video files needs OpenCV: pip install opencv-python-headless "
                        "(or pass an .npz with arrays x and y)") from None
    return cv2


def _read_clip(cv2, path: Path, shape: tuple) -> np.ndarray | None:
    frames_wanted, height, width, channels = shape
    capture = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
            if channels == 1:
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)[..., None])
            else:
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if not frames:
        return None
    clip = np.stack(frames)[even_indices(len(frames), frames_wanted)]
    return clip.astype(np.float32) / 255.0


# ---- fingerprints -----------------------------------------------------------

def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:32]


def _folder_digest(root: Path, spec: DataSpec) -> str:
    entries = sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                     for p in root.rglob("*") if p.is_file())
    return _digest(repr((entries, spec.shape)))
