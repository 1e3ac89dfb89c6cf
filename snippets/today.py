"""Code of the "Initialization today" page, one section per block. Each section runs alone.

`#>` lines are what the line above prints; tests/test_snippets.py checks them, and
`pytest tests/test_snippets.py --update-outputs` rewrites them after an intended change.
"""

# --8<-- [start:selu]
import torch
from torch import nn


def through_50_layers(activation, nonlinearity="linear", x_std=1.0):
    torch.manual_seed(0)
    x = torch.randn(1024, 256) * x_std
    seen = []
    for layer in range(1, 51):
        w = torch.empty(256, 256)
        nn.init.kaiming_normal_(w, nonlinearity=nonlinearity)
        x = activation(x @ w.T)
        if layer in (1, 10, 50):
            seen.append(f"{x.mean():+.3f} {x.var():#8.3g}")
    return seen


print(f"{'mean, variance at layer':24}{'1':>17}{'10':>17}{'50':>17}")
#> mean, variance at layer                 1               10               50
for name, seen in {
    "SELU, LeCun normal": through_50_layers(torch.selu),
    "SELU, LeCun, Var[x] = 4": through_50_layers(torch.selu, x_std=2.0),
    "SELU, gain 3/4": through_50_layers(torch.selu, "selu"),
    "ReLU, LeCun normal": through_50_layers(torch.relu),
}.items():
    print(f"{name:24}", *seen, sep="  ")
#> SELU, LeCun normal        +0.002     1.00  -0.002    0.966  -0.001    0.998
#> SELU, LeCun, Var[x] = 4   +0.258     2.95  -0.002     1.08  -0.002    0.998
#> SELU, gain 3/4            -0.036    0.635  -0.032   0.0958  -0.032   0.0460
#> ReLU, LeCun normal        +0.400    0.342  +0.012 0.000350  +0.000 3.50e-16
# --8<-- [end:selu]


# --8<-- [start:orthogonal]
import math

import torch
from torch import nn


def product_of_50(init, width=64):
    torch.manual_seed(0)
    product = torch.eye(width, dtype=torch.float64)
    for _ in range(50):
        w = init(torch.empty(width, width, dtype=torch.float64))
        product = w @ product
    return torch.linalg.svdvals(product)


gaussian = product_of_50(lambda w: nn.init.normal_(w, std=1 / math.sqrt(64)))
orthogonal = product_of_50(nn.init.orthogonal_)
for name, s in [("N(0, 1/64)", gaussian), ("orthogonal", orthogonal)]:
    print(f"{name:10}  largest {s.max():#.4g}, smallest {s.min():#.4g}, "
          f"mean square {s.pow(2).mean():.3f}")
#> N(0, 1/64)  largest 5.920, smallest 2.119e-18, mean square 0.662
#> orthogonal  largest 1.000, smallest 1.000, mean square 1.000
# --8<-- [end:orthogonal]


# --8<-- [start:zero_branch]
import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(32, 64)


def branch():  # the residual branch F of x + F(x)
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64))


goyal = nn.Sequential(branch(), nn.BatchNorm1d(64))
nn.init.zeros_(goyal[1].weight)  # gamma of the branch's last BN = 0
fixup = branch()
nn.init.zeros_(fixup[2].weight)  # the branch's last layer = 0
nn.init.zeros_(fixup[2].bias)
rezero, alpha = branch(), nn.Parameter(torch.zeros(()))  # x + alpha F(x)

print("identity at init:",
      torch.equal(x + goyal(x), x),
      torch.equal(x + fixup(x), x),
      torch.equal(x + alpha * rezero(x), x))
#> identity at init: True True True
# --8<-- [end:zero_branch]


# --8<-- [start:zero_grad]
import torch
from torch import nn

