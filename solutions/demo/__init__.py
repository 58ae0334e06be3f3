"""The instructor demo's modules; ``solutions/batchnorm_gradclip_demo.py`` is the entry script.

* ``data``: CIFAR-10 (or any ImageFolder) into memory, cached, balanced subsets, standardised;
* ``models``: the MLP and the small CNN as flat ``nn.Sequential``;
* ``diagnostics``: ``DiagnosticsRecorder`` (hooks that watch both runs), its figures and summaries.
"""
