"""``torch.nn``'s backend-agnostic half: ``Module``, the containers, layers, activations,
losses, ``init``, the gradient clipping and torch's compositions, written against a backend
(a ``torch``-like namespace). ``engine.nn`` binds them to the engine's tensors, the client's
``torch.nn`` to a session; nothing here imports the engine's tensors, autograd or ops, so the
client may import it (it is part of the engine's shared kernel)."""
