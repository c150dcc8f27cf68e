"""The operations a recipe can list, grouped by family as thumbor groups its filters: the registry
and its helpers (:mod:`.base`), :mod:`.geometry`, :mod:`.colour` (colour and filters),
:mod:`.artistic`, :mod:`.learned` (background removal, style transfer) and
:mod:`.watermark`. Importing this package registers every operation."""

from image_pipeline.process.operations import artistic, colour, geometry, learned, watermark  # noqa: F401 - they register
from image_pipeline.process.operations.base import (ALPHA_MODES, KEEPS_SIZE, OPERATIONS, UNKNOWN_SIZE, Context,
                                                    Geometry, Operation, RecipeError, operation, parse_colour,
                                                    reshapes, resizes)

__all__ = ["ALPHA_MODES", "KEEPS_SIZE", "OPERATIONS", "UNKNOWN_SIZE", "Context", "Geometry", "Operation",
           "RecipeError", "operation", "parse_colour", "reshapes", "resizes"]
