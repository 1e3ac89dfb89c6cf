"""Code of the library page, one section per block. Each section runs on its own.

`#>` lines are what the line above prints; tests/test_snippets.py checks them, and
`pytest tests/test_snippets.py --update-outputs` rewrites them after an intended change.
"""

# --8<-- [start:type_trap]
import torch
from torch import nn
from paraminit.chapter import make_net


def init_constant_by_type(module):  # the original chapter's test
    if type(module) == nn.Linear:
        nn.init.constant_(module.weight, 1.0)


net = make_net()
net.apply(init_constant_by_type)  # before the first call: type() is LazyLinear
net(torch.rand(2, 4))
print((net[0].weight == 1).all())  # the init never ran; nothing said so
#> tensor(False)
# --8<-- [end:type_trap]


# --8<-- [start:type_trap_caught]
import textwrap

import torch
from paraminit import LazyParameterError
from paraminit.chapter import init_constant, make_net

net = make_net()
try:
    net.apply(init_constant)  # isinstance matches, require_materialized stops
except LazyParameterError as error:
    print(textwrap.fill(str(error), 76))
#> LazyLinear has un-materialized parameters ['weight', 'bias']: run the model
#> on an example input (one forward pass) before initializing it

net(torch.rand(2, 4))  # materialize, then it works
net.apply(init_constant)
print((net[0].weight == 1).all())
#> tensor(True)
# --8<-- [end:type_trap_caught]


# --8<-- [start:rules]
import functools

import torch
from torch import nn
from paraminit import Rule, apply_rules
from paraminit.chapter import make_net

torch.manual_seed(0)
net = make_net()  # still lazy: no shapes yet
fill_42 = functools.partial(nn.init.constant_, val=42.0)
rules = [
    Rule(nn.init.xavier_uniform_, module=nn.Linear, param="weight", path="0"),
    Rule(fill_42, module=nn.Linear, param="weight"),
    Rule(nn.init.zeros_, param="bias"),
]
report = apply_rules(net, rules)
print(report)  # nothing to fill yet: every rule waits for the first call
#> 0.weight  (lazy)  deferred     xavier_uniform_ on Linear.weight at '0'
#> 0.bias    (lazy)  deferred     zeros_ on *.bias
#> 2.weight  (lazy)  deferred     constant_(val=42.0) on Linear.weight
#> 2.bias    (lazy)  deferred     zeros_ on *.bias

net(torch.rand(2, 4))  # materializes each layer, runs its rules, computes
print(net[2].weight.data, net[2].bias.data)
#> tensor([[42., 42., 42., 42., 42., 42., 42., 42.]]) tensor([0.])
for label, count in report.counts().items():
    print(count, label)
#> 1 xavier_uniform_ on Linear.weight at '0'
#> 2 zeros_ on *.bias
#> 1 constant_(val=42.0) on Linear.weight
# --8<-- [end:rules]


# --8<-- [start:unused_rule]
import textwrap

import torch
from torch import nn
from paraminit import Rule, apply_rules
from paraminit.chapter import make_net

net = make_net()
net(torch.rand(2, 4))
typo = Rule(nn.init.zeros_, module=nn.Linear, param="weights")
try:  # a pattern that selects nothing is an error, not a no-op
    apply_rules(net, [typo])
except ValueError as error:
    print(textwrap.fill(str(error), 76))
#> rule(s) matched no parameter of Sequential: ['zeros_ on Linear.weights'].
#> Check the module type, the param and path patterns, or pass
#> allow_unused=True
# --8<-- [end:unused_rule]


# --8<-- [start:data_vs_no_grad]
import textwrap

import torch

x = torch.ones(3, requires_grad=True)
y = torch.sigmoid(x)  # backward needs y: dy/dx = y * (1 - y)
y.data.zero_()  # invisible to autograd
y.sum().backward()
print(x.grad)  # silently wrong: the true gradient is 0.1966 each
#> tensor([0., 0., 0.])

x = torch.ones(3, requires_grad=True)
y = torch.sigmoid(x)
with torch.no_grad():
    y.zero_()  # not recorded, but autograd sees that y changed
