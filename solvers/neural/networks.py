"""Networks of the neural solvers (MODEL.md §8), built for speed on small batches.

:class:`StackedMLP` holds several independent MLPs (``heads``, e.g. one for ``σ`` and one
for ``μ``), optionally one set per time step (the paper's shape), and evaluates them all
with one matmul per layer: ``torch.addmm`` for one head at one step, ``torch.baddbmm`` for
several heads at one step and for per-step networks at every step, and one ``torch.mm`` per
head with an in-place bias on all ``K·B`` rows of a shared network (on CPU several times
faster there than one ``torch.baddbmm`` over heads with a broadcast bias).
Evaluating every time step at once (the discriminator, whose inputs do not depend on its own
outputs) is one call on a ``(K, B, d)`` input.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["StackedMLP", "ACTIVATIONS"]

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "silu": nn.functional.silu}
_INPLACE = {"tanh": torch.tanh_, "relu": torch.relu_}


#: activations whose derivative is a function of their output ``y`` (what
#: :class:`ChunkedMLP` keeps): ``tanh' = 1 − y²``, ``relu' = [y > 0]``.
_DERIVATIVE_FROM_OUTPUT = ("tanh", "relu")


class ChunkedMLP(torch.autograd.Function):
    """An MLP on many rows (``forward_all``: every time step × path at once) whose forward and
    backward run over row chunks small enough to stay in the CPU cache.

    On ``K·B = 10⁵`` rows plain autograd writes every ``(K·B, width)`` activation to fresh
    main memory and streams it back several times (bias add, activation, its derivative,
    the bias gradient). Here the forward keeps only the output; the backward recomputes
    each chunk's activations into small reused buffers and back-propagates while they are
    in cache, accumulating the weight and bias gradients chunk by chunk (one extra forward
    pass of matmuls, no large temporaries). Same numbers as autograd up to rounding.

    ``apply(x, activation, chunk_rows, w_1..w_n, b_1..b_n)`` with ``x (R, d)``,
    ``w_i (a_i, b_i)``, ``b_i (b_i,)``; returns ``(R, b_n)``.
    """

    @staticmethod
    def _forward_chunk(x: Tensor, ws, bs, act_, buffers: list[Tensor], out: Tensor) -> None:
        h = x
        n = len(ws)
        for i in range(n):
            dst = buffers[i][: x.shape[0]] if i < n - 1 else out
            torch.mm(h, ws[i], out=dst).add_(bs[i])
            if i < n - 1:
                act_(dst)
            h = dst

    @staticmethod
    def forward(ctx, x: Tensor, activation: str, chunk: int, *params: Tensor) -> Tensor:
        n = len(params) // 2
        ws, bs = params[:n], params[n:]
        act_ = _INPLACE[activation]
        R = x.shape[0]
        rows = min(chunk, R)
        buffers = [x.new_empty(rows, w.shape[1]) for w in ws[:-1]]
        out = x.new_empty(R, ws[-1].shape[1])
        for s in range(0, R, chunk):
            ChunkedMLP._forward_chunk(x[s : s + chunk], ws, bs, act_, buffers, out[s : s + chunk])
        ctx.activation, ctx.chunk, ctx.n = activation, chunk, n
        ctx.save_for_backward(x, *params)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        n, chunk = ctx.n, ctx.chunk
        x, *params = ctx.saved_tensors
        ws, bs = params[:n], params[n:]
        act_ = _INPLACE[ctx.activation]
        need_x = ctx.needs_input_grad[0]
        R = x.shape[0]
        rows = min(chunk, R)
        buffers = [x.new_empty(rows, w.shape[1]) for w in ws[:-1]]
        scratch = x.new_empty(rows, ws[-1].shape[1])
        gws = [torch.zeros_like(w) for w in ws]
        gbs = [torch.zeros_like(b) for b in bs]
        gx = torch.empty_like(x) if need_x else None
        for s in range(0, R, chunk):
            xc = x[s : s + chunk]
            m = xc.shape[0]
            ChunkedMLP._forward_chunk(xc, ws, bs, act_, buffers, scratch[:m])
            d = grad_out[s : s + chunk]
            for i in range(n - 1, -1, -1):
                h_in = xc if i == 0 else buffers[i - 1][:m]
                gws[i].addmm_(h_in.t(), d)
                gbs[i].add_(d.sum(0))
                if i == 0:
                    if need_x:
                        torch.mm(d, ws[0].t(), out=gx[s : s + chunk])
                    break
                d = torch.mm(d, ws[i].t())
                if ctx.activation == "tanh":  # d·(1 − y²)
                    d.addcmul_(d * h_in, h_in, value=-1.0)
                else:  # relu: d·[y > 0]
                    d.mul_(h_in > 0)
        return (gx, None, None, *gws, *gbs)


class StackedMLP(nn.Module):
    """``heads`` independent MLPs ``d_in → width × depth → d_out`` (per step if ``n_steps``).

    Args:
        d_in, d_out: input and output sizes of each MLP.
        width, depth: hidden width and number of hidden layers (the paper: 50 and 3).
        heads: number of independent MLPs evaluated together.
        n_steps: ``None`` for one network shared over time (time is an input feature), or
            ``K`` for one network per time step (the paper's shape).
        skip: add a linear map ``x ↦ x L`` (initialised at zero) beside the MLP, so a
            linear feedback is learned directly.
        skip_steps: ``K`` for a separate linear map and bias ``x ↦ x L_k + c_k`` at each
            step beside a shared MLP (the ``hybrid`` shape: a time-dependent linear feedback,
            e.g. the Riccati ``F(t)``, ``H(t)``, learned directly).
        activation: ``"tanh"`` (default), ``"relu"`` or ``"silu"``.

    The last layer starts at zero, so each head starts by outputting 0 (the solvers add
    the output to a sensible baseline: no trading, the frictionless price).
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        *,
        width: int = 50,
        depth: int = 3,
        heads: int = 1,
        n_steps: int | None = None,
        skip: bool = True,
        skip_steps: int | None = None,
        activation: str = "tanh",
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if width < 1 or depth < 1:
            raise ValueError(f"width and depth must be >= 1, got width={width}, depth={depth}")
        self.d_in, self.d_out, self.heads = d_in, d_out, heads
        self.per_step = n_steps is not None
        P = n_steps if n_steps is not None else 1
        dims = [d_in] + [width] * depth + [d_out]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            w = torch.empty(P, heads, a, b)
            if i < depth:
                bound = math.sqrt(6.0 / (a + b))  # Glorot-uniform, suited to tanh
                nn.init.uniform_(w, -bound, bound)
            else:
                nn.init.zeros_(w)
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(torch.zeros(P, heads, 1, b)))
        S = skip_steps if skip_steps is not None else P
        self.skip = nn.Parameter(torch.zeros(S, heads, d_in, d_out)) if skip else None
        self.skip_bias = (
            nn.Parameter(torch.zeros(S, heads, 1, d_out)) if skip_steps is not None else None
        )
        self.skip_per_step = S > 1
        self.activation = activation
        #: rows per chunk of :class:`ChunkedMLP` (``forward_all`` on many rows, CPU only)
        self.chunk_rows = 4096
        self._act = ACTIVATIONS[activation]
        # in place where autograd allows it (tanh and relu save their output, not input)
        self._act_ = _INPLACE.get(activation, self._act)

    def bind(self) -> list[tuple[list[Tensor], list[Tensor], Tensor | None]]:
        """Per-step views of the parameters, ``[(weights, biases, skip)]`` (one entry when
        shared over time), sliced once per rollout so autograd records one slice per tensor
        instead of one per step. Pass an entry to :meth:`forward_step`."""
        P = self.weights[0].shape[0]
        ws = [w.unbind(0) if P > 1 else [w[0]] for w in self.weights]
        bs = [b.unbind(0) if P > 1 else [b[0]] for b in self.biases]
        sk = None
        if self.skip is not None:
            sk = self.skip.unbind(0) if self.skip_per_step else [self.skip[0]]
        sb = self.skip_bias.unbind(0) if self.skip_bias is not None else None
        if self.heads == 1:
            ws = [[w[0] for w in wl] for wl in ws]
            bs = [[b[0, 0] for b in bl] for bl in bs]
            sk = [s[0] for s in sk] if sk is not None else None
            sb = [b[0, 0] for b in sb] if sb is not None else None
        n = max(P, len(sk) if sk is not None else 1)
        return [
            (
                [wl[min(p, P - 1)] for wl in ws],
                [bl[min(p, P - 1)] for bl in bs],
                (sk[min(p, len(sk) - 1)], sb[p] if sb is not None else None)
                if sk is not None
                else None,
            )
            for p in range(n)
        ]

    def forward_step(
        self,
        x: Tensor,
        step: int,
        bound: list[tuple[list[Tensor], list[Tensor], Tensor | None]] | None = None,
    ) -> Tensor:
        """Evaluate at one time step: ``x`` of shape ``(B, d_in)`` → ``(heads, B, d_out)``.

        ``bound``: the result of :meth:`bind` (faster inside a time loop)."""
        if bound is None:
            bound = self.bind()
        weights, biases, skip = bound[step if len(bound) > 1 else 0]
        n = len(weights)
        if self.heads == 1:
            h = x
            for i in range(n):
                # mm + in-place bias: addmm would first copy the broadcast bias into a fresh
                # output (a full extra pass over cold memory inside a rollout)
                h = torch.mm(h, weights[i]).add_(biases[i])
                if i < n - 1:
                    h = self._act_(h)
            if skip is not None:
                if skip[1] is not None:
                    h = h + skip[1]
                h = torch.addmm(h, x, skip[0])
            return h.unsqueeze(0)
        if not torch.is_grad_enabled():
            return self._step_heads_no_grad(x, weights, biases, skip)
        xs = x.unsqueeze(0).expand(self.heads, *x.shape)
        h = xs
        for i in range(n):
            h = torch.baddbmm(biases[i], h, weights[i])
            if i < n - 1:
                h = self._act(h)
        if skip is not None:
            if skip[1] is not None:
                h = h + skip[1]
            h = torch.baddbmm(h, xs, skip[0])
        return h

    def _step_heads_no_grad(
        self, x: Tensor, weights: list[Tensor], biases: list[Tensor], skip: tuple | None
    ) -> Tensor:
        """Several heads at one step without autograd (e.g. the frozen price inside the
        generator's rollout): one ``mm`` per head and layer with bias and activation in
        place, about twice as fast on CPU as ``baddbmm`` with a broadcast bias."""
        out = x.new_empty(self.heads, x.shape[0], self.d_out)
        n = len(weights)
        for hd in range(self.heads):
            h = x
            for i in range(n):
                h = torch.mm(h, weights[i][hd]).add_(biases[i][hd])
                if i < n - 1:
                    h = self._act_(h)
            if skip is not None:
                if skip[1] is not None:
                    h.add_(skip[1][hd])
                h = torch.addmm(h, x, skip[0][hd])
            out[hd] = h
        return out

    def forward_all(self, x: Tensor) -> Tensor:
        """Evaluate at every step at once: ``x (K, B, d_in)`` → ``(heads, K, B, d_out)``."""
        K, B, d = x.shape
        H = self.heads
        n = len(self.weights)
        if self.per_step:
            xs = x.unsqueeze(1).expand(K, H, B, d).reshape(K * H, B, d)
            h = xs
            for i in range(n):
                w = self.weights[i]
                h = torch.baddbmm(
                    self.biases[i].reshape(K * H, 1, -1), h, w.reshape(K * H, *w.shape[2:])
                )
                if i < n - 1:
                    h = self._act(h)
            if self.skip is not None:
                h = torch.baddbmm(h, xs, self.skip.reshape(K * H, d, self.d_out))
            return h.reshape(K, H, B, self.d_out).transpose(0, 1)
        # One 2-D matmul per head and layer: on K·B rows, H separate ``mm`` are several times
        # faster than one ``baddbmm`` on CPU, and the bias is added in place (a broadcast
        # bias copied into the output by ``baddbmm``/``addmm`` costs a full pass).
        flat = x.reshape(K * B, d)
        # cache-sized chunks help on CPU; a GPU wants one large matmul per layer
        chunk = self.chunk_rows if flat.device.type == "cpu" else flat.shape[0]
        outs = []
        for hd in range(H):
            ws = [w[0, hd] for w in self.weights]
            bs = [b[0, hd, 0] for b in self.biases]
            if self.activation in _DERIVATIVE_FROM_OUTPUT:
                outs.append(ChunkedMLP.apply(flat, self.activation, chunk, *ws, *bs))
                continue
            h = flat
            for i in range(n):
                h = torch.mm(h, ws[i]).add_(bs[i])
                if i < n - 1:
                    h = self._act_(h)
            outs.append(h)
        h = torch.stack(outs) if H > 1 else outs[0].unsqueeze(0)
        h = h.reshape(H, K, B, self.d_out)
        if self.skip is not None and self.skip_per_step:
            # per-step linear map: (K, B, d) x (K, H, d, o) -> (H, K, B, o)
            lin = torch.einsum("kbd,khdo->hkbo", x, self.skip)
            h = h + lin + self.skip_bias.transpose(0, 1)
        elif self.skip is not None:
            h = h + torch.matmul(x.unsqueeze(0), self.skip[0].unsqueeze(1))
        return h
