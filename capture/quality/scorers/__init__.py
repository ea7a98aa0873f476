"""One scorer module per format family; :mod:`capture.quality.registry` maps formats to them."""
