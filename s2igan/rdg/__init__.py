"""RDG: relation-supervised densely-stacked generative model (Sec. III-C): the networks, losses,
training step and loop, and sampling. Its evaluation lives in :mod:`s2igan.evaluate`."""
