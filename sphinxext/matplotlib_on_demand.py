"""Matplotlib only for the examples that use it.

Sphinx-Gallery imports ``matplotlib.pyplot`` when the build starts (to select the Agg backend),
and its matplotlib scraper and reset import it again for every example: about a second of every
build, a rebuild that runs no example included. ``MPLBACKEND=agg`` selects the backend before
any example imports pyplot; the scraper and the reset below do their work only once an example
has imported it.
"""

import os
import sys

import sphinx_gallery.gen_gallery
from private_internals import replace
from sphinx_gallery.scrapers import matplotlib_scraper


def scrape_figures(block, block_vars, gallery_conf, **kwargs) -> str:
    """Sphinx-Gallery's matplotlib scraper, for a cell run after pyplot was imported."""
    if "matplotlib.pyplot" not in sys.modules:
        return ""
    return matplotlib_scraper(block, block_vars, gallery_conf, **kwargs)


def reset_pyplot(gallery_conf, fname) -> None:
    """Default styles for the next example, if an earlier one changed them."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")
        pyplot.rcdefaults()


def _backend_set_by_the_environment() -> None:
    """Stands in for Sphinx-Gallery's start-up import of pyplot, whose only purpose is Agg."""


def setup(app):
    os.environ["MPLBACKEND"] = "agg"
    # Sphinx-Gallery calls this name when the configuration is read, after every setup().
    replace(
        "sphinx-gallery",
        sphinx_gallery.gen_gallery,
        "_import_matplotlib",
        _backend_set_by_the_environment,
        signature="()",
        called_by=("_fill_gallery_conf_defaults",),
    )
    return {"parallel_read_safe": True, "parallel_write_safe": True}
