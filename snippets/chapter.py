"""Code of the chapter page, one section per block. Each section runs on its own, as a reader copies it.

`#>` lines are what the line above prints; tests/test_snippets.py checks them, and
`pytest tests/test_snippets.py --update-outputs` rewrites them after an intended change.
"""

# --8<-- [start:network]
import torch
from torch import nn

torch.manual_seed(0)  # the default init is drawn at the first call
net = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(1))
print(net[0])  # no input yet: the layer does not know its input width
#> LazyLinear(in_features=0, out_features=8, bias=True)

X = torch.rand(size=(2, 4))
print(net(X).shape)  # infers in_features=4, creates the weights
#> torch.Size([2, 1])
print(net)
#> Sequential(
#>   (0): Linear(in_features=4, out_features=8, bias=True)
#>   (1): ReLU()
#>   (2): Linear(in_features=8, out_features=1, bias=True)
#> )
# --8<-- [end:network]


# --8<-- [start:default_init]
import math

import torch
from torch import nn

torch.manual_seed(0)
layer = nn.Linear(1000, 500)  # any nn.Linear starts with PyTorch's default
bound = 1 / math.sqrt(layer.in_features)
print(f"bound 1/sqrt(fan_in) = {bound:.4f}")
#> bound 1/sqrt(fan_in) = 0.0316
print(f"max |weight| {layer.weight.abs().max():.4f}, "
      f"max |bias| {layer.bias.abs().max():.4f}")
#> max |weight| 0.0316, max |bias| 0.0316
print(f"std of the weights {layer.weight.std():.5f}, "
      f"bound / sqrt(3) = {bound / math.sqrt(3):.5f}")
#> std of the weights 0.01826, bound / sqrt(3) = 0.01826
# --8<-- [end:default_init]


# --8<-- [start:normal]
import torch
from paraminit.chapter import init_normal, make_net

torch.manual_seed(0)
net = make_net()
net(torch.rand(2, 4))  # materialize the lazy layers first
net.apply(init_normal)  # on every submodule, then on net itself
print(net[0].weight.data[0], net[0].bias.data[0])
#> tensor([-0.0045, -0.0057, -0.0056,  0.0059]) tensor(0.)
# --8<-- [end:normal]


# --8<-- [start:constant]
import torch
from paraminit.chapter import init_constant, make_net

net = make_net()
net(torch.rand(2, 4))
net.apply(init_constant)
print(net[0].weight.data[0], net[0].bias.data[0])
#> tensor([1., 1., 1., 1.]) tensor(0.)
# --8<-- [end:constant]


# --8<-- [start:per_layer]
import torch
from paraminit.chapter import init_42, init_xavier, make_net

torch.manual_seed(0)
net = make_net()
net(torch.rand(2, 4))
net[0].apply(init_xavier)  # apply() on one layer touches that layer only
net[2].apply(init_42)
print(net[0].weight.data[0])
#> tensor([-0.5482, -0.4901, -0.3653,  0.3199])
print(net[2].weight.data)
#> tensor([[42., 42., 42., 42., 42., 42., 42., 42.]])
# --8<-- [end:per_layer]


# --8<-- [start:my_init]
import torch
from torch import nn
from paraminit.chapter import make_net


def my_init(module):  # the original chapter's code, unchanged
    if type(module) == nn.Linear:
        print("Init", *[(name, param.shape)
                        for name, param in module.named_parameters()][0])
        nn.init.uniform_(module.weight, -10, 10)
        module.weight.data *= module.weight.data.abs() >= 5


torch.manual_seed(0)
net = make_net()
net(torch.rand(2, 4))  # materialized: type(net[0]) is nn.Linear now
net.apply(my_init)
#> Init weight torch.Size([8, 4])
#> Init weight torch.Size([1, 8])
print(net[0].weight[:2])
#> tensor([[-7.7531, -6.9309, -5.1658,  0.0000],
#>         [ 0.0000, -5.9235,  0.0000,  5.4897]], grad_fn=<SliceBackward0>)
# --8<-- [end:my_init]


