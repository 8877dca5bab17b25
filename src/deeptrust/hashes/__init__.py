"""Known-image matching: lists of PDQ hashes of images confirmed as AI-generated or real, and the lookup.

``store`` keeps the lists in the feedback store's database, ``index`` looks up the nearest hash among
millions in about a millisecond, ``matcher`` is the evidence reader the service and scanner call,
``review`` turns moderators' decisions into entries, ``cli`` is ``deeptrust hashes``.

Needs the ``serve`` extra (SQLAlchemy, pdqhash): ``pip install 'deeptrust[serve]'``.
"""
