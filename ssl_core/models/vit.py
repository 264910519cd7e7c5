"""Vision Transformer (Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021).

Parameter names are timm's and DINO's (`cls_token`, `pos_embed`, `patch_embed.proj`,
`blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}`, `norm`), so their checkpoints load
as they are. Optional register tokens (Darcet et al., "Vision Transformers Need Registers", 2024) are
named `reg_token` as in timm and carry no position embedding.

Attention runs through the fused kernel (`scaled_dot_product_attention`) unless weights or keys are
asked for (`forward_intermediates`), or the sequence is short on a CPU: there the fused kernel's backward
is slow (65 tokens: 4.2x slower than the explicit product, forward and backward), and whole training steps
run 1.2-1.5x faster (SimCLR on ViT-mini at 32 px 84 -> 112 images/s, DINO 43 -> 66, MAE at 128 px in 8 px
patches 75 -> 88; `python bench/attention.py`, bench/results/attention.md).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ssl_core.errors import UserError


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, in_chans: int, embed_dim: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, N, D)


# Below this many tokens the explicit product is clearly faster on a CPU; from about 200 on the two are within
# 1.4x of each other, and the fused kernel holds no tokens x tokens matrix in memory (bench/attention.py).
FUSED_MIN_TOKENS_CPU = 192


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, return_attention: bool = False):
        B, N, D = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4)
        if not return_attention and (x.device.type != "cpu" or N >= FUSED_MIN_TOKENS_CPU):
            x = F.scaled_dot_product_attention(q, k, v)
            return self.proj(x.transpose(1, 2).reshape(B, N, D)), None
        attn = ((q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, D)
        return self.proj(x), ({"attn": attn, "keys": k} if return_attention else None)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, return_attention: bool = False):
        y, extra = self.attn(self.norm1(x), return_attention)
        x = x + y
        return x + self.mlp(self.norm2(x)), extra


class VisionTransformer(nn.Module):
    """A ViT backbone. `forward(x)` gives the normalised CLS token: the image embedding."""

    def __init__(self, img_size=224, patch_size=16, embed_dim=384, depth=12, num_heads=6, mlp_ratio=4.0,
                 qkv_bias=True, num_reg_tokens=0, in_chans=3):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.arch = dict(name="vit", img_size=img_size, patch_size=patch_size, embed_dim=embed_dim, depth=depth,
                         num_heads=num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, num_reg_tokens=num_reg_tokens)
        self.embed_dim = embed_dim
        self.patch_size = patch_size
        self.img_size = img_size
        self.num_prefix_tokens = 1 + num_reg_tokens
        grid = img_size // patch_size
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.reg_token = nn.Parameter(torch.zeros(1, num_reg_tokens, embed_dim)) if num_reg_tokens else None
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, embed_dim))
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, qkv_bias) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self._init_weights()

    def _init_weights(self):
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        if self.reg_token is not None:
            nn.init.trunc_normal_(self.reg_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def grid_size(self, h: int, w: int) -> tuple[int, int]:
        return h // self.patch_size, w // self.patch_size

    def interpolate_pos_encoding(self, gh: int, gw: int) -> torch.Tensor:
        """Position embeddings for a gh x gw patch grid, bicubic-resized from the trained grid (as DINO)."""
        cls_pos, patch_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        n = int(math.sqrt(patch_pos.shape[1]))
        if (gh, gw) == (n, n):
            return self.pos_embed
        patch_pos = patch_pos.reshape(1, n, n, -1).permute(0, 3, 1, 2)
        patch_pos = F.interpolate(patch_pos.float(), size=(gh, gw), mode="bicubic", align_corners=False)
        patch_pos = patch_pos.to(self.pos_embed.dtype).permute(0, 2, 3, 1).reshape(1, gh * gw, -1)
        return torch.cat([cls_pos, patch_pos], dim=1)

    def prepare_tokens(self, x, keep: torch.Tensor | None = None):
        """Patch tokens plus position, with CLS (and registers) in front.

        `keep` (B, K) indexes the patches to keep (MAE and I-JEPA drop the masked ones here).
        """
        B, _, H, W = x.shape
        gh, gw = self.grid_size(H, W)
        if gh == 0 or gw == 0:
            raise ValueError(f"image {H}x{W} is smaller than one {self.patch_size}px patch")
        pos = self.interpolate_pos_encoding(gh, gw)
        x = self.patch_embed(x) + pos[:, 1:]
        if keep is not None:
            x = torch.gather(x, 1, keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        prefix = [(self.cls_token + pos[:, :1]).expand(B, -1, -1)]
        if self.reg_token is not None:
            prefix.append(self.reg_token.expand(B, -1, -1))
        return torch.cat(prefix + [x], dim=1)

    def check_layer(self, layer: int) -> int:
        """Block index `layer` (negative counts from the end) as 0..depth-1, or a one-line UserError."""
        depth = len(self.blocks)
        if not -depth <= layer < depth:
            raise UserError(f"layer {layer} does not exist: this ViT has blocks 0..{depth - 1} (-1 is the last)")
        return layer % depth

    def forward_intermediates(self, x, layers=(-1,), norm: bool = True, keys: bool = False, attention: bool = False,
                              keep: torch.Tensor | None = None) -> list[dict]:
        """What the blocks in `layers` output, the one feature API every caller uses (after timm's
        `forward_intermediates`). Per requested block, a dict:

        - `tokens` (B, prefix + N, D): every token; `cls` (B, D); `patch` (B, gh, gw, D): the patch tokens
          without CLS and registers on their grid (absent when `keep` drops patches);
        - `keys` (B, gh, gw, D): that block's attention keys, heads concatenated (with `keys`);
        - `attn` (B, heads, T, T): its attention weights (with `attention`; computed explicitly, the
          fused kernel returns none).

        The last block's output goes through the final norm when `norm`; earlier blocks are returned as
        they are (they were never trained to meet it). Blocks after the last requested one are not run.
        """
        B, _, H, W = x.shape
        gh, gw = self.grid_size(H, W)
        wanted = sorted({self.check_layer(i) for i in layers})
        explicit = keys or attention
        out, t = {}, self.prepare_tokens(x, keep)
        for i, blk in enumerate(self.blocks[: wanted[-1] + 1]):
            t, extra = blk(t, explicit and i in wanted)
            if i not in wanted:
                continue
            tokens = self.norm(t) if norm and i == len(self.blocks) - 1 else t
            item = {"tokens": tokens, "cls": tokens[:, 0]}
            if keep is None:
                item["patch"] = tokens[:, self.num_prefix_tokens:].reshape(B, gh, gw, -1)
            if keys:
                k = extra["keys"][:, :, self.num_prefix_tokens:]  # (B, heads, N, d)
                item["keys"] = k.permute(0, 2, 1, 3).reshape(B, gh, gw, -1) if keep is None else k
            if attention:
                item["attn"] = extra["attn"]
            out[i] = item
        return [out[self.check_layer(i)] for i in layers]

    def forward_tokens(self, x, keep=None):
        """Every token (B, prefix + N, D) after the last block and the final norm (the training path of the
        masking methods, which drop patches with `keep`)."""
        return self.forward_intermediates(x, keep=keep)[0]["tokens"]

    def forward(self, x):
        """The image embedding: the normalised CLS token (B, D)."""
        return self.forward_tokens(x)[:, 0]


SIZES = {  # timm's names
    "tiny": dict(embed_dim=192, depth=12, num_heads=3),
    "small": dict(embed_dim=384, depth=12, num_heads=6),
    "base": dict(embed_dim=768, depth=12, num_heads=12),
    # A classroom size: trains at about 120 images/s at 32 px with bfloat16 on a 2-core CPU.
    "mini": dict(embed_dim=192, depth=6, num_heads=3),
}