# --8<-- [start:mixture]
import torch
from paraminit.chapter import init_mixture, make_net

torch.manual_seed(0)
net = make_net()
net(torch.rand(2, 4))
net.apply(init_mixture)
print(net[0].weight[:2])
#> tensor([[-7.7531, -6.9309, -5.1658,  0.0000],
#>         [ 0.0000, -5.9235,  0.0000,  5.4897]], grad_fn=<SliceBackward0>)
# --8<-- [end:mixture]


# --8<-- [start:mixture_report]
import torch
from torch import nn
from paraminit import Rule, apply_rules, mixture_
from paraminit.chapter import make_net

torch.manual_seed(0)
net = make_net()
net(torch.rand(2, 4))
report = apply_rules(net, [Rule(mixture_, module=nn.Linear, param="weight")])
print(report)
#> 0.weight  (8, 4)  initialized  mixture_ on Linear.weight
#> 0.bias    (8,)    untouched    -
#> 2.weight  (1, 8)  initialized  mixture_ on Linear.weight
#> 2.bias    (1,)    untouched    -
# --8<-- [end:mixture_report]


# --8<-- [start:direct]
import torch
from paraminit.chapter import init_constant, make_net

net = make_net()
net(torch.rand(2, 4))
net.apply(init_constant)  # every weight 1, so the result is easy to read
net[0].weight.data[:] += 1
net[0].weight.data[0, 0] = 42
print(net[0].weight.data[0])
#> tensor([42.,  2.,  2.,  2.])
# --8<-- [end:direct]


# --8<-- [start:direct_no_grad]
import torch
from paraminit.chapter import init_constant, make_net

net = make_net()
net(torch.rand(2, 4))
net.apply(init_constant)
with torch.no_grad():  # what the library does instead of .data
    net[0].weight += 1
    net[0].weight[0, 0] = 42
print(net[0].weight[0])
#> tensor([42.,  2.,  2.,  2.], grad_fn=<SelectBackward0>)
# --8<-- [end:direct_no_grad]


# --8<-- [start:ex_builtin]
import inspect
import math

import torch
from torch import nn

found = sorted(name for name in dir(nn.init)
               if name.endswith("_") and not name.startswith("_"))
arguments = {name: inspect.signature(getattr(nn.init, name)).parameters
             for name in found}
print("take a gain:", [n for n in found if "gain" in arguments[n]])
#> take a gain: ['orthogonal_', 'xavier_normal_', 'xavier_uniform_']
print("take a nonlinearity:",
      [n for n in found if "nonlinearity" in arguments[n]])
#> take a nonlinearity: ['kaiming_normal_', 'kaiming_uniform_']

torch.manual_seed(0)
relu_gain = nn.init.calculate_gain("relu")  # sqrt(2)
for fan_in, fan_out in [(256, 256), (512, 256)]:
    w = torch.empty(fan_out, fan_in)
    normal = nn.init.normal_(w, std=math.sqrt(2 / fan_in)).var()
    xavier = nn.init.xavier_normal_(w, gain=relu_gain).var()
    kaiming = nn.init.kaiming_normal_(w, nonlinearity="relu").var()
    print(f"{fan_in} -> {fan_out}, 2 / fan_in = {2 / fan_in:.5f}:")
    print(f"  normal_ {normal:.5f}, xavier_normal_ {xavier:.5f}, "
          f"kaiming_normal_ {kaiming:.5f}")
#> 256 -> 256, 2 / fan_in = 0.00781:
#>   normal_ 0.00779, xavier_normal_ 0.00788, kaiming_normal_ 0.00777
#> 512 -> 256, 2 / fan_in = 0.00391:
#>   normal_ 0.00391, xavier_normal_ 0.00523, kaiming_normal_ 0.00389
# --8<-- [end:ex_builtin]


# --8<-- [start:ex_he]
import torch

torch.manual_seed(0)
z = torch.randn(1_000_000, dtype=torch.float64)  # symmetric around 0
print(f"E[z^2] = {z.pow(2).mean():.4f}, "
      f"E[relu(z)^2] = {z.relu().pow(2).mean():.4f}")
