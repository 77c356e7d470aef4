"""The torch module of the head student's `mlp` model, kept apart so `head` imports torch only when it is used.

Role: standardise the input, one GELU hidden layer, un-standardise the output; the scaling
statistics are buffers, so model.safetensors holds everything needed to predict.
"""

from __future__ import annotations

import numpy as np
import torch


class MLP(torch.nn.Module):
    """x -> (x - x_mean) / x_std -> Linear -> GELU -> Linear -> * y_std + y_mean."""

    def __init__(self, dim: int, hidden: int, n_out: int) -> None:
        super().__init__()
        self.hidden = torch.nn.Linear(dim, hidden)
        self.out = torch.nn.Linear(hidden, n_out)
        for name, size in (("x_mean", dim), ("x_std", dim), ("y_mean", n_out), ("y_std", n_out)):
            self.register_buffer(name, torch.ones(size))

    def set_scaling(self, x_mean: np.ndarray, x_std: np.ndarray, y_mean: np.ndarray, y_std: np.ndarray) -> None:
        for name, v in (("x_mean", x_mean), ("x_std", x_std), ("y_mean", y_mean), ("y_std", y_std)):
            getattr(self, name).copy_(torch.as_tensor(v, dtype=torch.float32))

    def scale_in(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.x_mean) / self.x_std

    def core(self, xs: torch.Tensor) -> torch.Tensor:
        """Standardised input -> standardised output: what training fits."""
        return self.out(torch.nn.functional.gelu(self.hidden(xs)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.core(self.scale_in(x)) * self.y_std + self.y_mean
