"""RDG: relation-supervised densely-stacked generative model (Sec. III-C), training, sampling and evaluation."""