#> E[z^2] = 0.9978, E[relu(z)^2] = 0.4985

n = 512  # fan_in
h = torch.randn(2048, n, dtype=torch.float64).relu()  # a ReLU layer's output
w = torch.randn(n, n, dtype=torch.float64) * (2 / n) ** 0.5  # He: 2 / n_in
out = (h @ w.T).relu()
print(f"E[h^2] in {h.pow(2).mean():.4f}, out {out.pow(2).mean():.4f}")
#> E[h^2] in 0.5016, out 0.4985
# --8<-- [end:ex_he]


# --8<-- [start:ex_type_mha]
from torch import nn

attention = nn.MultiheadAttention(embed_dim=8, num_heads=2)
print([name for name, m in attention.named_modules()
       if type(m) == nn.Linear])
#> []
print([name for name, m in attention.named_modules()
       if isinstance(m, nn.Linear)])
#> ['out_proj']
print(type(attention.out_proj).__name__, "is a subclass of nn.Linear:",
      issubclass(type(attention.out_proj), nn.Linear))
#> NonDynamicallyQuantizableLinear is a subclass of nn.Linear: True
print([name for name, _ in attention.named_parameters()
       if name.endswith("proj_weight")])  # one input projection
#> ['in_proj_weight']
other = nn.MultiheadAttention(embed_dim=8, num_heads=2, kdim=4, vdim=6)
print([name for name, _ in other.named_parameters()
       if name.endswith("proj_weight")])  # three
#> ['q_proj_weight', 'k_proj_weight', 'v_proj_weight']
# --8<-- [end:ex_type_mha]


# --8<-- [start:ex_lazy_batch]
import torch
from paraminit.chapter import init_normal, make_net


def first_weight(batch_size, batch_generator=None, then=None):
    torch.manual_seed(0)
    net = make_net()
    X = torch.rand(batch_size, 4, generator=batch_generator)
    net(X)  # the lazy layers draw their default init now
    if then == "reseed":
        torch.manual_seed(1)
    if then in ("init", "reseed"):
        net.apply(init_normal)  # an explicit init after the dry run
    return net[0].weight.detach().clone()


print(torch.equal(first_weight(2), first_weight(2)))
#> True
print(torch.equal(first_weight(2), first_weight(3)))
#> False
print(torch.equal(first_weight(2, then="init"),
                  first_weight(3, then="init")))
#> False
print(torch.equal(first_weight(2, then="reseed"),
                  first_weight(3, then="reseed")))
#> True
own = [torch.Generator().manual_seed(1) for _ in range(2)]
print(torch.equal(first_weight(2, own[0]), first_weight(3, own[1])))
#> True
# --8<-- [end:ex_lazy_batch]


# --8<-- [start:ex_trunc_normal]
import math

import torch
from torch import nn

torch.manual_seed(0)
w = nn.init.trunc_normal_(torch.empty(256, 256), std=0.01)
print(f"max |w| {w.abs().max():.4f}")  # a=-2, b=2: nothing was cut
#> max |w| 0.0456


def init_trunc_normal(module, std=0.01):
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
        nn.init.zeros_(module.bias)


layer = nn.Linear(256, 256)
layer.apply(init_trunc_normal)
phi = math.exp(-2**2 / 2) / math.sqrt(2 * math.pi)  # density at 2
mass = math.erf(2 / math.sqrt(2))  # P(|z| < 2)
print(f"max |w| {layer.weight.abs().max():.4f}, "
      f"std {layer.weight.std():.5f}, "
      f"expected {0.01 * math.sqrt(1 - 2 * 2 * phi / mass):.5f}")
#> max |w| 0.0200, std 0.00880, expected 0.00880
# --8<-- [end:ex_trunc_normal]


# --8<-- [start:ex_constant_grad]
import torch
from paraminit.chapter import init_constant, make_net

torch.manual_seed(0)
net = make_net()
X, y = torch.rand(16, 4), torch.rand(16, 1)
net(X)
net.apply(init_constant)
for _ in range(100):  # gradient descent, step size 0.01
    net.zero_grad()
    (net(X) - y).pow(2).mean().backward()
    with torch.no_grad():
        for param in net.parameters():
            param.add_(param.grad, alpha=-0.01)
