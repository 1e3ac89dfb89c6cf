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
#> N(0, 0.1²)            1.1070  3.950e+02     1.1301  4.274e+02
# --8<-- [end:depth]


# --8<-- [start:weight_gradients]
from paraminit.propagation import compare_inits

profiles = compare_inits(depth=50, width=256)  # the same runs
print(f"{'init':18}{'dW l=1':>11}{'dW l=25':>11}{'dW l=50':>11}")
#> init                   dW l=1    dW l=25    dW l=50
for name, p in profiles.items():
    dW = p.weight_gradients
    print(f"{name:18}{dW[0]:11.3e}{dW[24]:11.3e}{dW[-1]:11.3e}")
#> N(0, 0.01²)         2.138e-46  1.729e-46  2.033e-46
#> PyTorch default     6.951e-19  2.572e-11  1.517e-01
#> Xavier              1.932e-07  2.103e-07  1.715e-07
#> Xavier, ReLU gain   4.585e+00  4.989e+00  4.070e+00
#> Kaiming             5.051e+00  4.084e+00  4.803e+00
#> N(0, 0.1²)          2.138e+03  1.729e+03  2.033e+03
# --8<-- [end:weight_gradients]


# --8<-- [start:predicted]
from paraminit.propagation import compare_inits, predicted_profile

measured = compare_inits(depth=50, width=256)
print(f"{'init':18}{'h_50':>11}{'ratio':>7}{'grad l=1':>11}{'ratio':>7}")
#> init                     h_50  ratio   grad l=1  ratio
for name, m in measured.items():
    p = predicted_profile(name, depth=50, width=256)
    print(f"{name:18}{p.activations[-1]:11.3e}"
          f"{m.activations[-1] / p.activations[-1]:7.3f}"
          f"{p.gradients[0]:11.3e}{m.gradients[0] / p.gradients[0]:7.3f}")
#> N(0, 0.01²)         4.789e-48  0.825  4.789e-48  0.892
#> PyTorch default     2.795e-02  0.977  3.517e-20  1.445
#> Xavier              2.980e-08  0.673  2.980e-08  0.821
#> Xavier, ReLU gain   1.000e+00  0.673  1.000e+00  0.821
#> Kaiming             1.000e+00  0.825  1.000e+00  0.892
#> N(0, 0.1²)          4.789e+02  0.825  4.789e+02  0.892
# --8<-- [end:predicted]


# --8<-- [start:drift]
import math
import statistics

from paraminit.propagation import expected_log_norm_drift, log_norm_drift

for width in (32, 128):  # 100 seeded networks of 50 layers, one input each
    logs = log_norm_drift("Kaiming", width=width, depth=50, seeds=100)
    mean = statistics.fmean(logs)
    error = statistics.stdev(logs) / math.sqrt(len(logs))
    print(f"width {width:3}: mean log(measured / predicted) {mean:.2f} "
          f"+- {error:.2f}, exact {expected_log_norm_drift(width, 50):.2f}")
#> width  32: mean log(measured / predicted) -2.09 +- 0.14, exact -2.08
#> width 128: mean log(measured / predicted) -0.51 +- 0.07, exact -0.50
print(f"width 256: typical RMS / predicted "
      f"{math.exp(expected_log_norm_drift(256, 50)):.2f}")
#> width 256: typical RMS / predicted 0.78
# --8<-- [end:drift]


# --8<-- [start:tanh]
from paraminit.propagation import tanh_profile

for gain in (1.0, 5 / 3):  # Xavier uniform, zero biases, 50 tanh layers
    p = tanh_profile(gain, depth=50, width=256)
    print(f"gain {gain:.3f}: h_1 {p.activations[0]:.2f}, "
          f"h_50 {p.activations[-1]:.2f}, "
          f"grad l=1 / grad l=50 {p.gradients[0] / p.gradients[-1]:.2f}")
#> gain 1.000: h_1 0.63, h_50 0.10, grad l=1 / grad l=50 0.11
#> gain 1.667: h_1 0.76, h_50 0.65, grad l=1 / grad l=50 85.26
# --8<-- [end:tanh]


# --8<-- [start:chapter_fit]
from paraminit.chapter_training import CHAPTER_INITS, fit_chapter_net

print(f"{'init':16}{'loss before':>12}{'after':>9}{'active units':>14}")
#> init             loss before    after  active units
for name in CHAPTER_INITS:  # 2,000 steps of gradient descent, step 0.03
    fit = fit_chapter_net(name, steps=2000, lr=0.03, seed=0)
    print(f"{name:16}{fit.initial_loss:12.2f}{fit.final_loss:9.4f}"
          f"{fit.active_units:>10} of 8")
#> PyTorch default         0.66   0.0135         5 of 8
#> N(0, 0.01²)             0.43   0.0059         7 of 8
#> constant 1            265.20   0.3094         0 of 8
#> Xavier, then 42      8978.74   0.3094         0 of 8
#> mixture_             7181.70   0.3094         0 of 8
print(f"variance of the target: {fit.target_variance:.4f}")
#> variance of the target: 0.3094
# --8<-- [end:chapter_fit]
