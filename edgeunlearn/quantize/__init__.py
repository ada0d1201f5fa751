"""Quantizers: llama.cpp GGUF types, and MLX's own affine quantization as a second family."""
