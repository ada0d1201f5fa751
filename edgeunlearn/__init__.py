"""edgeunlearn: make a small local LLM forget facts, and prove the forgetting survives quantization.

Heavy libraries (mlx, llama_cpp, datasets) are imported lazily inside the modules that need them,
so `import edgeunlearn` and `edgeunlearn --help` stay fast.
"""

__version__ = "0.1.0"
