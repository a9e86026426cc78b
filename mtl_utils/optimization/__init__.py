"""Optimizing several losses (chapters 7, 8 and 8b): task weighting and gradient methods that ``fit`` trains with.

``weighting`` (the methods written out in the book) and ``torchjd_weighting`` (the rest of the field, from TorchJD).
"""
