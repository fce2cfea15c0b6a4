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
        x = torch.randn(2, 2, requires_grad=True)
        y = torch.randn(2, 2, requires_grad=True)
        z = x**2 + y * x + y**2
        z.backward(torch.ones(2, 2), create_graph=True)
        with torch.no_grad():
            x_grad = 2 * x + y
            y_grad = x + 2 * y
        self.assertEqual(x.grad, x_grad)
        self.assertEqual(y.grad, y_grad)
        grad_sum = 2 * x.grad + y.grad
        grad_sum.backward(torch.ones(2, 2))
        self.assertEqual(x.grad, x_grad + torch.ones(2, 2) * 5)
        self.assertEqual(y.grad, y_grad + torch.ones(2, 2) * 4)

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
        x = torch.randn(2, 2, requires_grad=True)
        y = torch.randn(2, 2, requires_grad=True)
        z = x**2 + y * x + y**2
        z.backward(torch.ones(2, 2), create_graph=True)
        x_grad = 2 * x + y
        y_grad = x + 2 * y
        self.assertEqual(x.grad, x_grad)
        self.assertEqual(y.grad, y_grad)
        grad_sum = 2 * x.grad + y.grad
        (x_hv,) = torch.autograd.grad(
            outputs=[grad_sum], grad_outputs=[torch.ones(2, 2)], inputs=[x], create_graph=True
        )
        self.assertEqual(x_hv, torch.ones(2, 2) * 5)
        self.assertEqual(x.grad, x_grad)
        self.assertEqual(y.grad, y_grad)
        grad_out = torch.ones(2)
        with self.assertRaisesRegex(RuntimeError, r"Mismatch in shape: grad_output\[0\]"):
            torch.autograd.grad(outputs=[grad_sum], grad_outputs=[grad_out], inputs=[x])

    def test_grad_nonleaf(self):
        x_init = torch.randn(2, 2, requires_grad=True)
        x = x_init
        y = torch.randn(2, 2, requires_grad=True)
        grad_output = torch.ones(2, 2)

        def fn(x):
            return x**2 + y * x + y**2

        for _ in range(5):
            (grad_x,) = torch.autograd.grad(fn(x), x, grad_outputs=grad_output, create_graph=True)
            self.assertIsNone(y.grad)
            self.assertIsNone(x_init.grad)
            self.assertEqual(grad_x, 2 * x + y)
            x = x + 0.05 * grad_x
        self.assertGreater(fn(x).sum().item(), fn(x_init).sum().item())
        x.backward(grad_output)
        self.assertEqual(y.grad.shape, (2, 2))
        self.assertEqual(x_init.grad.shape, (2, 2))

    def test_grad_nonleaf_many_outputs(self):
        x = torch.randn(4, 2, requires_grad=True)
        a, b = x[:2], x[2:]

        def fn(a, b):
            return a * b.sum()

        out = fn(a, b)
        grads = torch.autograd.grad(out, [a, b], torch.ones(2, 2))
        self.assertEqual(grads[0], torch.ones(2, 2) * b.sum())
        self.assertEqual(grads[1], torch.ones(2, 2) * a.sum())
        self.assertIsNone(x.grad)

    def test_grad_nonleaf_register_hook(self):
        x = torch.randn(5, requires_grad=True)
        x_list = [x[i] for i in range(5)]
        x0 = x_list[0]
        hook_results = [None]

        def hook(grad):
            hook_results[0] = grad

        x0.register_hook(hook)
        x_list[0].backward()
        self.assertEqual(hook_results[0], torch.tensor(1.0))
        self.assertEqual(x.grad, torch.tensor([1.0, 0, 0, 0, 0]))
        self.assertIsNone(x_list[0].grad)
        hook_results[0] = None
        for i in range(1, 5):
            x_list[i].backward()
            self.assertIsNone(hook_results[0])
        self.assertEqual(x.grad, torch.ones(5))

    def test_hooks(self):
        x = torch.ones(5, 5, requires_grad=True)
        y = torch.ones(5, 5) * 4
        y.requires_grad_(True)
        counter = [0]

        def bw_hook(inc, grad):
            self.assertIsInstance(grad, torch.Tensor)
            counter[0] += inc

        z = x**2 + x * 2 + x * y + y
        x.register_hook(lambda *args: bw_hook(0, *args))
        test = z.register_hook(lambda *args: bw_hook(1, *args))
        z.backward(torch.ones(5, 5), retain_graph=True)
        self.assertEqual(counter[0], 1)
        test2 = z.register_hook(lambda *args: bw_hook(2, *args))
        z.backward(torch.ones(5, 5), retain_graph=True)
        self.assertEqual(counter[0], 4)
        test2.remove()
        z.backward(torch.ones(5, 5), retain_graph=True)
        self.assertEqual(counter[0], 5)

        def bw_hook_modify(grad):
            return grad.mul(2)

        test.remove()
        z.register_hook(bw_hook_modify)
        with torch.no_grad():
            y.grad.zero_()
        z.backward(torch.ones(5, 5), retain_graph=True)
        self.assertEqual(y.grad, (x + 1) * 2)
        y.register_hook(bw_hook_modify)
        with torch.no_grad():
            y.grad.zero_()
        z.backward(torch.ones(5, 5))
        self.assertEqual(y.grad, (x + 1) * 4)

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
        class MyHookClass:
            def __call__(self, grad):
                return grad.clone()

        x = torch.randn(5, requires_grad=True).clone()
        x.register_hook(MyHookClass())
        x.sum().backward()

    def test_retain_grad(self):
        input = torch.rand(1, 3, requires_grad=True)
        h1 = input * 3
        out = (h1 * h1).sum()
        h1.retain_grad()
        h1.retain_grad()  # a second call is a no-op
        out.backward(retain_graph=True)
        self.assertEqual(h1 * 2, h1.grad)
        out.backward(retain_graph=True)
        self.assertEqual(h1 * 4, h1.grad)
        with torch.no_grad():
            input.grad.zero_()
        input.retain_grad()  # a leaf: no-op
        out.backward()
        self.assertEqual(input * 18, input.grad)

    def test_retain_grad_inplace(self):
        a = torch.tensor([1.0], requires_grad=True).clone()
        a.retain_grad()
        a.mul_(2)
        a.sum().backward()
        self.assertEqual(a.grad, torch.tensor([1.0]))

    def test_retains_grad_property(self):
        x = torch.ones(2, requires_grad=True)
        y = x * 2
        self.assertFalse(y.retains_grad)
        y.retain_grad()
        self.assertTrue(y.retains_grad)
        self.assertFalse(x.retains_grad)

    def test_backward(self):
        v = torch.randn(5, 5, requires_grad=True)
        x = torch.randn(5, 5, requires_grad=True)
        y = (torch.rand(5, 5) + 0.1).requires_grad_(True)
        z = torch.randn(5, 5, requires_grad=True)
        grad_output = torch.randn(5, 5)
        v.backward(grad_output)
        self.assertEqual(v.grad, grad_output)
        a = x + (y * z) + 4 * z**2 * x / y
        a.backward(grad_output)
        x_grad = 4 * z.pow(2) / y + 1
        y_grad = z - 4 * x * z.pow(2) / y.pow(2)
        z_grad = 8 * x * z / y + y
        self.assertEqual(x.grad, x_grad * grad_output)
        self.assertEqual(y.grad, y_grad * grad_output, atol=1e-4)
        self.assertEqual(z.grad, z_grad * grad_output)

    def test_sparse_mm_like_multi_backward(self):
        x = torch.randn(3, 3, requires_grad=True)
        q = torch.randn(3, 3, requires_grad=True)
        a = torch.randn(3, 3)
        b = torch.randn(3, 3)
        torch.autograd.backward([(x * a).sum(), (q * b).sum()])
        self.assertEqual(x.grad, a)
        self.assertEqual(q.grad, b)

    def test_multi_backward_with_grads(self):
        x = torch.randn(5, 5, requires_grad=True)
        y = torch.randn(5, 5, requires_grad=True)
        q = torch.randn(5, 5, requires_grad=True)
        a = torch.randn(5, 5, requires_grad=True)
        b = torch.randn(5, 5, requires_grad=True)
        q2 = q * 2
        z = x + y + q2
        c = a * b + q2
        grad_z = torch.randn(5, 5)
        grad_c = torch.randn(5, 5)
        torch.autograd.backward([z, c], [grad_z, grad_c])
        self.assertEqual(x.grad, grad_z)
        self.assertEqual(y.grad, grad_z)
        self.assertEqual(a.grad, grad_c * b)
        self.assertEqual(b.grad, grad_c * a)
        self.assertEqual(q.grad, (grad_c + grad_z) * 2)

    def test_backward_twice_with_saved_values(self):
        b = torch.randn(3, requires_grad=True, dtype=torch.double)
        c = torch.zeros(3, dtype=torch.double)
        c[[1, 2]] = b[[1, 1]]
        c.backward(torch.tensor([1, 1, 1], dtype=torch.double))
        with self.assertRaisesRegex(RuntimeError, "Specify retain_graph=True"):
            c.backward(torch.tensor([1, 1, 1], dtype=torch.double))

    def test_backward_twice_retained_graph_with_saved_values(self):
        b = torch.randn(3, requires_grad=True, dtype=torch.double)
        c = torch.zeros(3, dtype=torch.double)
        c[[1, 2]] = b[[1, 1]]
        c.backward(torch.tensor([1, 1, 1], dtype=torch.double), retain_graph=True)
        c.backward(torch.tensor([1, 1, 1], dtype=torch.double))
        self.assertEqual(b.grad, torch.tensor([0.0, 4.0, 0.0], dtype=torch.double))

    def test_backward_twice_without_saved_values(self):
        b = torch.randn(3, requires_grad=True, dtype=torch.double)
        c = b + 1
        c.backward(torch.tensor([1, 1, 1], dtype=torch.double))
        c.backward(torch.tensor([1, 1, 1], dtype=torch.double))
        self.assertEqual(b.grad, torch.full((3,), 2.0, dtype=torch.double))

    def test_graph_freed_message(self):
        x = torch.randn(3, requires_grad=True)
        y = (x * x).sum()
        y.backward()
        with self.assertRaisesRegex(RuntimeError, "backward through the graph a second time"):
            y.backward()

    def test_sharded_grad(self):
        leaves = [torch.zeros(5, 5, requires_grad=True) for _ in range(10)]
        intermediates = [l * i + l * l for i, l in enumerate(leaves)]
        loss = sum(v * i for i, v in enumerate(intermediates)).sum()

        def group(l, group_size):
            return (l[i : i + group_size] for i in range(0, len(l), group_size))

        shard_size = 2
        d_intermediates = [
            d_i
            for intermediates_batch in group(intermediates, shard_size)
            for d_i in torch.autograd.grad(loss, intermediates_batch)
        ]
        torch.autograd.backward(intermediates, d_intermediates)
        for i, l in enumerate(leaves):
            self.assertEqual(l.grad, i * i * (1 + l))

    def test_grad_unreachable(self):
        x = torch.ones(1, requires_grad=True)
        y = torch.ones(1, requires_grad=True)
        x = x * 2
        y = y * 2
        grad_x, grad_y = torch.autograd.grad(x * 2, [x, y], allow_unused=True)
        self.assertEqual(grad_x, x * 0 + 2)
        self.assertIsNone(grad_y)
        z = torch.ones(1, requires_grad=True)
        grad_x, grad_z = torch.autograd.grad(x * 2, [x, z], allow_unused=True)
        self.assertEqual(grad_x, x * 0 + 2)
        self.assertIsNone(grad_z)
        with self.assertRaisesRegex(RuntimeError, "Set allow_unused=True"):
            torch.autograd.grad(x * 2, [x, y], allow_unused=False)

    def test_grad_materialize(self):
        x = torch.ones(2, requires_grad=True)
        y = torch.ones(2, requires_grad=True)
        gx, gy = torch.autograd.grad((x * 3).sum(), [x, y], materialize_grads=True)
        self.assertEqual(gx, torch.full((2,), 3.0))
        self.assertEqual(gy, torch.zeros(2))

    def test_grad_unreachable_discovery(self):
        x = torch.ones(1, requires_grad=True)
        y = torch.ones(1, requires_grad=True)
        (gY,) = torch.autograd.grad(x * 2, (y,), allow_unused=True)
        self.assertIsNone(gY)
        with self.assertRaisesRegex(RuntimeError, "appears to not have been used in the graph"):
            torch.autograd.grad(x * 2, (y,), allow_unused=False)

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
        grad_output = torch.ones(5, 5)

        def compute_grad(create_graph):
            x = torch.randn(5, 5, requires_grad=True)
            y = x + 2
            y.backward(grad_output, retain_graph=True)
            x_grad = x.grad
            x_grad_clone = x.grad.clone()
            y.backward(grad_output, create_graph=create_graph)
            return x_grad, x_grad_clone

        x_grad, x_grad_clone = compute_grad(create_graph=False)
        self.assertEqual(x_grad, x_grad_clone * 2)
        x_grad, x_grad_clone = compute_grad(create_graph=True)
        self.assertEqual(x_grad, x_grad_clone)

    def test_sum_to_with_empty_dim_grad(self):
        a = torch.rand(4, 0, requires_grad=True)
        b = torch.rand(4, 1, requires_grad=True)
        c = a + b
        self.assertEqual(tuple(c.shape), (4, 0))
        c.sum().backward()
        self.assertEqual(b.grad, torch.zeros(4, 1))
        self.assertEqual(a.grad, torch.zeros(4, 0))

    # --------------------------------------------------------------- grad mode
    def test_no_grad(self):
        x = torch.ones(5, 5, requires_grad=True)
        y = torch.ones(5, 5) * 4
        with torch.no_grad():
            w = x + y

        @torch.no_grad()
        def adder(x, y):
            return x + y

        z = adder(x, y)
        self.assertFalse(w.requires_grad)
        self.assertRaises(RuntimeError, lambda: w.backward(torch.ones(5, 5)))
        self.assertIsNone(w.grad_fn)
        self.assertFalse(z.requires_grad)
        self.assertIsNone(z.grad_fn)

    def test_no_grad_python_function(self):
        x = torch.ones(5, 5, requires_grad=True)
        with torch.no_grad():
            y = x * 2 + 1
        self.assertFalse(y.requires_grad)
        self.assertTrue(torch.is_grad_enabled())

    def test_set_grad_generator_functions(self):
        @torch.no_grad()
        def gen_no_grad():
            for i in range(10):
                self.assertEqual(torch.is_grad_enabled(), False)
                yield i

        with torch.enable_grad():
            for _ in gen_no_grad():
                self.assertEqual(torch.is_grad_enabled(), True)

        @torch.enable_grad()
        def gen_enable_grad():
            for i in range(10):
                self.assertEqual(torch.is_grad_enabled(), True)
                yield i

        with torch.no_grad():
            for _ in gen_enable_grad():
                self.assertEqual(torch.is_grad_enabled(), False)

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
        x = torch.randn(5, 5)
        y = torch.randn(5, 5)
        z = torch.randn(5, 5, requires_grad=True)
        a = x + y
        self.assertFalse(a.requires_grad)
        b = a + z
        self.assertTrue(b.requires_grad)

        def error():
            raise RuntimeError

        x.requires_grad = False
        self.assertFalse(x.requires_grad)

    def test_requires_grad_(self):
        x = torch.randn(5, 5)
        y = torch.randn(5, 5, requires_grad=True)
        self.assertIs(x, x.requires_grad_())
        self.assertTrue(x.requires_grad)
        self.assertIs(y, y.requires_grad_())
        self.assertTrue(y.requires_grad)
        self.assertIs(x, x.requires_grad_(True))
        self.assertTrue(x.requires_grad)
        self.assertIs(y, y.requires_grad_(True))
        self.assertTrue(y.requires_grad)
        z = x * y
        self.assertRaises(RuntimeError, lambda: z.requires_grad_(False))
        self.assertIs(z, z.requires_grad_())
        self.assertTrue(z.requires_grad)
        self.assertIs(z, z.requires_grad_(True))
        self.assertTrue(z.requires_grad)
        self.assertIs(x, x.requires_grad_(False))
        self.assertFalse(x.requires_grad)
        self.assertIs(y, y.requires_grad_(False))
        self.assertFalse(y.requires_grad)

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
        a = torch.randn(5, 5)
        b = torch.randn(5, 5, requires_grad=True)
        a += b
        self.assertTrue(a.requires_grad)
        a = torch.randn(5, 5) + 0
        b = torch.randn(5, 5, requires_grad=True)
        a += b
        self.assertTrue(a.requires_grad)

    def test_is_leaf(self):
        x = torch.randn(3, requires_grad=True)
        self.assertTrue(x.is_leaf)
        y = x * 2
        self.assertFalse(y.is_leaf)
        self.assertTrue(torch.randn(3).is_leaf)
        self.assertTrue((torch.randn(3) * 2).is_leaf)
        self.assertTrue(y.detach().is_leaf)

    def test_detach(self):
        x = torch.randn(10, 10, requires_grad=True)
        y = x + 2
        y = y.detach()
        z = y * 4 + 2
        self.assertFalse(y.requires_grad)
        self.assertFalse(z.requires_grad)
        x = torch.randn(10, 10, requires_grad=True)
        y = x * 2
        y = y.detach()
        self.assertFalse(y.requires_grad)
        self.assertIsNone(y.grad_fn)
        z = x + y
        z.sum().backward()
        self.assertEqual(x.grad, torch.ones(10, 10))

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
        x = torch.randn(5, 5, requires_grad=True)
        y = torch.randn(5, 5, requires_grad=True)
        a = x + y
        self.assertIsNotNone(a.grad_fn)
        next_functions = a.grad_fn.next_functions
        self.assertEqual(len(next_functions), 2)
        self.assertEqual(next_functions[0][0].name(), "torch::autograd::AccumulateGrad")
        self.assertEqual(next_functions[0][1], 0)
        self.assertIs(next_functions[0][0].variable, x)
        self.assertIs(next_functions[1][0].variable, y)
        b = a + 5
        next_functions = b.grad_fn.next_functions
        self.assertEqual(len(next_functions), 2)
        self.assertIs(next_functions[0][0], a.grad_fn)
        self.assertIsNone(next_functions[1][0])

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

    def _function_test(self, cls):
        x = torch.randn(5, 5, requires_grad=True)
        y = torch.randn(5, 5, requires_grad=True)
        result = cls.apply(x, 2, y)
        go = torch.ones((), requires_grad=True)
        result.sum().backward(go, create_graph=True)
        self.assertEqual(x.grad, y + torch.ones(5, 5))
        self.assertEqual(y.grad, x + torch.ones(5, 5) * 2)
        return x, y

    def test_function(self):
        class MyFunction(torch.autograd.Function):
            @staticmethod
            def forward(ctx, tensor1, pyscalar, tensor2):
                ctx.pyscalar = pyscalar
                ctx.save_for_backward(tensor1, tensor2)
                return tensor1 + pyscalar * tensor2 + tensor1 * tensor2

            @staticmethod
            def backward(ctx, grad_output):
                var1, var2 = ctx.saved_tensors
                self.assertIsInstance(var1, torch.Tensor)
                self.assertIsInstance(var2, torch.Tensor)
                self.assertIsInstance(grad_output, torch.Tensor)
                return (
                    grad_output + grad_output * var2,
                    None,
                    grad_output * ctx.pyscalar + grad_output * var1,
                )

        x, y = self._function_test(MyFunction)
        self.assertIsNotNone(x.grad.grad_fn)
        self.assertIsNotNone(y.grad.grad_fn)

    def test_once_differentiable(self):
        class MyFunction(torch.autograd.Function):
            @staticmethod
            def forward(ctx, tensor1, pyscalar, tensor2):
                ctx.pyscalar = pyscalar
                ctx.save_for_backward(tensor1, tensor2)
                return tensor1 + pyscalar * tensor2 + tensor1 * tensor2

            @staticmethod
            @torch.autograd.function.once_differentiable
            def backward(ctx, grad_output):
                self.assertFalse(torch.is_grad_enabled())
                t1, t2 = ctx.saved_tensors
                return (
                    grad_output + grad_output * t2,
                    None,
                    grad_output * ctx.pyscalar + grad_output * t1,
                )

        self._function_test(MyFunction)

    def test_function_returns_input(self):
        class MyFunction(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x

            @staticmethod
            def backward(ctx, grad):
                return grad * 2

        for shape in [(1,), ()]:
            v = torch.ones(shape, requires_grad=True)
            MyFunction.apply(v).backward()
            self.assertEqual(v.grad, torch.full(shape, 2.0))
            with torch.no_grad():
                v.grad.zero_()
            MyFunction.apply(v.clone()).backward()
            self.assertEqual(v.grad, torch.full(shape, 2.0))

    def test_function_returns_undefined_tensor(self):
        class MyFunction(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, grad):
                return None

        x = torch.ones(1, requires_grad=True)
        MyFunction.apply(x).backward()
        self.assertIsNone(x.grad)
        MyFunction.apply(x**2).backward()
        self.assertIsNone(x.grad)
        MyFunction.apply(x).sum().backward()
        self.assertIsNone(x.grad)
        self.assertIsNone(torch.autograd.grad(MyFunction.apply(x), x, allow_unused=True)[0])

    def test_legacy_function_error(self):
        class MyFunction(torch.autograd.Function):
            def forward(self, x):
                return x

            def backward(self, grad_output):
                return grad_output

        with self.assertRaisesRegex(RuntimeError, "Legacy autograd function with non-static"):
            MyFunction()(torch.randn(3, 4))

    def test_custom_function_exception(self):
        class SimulateBackwardError(torch.autograd.Function):
            @staticmethod
            def forward(ctx, input):
                return input.clone()

            @staticmethod
            @torch.autograd.function.once_differentiable
            def backward(ctx, input):
                raise Exception("Simulate error on backward pass")

        t1 = torch.rand((3, 3), requires_grad=True)
        t2 = torch.rand((3, 3), requires_grad=True)
        tmp = (t1 + t2) * (t1 + t2)
        t3 = SimulateBackwardError.apply(tmp)
        with self.assertRaisesRegex(Exception, "Simulate error on backward pass"):
            t3.sum().backward()

    def test_invalid_gradients(self):
        class MyFunction(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, grad_output):
                return torch.randn(10, dtype=torch.float)

        with self.assertRaisesRegex(RuntimeError, "expected shape"):
            input = torch.randn(5, 5, dtype=torch.float, requires_grad=True)
            MyFunction.apply(input).sum().backward()

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
        class MyFunction(torch.autograd.Function):
            @staticmethod
            def forward(ctx, input):
                output = input > 0
                ctx.mark_non_differentiable(output)
                return output

            @staticmethod
            def backward(ctx, grad_output):
                return (grad_output * 0).to(torch.double)

        x = torch.randn(5, 5, requires_grad=True)
        mask = MyFunction.apply(x)
        self.assertFalse(mask.requires_grad)
        y = x.masked_fill(mask, 0) if hasattr(x, "masked_fill") else x * (mask == 0)
        y.sum().backward()

    def test_mark_non_differentiable_mixed(self):
        class MyFunction(torch.autograd.Function):
            @staticmethod
            def forward(ctx, input):
                a = input + 1
                b = input + 2
                ctx.mark_non_differentiable(a)
                return a, b

            @staticmethod
            def backward(ctx, grad_a, grad_b):
                self.assertEqual(grad_a, torch.zeros(grad_a.shape))
                self.assertEqual(grad_b, torch.ones(grad_b.shape))
                return grad_b

        x = torch.randn(5, 5, requires_grad=True)
        a, b = MyFunction.apply(x)
        self.assertFalse(a.requires_grad)
        self.assertTrue(b.requires_grad)
        b.sum().backward()
        self.assertEqual(x.grad, torch.ones(5, 5))

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
        class Exp(torch.autograd.Function):
            @staticmethod
            def forward(ctx, i):
                result = i.exp()
                ctx.save_for_backward(result)
                return result

            @staticmethod
            def backward(ctx, grad_output):
                (result,) = ctx.saved_tensors
                return grad_output * result

        x = torch.tensor([0.0, 1.0], requires_grad=True)
        y = Exp.apply(x)
        y.sum().backward()
        self.assertEqual(x.grad, x.detach().exp())

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
        def reducer(x):
            return x.sum(dim=1)

        inputs = torch.rand(4, 4)
        v = torch.ones(4)
        res = torch.autograd.functional.vjp(reducer, inputs, v)
        self.assertEqual(res[0], inputs.sum(dim=1))
        self.assertEqual(res[1], torch.ones(4, 4))
        self.assertIsNone(res[1].grad_fn)

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
