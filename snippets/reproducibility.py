"""Code of the reproducibility page, one section per block. Each section runs on its own.

`#>` lines are what the line above prints; tests/test_snippets.py checks them, and
`pytest tests/test_snippets.py --update-outputs` rewrites them after an intended change.
"""

# --8<-- [start:dry_run]
import torch
from paraminit.chapter import make_net


def first_weight(batch):
    torch.manual_seed(0)
    net = make_net()
    net(torch.rand(batch, 4))  # the dry run: draws X, then the default init
    return net[0].weight.detach()


two, three = first_weight(2), first_weight(3)
print(torch.equal(two, three))
#> False
print(two[0, :3], three[0, :3], sep="\n")
#> tensor([-0.0444,  0.1323, -0.1511])
#> tensor([-0.4777, -0.3311, -0.2061])
# --8<-- [end:dry_run]


# --8<-- [start:generator]
import torch
from torch import nn
from paraminit.chapter import make_net


def first_weight(batch):
    torch.manual_seed(0)
    net = make_net()
    net(torch.rand(batch, 4))
    weight = net[0].weight
    g = torch.Generator(weight.device).manual_seed(42)  # its own stream
    return nn.init.normal_(weight, std=0.01, generator=g)


print(torch.equal(first_weight(2), first_weight(3)))
#> True
# --8<-- [end:generator]


# --8<-- [start:devices]
import torch
from paraminit import counter_uniform_

devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
for device in devices:
    torch.manual_seed(0)
    drawn = torch.rand(4, device=device)
    counted = counter_uniform_(
        torch.empty(4, device=device), seed=0, stream="w"
    )
    for name, values in (("torch.rand", drawn), ("counter", counted)):
        print(f"{device:<4} {name:<11}", *(f"{v:.6f}" for v in values))
#> cpu  torch.rand  0.496257 0.768222 0.088477 0.132030
#> cpu  counter     0.144942 0.679623 0.724024 0.286858
# --8<-- [end:devices]


# --8<-- [start:cpu_kinds]
import os
import subprocess
import sys

PROGRAM = """
import hashlib
import torch
from paraminit import counter_normal_

def digest(w):
    raw = bytes(w.view(torch.uint8).flatten().tolist())  # w's bytes
    return hashlib.sha256(raw).hexdigest()[:16]

torch.manual_seed(0)
drawn = torch.nn.init.normal_(torch.empty(64, 64, device="cpu"), std=0.02)
counted = counter_normal_(
    torch.empty(64, 64, device="cpu"), std=0.02, seed=0, stream="w"
)
digests = digest(drawn), digest(counted)
"""
here = {}
exec(PROGRAM, here)  # this process: the best vector instructions of this CPU
env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}  # no vector code
script = PROGRAM + "print(*digests)"
run = subprocess.run(
    [sys.executable, "-c", script], env=env, capture_output=True, text=True
)
there = run.stdout.split()
print("normal_ same bits:        ", here["digests"][0] == there[0])
#> normal_ same bits:         False
print("counter_normal_ same bits:", here["digests"][1] == there[1])
#> counter_normal_ same bits: True
print("counter_normal_ digest:   ", there[1])
#> counter_normal_ digest:    5bbb945805e834a5
# --8<-- [end:cpu_kinds]


# --8<-- [start:answer]
import functools

import torch
from torch import nn
from paraminit import Rule, apply_counter_rules, weights_digest
from paraminit import counter_normal_
from paraminit.chapter import make_net

normal = functools.partial(counter_normal_, std=0.01)
rules = [
    Rule(normal, module=nn.Linear, param="weight"),
    Rule(nn.init.zeros_, param="bias"),
]


def initialized(batch):
    net = make_net()
    net(torch.rand(batch, 4))  # any dry run: the rules draw nothing from it
    apply_counter_rules(net, rules, seed=0)
    return net


two, three = initialized(2), initialized(3)
print(weights_digest(two) == weights_digest(three))
#> True
print(weights_digest(two)[:16])
#> c0b3040dbd474e69
# --8<-- [end:answer]
