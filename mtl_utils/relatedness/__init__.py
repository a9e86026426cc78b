"""Choosing tasks (chapters 2 and 9): how related two tasks are, and which to train together.

``similarity`` (mutual information between labels, linear CKA between features) and ``affinity`` (signals measured on
a shared trunk: gradient cosines, lookahead affinity).
"""
