"""Evaluation of a trained S2IGAN (Sec. IV-A): the ``judge`` stage's scoring classifiers
(:mod:`~s2igan.evaluate.judge`), the ``evaluate`` stage's scores (:mod:`~s2igan.evaluate.run`)
and its figures (:mod:`~s2igan.evaluate.figures`). Nothing below this package imports it."""
