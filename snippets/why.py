"""Code of the "Why initialization matters" page, one section per block. Each section runs alone.

`#>` lines are what the line above prints; tests/test_snippets.py checks them, and
`pytest tests/test_snippets.py --update-outputs` rewrites them after an intended change.
"""

# --8<-- [start:forward]
import torch

torch.manual_seed(0)
n_in, n_out, sigma = 256, 128, 0.05
W = torch.randn(n_out, n_in, dtype=torch.float64) * sigma
x = torch.randn(8192, n_in, dtype=torch.float64) * 2.0  # Var[x] = 4
o = x @ W.T
print(f"Var[o] = {o.var():.3f}, "
      f"n_in sigma^2 Var[x] = {n_in * sigma**2 * 4.0:.3f}")
#> Var[o] = 2.596, n_in sigma^2 Var[x] = 2.560
# --8<-- [end:forward]


# --8<-- [start:backward]
import torch

torch.manual_seed(0)
n_in, n_out, sigma = 256, 128, 0.05
W = torch.randn(n_out, n_in, dtype=torch.float64) * sigma
x = torch.randn(8192, n_in, dtype=torch.float64, requires_grad=True)
g = torch.randn(8192, n_out, dtype=torch.float64)  # dL/do, Var = 1
(x @ W.T).backward(g)  # x.grad = g W, the gradient the layer passes back
print(f"Var[dL/dx] = {x.grad.var():.4f}, "
      f"n_out sigma^2 Var[dL/do] = {n_out * sigma**2:.4f}")
#> Var[dL/dx] = 0.3242, n_out sigma^2 Var[dL/do] = 0.3200
# --8<-- [end:backward]


# --8<-- [start:xavier]
import math

import torch
from torch import nn

torch.manual_seed(0)
n_in, n_out = 512, 256
w = nn.init.xavier_uniform_(torch.empty(n_out, n_in, dtype=torch.float64))
print(f"Var[w] = {w.var():.3e}, "
      f"2 / (n_in + n_out) = {2 / (n_in + n_out):.3e}")
#> Var[w] = 2.611e-03, 2 / (n_in + n_out) = 2.604e-03
print(f"first layer: a = sqrt(3) sigma = {math.sqrt(3 * 2 / 12):.4f}")
#> first layer: a = sqrt(3) sigma = 0.7071
# --8<-- [end:xavier]


# --8<-- [start:relu_halves]
import torch

torch.manual_seed(0)
z = torch.randn(1_000_000, dtype=torch.float64) * 3.0  # E[z^2] = 9
print(f"E[z^2] = {z.pow(2).mean():.3f}, "
      f"E[relu(z)^2] = {z.relu().pow(2).mean():.3f}")
#> E[z^2] = 8.980, E[relu(z)^2] = 4.487
# --8<-- [end:relu_halves]


# --8<-- [start:gain]
import math

from torch import nn

print(f"relu {nn.init.calculate_gain('relu'):.4f}, "
      f"tanh {nn.init.calculate_gain('tanh'):.4f}, "
      f"linear {nn.init.calculate_gain('linear'):.1f}")
#> relu 1.4142, tanh 1.6667, linear 1.0
gain = nn.init.calculate_gain("leaky_relu", math.sqrt(5))  # the default's
n_in = 256
print(f"default: gain {gain:.4f}, "
      f"bound gain sqrt(3 / n_in) = {gain * math.sqrt(3 / n_in):.4f}")
#> default: gain 0.5774, bound gain sqrt(3 / n_in) = 0.0625
print(f"1 / sqrt(n_in) = {1 / math.sqrt(n_in):.4f}")
#> 1 / sqrt(n_in) = 0.0625
# --8<-- [end:gain]


# --8<-- [start:depth]
from paraminit.propagation import compare_inits

profiles = compare_inits(depth=50, width=256)  # seeded, CPU, float64
print(f"{'init':18}{'h_1':>10}{'h_50':>11}{'grad l=50':>11}{'grad l=1':>11}")
#> init                     h_1       h_50  grad l=50   grad l=1
for name, p in profiles.items():
    print(f"{name:18}{p.activations[0]:10.4f}{p.activations[-1]:11.3e}"
          f"{p.gradients[-1]:11.4f}{p.gradients[0]:11.3e}")
#> N(0, 0.01²)           0.1107  3.950e-48     0.1130  4.274e-48
#> PyTorch default       0.4144  2.730e-02     0.3995  5.082e-20
#> Xavier                0.7118  2.005e-08     0.7314  2.448e-08
#> Xavier, ReLU gain     1.0067  6.727e-01     1.0343  8.214e-01
#> Kaiming               0.9785  8.248e-01     0.9989  8.924e-01
# --8<-- [end:depth]


# --8<-- [start:predicted]
from paraminit.propagation import predicted_profile

print(f"{'init':18}{'h_50':>11}{'grad l=1':>11}")
#> init                     h_50   grad l=1
for name in ["N(0, 0.01²)", "PyTorch default", "Xavier", "Kaiming"]:
    p = predicted_profile(name, depth=50, width=256)
    print(f"{name:18}{p.activations[-1]:11.3e}{p.gradients[0]:11.3e}")
#> N(0, 0.01²)         4.789e-48  4.789e-48
#> PyTorch default     2.795e-02  3.517e-20
#> Xavier              2.980e-08  2.980e-08
#> Kaiming             1.000e+00  1.000e+00
# --8<-- [end:predicted]
