"""Where the training audio comes from: one module per kind of source.

Every module returns *jobs* (small picklable tuples) and a function that turns one job into a
track record: ``{"id", "group", "source", "path", "duration", "licence", "gt", ...}``.
``group`` is what the train/val/test split is drawn by (a piece rendered with several
soundfonts, or a chord chart played in several grooves, stays in one split).
"""
