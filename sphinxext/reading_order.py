"""The order of the examples within a gallery section: the page the section is built around
first, then the others by file name. Named in conf.py's ``within_subsection_order``."""

from pathlib import Path

LEADING_PAGES = (
    "commit_synchronize_session.py",
    "five_states.py",
    "four_strategies.py",
    "lazy_load_after_close.py",
    "missing_greenlet.py",
    "server_generated_values.py",
    "lost_update.py",
    "flush_events.py",
)


class ReadingOrder:
    def __init__(self, src_dir: str) -> None:
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[bool, str]:
        name = Path(filename).name
        return (name not in LEADING_PAGES, name)

    def __repr__(self) -> str:
        return f"ReadingOrder(leading={LEADING_PAGES})"
