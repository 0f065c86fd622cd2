"""Exports for slides and hand-outs: stills, animations, an offline page, the data, PyTorch scripts."""
