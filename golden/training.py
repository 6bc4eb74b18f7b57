"""``sgd_train``: the one training loop of the models here (golden.addernet.train,
golden.mnist.train_mnist, golden.qat.fine_tune).

SGD with momentum 0.9 and weight decay 5e-4, a cosine schedule over ``epochs``, cross-entropy on
minibatches of a seeded permutation, all inside golden.determinism.deterministic(seed), so a
seed gives the same weights bit for bit on any machine of this kind. The callers differ only in
their learning rate, an optional augmentation of each minibatch (drawn from the same seeded
generator as the permutation), the ``layer_fn`` the forward pass gets (fake quantisation for
QAT) and how they report progress.
"""
import time

from .determinism import deterministic

__all__ = ["sgd_train"]


def sgd_train(model, data, epochs, batch, lr, seed, augment=None, layer_fn=None, progress=None, label="",
              every=1):
    """Train ``model`` in place on ``data.x_train``/``data.y_train``; returns per-epoch mean losses.
    ``augment(x, generator)`` transforms each minibatch; ``progress`` gets "{label} epoch e/E: loss
    L (t s)" after every ``every``-th epoch. The model is left in eval mode."""
    import torch    # torch: deferred (start-up, golden/__init__ docstring)
    with deterministic(seed):
        g = torch.Generator().manual_seed(seed)
        x = torch.tensor(data.x_train)
        y = torch.tensor(data.y_train)
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
        losses = []
        t0 = time.perf_counter()
        for epoch in range(epochs):
            model.train()
            perm = torch.randperm(len(y), generator=g)
            total = 0.0
            for i in range(0, len(y), batch):
                idx = perm[i:i + batch]
                xb = augment(x[idx], g) if augment is not None else x[idx]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(xb, layer_fn=layer_fn), y[idx])
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            sched.step()
            losses.append(total / len(y))
            if progress and (epoch + 1) % every == 0:
                progress(f"{label} epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f} ({time.perf_counter() - t0:.0f} s)")
    model.eval()
    return losses
