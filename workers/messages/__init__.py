"""User-facing messages for error groups and alerts, per audience and locale, from templates in
config/locales/ and settings.messages.files. See docs/messages.md.

schema: what a messages file may contain: audiences, situations, allowed placeholders.
loading: reading and layering messages files (built-in first, then the configured ones).
templates: `{name}` substitution in one pass; nothing in a value is evaluated.
negotiate: which locale a request gets (parameter, Accept-Language, default).
catalog: `Catalog`, every locale's templates, rendering for a group or an alert.
"""

from workers.messages.catalog import Catalog, Rendered
from workers.messages.loading import load_catalog

__all__ = ["Catalog", "Rendered", "load_catalog"]
