"""The networks, in plain Keras: digit classifiers and the layers that ride inside them.

    architectures.py  the registry of model builders (`seed`, `deotte`, `simple`) and `build()`
    augment.py        RandomAffine: rotation, zoom and shift in one resample (identity at inference)
    degrade.py        RandomDegrade: stroke width, blur, low resolution, elastic distortion

A recipe (`digitrec.training.recipes`) names a builder and its arguments; the augmentation layers are the
model's first layers, so a saved model carries them. Importing this package imports no Keras: the layers'
modules do, when imported.
"""