grad, weight = net[0].weight.grad, net[0].weight
print(grad[:3])  # the first 3 of 8 hidden units
#> tensor([[-0.0023, -0.0019,  0.0002, -0.0007],
#>         [-0.0023, -0.0019,  0.0002, -0.0007],
#>         [-0.0023, -0.0019,  0.0002, -0.0007]])
print("all rows equal:", bool((grad == grad[0]).all()),
      bool((weight == weight[0]).all()))
#> all rows equal: True True
# --8<-- [end:ex_constant_grad]


# --8<-- [start:ex_dropout]
import torch
from torch import nn
from paraminit.chapter import init_constant

torch.manual_seed(0)
net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5),
                    nn.Linear(8, 1))
net.apply(init_constant)
X, y = torch.rand(16, 4), torch.rand(16, 1)
(net(X) - y).pow(2).mean().backward()  # training mode: dropout is on
grad = net[0].weight.grad
print("all rows equal:", bool((grad == grad[0]).all()))
#> all rows equal: False
# --8<-- [end:ex_dropout]


# --8<-- [start:ex_xavier_bound]
import math

import torch
from torch import nn

torch.manual_seed(0)
a, n = math.sqrt(6 / 400), 300 * 100
gaps = []
for _ in range(200):  # 200 layers: the average gap below the bound
    w = nn.init.xavier_uniform_(torch.empty(100, 300))
    gaps.append(a - w.abs().max().item())
print(f"mean gap {sum(gaps) / len(gaps):.2e}, a / (n + 1) = {a / (n + 1):.2e}")
#> mean gap 4.40e-06, a / (n + 1) = 4.08e-06


def ks_distance(x, a):  # largest gap between x's CDF and U(-a, a)'s
    x = x.flatten().sort().values
    cdf = ((x + a) / (2 * a)).clamp(0, 1)
    steps = torch.arange(1, len(x) + 1) / len(x)
    return max((steps - cdf).max().item(),
               (cdf - (steps - 1 / len(x))).max().item())


normal = torch.randn(100, 300) * a / math.sqrt(3)  # the same variance
print(f"uniform: max |w| / a {w.abs().max() / a:.4f}, "
      f"KS distance {ks_distance(w, a):.4f}")
#> uniform: max |w| / a 1.0000, KS distance 0.0042
print(f"normal:  max |w| / a {normal.abs().max() / a:.4f}, "
      f"KS distance {ks_distance(normal, a):.4f}")
#> normal:  max |w| / a 2.7310, KS distance 0.0595
print(f"1% critical value of the KS distance: {1.63 / math.sqrt(n):.4f}")
#> 1% critical value of the KS distance: 0.0094
# --8<-- [end:ex_xavier_bound]


# --8<-- [start:ex_mixture_draws]
import math

import torch
from paraminit import Mixture, mixture_

a, b, p, n = 5, 10, 0.5, 1_000_000
var = (1 - p) * (a**2 + a * b + b**2) / 3  # E[w^2]: E[w] = 0
fourth = (1 - p) * (b**5 - a**5) / (5 * (b - a))  # E[w^4]
var_error = math.sqrt((fourth - var**2) / n)  # standard errors
zeros_error = math.sqrt(p * (1 - p) / n)
print(f"derived: variance {var:.3f} +- {var_error:.3f}, "
      f"zeros {p} +- {zeros_error:.4f}")
#> derived: variance 29.167 +- 0.033, zeros 0.5 +- 0.0005
print(f"closed form of paraminit.Mixture(): variance {Mixture().var:.3f}")
#> closed form of paraminit.Mixture(): variance 29.167

torch.manual_seed(0)
w = mixture_(torch.empty(n)).double()
print(f"drawn:   variance {w.var():.3f}, zeros {(w == 0).double().mean():.4f}")
#> drawn:   variance 29.155, zeros 0.4997
# --8<-- [end:ex_mixture_draws]