torch.manual_seed(0)
branch = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64))
nn.init.zeros_(branch[2].weight)  # Fixup's zero last layer
nn.init.zeros_(branch[2].bias)
x, target = torch.randn(32, 64), torch.randn(32, 64)
optimizer = torch.optim.SGD(branch.parameters(), lr=0.1)
for step in range(2):
    optimizer.zero_grad()
    (x + branch(x) - target).pow(2).mean().backward()
    first, last = branch[0].weight.grad, branch[2].weight.grad
    print(f"step {step}: |grad| first layer {first.norm():.4f}, "
          f"last layer {last.norm():.4f} "
          f"({len(last.unique(dim=0))} different rows)")
    optimizer.step()
#> step 0: |grad| first layer 0.0000, last layer 0.2196 (64 different rows)
#> step 1: |grad| first layer 0.0028, last layer 0.2182 (64 different rows)
# --8<-- [end:zero_grad]


# --8<-- [start:gpt2_rules]
from paraminit import apply_rules
from paraminit.gpt2 import TinyGPT, gpt2_rules

model = TinyGPT(n_layer=12)  # GPT-2's layout, PyTorch's default init
report = apply_rules(model, gpt2_rules(n_layer=12))
for rule, tensors in report.counts().items():
    print(f"{tensors:3} {rule}")
#>  26 normal_(std=0.02) on Linear/Embedding.weight
#>  25 ones_ on LayerNorm.weight
#>  25 zeros_ on LayerNorm.bias
#>  48 zeros_ on Linear.bias
#>  24 normal_(std=0.02/sqrt(2*12)) on *c_proj.weight
mlp = model.blocks[0].mlp
print(f"std of c_fc {mlp.c_fc.weight.std():.4f}, "
      f"of c_proj {mlp.c_proj.weight.std():.4f}")
#> std of c_fc 0.0199, of c_proj 0.0041
# --8<-- [end:gpt2_rules]


# --8<-- [start:residual_stream]
from paraminit.gpt2 import residual_stream_rms

print("blocks L   RMS at the top:  std 0.02   c_proj std 0.02/sqrt(2L)")
#> blocks L   RMS at the top:  std 0.02   c_proj std 0.02/sqrt(2L)
for n_layer in (6, 12, 24, 48):
    plain = residual_stream_rms(n_layer, scale_residual=False)
    scaled = residual_stream_rms(n_layer)
    print(f"{n_layer:8} {plain[-1]:25.3f} {scaled[-1]:25.3f}")
#>        6                     0.159                     0.050
#>       12                     0.233                     0.049
#>       24                     0.331                     0.050
#>       48                     0.451                     0.051
print(f"after the embeddings (both): {scaled[0]:.3f}")
#> after the embeddings (both): 0.028
# --8<-- [end:residual_stream]


# --8<-- [start:trunc_normal]
import torch
from torch import nn

torch.manual_seed(0)
w = torch.empty(1_000_000)
for bounds in [{}, {"a": -0.04, "b": 0.04}]:  # default a=-2, b=2; or 2 sd
    nn.init.trunc_normal_(w, std=0.02, **bounds)
    beyond = (w.abs() > 0.04).float().mean()
    print(f"{bounds or 'defaults'}: std {w.std():.4f}, "
          f"beyond 2 sd {beyond:.2%}")
#> defaults: std 0.0200, beyond 2 sd 4.52%
#> {'a': -0.04, 'b': 0.04}: std 0.0176, beyond 2 sd 0.00%
# --8<-- [end:trunc_normal]


# --8<-- [start:embeddings]
import math

import torch
from torch import nn
from torch.nn import functional as F

from paraminit import apply_rules
from paraminit.gpt2 import TinyGPT, gpt2_rules

torch.manual_seed(0)
table = nn.Embedding(512, 128).weight
print(f"nn.Embedding's default: std {table.std():.3f}")
#> nn.Embedding's default: std 0.999
model = TinyGPT(n_layer=4)  # PyTorch's defaults: N(0, 1) embeddings
tokens = torch.randint(512, (8, 33))


@torch.no_grad()
def first_loss(model):
    logits = model(tokens[:, :-1])  # predict each next token
    return F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())


print(f"loss at step 0: {first_loss(model):.2f}; "
      f"uniform guess: log(512) = {math.log(512):.2f}")
