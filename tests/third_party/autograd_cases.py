"""Autograd tests in the style of PyTorch's ``test/test_autograd.py`` ``TestAutograd``.

Written for gradserve (not copied): each method is ordinary user code that uses only autograd
and basic ops, checks itself with ``unittest``-style assertions, and is run three ways by
``test_third_party.py`` (real PyTorch, ``import engine as torch``, ``torch = connect(url)``).
Its only link to PyTorch is the ``import torch`` line below.
"""

import math

import torch


class TestAutograd:
    # ------------------------------------------------------------------ basics
    def test_simple_backward(self):
        x = torch.ones(2, 2, requires_grad=True)
        out = ((x + 2) * (x + 2) * 3).mean()
        out.backward()
        self.assertEqual(x.grad, torch.full((2, 2), 4.5))

    def test_hessian_vector(self):
        # f(p, q) = p^2 + p q + q^2, summed: its gradient, then the gradient of a mix of it
        p = torch.randn(3, requires_grad=True)
        q = torch.randn(3, requires_grad=True)
        (p * p + p * q + q * q).sum().backward(create_graph=True)
        with torch.no_grad():
            gp, gq = 2 * p + q, p + 2 * q
        self.assertEqual(p.grad, gp)
        self.assertEqual(q.grad, gq)
        mix = 3 * p.grad - q.grad  # d/dp = 6 - 1, d/dq = 3 - 2
        mix.sum().backward()
        self.assertEqual(p.grad, gp + 5)
        self.assertEqual(q.grad, gq + 1)

    def test_create_graph_grad_has_graph(self):
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        (x**3).sum().backward(create_graph=True)
        self.assertTrue(x.grad.requires_grad)
        self.assertIsNotNone(x.grad.grad_fn)
        self.assertFalse(x.grad.is_leaf)
        x.grad.sum().backward()
        self.assertEqual(x.grad, torch.tensor([9.0, 24.0]))
        self.assertTrue(x.grad.requires_grad)

    def test_grad(self):
        u = torch.randn(2, 3, requires_grad=True)
        w = torch.randn(2, 3, requires_grad=True)
        (u**3 + u * w).sum().backward(create_graph=True)
        self.assertEqual(u.grad, 3 * u**2 + w)
        self.assertEqual(w.grad, u)
        (second,) = torch.autograd.grad([u.grad], [u], [torch.ones(2, 3)], create_graph=True)
        self.assertEqual(second, 6 * u)
        self.assertEqual(w.grad, u)  # autograd.grad leaves .grad alone
        with self.assertRaisesRegex(RuntimeError, r"Mismatch in shape: grad_output\[0\]"):
            torch.autograd.grad([u.grad], [u], [torch.ones(3)])

    def test_grad_nonleaf(self):
        start = torch.tensor([1.0, -2.0], requires_grad=True)
        k = torch.tensor([0.5, 0.25], requires_grad=True)

        def energy(v):
            return (k * v**2).sum()

        v = start
        for _ in range(3):  # gradient steps that stay in the graph
            (g,) = torch.autograd.grad(energy(v), v, create_graph=True)
            self.assertEqual(g, 2 * k * v)
            v = v - 0.1 * g
        self.assertIsNone(start.grad)
        self.assertLess(energy(v).item(), energy(start).item())
        v.sum().backward()
        self.assertEqual(start.grad, (1 - 0.2 * k) ** 3)
        self.assertIsNotNone(k.grad)

    def test_grad_nonleaf_many_outputs(self):
        base = torch.randn(6, requires_grad=True)
        left, right = base[:3], base[3:]
        out = left * right
        g_left, g_right = torch.autograd.grad(out, [left, right], torch.ones(3))
        self.assertEqual(g_left, right)
        self.assertEqual(g_right, left)
        self.assertIsNone(base.grad)

    def test_grad_nonleaf_register_hook(self):
        vec = torch.randn(4, requires_grad=True)
        parts = [vec[i] for i in range(4)]
        seen = []
        parts[2].register_hook(lambda g: seen.append(g))
        parts[2].backward()
        self.assertEqual(len(seen), 1)
        self.assertEqual(seen[0], torch.tensor(1.0))
        for i in (0, 1, 3):
            parts[i].backward()
        self.assertEqual(len(seen), 1)  # only its own gradient reaches the hook
        self.assertEqual(vec.grad, torch.ones(4))

    def test_hooks(self):
        a = torch.ones(3, requires_grad=True)
        b = torch.full((3,), 2.0, requires_grad=True)
        out = a * b + b
        log = []
        first = out.register_hook(lambda g: log.append("first"))
        out.backward(torch.ones(3), retain_graph=True)
        self.assertEqual(log, ["first"])
        second = out.register_hook(lambda g: log.append("second"))
        out.backward(torch.ones(3), retain_graph=True)
        self.assertEqual(log, ["first", "first", "second"])
        first.remove()
        second.remove()
        out.backward(torch.ones(3), retain_graph=True)
        self.assertEqual(len(log), 3)
        out.register_hook(lambda g: g * 10)  # a returned tensor replaces the gradient
        b.grad = None
        out.backward(torch.ones(3), retain_graph=True)
        self.assertEqual(b.grad, (a + 1) * 10)
        b.register_hook(lambda g: -g)
        b.grad = None
        out.backward(torch.ones(3))
        self.assertEqual(b.grad, -(a + 1) * 10)

    def test_hook_none(self):
        x = torch.randn(3, requires_grad=True)
        y = x * 2
        y.register_hook(lambda g: None)
        y.sum().backward()
        self.assertEqual(x.grad, torch.full((3,), 2.0))

    def test_leaf_hook_changes_grad(self):
        x = torch.ones(3, requires_grad=True)
        x.register_hook(lambda g: g * 10)
        (x * 3).sum().backward()
        self.assertEqual(x.grad, torch.full((3,), 30.0))

    def test_hook_with_no_name(self):
        class Doubler:  # a callable object, not a function: it has no __name__
            def __call__(self, grad):
                return grad * 2

        t = torch.ones(2, requires_grad=True) * 1
        t.register_hook(Doubler())
        leaf = torch.ones(2, requires_grad=True)
        (t * leaf).sum().backward()
        self.assertEqual(leaf.grad, torch.ones(2))

    def test_retain_grad(self):
        w = torch.rand(2, 2, requires_grad=True)
        hidden = w * 2
        hidden.retain_grad()
        hidden.retain_grad()
        loss = (hidden**2).sum()
        loss.backward(retain_graph=True)
        self.assertEqual(hidden.grad, 2 * hidden)
        loss.backward(retain_graph=True)  # accumulates like a leaf's
        self.assertEqual(hidden.grad, 4 * hidden)
        w.grad = None
        w.retain_grad()  # on a leaf: nothing changes
        loss.backward()
        self.assertEqual(w.grad, 8 * w)

    def test_retain_grad_inplace(self):
        t = torch.tensor([3.0, 4.0], requires_grad=True) * 1
        t.retain_grad()
        t.add_(5)  # retain_grad follows the tensor to its new value
        (t * 2).sum().backward()
        self.assertEqual(t.grad, torch.tensor([2.0, 2.0]))

    def test_retains_grad_property(self):
        x = torch.ones(2, requires_grad=True)
        y = x * 2
        self.assertFalse(y.retains_grad)
        y.retain_grad()
        self.assertTrue(y.retains_grad)
        self.assertFalse(x.retains_grad)

    def test_backward(self):
        p = torch.randn(4, requires_grad=True)
        r = (torch.rand(4) + 0.5).requires_grad_(True)
        s = torch.randn(4, requires_grad=True)
        up = torch.randn(4)
        p.backward(up)
        self.assertEqual(p.grad, up)
        p.grad = None
        f = p * s / r + s**2
        f.backward(up)
        self.assertEqual(p.grad, up * s / r)
        self.assertEqual(r.grad, -up * p * s / r**2, atol=1e-4)
        self.assertEqual(s.grad, up * (p / r + 2 * s))

    def test_multi_roots_backward(self):
        m = torch.randn(2, 2, requires_grad=True)
        n = torch.randn(2, 2, requires_grad=True)
        c1, c2 = torch.randn(2, 2), torch.randn(2, 2)
        torch.autograd.backward([(m * c1).sum(), (n @ c2).sum()])
        self.assertEqual(m.grad, c1)
        self.assertEqual(n.grad, c2.sum(1).expand(2, 2))

    def test_multi_backward_with_grads(self):
        shared = torch.randn(3, requires_grad=True)
        only1 = torch.randn(3, requires_grad=True)
        only2 = torch.randn(3, requires_grad=True)
        twice = shared * 3
        r1 = twice + only1
        r2 = twice * only2
        g1, g2 = torch.randn(3), torch.randn(3)
        torch.autograd.backward([r1, r2], [g1, g2])
        self.assertEqual(only1.grad, g1)
        self.assertEqual(only2.grad, g2 * twice)
        self.assertEqual(shared.grad, 3 * (g1 + g2 * only2))

    def test_backward_twice_with_saved_values(self):
        src = torch.randn(4, requires_grad=True, dtype=torch.double)
        dst = torch.zeros(4, dtype=torch.double)
        dst[[0, 3]] = src[[2, 2]]  # an index read and an index write: both save indices
        ones = torch.ones(4, dtype=torch.double)
        dst.backward(ones)
        with self.assertRaisesRegex(RuntimeError, "Specify retain_graph=True"):
            dst.backward(ones)

    def test_backward_twice_retained_graph_with_saved_values(self):
        src = torch.randn(4, requires_grad=True, dtype=torch.double)
        dst = torch.zeros(4, dtype=torch.double)
        dst[[0, 3]] = src[[2, 2]]
        ones = torch.ones(4, dtype=torch.double)
        dst.backward(ones, retain_graph=True)
        dst.backward(ones)
        self.assertEqual(src.grad, torch.tensor([0.0, 0.0, 4.0, 0.0], dtype=torch.double))

    def test_backward_twice_without_saved_values(self):
        leaf = torch.randn(5, requires_grad=True, dtype=torch.double)
        shifted = leaf - 3  # subtraction saves nothing: a second backward is allowed
        shifted.backward(torch.ones(5, dtype=torch.double))
        shifted.backward(torch.ones(5, dtype=torch.double))
        self.assertEqual(leaf.grad, torch.full((5,), 2.0, dtype=torch.double))

    def test_graph_freed_message(self):
        x = torch.randn(3, requires_grad=True)
        y = (x * x).sum()
        y.backward()
        with self.assertRaisesRegex(RuntimeError, "backward through the graph a second time"):
            y.backward()

    def test_sharded_grad(self):
        params = [torch.full((2, 2), float(i), requires_grad=True) for i in range(6)]
        mids = [p * p * (i + 1) for i, p in enumerate(params)]
        total = sum(m.sum() for m in mids)
        # the gradient w.r.t. the intermediates, three at a time, then the rest of the way
        d_mids = []
        for k in range(0, len(mids), 3):
            d_mids += list(torch.autograd.grad(total, mids[k : k + 3], retain_graph=k < 3))
        torch.autograd.backward(mids, d_mids)
        for i, p in enumerate(params):
            self.assertEqual(p.grad, 2 * p * (i + 1))

    def test_grad_unreachable(self):
        used = torch.ones(2, requires_grad=True) * 3
        unused = torch.ones(2, requires_grad=True) * 4
        loose_leaf = torch.ones(2, requires_grad=True)
        out = (used * used).sum()
        g_used, g_unused, g_leaf = torch.autograd.grad(
            out, [used, unused, loose_leaf], retain_graph=True, allow_unused=True
        )
        self.assertEqual(g_used, 2 * used)
        self.assertIsNone(g_unused)
        self.assertIsNone(g_leaf)
        with self.assertRaisesRegex(RuntimeError, "Set allow_unused=True"):
            torch.autograd.grad(out, [used, unused])

    def test_grad_materialize(self):
        x = torch.ones(2, requires_grad=True)
        y = torch.ones(2, requires_grad=True)
        gx, gy = torch.autograd.grad((x * 3).sum(), [x, y], materialize_grads=True)
        self.assertEqual(gx, torch.full((2,), 3.0))
        self.assertEqual(gy, torch.zeros(2))

    def test_grad_unreachable_discovery(self):
        a = torch.ones(3, requires_grad=True)
        b = torch.ones(3, requires_grad=True)
        (gb,) = torch.autograd.grad((a * 5).sum(), [b], allow_unused=True)
        self.assertIsNone(gb)
        with self.assertRaisesRegex(RuntimeError, "appears to not have been used in the graph"):
            torch.autograd.grad((a * 5).sum(), [b])

    def test_grad_batched_like_loop(self):
        x = torch.randn(3, requires_grad=True)
        y = x**2
        rows = [torch.autograd.grad(y[i], x, retain_graph=True)[0] for i in range(3)]
        self.assertEqual(torch.stack(rows), torch.diag(2 * x) if hasattr(torch, "diag") else rows)

    def test_backward_inputs(self):
        x = torch.randn(2, requires_grad=True)
        y = torch.randn(2, requires_grad=True)
        z = (x * y).sum()
        z.backward(inputs=[x], retain_graph=True)
        self.assertEqual(x.grad, y)
        self.assertIsNone(y.grad)
        z.backward(inputs=[y])
        self.assertEqual(y.grad, x)

    def test_accumulate_grad(self):
        def run(create_graph):
            leaf = torch.randn(3, requires_grad=True)
            out = leaf * 4
            out.backward(torch.ones(3), retain_graph=True)
            held = leaf.grad
            snapshot = leaf.grad.clone()
            out.backward(torch.ones(3), create_graph=create_graph)
            return held, snapshot, leaf.grad

        held, snapshot, now = run(False)
        self.assertEqual(held, snapshot * 2)  # summed into the same tensor
        held, snapshot, now = run(True)
        self.assertEqual(held, snapshot)  # a new tensor: the old one is untouched
        self.assertEqual(now, snapshot * 2)

    def test_sum_to_with_empty_dim_grad(self):
        empty = torch.rand(0, 3, requires_grad=True)
        row = torch.rand(1, 3, requires_grad=True)
        both = empty * row
        self.assertEqual(tuple(both.shape), (0, 3))
        both.sum().backward()
        self.assertEqual(row.grad, torch.zeros(1, 3))
        self.assertEqual(tuple(empty.grad.shape), (0, 3))

    # --------------------------------------------------------------- grad mode
    def test_no_grad(self):
        w = torch.ones(3, requires_grad=True)
        with torch.no_grad():
            inside = w * 2

        @torch.no_grad()
        def scaled(t):
            return t * 3

        outside = scaled(w)
        for t in (inside, outside):
            self.assertFalse(t.requires_grad)
            self.assertIsNone(t.grad_fn)
        self.assertRaises(RuntimeError, lambda: inside.sum().backward())
        self.assertTrue((w * 2).requires_grad)

    def test_no_grad_python_function(self):
        x = torch.ones(5, 5, requires_grad=True)
        with torch.no_grad():
            y = x * 2 + 1
        self.assertFalse(y.requires_grad)
        self.assertTrue(torch.is_grad_enabled())

    def test_set_grad_generator_functions(self):
        @torch.no_grad()
        def quiet_steps(n):
            for i in range(n):
                self.assertFalse(torch.is_grad_enabled())
                yield i

        @torch.enable_grad()
        def loud_steps(n):
            for i in range(n):
                self.assertTrue(torch.is_grad_enabled())
                yield i

        got = []
        for i in quiet_steps(3):
            self.assertTrue(torch.is_grad_enabled())  # the caller's mode between steps
            got.append(i)
        with torch.no_grad():
            for i in loud_steps(2):
                self.assertFalse(torch.is_grad_enabled())
                got.append(i)
        self.assertEqual(got, [0, 1, 2, 0, 1])

    def test_set_grad_enabled(self):
        x = torch.tensor([1.0], requires_grad=True)
        with torch.set_grad_enabled(False):
            y = x * 2
        self.assertFalse(y.requires_grad)
        with torch.set_grad_enabled(True):
            y = x * 2
        self.assertTrue(y.requires_grad)
        with torch.set_grad_enabled(False):
            torch.set_grad_enabled(True)
            y = x * 2
        self.assertTrue(y.requires_grad)

    def test_enable_grad_inside_no_grad(self):
        x = torch.ones(2, requires_grad=True)
        with torch.no_grad():
            with torch.enable_grad():
                y = x * 2
            z = x * 2
        self.assertTrue(y.requires_grad)
        self.assertFalse(z.requires_grad)

    def test_grad_mode_restored_reentrant(self):
        with torch.no_grad():
            self.assertFalse(torch.is_grad_enabled())
            with torch.no_grad():
                self.assertFalse(torch.is_grad_enabled())
            self.assertFalse(torch.is_grad_enabled())
        self.assertTrue(torch.is_grad_enabled())

    def test_numpy_requires_grad(self):
        x = torch.randn(2, 2, requires_grad=True)
        with self.assertRaisesRegex(RuntimeError, r"Use tensor.detach\(\).numpy\(\) instead."):
            x.numpy()
        with torch.no_grad():
            x.numpy()
        self.assertEqual(x.detach().numpy().shape, (2, 2))

    # ---------------------------------------------------------------- tensors
    def test_requires_grad(self):
        plain1, plain2 = torch.randn(3), torch.randn(3)
        tracked = torch.randn(3, requires_grad=True)
        self.assertFalse((plain1 * plain2).requires_grad)
        mixed = plain1 * plain2 + tracked
        self.assertTrue(mixed.requires_grad)
        self.assertFalse(mixed.is_leaf)
        plain1.requires_grad = True
        self.assertTrue((plain1 * plain2).requires_grad)
        plain1.requires_grad = False
        self.assertFalse(plain1.requires_grad)

    def test_requires_grad_(self):
        a = torch.randn(2)
        b = torch.randn(2, requires_grad=True)
        for t in (a, b):
            self.assertIs(t.requires_grad_(), t)
            self.assertTrue(t.requires_grad)
            self.assertIs(t.requires_grad_(True), t)
            self.assertTrue(t.requires_grad)
        prod = a + b
        with self.assertRaises(RuntimeError):
            prod.requires_grad_(False)  # not a leaf
        self.assertIs(prod.requires_grad_(True), prod)
        for t in (a, b):
            self.assertIs(t.requires_grad_(False), t)
            self.assertFalse(t.requires_grad)

    def test_requires_grad_int_tensor(self):
        with self.assertRaisesRegex(
            RuntimeError, "Only Tensors of floating point and complex dtype can require gradients"
        ):
            torch.tensor([1, 2, 3], requires_grad=True)
        with self.assertRaisesRegex(
            RuntimeError, "Only Tensors of floating point and complex dtype can require gradients"
        ):
            torch.ones(3, dtype=torch.long, requires_grad=True)
        with self.assertRaisesRegex(RuntimeError, "only Tensors of floating point dtype"):
            torch.tensor([1, 2, 3]).requires_grad_()

    def test_requires_grad_inplace(self):
        acc = torch.zeros(3)
        step = torch.ones(3, requires_grad=True)
        acc += step * 2
        self.assertTrue(acc.requires_grad)
        acc.sum().backward()
        self.assertEqual(step.grad, torch.full((3,), 2.0))

    def test_is_leaf(self):
        x = torch.randn(3, requires_grad=True)
        self.assertTrue(x.is_leaf)
        y = x * 2
        self.assertFalse(y.is_leaf)
        self.assertTrue(torch.randn(3).is_leaf)
        self.assertTrue((torch.randn(3) * 2).is_leaf)
        self.assertTrue(y.detach().is_leaf)

    def test_detach(self):
        src = torch.randn(3, 2, requires_grad=True)
        cut = (src * 5).detach()
        self.assertFalse(cut.requires_grad)
        self.assertIsNone(cut.grad_fn)
        self.assertFalse((cut * 2 + 1).requires_grad)
        (src * cut).sum().backward()  # cut is a constant here
        self.assertEqual(src.grad, cut)

    def test_detach_(self):
        x = torch.randn(3, requires_grad=True)
        y = x * 2
        self.assertIs(y.detach_(), y)
        self.assertFalse(y.requires_grad)
        self.assertIsNone(y.grad_fn)
        self.assertTrue(y.is_leaf)

    def test_detach_shares_values(self):
        x = torch.ones(3, requires_grad=True)
        d = x.detach()
        d.add_(1)
        self.assertEqual(x, torch.full((3,), 2.0))

    def test_version_counter(self):
        x = torch.randn(1, 2)
        v0 = x._version
        x.add_(1)
        self.assertEqual(x._version, v0 + 1)
        x.mul_(2)
        self.assertEqual(x._version, v0 + 2)
        y = x.detach()
        y.add_(1)
        self.assertEqual(x._version, v0 + 3)

    def test_inplace_on_saved_value(self):
        x = torch.ones(5, 5, requires_grad=True)
        y = x * 2
        z = y * y
        y.add_(1)
        with self.assertRaisesRegex(RuntimeError, "modified by an inplace operation"):
            z.sum().backward()

    def test_leaf_inplace_error(self):
        x = torch.ones(3, requires_grad=True)
        with self.assertRaisesRegex(RuntimeError, "a leaf Variable that requires grad"):
            x.add_(1)
        with torch.no_grad():
            x.add_(1)
        self.assertEqual(x, torch.full((3,), 2.0))

    def test_inplace_backward(self):
        x = torch.randn(4, requires_grad=True)
        y = x * 2
        y.mul_(3)
        y.add_(1)
        y.sum().backward()
        self.assertEqual(x.grad, torch.full((4,), 6.0))
        self.assertEqual(y.grad_fn.name(), "AddBackward0")

    def test_grad_assignment(self):
        x = torch.randn(5, 5, requires_grad=True)
        x.grad = torch.zeros(5, 5)
        self.assertEqual(x.grad, torch.zeros(5, 5))
        with self.assertRaises(RuntimeError):
            x.grad = torch.zeros(2, 2)
        x.grad = None
        self.assertIsNone(x.grad)
        (x * 2).sum().backward()
        self.assertEqual(x.grad, torch.full((5, 5), 2.0))

    def test_grad_nonleaf_warns(self):
        x = torch.ones(2, requires_grad=True)
        y = x * 2
        with self.assertWarnsRegex(UserWarning, "not a leaf Tensor"):
            self.assertIsNone(y.grad)

    def test_backward_nonscalar_error(self):
        x = torch.ones(2, requires_grad=True)
        with self.assertRaisesRegex(RuntimeError, "grad can be implicitly created only for scalar"):
            (x * 2).backward()

    def test_backward_no_grad_error(self):
        x = torch.ones(2)
        with self.assertRaisesRegex(
            RuntimeError, "does not require grad and does not have a grad_fn"
        ):
            x.sum().backward()

    def test_data_not_tracked(self):
        x = torch.ones(3, requires_grad=True)
        y = x * 3
        x.data.mul_(2)
        y.sum().backward()
        self.assertEqual(x.grad, torch.full((3,), 3.0))
        self.assertEqual(x, torch.full((3,), 2.0))

    # --------------------------------------------------------------- grad_fn
    def test_grad_fn_names(self):
        x = torch.randn(2, 3, requires_grad=True)
        self.assertEqual((x + 1).grad_fn.name(), "AddBackward0")
        self.assertEqual((x * x).grad_fn.name(), "MulBackward0")
        self.assertEqual(x.sum().grad_fn.name(), "SumBackward0")
        self.assertEqual(x.mean().grad_fn.name(), "MeanBackward0")
        self.assertEqual(x.exp().grad_fn.name(), "ExpBackward0")
        self.assertEqual((x @ x.t()).grad_fn.name(), "MmBackward0")
        self.assertEqual(x.t().grad_fn.name(), "TBackward0")
        self.assertEqual(x.reshape(3, 2).grad_fn.name(), "ViewBackward0")
        self.assertEqual((x**2).grad_fn.name(), "PowBackward0")
        self.assertEqual(x.relu().grad_fn.name(), "ReluBackward0")

    def test_next_functions(self):
        p = torch.randn(2, requires_grad=True)
        q = torch.randn(2, requires_grad=True)
        s = p * q
        (first, i0), (second, i1) = s.grad_fn.next_functions
        self.assertEqual((i0, i1), (0, 0))
        self.assertEqual(first.name(), "torch::autograd::AccumulateGrad")
        self.assertIs(first.variable, p)
        self.assertIs(second.variable, q)
        t = s - 1
        self.assertIs(t.grad_fn.next_functions[0][0], s.grad_fn)
        self.assertIsNone(t.grad_fn.next_functions[1][0])  # the constant has no node

    def test_graph_walk(self):
        x = torch.randn(3, requires_grad=True)
        out = ((x * 2).exp() + 1).sum()
        names = []
        fn = out.grad_fn
        while fn is not None:
            names.append(fn.name())
            nxt = [f for f, _ in fn.next_functions if f is not None]
            fn = nxt[0] if nxt else None
        self.assertEqual(
            names,
            [
                "SumBackward0",
                "AddBackward0",
                "ExpBackward0",
                "MulBackward0",
                "torch::autograd::AccumulateGrad",
            ],
        )

    # -------------------------------------------------------------- op grads
    def test_pow_grads(self):
        x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        e = torch.tensor([2.0, 0.5, 3.0], requires_grad=True)
        (x**e).sum().backward()
        self.assertEqual(x.grad, e * x ** (e - 1))
        self.assertEqual(e.grad, x**e * x.log())

    def test_div_grads(self):
        a = torch.randn(3, requires_grad=True)
        b = (torch.rand(3) + 1).requires_grad_()
        (a / b).sum().backward()
        self.assertEqual(a.grad, 1 / b)
        self.assertEqual(b.grad, -a / b**2)

    def test_broadcast_grads(self):
        a = torch.randn(4, 1, requires_grad=True)
        b = torch.randn(1, 3, requires_grad=True)
        (a * b).sum().backward()
        self.assertEqual(a.grad, b.sum().expand(4, 1))
        self.assertEqual(b.grad, a.sum().expand(1, 3))

    def test_sum_mean_dims(self):
        x = torch.randn(2, 3, 4, requires_grad=True)
        (x.sum(dim=1) * 2).sum().backward()
        self.assertEqual(x.grad, torch.full((2, 3, 4), 2.0))
        x.grad = None
        x.mean(dim=(0, 2), keepdim=True).sum().backward()
        self.assertEqual(x.grad, torch.full((2, 3, 4), 1 / 8))

    def test_max_grad(self):
        x = torch.tensor([[1.0, 5.0, 2.0], [7.0, 3.0, 0.0]], requires_grad=True)
        values, indices = x.max(dim=1)
        values.sum().backward()
        self.assertEqual(indices, torch.tensor([1, 0]))
        self.assertEqual(x.grad, torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))

    def test_matmul_grads(self):
        a = torch.randn(3, 4, requires_grad=True)
        b = torch.randn(4, 2, requires_grad=True)
        g = torch.randn(3, 2)
        (a @ b).backward(g)
        self.assertEqual(a.grad, g @ b.t())
        self.assertEqual(b.grad, a.t() @ g)

    def test_cat_stack_grads(self):
        a = torch.randn(2, 3, requires_grad=True)
        b = torch.randn(1, 3, requires_grad=True)
        c = torch.cat([a, b], dim=0)
        (c * torch.arange(9.0).reshape(3, 3)).sum().backward()
        self.assertEqual(a.grad, torch.arange(6.0).reshape(2, 3))
        self.assertEqual(b.grad, torch.arange(6.0, 9.0).reshape(1, 3))
        a.grad = None
        s = torch.stack([a, a * 2], dim=1)
        s.sum().backward()
        self.assertEqual(a.grad, torch.full((2, 3), 3.0))

    def test_indexing_grads(self):
        x = torch.arange(1.0, 13.0).reshape(3, 4).requires_grad_()
        y = x[1:, ::2] * 2
        y.sum().backward()
        expected = torch.zeros(3, 4)
        expected[1:, ::2] = 2
        self.assertEqual(x.grad, expected)

    def test_index_accumulates(self):
        x = torch.randn(4, requires_grad=True)
        idx = torch.tensor([0, 0, 2, 0])
        x[idx].sum().backward()
        self.assertEqual(x.grad, torch.tensor([3.0, 0.0, 1.0, 0.0]))

    def test_setitem_grads(self):
        x = torch.randn(3, requires_grad=True)
        y = torch.zeros(5)
        y[1:4] = x * 2
        (y * torch.arange(5.0)).sum().backward()
        self.assertEqual(x.grad, torch.tensor([2.0, 4.0, 6.0]))

    def test_where_clamp_grads(self):
        x = torch.tensor([-2.0, -0.5, 0.5, 2.0], requires_grad=True)
        y = torch.where(x > 0, x * 3, x * -1)
        y.sum().backward()
        self.assertEqual(x.grad, torch.tensor([-1.0, -1.0, 3.0, 3.0]))
        x.grad = None
        x.clamp(-1, 1).sum().backward()
        self.assertEqual(x.grad, torch.tensor([0.0, 1.0, 1.0, 0.0]))

    def test_shape_ops_grads(self):
        x = torch.randn(2, 3, requires_grad=True)
        y = x.t().reshape(6).unsqueeze(0).squeeze(0).view(3, 2).permute(1, 0).transpose(0, 1)
        (y * y).sum().backward()
        self.assertEqual(x.grad, 2 * x)

    def test_expand_grad(self):
        x = torch.randn(3, 1, requires_grad=True)
        x.expand(3, 4).sum().backward()
        self.assertEqual(x.grad, torch.full((3, 1), 4.0))

    def test_unary_grads(self):
        x = (torch.rand(5) + 0.5).requires_grad_()
        for fn, d in [
            (torch.exp, lambda v: v.exp()),
            (torch.log, lambda v: 1 / v),
            (torch.sqrt, lambda v: 0.5 / v.sqrt()),
            (torch.sin, lambda v: v.cos()),
            (torch.cos, lambda v: -v.sin()),
            (torch.tanh, lambda v: 1 - v.tanh() ** 2),
            (torch.sigmoid, lambda v: v.sigmoid() * (1 - v.sigmoid())),
        ]:
            x.grad = None
            fn(x).sum().backward()
            with torch.no_grad():
                self.assertEqual(x.grad, d(x))

    def test_abs_sign_at_zero(self):
        x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
        x.abs().sum().backward()
        self.assertEqual(x.grad, torch.tensor([-1.0, 0.0, 1.0]))

    def test_relu_second_order(self):
        x = torch.tensor([-1.0, 2.0], requires_grad=True)
        (g,) = torch.autograd.grad((x.relu() ** 2).sum(), x, create_graph=True)
        self.assertEqual(g, torch.tensor([0.0, 4.0]))
        g.sum().backward()
        self.assertEqual(x.grad, torch.tensor([0.0, 2.0]))

    def test_tanh_double_backward(self):
        x = torch.randn(4, requires_grad=True)
        (g,) = torch.autograd.grad(x.tanh().sum(), x, create_graph=True)
        (gg,) = torch.autograd.grad(g.sum(), x)
        t = x.detach().tanh()
        self.assertEqual(gg, -2 * t * (1 - t * t))

    def test_softmax_cross_entropy_grads(self):
        logits = torch.randn(4, 5, requires_grad=True)
        target = torch.tensor([0, 3, 1, 4])
        loss = torch.nn.functional.cross_entropy(logits, target)
        loss.backward()
        p = torch.softmax(logits.detach(), dim=1)
        onehot = torch.zeros(4, 5)
        onehot[torch.arange(4), target] = 1.0
        self.assertEqual(logits.grad, (p - onehot) / 4)

    def test_mse_loss_grad(self):
        pred = torch.randn(6, requires_grad=True)
        target = torch.randn(6)
        torch.nn.functional.mse_loss(pred, target).backward()
        self.assertEqual(pred.grad, 2 * (pred - target).detach() / 6)

    def test_bce_with_logits_grad(self):
        z = torch.randn(2, 3, requires_grad=True)
        y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
        self.assertEqual(loss.grad_fn.name(), "BinaryCrossEntropyWithLogitsBackward0")
        loss.backward()
        self.assertEqual(z.grad, (torch.sigmoid(z.detach()) - y) / 6)

    def test_torch_keyword_names(self):
        a = torch.randn(3, requires_grad=True)
        b = torch.randn(3)
        out = torch.matmul(input=a, other=b)
        out.backward()
        self.assertEqual(a.grad, b)
        self.assertEqual(torch.add(a, other=b, alpha=2), a + 2 * b)
        self.assertEqual(torch.mul(input=a, other=b), a * b)

    def test_device(self):
        device = torch.device("cpu")
        x = torch.ones(2, device=device, requires_grad=True)
        self.assertEqual(str(device), "cpu")
        self.assertTrue(x.device == device)
        (x * 2).sum().backward()
        self.assertEqual(x.grad, torch.full((2,), 2.0, device=device))

    def test_clone_grad(self):
        x = torch.randn(3, requires_grad=True)
        y = x.clone()
        self.assertEqual(y.grad_fn.name(), "CloneBackward0")
        (y * 2).sum().backward()
        self.assertEqual(x.grad, torch.full((3,), 2.0))

    def test_to_dtype_grad(self):
        x = torch.randn(3, requires_grad=True)
        y = x.double() * 2
        self.assertEqual(y.dtype, torch.float64)
        y.sum().backward()
        self.assertEqual(x.grad.dtype, torch.float32)
        self.assertEqual(x.grad, torch.full((3,), 2.0))

    def test_norm_grad(self):
        x = torch.tensor([3.0, 4.0], requires_grad=True)
        x.norm().backward()
        self.assertEqual(x.grad, torch.tensor([0.6, 0.8]))

    def test_chain_of_ops_second_order(self):
        x = torch.tensor(0.5, requires_grad=True)
        y = x.sin() * x.exp()
        (dy,) = torch.autograd.grad(y, x, create_graph=True)
        (d2y,) = torch.autograd.grad(dy, x)
        xv = 0.5
        self.assertEqual(dy.item(), math.exp(xv) * (math.sin(xv) + math.cos(xv)))
        self.assertEqual(d2y.item(), 2 * math.exp(xv) * math.cos(xv))

    def test_gradient_descent_loop(self):
        w = torch.zeros(3, requires_grad=True)
        x = torch.tensor([[1.0, 2.0, 3.0], [0.0, 1.0, -1.0], [2.0, 0.0, 1.0]])
        target = torch.tensor([6.0, 0.0, 3.0])
        for _ in range(200):
            loss = ((x @ w - target) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                w -= 0.1 * w.grad
                w.grad.zero_()
        self.assertEqual(w, torch.tensor([1.0, 1.0, 1.0]), atol=1e-3)
        self.assertLess(loss.item(), 1e-5)

    # -------------------------------------------------------------- dtypes
    def test_default_dtype(self):
        self.assertEqual(torch.get_default_dtype(), torch.float32)
        prev = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            self.assertEqual(torch.get_default_dtype(), torch.float64)
            self.assertEqual(torch.tensor([1.5]).dtype, torch.float64)
            self.assertEqual(torch.ones(2).dtype, torch.float64)
            self.assertEqual(torch.arange(3.0).dtype, torch.float64)
            x = torch.ones(2, requires_grad=True)
            (x * 2).sum().backward()
            self.assertEqual(x.grad.dtype, torch.float64)
        finally:
            torch.set_default_dtype(prev)
        self.assertEqual(torch.ones(2).dtype, torch.float32)

    def test_double_grads(self):
        x = torch.randn(3, dtype=torch.double, requires_grad=True)
        (x * x).sum().backward()
        self.assertEqual(x.grad.dtype, torch.double)
        self.assertEqual(x.grad, 2 * x)

    # ----------------------------------------------------------- unsupported
    def test_unsupported_name_raises_not_implemented(self):
        # every backend raises for a torch name it lacks; real torch has this one
        name = "histogramdd"
        try:
            fn = getattr(torch, name)
        except NotImplementedError as e:
            self.assertIn(name, str(e))
        else:
            self.assertTrue(callable(fn))


class TestAutogradFunction:
    """Custom ``torch.autograd.Function``s, as PyTorch's own tests and tutorials write them."""

    def _check_affine_function(self, cls):
        # cls computes a * k + b * a (k a Python number) and writes its own backward
        a = torch.randn(3, 2, requires_grad=True)
        b = torch.randn(3, 2, requires_grad=True)
        out = cls.apply(a, 3, b)
        seed = torch.ones((), requires_grad=True)
        out.sum().backward(seed, create_graph=True)
        self.assertEqual(a.grad, b + 3)
        self.assertEqual(b.grad, a)
        return a, b

    def test_function(self):
        class Affine(torch.autograd.Function):
            @staticmethod
            def forward(ctx, a, k, b):
                ctx.k = k
                ctx.save_for_backward(a, b)
                return a * k + b * a

            @staticmethod
            def backward(ctx, g):
                a, b = ctx.saved_tensors
                for t in (a, b, g):
                    self.assertIsInstance(t, torch.Tensor)
                return g * (ctx.k + b), None, g * a

        a, b = self._check_affine_function(Affine)
        self.assertIsNotNone(a.grad.grad_fn)  # the backward ran with create_graph
        self.assertIsNotNone(b.grad.grad_fn)

    def test_once_differentiable(self):
        class Affine(torch.autograd.Function):
            @staticmethod
            def forward(ctx, a, k, b):
                ctx.k = k
                ctx.save_for_backward(a, b)
                return a * k + b * a

            @staticmethod
            @torch.autograd.function.once_differentiable
            def backward(ctx, g):
                self.assertFalse(torch.is_grad_enabled())
                a, b = ctx.saved_tensors
                return g * (ctx.k + b), None, g * a

        self._check_affine_function(Affine)

    def test_function_returns_input(self):
        class Identity3(torch.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                return t  # the input itself

            @staticmethod
            def backward(ctx, g):
                return g * 3

        for shape in [(2,), ()]:
            leaf = torch.ones(shape, requires_grad=True)
            out = Identity3.apply(leaf)
            self.assertIsNot(out, leaf)
            out.sum().backward()
            self.assertEqual(leaf.grad, torch.full(shape, 3.0))
            leaf.grad = None
            Identity3.apply(leaf * 1).sum().backward()
            self.assertEqual(leaf.grad, torch.full(shape, 3.0))

    def test_function_returns_undefined_tensor(self):
        class NoGrad(torch.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                return t + 1

            @staticmethod
            def backward(ctx, g):
                return None  # no gradient: the input's .grad stays None

        leaf = torch.ones(2, requires_grad=True)
        NoGrad.apply(leaf).sum().backward()
        self.assertIsNone(leaf.grad)
        NoGrad.apply(leaf * 2).sum().backward()
        self.assertIsNone(leaf.grad)
        (got,) = torch.autograd.grad(NoGrad.apply(leaf).sum(), leaf, allow_unused=True)
        self.assertIsNone(got)

    def test_legacy_function_error(self):
        class OldStyle(torch.autograd.Function):
            def forward(self, t):
                return t

            def backward(self, g):
                return g

        with self.assertRaisesRegex(RuntimeError, "non-static forward method is deprecated"):
            OldStyle()(torch.ones(2))

    def test_custom_function_exception(self):
        class Fails(torch.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                return t * 1

            @staticmethod
            def backward(ctx, g):
                raise ValueError("backward of Fails went wrong")

        leaf = torch.rand(2, requires_grad=True)
        out = Fails.apply(leaf.exp()).sum()
        with self.assertRaisesRegex(ValueError, "backward of Fails went wrong"):
            out.backward()

    def test_invalid_gradients(self):
        class BadShape(torch.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                return t * 2

            @staticmethod
            def backward(ctx, g):
                return torch.ones(7)

        leaf = torch.ones(2, 3, requires_grad=True)
        with self.assertRaisesRegex(RuntimeError, "expected shape compatible with"):
            BadShape.apply(leaf).sum().backward()

    def test_needs_input_grad(self):
        seen = []

        class MyFunction(torch.autograd.Function):
            @staticmethod
            def forward(ctx, a, b):
                return a * b

            @staticmethod
            def backward(ctx, g):
                seen.append(ctx.needs_input_grad)
                return g * 2 if ctx.needs_input_grad[0] else None, None

        a = torch.ones(2, requires_grad=True)
        b = torch.ones(2)
        MyFunction.apply(a, b).sum().backward()
        self.assertEqual(seen, [(True, False)])
        self.assertEqual(a.grad, torch.full((2,), 2.0))

    def test_mark_non_differentiable(self):
        class Positive(torch.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                flags = (t > 0).to(t.dtype)
                ctx.mark_non_differentiable(flags)
                return flags

            @staticmethod
            def backward(ctx, g):
                return g * 0

        leaf = torch.tensor([-1.0, 2.0, 3.0], requires_grad=True)
        flags = Positive.apply(leaf)
        self.assertFalse(flags.requires_grad)
        (leaf * flags).sum().backward()
        self.assertEqual(leaf.grad, torch.tensor([0.0, 1.0, 1.0]))

    def test_mark_non_differentiable_mixed(self):
        class WithCount(torch.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                doubled = t * 2
                count = t.sum() * 0 + t.numel()
                ctx.mark_non_differentiable(count)
                return doubled, count

            @staticmethod
            def backward(ctx, g_doubled, g_count):
                self.assertEqual(g_count, torch.zeros(()))  # materialized zeros
                return g_doubled * 2

        leaf = torch.randn(4, requires_grad=True)
        doubled, count = WithCount.apply(leaf)
        self.assertTrue(doubled.requires_grad)
        self.assertFalse(count.requires_grad)
        doubled.sum().backward()
        self.assertEqual(leaf.grad, torch.full((4,), 2.0))

    def test_mark_dirty(self):
        class Inplace(torch.autograd.Function):
            @staticmethod
            def forward(ctx, a, b):
                ctx.mark_dirty(a)
                return a.add_(b), b + 2

            @staticmethod
            def backward(ctx, ga, gb):
                return ga, ga + gb

        x = torch.tensor(2.0)
        y = torch.tensor(3.0, requires_grad=True)
        v0 = x._version
        q, p = Inplace.apply(x, y)
        self.assertIs(q, x)
        self.assertEqual(x._version, v0 + 2)  # add_, then mark_dirty
        self.assertTrue(q.requires_grad)
        self.assertIsNotNone(q.grad_fn)
        p.sum().backward()
        self.assertEqual(y.grad, torch.tensor(1.0))

    def test_mark_dirty_leaf_error(self):
        class Inplace(torch.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                ctx.mark_dirty(a)
                return a.mul_(2)

            @staticmethod
            def backward(ctx, g):
                return g * 2

        x = torch.ones(2, requires_grad=True)
        with self.assertRaisesRegex(RuntimeError, "a leaf Variable that requires grad"):
            Inplace.apply(x)
        y = x * 1
        Inplace.apply(y).sum().backward()
        self.assertEqual(x.grad, torch.full((2,), 2.0))

    def test_save_output(self):
        class Softplus(torch.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                out = (t.exp() + 1).log()
                ctx.save_for_backward(out)  # its own output: backward needs only that
                return out

            @staticmethod
            def backward(ctx, g):
                (out,) = ctx.saved_tensors
                return g * (1 - (-out).exp())  # sigmoid(t) = 1 - e^(-softplus(t))

        leaf = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
        Softplus.apply(leaf).sum().backward()
        self.assertEqual(leaf.grad, torch.sigmoid(leaf.detach()))

    def test_saved_tensor_modified_inplace(self):
        class Square(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 2 * x * g

        a = torch.ones(3, requires_grad=True)
        b = a * 1
        out = Square.apply(b)
        b.add_(1)
        with self.assertRaisesRegex(RuntimeError, "modified by an inplace operation"):
            out.sum().backward()

    def test_saved_tensors_freed(self):
        class Square(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 2 * x * g

        a = torch.ones(3, requires_grad=True)
        out = Square.apply(a).sum()
        out.backward(retain_graph=True)
        out.backward()
        self.assertEqual(a.grad, torch.full((3,), 4.0))
        with self.assertRaisesRegex(RuntimeError, "backward through the graph a second time"):
            out.backward()

    def test_function_double_backward(self):
        class Cube(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x**3

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 3 * x**2 * g

        x = torch.tensor([1.0, 2.0], requires_grad=True)
        (g,) = torch.autograd.grad(Cube.apply(x).sum(), x, create_graph=True)
        self.assertEqual(g, torch.tensor([3.0, 12.0]))
        (gg,) = torch.autograd.grad(g.sum(), x)
        self.assertEqual(gg, torch.tensor([6.0, 12.0]))

    def test_function_multiple_outputs(self):
        class Split(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, ga, gb):
                return ga * 2 + gb * 3

        x = torch.ones(3, requires_grad=True)
        a, b = Split.apply(x)
        (a.sum() + 10 * b.sum()).backward()
        self.assertEqual(x.grad, torch.full((3,), 32.0))
        x.grad = None
        a, b = Split.apply(x)
        b.sum().backward()
        self.assertEqual(x.grad, torch.full((3,), 3.0))

    def test_function_no_grad_inputs(self):
        class Double(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g * 2

        y = Double.apply(torch.ones(2))
        self.assertFalse(y.requires_grad)
        self.assertIsNone(y.grad_fn)
        with torch.no_grad():
            z = Double.apply(torch.ones(2, requires_grad=True))
        self.assertFalse(z.requires_grad)

    def test_function_grad_fn_name(self):
        class MyOp(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x + 1

            @staticmethod
            def backward(ctx, g):
                return g

        y = MyOp.apply(torch.ones(2, requires_grad=True))
        self.assertEqual(type(y.grad_fn).__name__ if False else y.grad_fn.name(), "MyOpBackward")


class TestAutogradFunctional:
    """``torch.autograd.functional``."""

    def test_vjp(self):
        def row_norms(m):
            return (m * m).sum(dim=1)

        m = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]])
        out, g = torch.autograd.functional.vjp(row_norms, m, torch.tensor([1.0, 0.0, 2.0]))
        self.assertEqual(out, torch.tensor([5.0, 10.0, 0.25]))
        self.assertEqual(g, torch.tensor([[2.0, 4.0], [0.0, 0.0], [2.0, 0.0]]))
        self.assertIsNone(g.grad_fn)

    def test_vjp_create_graph(self):
        def reducer(x):
            return (x * x).sum(dim=1)

        inputs = torch.rand(2, 2, requires_grad=True)
        v = torch.ones(2)
        _, g = torch.autograd.functional.vjp(reducer, inputs, v, create_graph=True)
        self.assertEqual(g, 2 * inputs)
        self.assertIsNotNone(g.grad_fn)
        g.sum().backward()
        self.assertEqual(inputs.grad, torch.full((2, 2), 2.0))

    def test_jvp(self):
        def f(x):
            return x**2 * 3

        x = torch.tensor([1.0, 2.0, 3.0])
        out, j = torch.autograd.functional.jvp(f, x, torch.ones(3))
        self.assertEqual(out, x**2 * 3)
        self.assertEqual(j, 6 * x)

    def test_jacobian(self):
        def f(x):
            return x**2 * x[0]

        x = torch.tensor([1.0, 2.0, 3.0])
        jac = torch.autograd.functional.jacobian(f, x)
        self.assertEqual(jac, torch.tensor([[3.0, 0.0, 0.0], [4.0, 4.0, 0.0], [9.0, 0.0, 6.0]]))

    def test_jacobian_tuple(self):
        def f(a, b):
            return a * b, a + b

        a = torch.tensor([1.0, 2.0])
        b = torch.tensor([3.0, 4.0])
        (jaa, jab), (jba, jbb) = torch.autograd.functional.jacobian(f, (a, b))
        self.assertEqual(jaa, torch.tensor([[3.0, 0.0], [0.0, 4.0]]))
        self.assertEqual(jab, torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        self.assertEqual(jba, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        self.assertEqual(jbb, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))

    def test_jacobian_unused_input(self):
        def f(a, b):
            return a * 2

        a, b = torch.ones(2), torch.ones(3)
        ja, jb = torch.autograd.functional.jacobian(f, (a, b))
        self.assertEqual(ja, torch.tensor([[2.0, 0.0], [0.0, 2.0]]))
        self.assertEqual(jb, torch.zeros(2, 3))

    def test_hessian(self):
        def f(x):
            return (x**3).sum()

        x = torch.tensor([1.0, 2.0, 3.0])
        h = torch.autograd.functional.hessian(f, x)
        self.assertEqual(h, torch.tensor([[6.0, 0.0, 0.0], [0.0, 12.0, 0.0], [0.0, 0.0, 18.0]]))

    def test_hessian_two_inputs(self):
        def f(a, b):
            return (a * b**2).sum()

        a = torch.tensor([1.0, 2.0])
        b = torch.tensor([3.0, 4.0])
        (haa, hab), (hba, hbb) = torch.autograd.functional.hessian(f, (a, b))
        self.assertEqual(haa, torch.zeros(2, 2))
        self.assertEqual(hab, torch.tensor([[6.0, 0.0], [0.0, 8.0]]))
        self.assertEqual(hba, torch.tensor([[6.0, 0.0], [0.0, 8.0]]))
        self.assertEqual(hbb, torch.tensor([[2.0, 0.0], [0.0, 4.0]]))

    def test_hvp_vhp(self):
        def f(x):
            return (x**3).sum()

        x = torch.tensor([1.0, 2.0])
        v = torch.tensor([1.0, -1.0])
        out, hv = torch.autograd.functional.hvp(f, x, v)
        self.assertEqual(out, torch.tensor(9.0))
        self.assertEqual(hv, torch.tensor([6.0, -12.0]))
        _, vh = torch.autograd.functional.vhp(f, x, v)
        self.assertEqual(vh, torch.tensor([6.0, -12.0]))

    def test_vectorize_same_result(self):
        def f(x):
            return x.exp() * x.sum()

        x = torch.tensor([0.5, -0.5])
        a = torch.autograd.functional.jacobian(f, x)
        b = torch.autograd.functional.jacobian(f, x, vectorize=True)
        self.assertEqual(a, b)


class TestProfiler:
    def test_profile_records_ops(self):
        x = torch.randn(3, 3, requires_grad=True)
        with torch.autograd.profiler.profile() as prof:
            y = (x * x + 1).sum()
            y.backward()
        names = {e.key for e in prof.key_averages()}
        self.assertIn("aten::mul", names)
        self.assertIn("aten::sum", names)
        table = prof.key_averages().table(sort_by="self_cpu_time_total")
        self.assertIn("aten::mul", table)
        self.assertIn("Self CPU time total", table)
        self.assertTrue(all(e.cpu_time_total >= 0 for e in prof.key_averages()))
