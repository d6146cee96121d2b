"""Datasets: the embedded SynthBirds generator, adapters for the paper's four datasets, and the
common caption manifest they all produce."""
