"""The reproducible pipeline's own steps: what ``dvc.yaml`` runs besides the ``deeptrust`` commands.

``dvc.yaml`` chains import → train → export → evaluate → gate → register for every model listed in
``params.yaml``; most stages are plain commands (``deeptrust train``, ``export``, ``evaluate``,
``gate``). This package holds the two that are not: the import of every dataset a training config
names (:func:`import_for_config`, so that ``deeptrust train`` then finds them imported and current) and
the registration of a model that passed its gate (:mod:`deeptrust.pipeline.register`).
"""

from deeptrust.pipeline.stages import import_for_config

__all__ = ["import_for_config"]