#> loss at step 0: 86.88; uniform guess: log(512) = 6.24
apply_rules(model, gpt2_rules(n_layer=4))
print(f"with std 0.02:  {first_loss(model):.2f}")
#> with std 0.02:  6.29
# --8<-- [end:embeddings]


# --8<-- [start:norm_layers]
import torch
from torch import nn

norms = [nn.LayerNorm(64), nn.BatchNorm1d(64), nn.GroupNorm(8, 64),
         nn.RMSNorm(64)]
for norm in norms:
    bias = getattr(norm, "bias", None)  # RMSNorm has none
    bias = "none" if bias is None else bias.unique().tolist()
    print(f"{type(norm).__name__:11} weight {norm.weight.unique().tolist()}, "
          f"bias {bias}")
#> LayerNorm   weight [1.0], bias [0.0]
#> BatchNorm1d weight [1.0], bias [0.0]
#> GroupNorm   weight [1.0], bias [0.0]
#> RMSNorm     weight [1.0], bias none
torch.manual_seed(0)
y = nn.LayerNorm(64)(torch.randn(32, 64) * 5 + 3)
print("LayerNorm of N(3, 25): every row's mean within 1e-6 of 0:",
      bool(y.mean(1).abs().max() < 1e-6))
#> LayerNorm of N(3, 25): every row's mean within 1e-6 of 0: True
print(f"mean variance of a row {y.var(1, unbiased=False).mean():.4f}")
#> mean variance of a row 1.0000
# --8<-- [end:norm_layers]


# --8<-- [start:mup]
import torch


def change_after_one_step(width, lr):
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(width, width) / width**0.5)
    x, upstream = torch.randn(32, width), torch.randn(32, width)
    before = x @ w.T
    (before * upstream).sum().backward()
    torch.optim.Adam([w], lr=lr).step()
    return (x @ w.T - before).pow(2).mean().sqrt().item()


print("width   lr 1e-3   lr 1e-3 * 64 / width")
#> width   lr 1e-3   lr 1e-3 * 64 / width
for width in (64, 256, 1024):
    print(f"{width:5} {change_after_one_step(width, 1e-3):9.4f} "
          f"{change_after_one_step(width, 1e-3 * 64 / width):14.4f}")
#>    64    0.0120         0.0120
#>   256    0.0397         0.0099
#>  1024    0.1475         0.0092
# --8<-- [end:mup]


# --8<-- [start:lora]
import torch
from torch import nn


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank=4, alpha=8.0):
        super().__init__()
        self.base = base.requires_grad_(False)  # pretrained, frozen
        self.A = nn.Linear(base.in_features, rank, bias=False)  # random
        self.B = nn.Linear(rank, base.out_features, bias=False)
        nn.init.zeros_(self.B.weight)  # B = 0, so B A = 0
        self.scale = alpha / rank

    def forward(self, x):
        return self.base(x) + self.scale * self.B(self.A(x))


torch.manual_seed(0)
base = nn.Linear(64, 64)
adapted = LoRALinear(base)
x = torch.randn(16, 64)
print("same output as the base model:", torch.equal(adapted(x), base(x)))
#> same output as the base model: True
# --8<-- [end:lora]


# --8<-- [start:reset_parameters]
import torch
from torch import nn
from torch.nn.utils import skip_init

torch.manual_seed(0)
built = nn.Linear(256, 128)  # its __init__ ends with reset_parameters()
torch.manual_seed(0)
# memory, no values, on the device that built is on
skipped = skip_init(nn.Linear, 256, 128, device=built.weight.device)
skipped.reset_parameters()  # the default init, drawn now
print(torch.equal(skipped.weight, built.weight),
      torch.equal(skipped.bias, built.bias))
#> True True
# --8<-- [end:reset_parameters]


# --8<-- [start:init_weights]
import torch
from torch import nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 32)
        self.body = nn.Sequential(nn.LayerNorm(32), nn.Linear(32, 32))
        self.gate = nn.Parameter(torch.empty(32))  # a parameter of its own
        self.post_init()  # last: every submodule exists now

    def _init_weights(self, module):  # the model's rules, one module
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def post_init(self):
        self.apply(self._init_weights)  # each submodule, then the model


