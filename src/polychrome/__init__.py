"""polychrome: colorize black-and-white photos and films, and train the models that do it."""

__version__ = "0.1.0"
