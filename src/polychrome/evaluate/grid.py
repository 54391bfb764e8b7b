"""A contact sheet to look at: the same photos as gray input, as each colorizer colors them, and as they were.

Numbers hide what eyes see at once (brown foliage, color blotches, halos), so a choice between models is
also made on pictures. :func:`contact_sheet` lays out the pictures an evaluation kept
(:class:`~polychrome.evaluate.scoring.ScoringOptions` ``grid_images``): one strip per photo, gray | each
candidate | truth, strips side by side in columns, a header naming the pictures of a strip.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from polychrome.evaluate.candidates import GRAY, TRUTH
from polychrome.evaluate.scoring import Evaluation

HEADER = 16  # pixels of the row naming each strip's pictures


def contact_sheet(evaluation: Evaluation, size: int = 128, columns: int | None = None) -> Image.Image:
    """The kept pictures of every row of ``evaluation`` (gray first, truth last), each shown at ``size`` x
    ``size`` pixels (a sized protocol's crops are square; other pictures are squeezed to fit). ``columns``:
    strips side by side (default: what makes the sheet about square)."""
    labels = evaluation.labels  # gray, the candidates, truth
    count = min(len(evaluation.scores[label].samples) for label in labels)
    if count == 0:
        raise ValueError("the evaluation kept no pictures: score it with grid_images > 0")
    if columns is None:
        columns = max(1, round(math.sqrt(count / len(labels))))
    rows = math.ceil(count / columns)
    strip = size * len(labels)
    gap = size // 8
    sheet = Image.new("RGB", (columns * strip + (columns - 1) * gap, HEADER + rows * size), "white")
    draw = ImageDraw.Draw(sheet)
    for column in range(columns):
        for j, label in enumerate(labels):
            name = label if label in (GRAY, TRUTH) else f"{j}: {label}"
            draw.text((column * (strip + gap) + j * size + 3, 2), name[-(size // 6) :], fill="black")
    for i in range(count):
        row, column = divmod(i, columns)
        for j, label in enumerate(labels):
            picture = Image.fromarray(np.asarray(evaluation.scores[label].samples[i]))
            if picture.size != (size, size):
                picture = picture.resize((size, size), Image.Resampling.LANCZOS)
            sheet.paste(picture, (column * (strip + gap) + j * size, HEADER + row * size))
    return sheet
