"""Architectures (chapters 10 to 14): the networks of the book's later settings, and ways to combine trained ones.

``multilenet`` (Sener & Koltun's multi-LeNet), ``transformer`` (a small ViT with a query token per task), ``moe``
(Shared-Bottom, OMoE, MMoE, CGC), ``mtan`` (encoder–decoders for dense tasks), ``merging`` (task arithmetic, TIES)
and ``adapters`` (per-task LoRA on a frozen trunk).
"""
