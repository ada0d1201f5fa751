"""LoRA unlearning in MLX: batching, the training loop, and its progress callback."""
