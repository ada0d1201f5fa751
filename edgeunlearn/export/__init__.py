"""Export: fused MLX weights to a GGUF file llama.cpp loads (F16 or F32)."""

from edgeunlearn.export.gguf_export import export_gguf

__all__ = ["export_gguf"]
