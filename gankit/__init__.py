"""gankit: train, evaluate, compare and use Generative Adversarial Networks."""
__version__ = "0.1.0"
