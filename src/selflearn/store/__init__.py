"""The run store: one SQLite database per workspace (see core.py); schema in schema.py."""

from selflearn.store.core import DB_NAME, Store, now

__all__ = ["DB_NAME", "Store", "now"]
