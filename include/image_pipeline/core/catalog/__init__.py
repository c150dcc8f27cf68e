"""The catalog: its roles (:mod:`.roles`, what each stage asks of it), :class:`Catalog` playing them all
(:mod:`.base`) and one module per backend (:mod:`.sqlite`, :mod:`.mongo`)."""

from image_pipeline.core.catalog.base import Catalog, new_image_doc, to_iso, utcnow_iso
from image_pipeline.core.catalog.listing import ImageFilters
from image_pipeline.core.catalog.mongo import MongoCatalog
from image_pipeline.core.catalog.sqlite import SqliteCatalog

__all__ = ["Catalog", "ImageFilters", "MongoCatalog", "SqliteCatalog", "new_image_doc", "to_iso", "utcnow_iso"]
