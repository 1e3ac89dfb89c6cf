"""Code of the large-models page, one section per block. Each section runs on its own.

`#>` lines are what the line above prints; tests/test_snippets.py checks them, and
`pytest tests/test_snippets.py --update-outputs` rewrites them after an intended change.
The `sharded` section is also run by tests/test_sharded.py as a program on 8 ranks.
"""

# --8<-- [start:meta]
import torch
from torch import nn

with torch.device("meta"):
    model = nn.Sequential(*[nn.Linear(4096, 4096) for _ in range(6)])
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")
#> 100,687,872 parameters
print(model[0].weight)
#> Parameter containing:
#> tensor(..., device='meta', size=(4096, 4096), requires_grad=True)
# --8<-- [end:meta]


# --8<-- [start:to_empty]
import functools
import textwrap

import torch
from torch import nn
from paraminit import Rule, apply_counter_rules, counter_uniform_

with torch.device("meta"):
    model = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 1))
model.to_empty(device=torch.get_default_device())  # memory, not values
uniform = functools.partial(counter_uniform_, a=-0.5, b=0.5)
rules = [Rule(uniform, module=nn.Linear, param="weight", label="U(-0.5, 0.5)")]
print(apply_counter_rules(model, rules, seed=0))
#> 0.weight  (4, 8)  initialized  U(-0.5, 0.5)
#> 0.bias    (4,)    untouched    -
#> 2.weight  (1, 4)  initialized  U(-0.5, 0.5)
#> 2.bias    (1,)    untouched    -
try:
    apply_counter_rules(model, rules, seed=0, require_all=True)
except ValueError as error:
    print(textwrap.fill(str(error), 72))
#> no rule selects ['0.bias', '2.bias']: after to_empty() they hold
#> uninitialized memory. Add a rule for them, or pass require_all=False if
#> they are set elsewhere
# --8<-- [end:to_empty]


# --8<-- [start:skip_init]
from torch import nn
from torch.nn.utils import skip_init
from paraminit import Rule, apply_counter_rules, counter_normal_

layer = skip_init(nn.Linear, 1024, 1024)  # built on meta, then to_empty
rules = [Rule(counter_normal_, param="weight"), Rule(nn.init.zeros_)]
report = apply_counter_rules(layer, rules, seed=0, require_all=True)
print(report.counts())
#> {'counter_normal_ on *.weight': 1, 'zeros_ on *': 1}
# --8<-- [end:skip_init]


# --8<-- [start:sharded]
import os

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from paraminit import Rule, apply_counter_rules, weights_digest
from paraminit import counter_normal_

alone = "RANK" not in os.environ  # torchrun sets RANK in each process
dist.init_process_group(  # alone: a group of one in this process
    store=dist.HashStore() if alone else None,
    rank=0 if alone else -1,
    world_size=1 if alone else -1,
)
device = torch.get_default_device()
mesh = init_device_mesh(device.type, (dist.get_world_size(),))
rules = [Rule(counter_normal_, param="weight"), Rule(nn.init.zeros_)]


def build():
    return nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10))


with torch.device("meta"):
    model = build()
for layer in (model[0], model[2], model):
    fully_shard(layer, mesh=mesh)  # parameters become DTensors, Shard(0)
model.to_empty(device=device)
apply_counter_rules(model, rules, seed=0, require_all=True)
rows = model[0].weight.to_local().shape[0]
digest = weights_digest(model)  # gathers the shards

one_process = build()
apply_counter_rules(one_process, rules, seed=0)
if dist.get_rank() == 0:
    print(f"ranks: {dist.get_world_size()}, rank 0 holds {rows} of 48 rows")
    print("same as one process:", digest == weights_digest(one_process))
#> ranks: 1, rank 0 holds 48 of 48 rows
#> same as one process: True
dist.destroy_process_group()
# --8<-- [end:sharded]


# --8<-- [start:streams]
import torch
from torch import nn
from paraminit import Rule, apply_counter_rules, weights_digest
from paraminit import counter_normal_


def build():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


rules = [Rule(counter_normal_, param="weight"), Rule(nn.init.zeros_)]
plain, compiled = build(), torch.compile(build())
for model in (plain, compiled):
    apply_counter_rules(model, rules, seed=0)
print([name for name, _ in compiled.named_parameters()][0])
#> _orig_mod.0.weight
print("same weights:", weights_digest(compiled) == weights_digest(plain))
#> same weights: True

last = build()[2]  # the last layer on its own, named as in the model
apply_counter_rules(last, rules, seed=0, prefix="2")
print("same layer:", torch.equal(last.weight, plain[2].weight))
#> same layer: True
# --8<-- [end:streams]
