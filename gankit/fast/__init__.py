"""The fast path: each update compiled (``compiled.py``), Adam as a traceable function
(``adam.py``), the machine-dependent choices that go with it (``tuning.py``: precision,
threads, memory format), stride-1 convolutions on small maps through the DFT
(``dftconv.py``: less arithmetic where fp32 convolutions already run at the CPU's peak)
and ``gankit bench`` (``bench.py``, against ``reference.py``).

``gankit.step.build_step`` decides whether a run takes it. Not captured (eager, logged):
``train.compile=false``; devices other than cpu/cuda; optimisers other than
``torch.optim.Adam``; torchrun (DDP). An update whose graph fails to compile (e.g. double
backward for a gradient penalty) runs eagerly on its own.
"""
