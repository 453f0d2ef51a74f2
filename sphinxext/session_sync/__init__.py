"""Show, under every example cell, the SQL it sent and the ORM object states after it.

Used only by the docs build; the example scripts never import it.  One module per stage, in the
order an example goes through them:

* ``recording``: class-level SQLAlchemy listeners record each statement and BEGIN / COMMIT /
  ROLLBACK, named by the connection that sent it, and write each as one marked line to
  ``sys.stdout``, so it lands in the cell's captured output exactly where it happened.
* ``state``: which ORM objects the example touched, and their state after each cell, read
  without ever loading anything; plain dicts.
* ``rendering``: those records and tables as the page shows them (SQL boxes, printed output,
  state tables), as docutils nodes.
* ``dialects``: the full build's tabs with the SQL the same cell sent to PostgreSQL and MariaDB.
* ``build_hooks``: the Sphinx extension and the Sphinx-Gallery scraper and reset hooks.

``recording`` and ``state`` import only SQLAlchemy and the standard library (no Sphinx, no
Sphinx-Gallery, no docutils), so that the same code can run where the examples run without a
docs build, in the reader's browser too.  This file imports nothing, for the same reason.
"""
