"""The fixed model whose counter-based init every device must reproduce, and its pinned digest.

Three layers in three dtypes (float32, float64, bfloat16), each weight from another counter
sampler, biases from a constant and zeros: every rounding path of `paraminit.counter` takes part.
`scripts/device_run.py` records its digest on the device it tests, and
`tests/test_devices.py` fails when a device gives anything but `PINNED_DIGEST`, the CPU's.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from paraminit import (
    Rule,
    apply_counter_rules,
    counter_mixture_,
    counter_normal_,
    counter_uniform_,
    weights_digest,
)

SEED = 2024
PINNED_DIGEST = "2dcd1ac79365ac847b7b1d9246c5566b7dba3da12f970996cf61027a6c984b50"
"""`weights_digest(reference_model("cpu"))`, as computed on the CPU."""


def reference_model(device: torch.device | str) -> nn.Module:
    model = nn.Sequential(nn.Linear(32, 64), nn.Tanh(), nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10))
    model[2].double()
    model[4].bfloat16()
    model.to(device)
    rules = [
        Rule(functools.partial(counter_uniform_, a=-0.2, b=0.2), path="0", param="weight"),
        Rule(functools.partial(counter_normal_, std=0.05), path="2", param="weight"),
        Rule(counter_mixture_, path="4", param="weight"),
        Rule(functools.partial(nn.init.constant_, val=0.1), path="0", param="bias"),
        Rule(nn.init.zeros_, param="bias"),
    ]
    apply_counter_rules(model, rules, seed=SEED, require_all=True)
    return model


def digest(device: torch.device | str) -> str:
    return weights_digest(reference_model(device))