try:
    y.sum().backward()
except RuntimeError as error:
    print(textwrap.fill(str(error).split(":")[0], 76))
#> one of the variables needed for gradient computation has been modified by an
#> inplace operation
# --8<-- [end:data_vs_no_grad]


# --8<-- [start:inverse_cdf]
import torch
from paraminit import Mixture

chapter = Mixture()  # inner=5, outer=10, p_zero=1/2
u = torch.tensor([0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9], dtype=torch.float64)
inverse_cdf = chapter.ppf(u)
uniform_then_shrink = torch.hardshrink(20 * u - 10, 5.0)  # zeroes |w| <= 5
print([round(v, 4) for v in inverse_cdf.tolist()])
#> [-10.0, -8.0, -6.0, 0.0, 0.0, 0.0, 6.0, 8.0]
print(torch.allclose(inverse_cdf, uniform_then_shrink))
#> True
# --8<-- [end:inverse_cdf]


# --8<-- [start:general_mixture]
import torch
from paraminit import Mixture, mixture_

torch.manual_seed(0)
w = mixture_(torch.empty(1_000_000), inner=1.0, outer=3.0, p_zero=0.2)
nonzero = w[w != 0].abs()
print(f"zeros {(w == 0).double().mean():.4f}, "
      f"|w| in [{nonzero.min():.4f}, {nonzero.max():.4f}]")
#> zeros 0.1998, |w| in [1.0000, 3.0000]
print(f"variance {w.double().var():.4f}, "
      f"closed form {Mixture(1.0, 3.0, 0.2).var:.4f}")
#> variance 3.4662, closed form 3.4667
# --8<-- [end:general_mixture]


# --8<-- [start:seeded]
import torch
from paraminit import counter_mixture_

w = counter_mixture_(torch.empty(4096, 4096), seed=0, stream="w")
rows = torch.empty(16, 4096)  # rows 100 to 115 of the same fill, on their own
counter_mixture_(
    rows, seed=0, stream="w", global_shape=(4096, 4096), global_offset=(100, 0)
)
print(torch.equal(rows, w[100:116]))
#> True
print(f"zeros {(w == 0).double().mean():.4f}")
#> zeros 0.5002
# --8<-- [end:seeded]


# --8<-- [start:tied_weights]
from torch import nn
from paraminit import Rule, apply_rules

embed = nn.Embedding(10, 4)
head = nn.Linear(4, 10, bias=False)
head.weight = embed.weight  # tied: one tensor, two names
model = nn.ModuleDict({"embed": embed, "head": head})
report = apply_rules(model, [Rule(nn.init.zeros_, param="weight")])
print(report)
#> embed.weight  (10, 4)  initialized  zeros_ on *.weight  (tied: head.weight)
try:  # a rule for each name of one tensor: only one could take effect
    apply_rules(
        model,
        [Rule(nn.init.ones_, module=nn.Embedding), Rule(nn.init.zeros_)],
    )
except ValueError as error:
    print(str(error)[:75])
#> parameter 'embed.weight' is tied to 'head.weight' (one tensor), and differe
# --8<-- [end:tied_weights]


# --8<-- [start:checkpoint_wins]
import copy

import torch
from torch import nn
from paraminit import Rule, apply_rules, pending_inits

torch.manual_seed(0)
trained = nn.Sequential(nn.Linear(4, 3))
model = nn.Sequential(nn.LazyLinear(3))
apply_rules(model, [Rule(nn.init.zeros_)])
twin = copy.deepcopy(model)  # carries its own pending rules
print(pending_inits(twin))
#> {'0.weight': 'zeros_ on *', '0.bias': 'zeros_ on *'}
model.load_state_dict(trained.state_dict())  # the checkpoint wins
print(pending_inits(model))
#> {}
model(torch.rand(2, 4))
twin(torch.rand(2, 4))
print(torch.equal(model[0].weight, trained[0].weight))
#> True
print((twin[0].weight == 0).all())
#> tensor(True)
# --8<-- [end:checkpoint_wins]
