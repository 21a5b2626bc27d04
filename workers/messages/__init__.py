"""User-facing messages for error groups and alerts, per audience and locale, from templates in
config/locales/ and settings.messages.files. See docs/messages.md."""

from workers.messages.catalog import Catalog, Rendered
from workers.messages.loading import load_catalog

__all__ = ["Catalog", "Rendered", "load_catalog"]
