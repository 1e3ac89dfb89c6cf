"""GPT-2's initialization as rules, a small GPT-2-style model, and the scale of its residual stream.

GPT-2 (Radford et al., 2019) draws every linear and embedding weight from N(0, 0.02^2), sets the
biases to zero and the LayerNorms to the identity (gain 1, shift 0), and draws the weights of the
projections that write into the residual stream with their standard deviation divided by
sqrt(N), N = 2 n_layer residual branches (one attention and one MLP branch per block). nanoGPT
and Hugging Face's `GPT2Model` apply that last rule to every weight named `c_proj.weight`.

[gpt2_rules][paraminit.gpt2.gpt2_rules] says all of that as [Rule][paraminit.Rule]s for
[apply_rules][paraminit.apply_rules]; [TinyGPT][paraminit.gpt2.TinyGPT] is a minimal model with
GPT-2's layout and parameter names to apply them to; and
[residual_stream_rms][paraminit.gpt2.residual_stream_rms] measures the root mean square (RMS) of
the residual stream after every block, with and without the 1/sqrt(2 n_layer) scaling.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn
from torch.nn import functional as F

from ._threads import one_thread
from .rules import Rule, apply_rules

__all__ = ["TinyGPT", "gpt2_rules", "residual_stream_rms"]


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def gpt2_rules(n_layer: int, *, std: float = 0.02, scale_residual: bool = True) -> list[Rule]:
    r"""GPT-2's initialization of a model with `n_layer` blocks, as rules for `apply_rules`.

    In priority order: the weight of every `nn.Linear` whose path ends in `c_proj` (the attention
    and MLP output projections, which add into the residual stream) from
    $\mathcal{N}(0, (\text{std} / \sqrt{2\,n_\text{layer}})^2)$; every other `nn.Linear` and
    `nn.Embedding` weight from $\mathcal{N}(0, \text{std}^2)$; `nn.Linear` biases 0; `nn.LayerNorm`
    weight 1 and bias 0. A model that lacks one of these kinds of parameter (no biases, say) needs
    `apply_rules(..., allow_unused=True)`.

    Args:
        n_layer: Number of transformer blocks, each with two residual branches.
        std: Standard deviation of the weights; GPT-2 and BERT use 0.02.
        scale_residual: Divide the `c_proj` weights' standard deviation by $\sqrt{2 n_\text{layer}}$
            (GPT-2's rule); `False` draws them with `std` like every other weight.

    Returns:
        A list of [Rule][paraminit.Rule]s.

    Raises:
        ValueError: `n_layer` is not a positive integer or `std` not a finite number > 0.

    Example:
        ```python
        from paraminit import apply_rules
        from paraminit.gpt2 import TinyGPT, gpt2_rules

        model = TinyGPT(n_layer=2, n_embd=32, n_head=2)
        report = apply_rules(model, gpt2_rules(n_layer=2))
        assert report.names("untouched") == []
        assert abs(float(model.blocks[0].mlp.c_proj.weight.detach().std()) - 0.01) < 0.002
        ```
    """
    _check_positive_int("n_layer", n_layer)
    if isinstance(std, bool) or not isinstance(std, (int, float)) or not (math.isfinite(std) and std > 0):
        raise ValueError(f"std must be a finite number > 0, got {std!r}")
    residual_std = std / math.sqrt(2 * n_layer) if scale_residual else std
    residual_label = f"normal_(std={std:g}/sqrt(2*{n_layer}))" if scale_residual else f"normal_(std={std:g})"
    return [
        Rule(
            functools.partial(nn.init.normal_, mean=0.0, std=residual_std),
            module=nn.Linear,
            param="weight",
            path="*c_proj",
            label=f"{residual_label} on *c_proj.weight",
        ),
        Rule(
            functools.partial(nn.init.normal_, mean=0.0, std=std),
            module=(nn.Linear, nn.Embedding),
            param="weight",
            label=f"normal_(std={std:g}) on Linear/Embedding.weight",
        ),
        Rule(nn.init.zeros_, module=nn.Linear, param="bias"),
        Rule(nn.init.ones_, module=nn.LayerNorm, param="weight"),
        Rule(nn.init.zeros_, module=nn.LayerNorm, param="bias"),
    ]


class _CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, device=None) -> None:
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, device=device)
        self.c_proj = nn.Linear(n_embd, n_embd, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.c_attn(x).split(width, dim=2)
        q, k, v = (t.view(batch, length, self.n_head, -1).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(batch, length, width))


class _MLP(nn.Module):
    def __init__(self, n_embd: int, device=None) -> None:
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, device=device)
        self.c_proj = nn.Linear(4 * n_embd, n_embd, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x)))


class _Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, device=None) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, device=device)
        self.attn = _CausalSelfAttention(n_embd, n_head, device=device)
        self.ln_2 = nn.LayerNorm(n_embd, device=device)
        self.mlp = _MLP(n_embd, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))  # residual branch 1
        return x + self.mlp(self.ln_2(x))  # residual branch 2


class TinyGPT(nn.Module):
    """A GPT-2-style language model, small: pre-LayerNorm blocks of causal self-attention and an MLP.

    The layout and parameter names follow GPT-2 as nanoGPT writes it (`wte`, `wpe`, `blocks.<i>.ln_1`,
    `attn.c_attn`, `attn.c_proj`, `ln_2`, `mlp.c_fc`, `mlp.c_proj`, `ln_f`, `lm_head`), with the
    output layer tied to the token embedding. It is built with PyTorch's default initialization;
    apply [gpt2_rules][paraminit.gpt2.gpt2_rules] to give it GPT-2's.

    Args:
        vocab_size: Number of tokens.
        block_size: Longest sequence (rows of the position embedding).
        n_layer: Number of blocks.
        n_head: Attention heads; must divide `n_embd`.
        n_embd: Width of the residual stream.
        device: Where to build the parameters (`"meta"` builds shapes only).

    Raises:
        ValueError: a size that is not a positive integer, or `n_head` that does not divide `n_embd`.
    """

    def __init__(
        self,
        vocab_size: int = 512,
        block_size: int = 64,
        n_layer: int = 4,
        n_head: int = 4,
        n_embd: int = 128,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        for name, value in (
            ("vocab_size", vocab_size),
            ("block_size", block_size),
            ("n_layer", n_layer),
            ("n_head", n_head),
            ("n_embd", n_embd),
        ):
            _check_positive_int(name, value)
        if n_embd % n_head:
            raise ValueError(f"n_head must divide n_embd, got n_head={n_head} and n_embd={n_embd}")
        self.wte = nn.Embedding(vocab_size, n_embd, device=device)
        self.wpe = nn.Embedding(block_size, n_embd, device=device)
        self.blocks = nn.ModuleList(_Block(n_embd, n_head, device=device) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, device=device)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False, device=device)
        self.lm_head.weight = self.wte.weight  # tied, as in GPT-2

    def residual_stream(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """The residual stream after the embeddings (index 0) and after each block (1 .. n_layer)."""
        if idx.dim() != 2 or idx.shape[1] > self.wpe.num_embeddings:
            raise ValueError(
                f"idx must be (batch, length) with length <= {self.wpe.num_embeddings}, "
                f"got shape {tuple(idx.shape)}"
            )
        positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(positions)
        stream = [x]
        for block in self.blocks:
            x = block(x)
            stream.append(x)
        return stream

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits of the next token at every position, `(batch, length, vocab_size)`."""
        return self.lm_head(self.ln_f(self.residual_stream(idx)[-1]))


@functools.lru_cache(maxsize=32)
def residual_stream_rms(
    n_layer: int,
    *,
    scale_residual: bool = True,
    std: float = 0.02,
    n_embd: int = 128,
    n_head: int = 4,
    length: int = 32,
    batch: int = 4,
    vocab_size: int = 512,
    seed: int = 0,
) -> tuple[float, ...]:
    """RMS of a `TinyGPT`'s residual stream, initialized by `gpt2_rules`, after every block.

    The model is built on the CPU and initialized by
    `apply_rules(model, gpt2_rules(n_layer, std=std, scale_residual=...))`; then a batch of random
    tokens goes through it. Everything is seeded and runs on the CPU in float32, so
    the same arguments give the same numbers on every machine of one CPU kind (cached). It runs on
    one CPU thread, whatever `torch.get_num_threads()` says, and sets that back afterwards: the
    numbers do not depend on the thread count, and the many small operations of a narrow model do
    not wait for a second thread (on a busy machine, two threads took five times as long).

    Args:
        n_layer: Number of blocks.
        scale_residual: GPT-2's 1/sqrt(2 n_layer) on the `c_proj` weights, or not.
        std: Standard deviation of the weights.
        n_embd: Width of the stream.
        n_head: Attention heads.
        length: Tokens per sequence.
        batch: Sequences.
        vocab_size: Number of tokens.
        seed: Seed of the weights and the tokens.

    Returns:
        `n_layer + 1` values: the RMS over every entry of the stream after the embeddings (index 0)
        and after each block (index `l` for block `l`).

    Raises:
        ValueError: a size that is not a positive integer, or a bad `std`.

    Example:
        ```python
        from paraminit.gpt2 import residual_stream_rms

        scaled = residual_stream_rms(12, n_embd=32, n_head=2, length=8, batch=2)
        assert len(scaled) == 13 and scaled[-1] > scaled[0]  # each block adds to the stream
        ```
    """
    rules = gpt2_rules(n_layer, std=std, scale_residual=scale_residual)
    with one_thread():
        # The CPU generator alone, seeded, and put back as it was: a CUDA generator is not touched.
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            model = TinyGPT(vocab_size, length, n_layer, n_head, n_embd, device="cpu")
            apply_rules(model, rules)
            idx = torch.randint(vocab_size, (batch, length), device="cpu")
        with torch.no_grad():
            stream = model.residual_stream(idx)
        return tuple(float(x.pow(2).mean().sqrt()) for x in stream)
