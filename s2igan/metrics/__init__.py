"""Evaluation metrics. ``retrieval``: average precision, mAP and recall@k (SEN Table VII;
image-retrieval mAP / R@50, Eq. (20)-(21))."""
