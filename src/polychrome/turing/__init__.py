"""The Colorization Turing Test: people pick the real photo of a pair; the fool rate is how often they fail.

A local web page (:mod:`~polychrome.turing.server`) shows each person pairs of a real photo and one model's
colorized version of it (:mod:`~polychrome.turing.catalog`), left and right at random; the answers go to a
SQLite file (:mod:`~polychrome.turing.store`), and :mod:`~polychrome.turing.stats` turns them into fool rates
with Wilson intervals. ``polychrome turing serve`` and ``polychrome turing report`` drive it.
"""

from polychrome.turing.catalog import Catalog, Pair, build_catalog
from polychrome.turing.server import TuringApp, TuringServer
from polychrome.turing.stats import FoolRate, fool_rates, wilson_interval
from polychrome.turing.store import Answer, TrialStore

__all__ = [
    "Answer",
    "Catalog",
    "FoolRate",
    "Pair",
    "TrialStore",
    "TuringApp",
    "TuringServer",
    "build_catalog",
    "fool_rates",
    "wilson_interval",
]
