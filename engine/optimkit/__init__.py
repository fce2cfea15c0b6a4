"""``torch.optim``'s backend-agnostic half: the optimizers' constructors, defaults, checks,
``param_groups`` and ``state_dict`` (``optimizer``) and the lr schedulers (``lr_scheduler``).
``engine.optim`` runs the update kernels on the engine's tensors, the client sends a step to
the session; nothing here imports the engine's tensors, autograd or ops."""