model = Model()  # model.gate holds whatever torch.empty found
# --8<-- [end:init_weights]


# --8<-- [start:init_rules]
import functools

import torch
from torch import nn

from paraminit import Rule, apply_rules

model = nn.Sequential(nn.Embedding(100, 32), nn.LayerNorm(32),
                      nn.Linear(32, 32))
model.gate = nn.Parameter(torch.empty(32))
normal = functools.partial(nn.init.normal_, std=0.02)
report = apply_rules(model, [
    Rule(normal, module=(nn.Linear, nn.Embedding), param="weight",
         label="normal_(std=0.02)"),
    Rule(nn.init.zeros_, module=(nn.Linear, nn.LayerNorm), param="bias"),
    Rule(nn.init.ones_, module=nn.LayerNorm, param="weight"),
])
print(report)
#> gate      (32,)      untouched    -
#> 0.weight  (100, 32)  initialized  normal_(std=0.02)
#> 1.weight  (32,)      initialized  ones_ on LayerNorm.weight
#> 1.bias    (32,)      initialized  zeros_ on Linear/LayerNorm.bias
#> 2.weight  (32, 32)   initialized  normal_(std=0.02)
#> 2.bias    (32,)      initialized  zeros_ on Linear/LayerNorm.bias
# --8<-- [end:init_rules]


# --8<-- [start:ex_lora_zero]
import torch


def adapt(a_zero, b_zero, steps=100, lr=0.5):
    torch.manual_seed(0)
    w0 = torch.randn(64, 64) / 8  # pretrained, frozen
    change = torch.randn(64, 4) @ torch.randn(4, 64) / 16  # rank 4
    x = torch.randn(256, 64)
    y = x @ (w0 + change).T  # what the adapted layer should compute
    a = torch.zeros(4, 64) if a_zero else torch.randn(4, 64) / 8
    b = torch.zeros(64, 4) if b_zero else torch.randn(64, 4) / 2
    a.requires_grad_()
    b.requires_grad_()
    for step in range(steps + 1):
        loss = (x @ (w0 + b @ a).T - y).pow(2).mean()
        grad_a, grad_b = torch.autograd.grad(loss, (a, b))
        if step == 0:
            start = (f"{loss:8.4f} {grad_a.norm():8.4f} "
                     f"{grad_b.norm():8.4f}")
        with torch.no_grad():
            a -= lr * grad_a
            b -= lr * grad_b
    return f"{start} {loss:10.4f}"


print("               step 0: loss  |grad A|  |grad B|  loss at 100")
#>                step 0: loss  |grad A|  |grad B|  loss at 100
for name, a_zero, b_zero in [("B = 0 (LoRA)", False, True),
                             ("A = 0", True, False),
                             ("both 0", True, True),
                             ("neither 0", False, False)]:
    print(f"{name:12}", adapt(a_zero, b_zero), sep="   ")
#> B = 0 (LoRA)     0.9297   0.0000   0.0552     0.0527
#> A = 0            0.9297   0.2190   0.0000     0.4329
#> both 0           0.9297   0.0000   0.0000     0.9297
#> neither 0        1.6699   0.9960   0.2024     0.4436
# --8<-- [end:ex_lora_zero]


# --8<-- [start:ex_residual_scale]
import math

from paraminit.gpt2 import residual_stream_rms

six = residual_stream_rms(6, scale_residual=False)
per_branch = (six[-1] ** 2 - six[0] ** 2) / 12  # what one branch adds
for scaled in (False, True):
    added = per_branch if scaled else 96 * per_branch  # 48 blocks
    predicted = math.sqrt(six[0] ** 2 + added)
    measured = residual_stream_rms(48, scale_residual=scaled)[-1]
    print(f"48 blocks, scaled={scaled!s:5}: predicted {predicted:.3f}, "
          f"measured {measured:.3f}")
#> 48 blocks, scaled=False: predicted 0.442, measured 0.451
#> 48 blocks, scaled=True : predicted 0.053, measured 0.051
# --8<-- [end:ex_residual_scale]
