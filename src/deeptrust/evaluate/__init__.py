"""Evaluation: metrics, robustness to everyday degradations, HTML reports, ``deeptrust evaluate``.

- ``metrics``: ``compute_metrics``, ``choose_threshold``, ``expected_calibration_error``.
- ``robustness``: ``PERTURBATIONS`` (JPEG 90/70/50, downscale ×0.5, centre crop).
- ``run``: ``evaluate_model`` (score a manifest with a ``Detector``), ``write_json``.
- ``report``: ``write_report`` (one self-contained HTML file).
- ``cli``: the ``evaluate`` command.

Nothing is imported here so that ``deeptrust --help`` stays fast; import the submodules.
"""
