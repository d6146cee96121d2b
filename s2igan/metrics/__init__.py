"""Evaluation metrics as pure functions of arrays: ``fid`` (Eq. 19), ``inception_score``
(Eq. 18), ``retrieval``: average precision, mAP and recall@k (SEN Table VII; image-retrieval
mAP / R@50, Eq. (20)-(21)). The trained judges that feed the IS are in :mod:`s2igan.evaluate`."""
