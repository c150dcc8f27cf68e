"""What every stage shares: keys and zones (:mod:`.keys`), the object store (:mod:`.storage`), the
catalog (:mod:`.catalog`, one module per backend), image probing (:mod:`.probe`), errors
(:mod:`.errors`) and the one :class:`~image_pipeline.core.selection.Selection`. Imports no stage."""
