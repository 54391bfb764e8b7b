"""Which real photo goes with which colorized one: files are matched by relative path without suffix.

A model's outputs may change format (``cats/tom.jpg`` colorized as ``cats/tom.png``), so the key of a photo is
its path relative to its folder with the suffix dropped (``cats/tom``), with undecodable bytes and control
characters escaped (``caf\\xe9``) as every message shows them. Two files with the same key in one folder are
ambiguous and left out rather than guessed.

Example:
    >>> matching = match_folders("real/", {"ours": "ours/"})  # doctest: +SKIP
    >>> matching.pairs[0].photo, matching.missing["ours"]  # doctest: +SKIP
    ('cats/tom', ['dogs/rex'])
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from polychrome._messages import printable_name
from polychrome.data.sources import iter_records

__all__ = ["FilePair", "Matching", "list_photos", "match_folders"]


@dataclass(frozen=True)
class FilePair:
    """One trial's material: the real photo and one model's colorized version of it."""

    photo: str
    model: str
    real: Path
    colorized: Path


@dataclass
class Matching:
    """The pairs found, per model the real photos it has no version of, and one-line problems."""

    pairs: list[FilePair] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def list_photos(folder: str | Path) -> tuple[dict[str, Path], list[str]]:
    """The images below ``folder`` by key (relative path without suffix), and problems (ambiguous keys,
    files that cannot be opened).

    Raises:
        NotADirectoryError: ``folder`` is not a folder.
    """
    root = Path(folder)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder")
    by_key: dict[str, list[Path]] = defaultdict(list)
    problems: list[str] = []
    for record in iter_records([str(root)]):
        assert record.path is not None  # folders yield paths, never in-memory bytes
        path = Path(record.path)
        if record.problem is not None:
            problems.append(f"{printable_name(path)}: {record.problem}")
            continue
        # Shown escaped: a key is stored as SQLite text and compared with the other folder's keys.
        by_key[printable_name(path.relative_to(root).with_suffix("").as_posix())].append(path)
    photos: dict[str, Path] = {}
    for key, paths in by_key.items():
        if len(paths) == 1:
            photos[key] = paths[0]
        else:
            names = ", ".join(p.name for p in paths)
            problems.append(
                f"{printable_name(paths[0].parent)}: {printable_name(names)} are the same photo in two "
                "formats; left out"
            )
    return photos, problems


def match_folders(real: str | Path, models: Mapping[str, str | Path]) -> Matching:
    """Pair every real photo with each model's version of it; photos a model lacks are listed, not fatal."""
    real_photos, problems = list_photos(real)
    matching = Matching(problems=problems)
    for model, folder in models.items():
        colorized, model_problems = list_photos(folder)
        matching.problems.extend(model_problems)
        matching.missing[model] = sorted(key for key in real_photos if key not in colorized)
        for key in sorted(real_photos.keys() & colorized.keys()):
            matching.pairs.append(FilePair(key, model, real_photos[key], colorized[key]))
    return matching
