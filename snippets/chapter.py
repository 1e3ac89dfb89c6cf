"""Code of the chapter page, one section per block. Each section runs on its own, as a reader copies it.

`#>` lines are what the line above prints; tests/test_snippets.py checks them, and
`pytest tests/test_snippets.py --update-outputs` rewrites them after an intended change.
"""

# --8<-- [start:network]
import torch
from torch import nn

torch.manual_seed(0)  # the layers draw their default init at the first call: seed it
net = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(1))
print(net[0])  # no input yet: the layer does not know its input width
#> LazyLinear(in_features=0, out_features=8, bias=True)

X = torch.rand(size=(2, 4))
print(net(X).shape)  # the first call infers in_features=4 and creates the weights
#> torch.Size([2, 1])
print(net)
#> Sequential(
#>   (0): Linear(in_features=4, out_features=8, bias=True)
#>   (1): ReLU()
#>   (2): Linear(in_features=8, out_features=1, bias=True)
#> )
# --8<-- [end:network]


# --8<-- [start:normal]
import torch
from paraminit.chapter import init_normal, make_net

torch.manual_seed(0)
net = make_net()
net(torch.rand(2, 4))  # materialize the lazy layers first
net.apply(init_normal)  # calls init_normal on every submodule, then on net itself
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
