"""Named dataset layouts, read with their official splits where they have them.

- ``flowers102`` (Oxford Flowers-102): ``jpg/`` + ``imagelabels.mat`` + ``setid.mat``; official split
  (setid's trnid / valid / tstid).
- ``celeba``: ``img_align_celeba/`` + ``list_eval_partition.txt``; official split (0 train, 1 val, 2 test).
- ``mirflickr`` (MIR-Flickr 25k): ``im<N>.jpg`` files + an ``annotations/`` folder of ``<category>.txt``
  lists of photo numbers, which select category subsets; no official split (a seeded one is taken).
- ``imagenet``: ``train/<class>/`` and ``val/<class>/`` folders; official split (train / val).

Every layout yields the same :class:`~polychrome.data.sources.Record` s as a plain folder, plus a mapping from
record name to split (or None when the layout has no official split).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from polychrome.data.sources import IMAGE_SUFFIXES, Record

LAYOUTS = ("flowers102", "celeba", "mirflickr", "imagenet")


@dataclass
class Layout:
    name: str
    records: list[Record]
    splits: dict[str, str] | None  # record name -> "train" | "val" | "test"


def detect_layout(root: str | Path) -> str | None:
    """The layout a folder follows, or None for a plain folder of photos."""
    root = Path(root)
    if not root.is_dir():
        return None
    if (root / "jpg").is_dir() and (root / "setid.mat").is_file() and (root / "imagelabels.mat").is_file():
        return "flowers102"
    if (root / "img_align_celeba").is_dir() and (root / "list_eval_partition.txt").is_file():
        return "celeba"
    if (root / "annotations").is_dir() and any(root.glob("im*.jpg")):
        return "mirflickr"
    if (root / "train").is_dir() and (root / "val").is_dir():
        return "imagenet"
    return None


def _record(root: Path, path: Path) -> Record:
    return Record(name=str(path.relative_to(root.parent)), path=str(path))


def _flowers102(root: Path) -> Layout:
    try:
        from scipy.io import loadmat
    except ImportError as err:
        raise ImportError("reading Flowers-102's .mat files needs scipy: pip install scipy") from err
    setid = loadmat(root / "setid.mat")
    splits, records = {}, []
    for key, split in (("trnid", "train"), ("valid", "val"), ("tstid", "test")):
        for number in sorted(int(n) for n in setid[key].ravel()):
            path = root / "jpg" / f"image_{number:05d}.jpg"
            if path.is_file():
                record = _record(root, path)
                records.append(record)
                splits[record.name] = split
    return Layout("flowers102", sorted(records, key=lambda r: r.name), splits)


def _celeba(root: Path) -> Layout:
    names = {"0": "train", "1": "val", "2": "test"}
    splits, records = {}, []
    for line_number, line in enumerate((root / "list_eval_partition.txt").read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[1] not in names:
            raise ValueError(
                f"{root / 'list_eval_partition.txt'}:{line_number}: expected 'NAME 0|1|2', got {line!r}"
            )
        path = root / "img_align_celeba" / parts[0]
        if path.is_file():
            record = _record(root, path)
            records.append(record)
            splits[record.name] = names[parts[1]]
    return Layout("celeba", sorted(records, key=lambda r: r.name), splits)


def mirflickr_categories(root: str | Path) -> list[str]:
    """Category names that a MIR-Flickr folder's annotation files define (``animals``, ``flower``, ...)."""
    return sorted(p.stem for p in (Path(root) / "annotations").glob("*.txt") if p.stem != "README")


def _mirflickr(root: Path, categories: list[str] | None) -> Layout:
    wanted: set[int] | None = None
    if categories:
        known = mirflickr_categories(root)
        wanted = set()
        for category in categories:
            if category not in known:
                raise ValueError(f"{root}: no MIR-Flickr category {category!r}; known: {', '.join(known)}")
            text = (root / "annotations" / f"{category}.txt").read_text()
            wanted.update(int(n) for n in text.split())
    numbered = sorted((n, p) for p in root.glob("im*.jpg") if (n := _image_number(p)) is not None)
    records = [_record(root, p) for n, p in numbered if wanted is None or n in wanted]
    return Layout("mirflickr", records, None)


def _image_number(path: Path) -> int | None:
    """MIR-Flickr's photo number: ``im123.jpg`` -> 123."""
    digits = path.stem[2:]
    return int(digits) if digits.isdigit() else None


def _imagenet(root: Path) -> Layout:
    splits, records = {}, []
    for split in ("train", "val"):
        for path in sorted((root / split).rglob("*")):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                record = _record(root, path)
                records.append(record)
                splits[record.name] = split
    return Layout("imagenet", records, splits)


def read_layout(root: str | Path, name: str | None = None, categories: list[str] | None = None) -> Layout:
    """Read a named layout (``name`` None: detect it); ValueError when the folder does not follow it."""
    root = Path(root)
    name = name or detect_layout(root)
    if name is None:
        raise ValueError(f"{root}: not a known layout ({', '.join(LAYOUTS)})")
    if name not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}; choose from {', '.join(LAYOUTS)}")
    if name != "mirflickr" and categories:
        raise ValueError("categories are only for the mirflickr layout")
    readers = {
        "flowers102": lambda: _flowers102(root),
        "celeba": lambda: _celeba(root),
        "mirflickr": lambda: _mirflickr(root, categories),
        "imagenet": lambda: _imagenet(root),
    }
    try:
        return readers[name]()
    except FileNotFoundError as err:
        raise ValueError(f"{root}: does not follow the {name} layout ({err})") from None


def choose_layout(
    sources: Sequence[str], layout: str = "auto", categories: list[str] | None = None
) -> Layout | None:
    """The named layout that ``sources`` follow, or None when they are read as plain sources.

    ``layout`` is ``"auto"`` (detect it when the only source is a folder), ``"none"``, or a name from
    :data:`LAYOUTS`, which then must be the one and only source.
    """
    if layout == "auto":
        name = detect_layout(sources[0]) if len(sources) == 1 and Path(sources[0]).is_dir() else None
    elif layout == "none":
        name = None
    elif len(sources) != 1:
        raise ValueError(f"the {layout} layout reads one folder, got {len(sources)} sources")
    else:
        name = layout
    if name is None:
        if categories:
            raise ValueError("categories (--category) need a MIR-Flickr folder (layout mirflickr)")
        return None
    return read_layout(sources[0], name, categories)
